"""Every Python block of the README and docs/ runs, in order, one namespace per file; the site builds and covers the API."""

import importlib
import inspect
import pathlib
import posixpath
import re
import subprocess
import sys

import pytest
from sphinx.util.inventory import InventoryFile

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_python_blocks_run(path):
    blocks = BLOCK.findall(path.read_text())
    namespace = {"__name__": f"docs_{path.stem}"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{path.name}[block {i}]", "exec"), namespace)


PUBLIC_MODULES = ["memorax.networks", "memorax.networks.sequence_models", "memorax.networks.blocks", "memorax.networks.heads",
                  "memorax.algorithms", "memorax.environments", "memorax.buffers", "memorax.testing", "memorax.diagnostics"]  # fmt: skip


def documented_objects(inventory: dict) -> tuple[set[str], set[int]]:
    """The modules the site documents, and the ids of the objects its other entries name."""
    objects = set()
    for kind in ("py:class", "py:function", "py:data", "py:exception"):
        for name in inventory.get(kind, {}):
            module_name, _, attribute = name.rpartition(".")
            objects.add(id(getattr(importlib.import_module(module_name), attribute)))
    return set(inventory["py:module"]), objects


def test_site_builds_strictly_and_its_api_reference_names_every_public_object(tmp_path):
    """``make docs``'s build, warnings as errors (broken links, unknown references, docstring markup), then the reference's coverage."""
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-c", "docs", "-b", "html", ".", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-4000:]
    with open(tmp_path / "objects.inv", "rb") as stream:
        modules, objects = documented_objects(InventoryFile.load(stream, "", posixpath.join))
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            documented = value.__name__ in modules if inspect.ismodule(value) else id(value) in objects
            if not documented:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"not in the API reference (docs/api/): {missing}"
    page = (tmp_path / "docs" / "api" / "sequence_models.html").read_text()
    assert page.count("<math") >= 5, "the sequence models' equations are not rendered as MathML"
