"""Hygiene of the committed notebooks: no outputs, a ``parameters`` cell, the ``python3`` kernel,
a row in the README.

Example:
    >>> from ralib.config import notebooks_dir, project_root
    >>> readme = (project_root() / "README.md").read_text()
    >>> notebook_problems(notebooks_dir() / "00_svdh_primer.ipynb", readme)
    []
"""

from __future__ import annotations

import json
from pathlib import Path


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
    return problems
