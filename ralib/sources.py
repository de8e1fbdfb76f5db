"""Which files decide what a piece of code does: the ``ralib`` modules a notebook imports, followed
transitively, so that a runner can tell whether anything it depends on has changed.

Example:
    >>> names = {p.name for p in module_sources(["ralib.metrics"])}
    >>> "metrics.py" in names, "run.py" in names
    (True, False)
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent  # ralib/


def module_file(name: str, package: Path = PACKAGE) -> Path | None:
    """The file of module ``ralib.x.y`` (a module or a package's ``__init__``), None for other names."""
    parts = name.split(".")[1:]
    for candidate in (package.joinpath(*parts).with_suffix(".py"), package.joinpath(*parts, "__init__.py")):
        if parts and candidate.is_file():
            return candidate
    return None


def ralib_imports(code: str, package: Path = PACKAGE) -> list[str]:
    """The ``ralib`` modules a piece of code imports anywhere in it (``from ralib.synth import render``
    names ``ralib.synth.render``; ``from ralib import x`` the package and ``x``)."""
    names = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ralib"):
            names.append(node.module)
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if module_file(full, package):
                    names.append(full)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name == "ralib" or a.name.startswith("ralib.")]
    return names


def module_sources(modules: list[str], package: Path = PACKAGE, exclude: tuple[str, ...] = (),
                   exclude_under: tuple[str, ...] = (), keep: tuple[str, ...] = ()) -> list[Path]:  # fmt: skip
    """Every ``ralib`` file the ``modules`` import, transitively, with the data files beside them;
    modules named in ``exclude`` (``"ralib"`` for the package's ``__init__``) or lying in a package of
    ``exclude_under`` (the package's ``__init__`` included) are not followed, but those named in ``keep``."""

    def excluded(name: str) -> bool:
        if name in keep:
            return False
        return name in exclude or any(name == p or name.startswith(p + ".") for p in exclude_under)

    todo, seen = list(modules), {}
    while todo:
        name = todo.pop()
        if excluded(name):
            continue
        if name == "ralib":
            name = "ralib.__init__"
        path = module_file(name, package) or (package / "__init__.py" if name == "ralib.__init__" else None)
        if name in seen or path is None:
            continue
        seen[name] = path
        todo += ralib_imports(path.read_text(), package)
        parent = name.rsplit(".", 1)[0]
        if parent not in seen and parent != "ralib":
            todo.append(parent)  # importing a.b.c runs a.b's __init__ too
    files = set(seen.values())
    files |= {p for f in list(files) for p in f.parent.glob("*.csv")}  # e.g. fitted parameters read at import
    return sorted(files)


def notebook_sources(path: Path) -> list[Path]:
    """The ``ralib`` files a notebook's code cells import, transitively."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and not c.source.lstrip().startswith(("%", "!")))
    return module_sources(ralib_imports(code))
