"""The API reference renders: every public name has a page entry with its signature, parameters and returns.

Builds ``docs/api.md`` alone (with the real ``docs/conf.py`` and templates, warnings as errors) into a temporary
folder and inspects the HTML. Skipped when the docs extra (Sphinx, myst-nb, the theme) is not installed.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
SUBMODULES = ("pp", "tl", "pl", "genes", "metrics", "weights", "datasets", "model", "models", "train")

for _module in ("sphinx", "myst_nb", "sphinx_book_theme", "sphinx_autodoc_typehints"):
    pytest.importorskip(_module, reason="the docs extra is not installed (pip install -e '.[docs]')")

pytestmark = pytest.mark.slow


class _Signatures(HTMLParser):
    """Collects ``<dt class="sig sig-object py" id=...>`` entries and whether each shows parentheses."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, dict[str, bool]] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        classes = (values.get("class") or "").split()
        if tag == "dt" and "sig-object" in classes and values.get("id"):
            self._current = values["id"]
            self.entries[self._current] = {"paren": False, "param": False}
        elif self._current is not None and tag == "span" and "sig-paren" in classes:
            self.entries[self._current]["paren"] = True
        elif self._current is not None and tag == "em" and "sig-param" in classes:
            self.entries[self._current]["param"] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "dt":
            self._current = None


def _public_names() -> dict[str, object]:
    """``sclong_tl.<name>`` and ``sclong_tl.<submodule>.<name>`` for every name in the ``__all__`` lists."""
    import sclong_tl

    names: dict[str, object] = {}
    for name in sclong_tl.__all__:
        value = getattr(sclong_tl, name)
        if not inspect.ismodule(value) and name != "__version__":
            names[f"sclong_tl.{name}"] = value
    for submodule in SUBMODULES:
        module = importlib.import_module(f"sclong_tl.{submodule}")
        assert hasattr(module, "__all__"), f"sclong_tl.{submodule} has no __all__"
        for name in module.__all__:
            names[f"sclong_tl.{submodule}.{name}"] = getattr(module, name)
    return names


@pytest.fixture(scope="module")
def built_api(tmp_path_factory) -> Path:
    """HTML of docs/api.md, built alone with warnings as errors."""
    source = tmp_path_factory.mktemp("docs")
    shutil.copy2(DOCS / "conf.py", source / "conf.py")
    shutil.copytree(DOCS / "_templates", source / "_templates")
    api = (DOCS / "api.md").read_text(encoding="utf-8")
    (source / "api.md").write_text(api, encoding="utf-8")
    for page in set(re.findall(r"\{doc\}`([^`<]+)`", api)):  # pages the reference links to: stubs
        (source / f"{page}.md").write_text(f"# {page}\n", encoding="utf-8")
    toctree = "\n".join(
        ["# index", "", "```{toctree}", "api", *sorted({p for p in re.findall(r"\{doc\}`([^`<]+)`", api)}), "```", ""]
    )
    (source / "index.md").write_text(toctree, encoding="utf-8")
    out = source / "_build"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(source), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0 and not warnings, f"the API reference has build warnings:\n{result.stderr[-4000:]}"
    return out


def _entries(built: Path) -> tuple[dict[str, dict[str, bool]], dict[str, str]]:
    entries: dict[str, dict[str, bool]] = {}
    pages: dict[str, str] = {}
    for page in [*sorted((built / "generated").glob("*.html")), built / "api.html"]:
        parser = _Signatures()
        text = page.read_text(encoding="utf-8")
        parser.feed(text)
        entries.update(parser.entries)
        pages[page.name] = text
    return entries, pages


def test_every_public_name_is_documented(built_api):
    entries, _ = _entries(built_api)
    documented = {id(_resolve(key)) for key in entries if _resolve(key) is not None}
    missing = [name for name, value in _public_names().items() if name not in entries and id(value) not in documented]
    assert not missing, f"public names without an entry in the API reference: {missing}"


def test_api_pages_render_signatures_parameters_and_returns(built_api):
    entries, pages = _entries(built_api)
    raw = [name for name, text in pages.items() if ".. auto" in text]
    assert not raw, f"pages that show raw directives instead of rendered docs: {raw}"
    for name, value in _public_names().items():
        if not (inspect.isfunction(value) or inspect.isclass(value)):
            continue
        if inspect.isclass(value) and issubclass(value, BaseException):  # rendered as "exception Name"
            assert name in entries or any(_resolve(key) is value for key in entries), name
            continue
        entry = entries.get(name) or next((entries[key] for key in entries if _resolve(key) is value), None)
        assert entry is not None, name
        assert entry["paren"], f"{name}: no rendered signature"
        parameters = [p for p in inspect.signature(value).parameters if p not in ("self", "cls")]
        if parameters:
            assert entry["param"], f"{name}: the signature shows no parameters ({parameters})"
    for name, value in _public_names().items():
        text = pages.get(f"{name}.html")
        if text is None or not inspect.isfunction(value):
            continue
        if inspect.signature(value).parameters:
            assert re.search(r">Parameters<", text), f"{name}: no Parameters section"
        if inspect.signature(value).return_annotation not in (None, "None", inspect.Signature.empty):
            assert re.search(r">(Returns?|Yields)<", text), f"{name}: no Returns section"


def _resolve(dotted: str) -> object | None:
    """The object an HTML id names (``sclong_tl.pp.match_genes``, ``sclong_tl.ScLongModel.encode``), or None."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                value = getattr(value, attribute)
        except AttributeError:
            return None
        return value
    return None
