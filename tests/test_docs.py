"""Every Python block of the README and docs/ runs, in order, one namespace per file."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_python_blocks_run(path):
    blocks = BLOCK.findall(path.read_text())
    namespace = {"__name__": f"docs_{path.stem}"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{path.name}[block {i}]", "exec"), namespace)
