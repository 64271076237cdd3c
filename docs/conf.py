"""The documentation site: the README, the Markdown pages of docs/ (MyST), bench/RESULTS.md, and an API reference from the docstrings (autodoc).

``make docs`` runs ``sphinx-build -W -c docs . site`` in nitpicky mode (every
cross-reference to memorax must resolve): the source is the
repository root, so the pages link to each other as they do on GitHub, and
the README is the home page. Docstrings are
Google style (napoleon) with reStructuredText maths, rendered at build time
as MathML, which browsers draw natively, so the site needs no JavaScript
from elsewhere and reads offline.
"""

from docutils import nodes
from latex2mathml.converter import convert
from sphinx.errors import ExtensionError
from sphinx.util.inspect import signature, stringify_signature

project = "memorax"
author = "the memorax developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
root_doc = "README"
include_patterns = ["README.md", "docs/*.md", "docs/api/*.md", "bench/RESULTS.md"]
templates_path = ["_templates"]
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

autodoc_default_options = {"members": True, "member-order": "bysource", "special-members": "__call__"}
nitpicky = True  # every Python cross-reference must resolve...
nitpick_ignore_regex = [
    # ...except to other packages' types (no intersphinx: the docs build offline)...
    (r"py:.*", r"(jax|jaxlib|flax|nnx|optax|numpy|collections|typing|distrax|gymnax)(\..*)?"),
    # ...and to internal types that appear in public signatures but are not part of the API.
    (r"py:class", r"(memorax\.\S*\.)?(StepInputs|DataParallel|CardGameState|MineSweeperState|ConcentrationState|Labyrinth|LabyrinthState|LabyrinthExploreState)"),
]
autodoc_inherit_docstrings = False  # else every undocumented __call__ shows object's "Call self as a function."
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True

highlight_language = "none"  # a fence without a language is a shell line or output, not Python

html_theme = "furo"
html_title = "memorax"
html_math_renderer = "mathml"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_additional_pages = {"index": "index.html"}  # a redirect to README.html, so that site/ opens on the home page

NAVIGATION = """

```{toctree}
:caption: Guide
:hidden:

docs/networks
docs/architecture
docs/algorithms
docs/environments
docs/cli
docs/scaling
docs/diagnostics
docs/benchmarks
bench/RESULTS
```

```{toctree}
:caption: API reference
:hidden:

docs/api/networks
docs/api/sequence_models
docs/api/blocks
docs/api/heads
docs/api/algorithms
docs/api/environments
docs/api/buffers
docs/api/diagnostics
```
"""


def _mathml(latex: str, display: str) -> str:
    try:
        return convert(latex, display=display)
    except Exception as error:  # latex2mathml raises several classes; each means an equation it cannot read
        raise ExtensionError(f"cannot render the equation {latex!r} as MathML: {error}") from error


def _visit_inline_math(self, node) -> None:
    self.body.append(_mathml(node.astext(), "inline"))
    raise nodes.SkipNode


def _visit_display_math(self, node) -> None:
    self.body.append(f'<div class="math">{_mathml(node.astext(), "block")}</div>')
    raise nodes.SkipNode


def _add_navigation(app, docname: str, source: list[str]) -> None:
    """Gives the home page the site's table of contents, which the README on GitHub does without."""
    if docname == root_doc:
        source[0] += NAVIGATION


def _constructor_signature(app, what, name, obj, options, text, return_annotation):
    """A class's signature is its ``__init__``'s: NNX's metaclass would otherwise show ``(*args, **kwargs)``."""
    if what != "class":
        return None
    if obj.__init__ is object.__init__:
        return "()", None
    try:
        return stringify_signature(signature(obj.__init__, bound_method=True), show_return_annotation=False), None
    except (TypeError, ValueError):  # a builtin __init__ without a signature keeps autodoc's own
        return None


def setup(app):
    app.add_html_math_renderer("mathml", (_visit_inline_math, None), (_visit_display_math, None))
    app.connect("source-read", _add_navigation)
    app.connect("autodoc-process-signature", _constructor_signature)
