"""Hygiene of the committed notebooks: no outputs, a ``parameters`` cell, the ``python3`` kernel,
a row in the README, and the shape of a methods section (:func:`shape_problems`: prose, then short calls).

Example:
    >>> from ralib.config import notebooks_dir, project_root
    >>> readme = (project_root() / "README.md").read_text()
    >>> notebook_problems(notebooks_dir() / "00_svdh_primer.ipynb", readme)
    []
"""

from __future__ import annotations

import json
import re
from pathlib import Path

#: the longest code cell a notebook may hold, in lines that are not blank
MAX_CELL_LINES = 12
#: the most lines a notebook's code cells may hold on average
MAX_MEAN_LINES = 8.0
_DEFINITION = re.compile(r"^\s*(?:async\s+def|def|class)\s+(\w+)", re.MULTILINE)


def notebook_problems(path: Path, readme_text: str) -> list[str]:
    """Everything wrong with a committed notebook, as readable sentences (empty when clean)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{path.name}: not a readable notebook ({exc})"]
    problems = []
    cells = doc.get("cells", [])
    code = [c for c in cells if c.get("cell_type") == "code"]
    if any(c.get("outputs") for c in code):
        problems.append(f"{path.name}: stored with outputs (clear them before committing)")
    if any(c.get("execution_count") is not None for c in code):
        problems.append(f"{path.name}: stored with execution counts (clear them before committing)")
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        problems.append(f"{path.name}: needs exactly one code cell tagged 'parameters', has {len(tagged)}")
    elif "PROFILE" not in "".join(tagged[0].get("source", "")):
        problems.append(f"{path.name}: the parameters cell does not set PROFILE")
    kernel = doc.get("metadata", {}).get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"{path.name}: kernelspec is {kernel!r}, not 'python3'")
    if path.name not in readme_text:
        problems.append(f"{path.name}: not listed in README.md")
    return problems + shape_problems(path)


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def shape_problems(path: Path) -> list[str]:
    r"""What keeps a notebook from reading like a methods section: a function or class defined in it (it
    belongs in ``ralib``, where it is tested), a code cell of more than :data:`MAX_CELL_LINES` lines, or
    code cells of more than :data:`MAX_MEAN_LINES` lines on average (blank lines not counted).

    Example:
        >>> import tempfile
        >>> cells = [{"cell_type": "code", "source": "def f(x):\n    return x\n"}, {"cell_type": "code", "source": "f(1)"}]
        >>> path = Path(tempfile.mkdtemp()) / "99_demo.ipynb"
        >>> _ = path.write_text(json.dumps({"cells": cells}))
        >>> shape_problems(path)
        ['99_demo.ipynb: defines f in a code cell (move it into ralib, where it is tested)']
    """
    code = [_source(c) for c in json.loads(Path(path).read_text()).get("cells", []) if c.get("cell_type") == "code"]
    problems = [f"{path.name}: defines {name} in a code cell (move it into ralib, where it is tested)"
                for source in code for name in _DEFINITION.findall(source)]  # fmt: skip
    lines = [sum(1 for line in source.splitlines() if line.strip()) for source in code]
    problems += [f"{path.name}: code cell {k + 1} has {n} lines (at most {MAX_CELL_LINES})"
                 for k, n in enumerate(lines) if n > MAX_CELL_LINES]  # fmt: skip
    if lines and sum(lines) / len(lines) > MAX_MEAN_LINES:
        problems.append(f"{path.name}: its code cells hold {sum(lines) / len(lines):.1f} lines on average (at most {MAX_MEAN_LINES:g})")
    return problems
