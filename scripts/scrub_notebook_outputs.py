"""Remove the executing machine's paths from stored notebook outputs (warnings print the file they come from).

``/any/prefix/site-packages/tqdm/auto.py:21`` becomes ``tqdm/auto.py:21``, ``/any/prefix/src/sclong_tl/tl/_grn.py``
becomes ``sclong_tl/tl/_grn.py`` and temporary folders (``/tmp/tmpab12cd/``) become ``<tmpdir>/``.
Usage: python scripts/scrub_notebook_outputs.py tutorials/*.ipynb   (called by scripts/execute_tutorials.sh)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

_RULES = [
    (re.compile(r"(?:/[^\s/:'\"]+)+/site-packages/"), ""),
    (re.compile(r"(?:/[^\s/:'\"]+)+/(?=sclong_tl/)"), ""),
    (re.compile(r"(?:/[^\s/:'\"]+)*/(?:tmp|var/folders/[^\s/]+/[^\s/]+/T)/tmp[\w-]+/"), "<tmpdir>/"),
    # a warning raised in a notebook cell names the kernel's temporary file of that cell
    (re.compile(r"(?:/[^\s/:'\"]+)*/ipykernel_\d+/\d+\.py"), "<cell>"),
]
# pooch's download log names the mirror and the cache folder of the executing machine: dropped
_DOWNLOAD_LINE = re.compile(r"^Downloading file '[^']+' from '[^']+' to '[^']+'\.\n?$")


def scrub_text(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def _scrub_value(value: str | list[str]) -> str | list[str]:
    if isinstance(value, list):
        return [scrub_text(line) for line in value]
    return scrub_text(value)


def _only_download_log(output: dict) -> bool:
    text = output.get("text")
    if output.get("output_type") != "stream" or not text:
        return False
    lines = text if isinstance(text, list) else text.splitlines(keepends=True)
    lines = [line for line in "".join(lines).splitlines() if line.strip()]
    return bool(lines) and all(_DOWNLOAD_LINE.match(line) for line in lines)


def scrub_notebook(path: Path) -> int:
    """Scrub ``path`` in place; return the number of outputs changed."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    changed = 0
    for cell in notebook["cells"]:
        outputs = cell.get("outputs", [])
        kept = [output for output in outputs if not _only_download_log(output)]
        changed += len(outputs) - len(kept)
        if "outputs" in cell:
            cell["outputs"] = kept
        for output in kept:
            before = json.dumps(output)
            if "text" in output:
                output["text"] = _scrub_value(output["text"])
            for key, value in output.get("data", {}).items():
                if key.startswith("text/"):
                    output["data"][key] = _scrub_value(value)
            if "traceback" in output:
                output["traceback"] = [scrub_text(line) for line in output["traceback"]]
            changed += json.dumps(output) != before
    if changed:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {scrub_notebook(Path(name))} output(s) scrubbed")
