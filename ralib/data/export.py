"""Where exporters write: a new folder, never into someone's data.

Exported ids (``UAB001``, ``DX100000``, integer ARISE ids) look like the real data sets' ids, so an
export mixed into a real folder could never be told apart again. :func:`export_folder` therefore
writes into a fresh temporary folder beside the target and moves it into place only when complete;
it refuses a target that is not empty, and ``overwrite=True`` replaces only a folder that an earlier
export wrote, recognised by the marker file :data:`MARKER` it leaves.

Example:
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with export_folder(target, "demo") as folder:
    ...     _ = (folder / "scores.csv").write_text("a,b\\n")
    >>> sorted(p.name for p in target.iterdir())
    ['.ralib-export.json', 'scores.csv']
    >>> with export_folder(target, "demo") as folder:
    ...     pass
    Traceback (most recent call last):
    ...
    FileExistsError: ...out is not empty: ralib exports only into a new or empty folder, ...
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

#: the file an export leaves in its folder, naming the format and the time it was written
MARKER = ".ralib-export.json"


@contextmanager
def export_folder(target: str | Path, fmt: str, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty folder to write an export of format ``fmt`` into; it becomes ``target`` on success.

    Raises :class:`FileExistsError` when ``target`` holds anything, unless ``overwrite`` is set and
    ``target`` is an earlier ralib export (it carries :data:`MARKER`). On an error nothing is left
    behind and an existing ``target`` is untouched.
    """
    target = Path(target).absolute()
    _check_target(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        yield partial
        record = {"format": fmt, "written": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (partial / MARKER).write_text(json.dumps(record) + "\n")
        _check_target(target, overwrite)  # again: another process may have written it meanwhile
        if target.exists():  # empty, or an earlier export that overwrite=True may replace
            shutil.rmtree(target) if any(target.iterdir()) else target.rmdir()
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _check_target(target: Path, overwrite: bool) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise FileExistsError(f"{target} is a file: exports need a folder")
    if not any(target.iterdir()):
        return
    ours = (target / MARKER).is_file()
    if overwrite and ours:
        return
    if overwrite:
        raise FileExistsError(f"{target} is not empty and was not written by a ralib export (no {MARKER}): "
                              "overwrite=True replaces only earlier exports; choose a new folder")  # fmt: skip
    hint = " (an earlier ralib export: pass overwrite=True to replace it)" if ours else ""
    raise FileExistsError(f"{target} is not empty: ralib exports only into a new or empty folder, so that exported "
                          f"files never mix with real ones{hint}")  # fmt: skip
