"""Cached files that know when they are damaged.

Every cache ``ralib`` keeps on disk (films as arrays, letterboxed films, crops, located landmarks) is a
``.npy`` file finished by :func:`seal` (and every checkpoint it saves, :func:`ralib.train.save_checkpoint`): its length and a CRC-32 of its bytes in a record beside it
(``<name>.npy.sealed``, or a dict the caller keeps, e.g. a crop cache's ``COMPLETE``). :func:`intact` checks
both before the file is used, so that a truncated file or one whose tail was zeroed is not read: it is moved
aside as ``<name>.damaged`` (for a look) with a message naming it, and the caller builds it again. A file
without its record (an interrupted or older build) is removed quietly and built again.

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "a.npy"
    >>> np.save(path, np.arange(1000, dtype=np.uint8)); _ = seal(path)
    >>> intact(path)
    True
    >>> with open(path, "r+b") as f: _ = f.seek(-100, 2); _ = f.write(bytes(100))   # the tail zeroed
    >>> intact(path)
    a.npy: damaged (its checksum differs from the one written when it was built); moved aside as a.npy.damaged, built again
    False
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from pathlib import Path

import numpy as np

CHUNK = 1 << 24  # bytes read at a time for the checksum


def checksum(path: str | Path) -> dict:
    """``{"bytes": length, "crc32": CRC-32}`` of a file, read in chunks."""
    crc, length = 0, 0
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            crc, length = zlib.crc32(block, crc), length + len(block)
    return {"bytes": length, "crc32": crc}


def record_path(path: str | Path) -> Path:
    return Path(f"{path}.sealed")


def seal(path: str | Path, keep_beside: bool = True) -> dict:
    """The checksum record of a finished file, written beside it (``<name>.sealed``) unless the caller keeps it."""
    record = checksum(path)
    if keep_beside:
        tmp = record_path(path).with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, record_path(path))
    return record


def damage(path: str | Path, record: dict | None = None) -> str | None:
    """What is wrong with ``path`` against its checksum record (``record``, else the one beside it; None when it
    has none), or None when it matches.

    Example:
        >>> damage(__file__, {"bytes": 1, "crc32": 0})  # doctest: +ELLIPSIS
        '... bytes where 1 were written: truncated or overwritten'
    """
    path = Path(path)
    if record is None and record_path(path).exists():
        record = json.loads(record_path(path).read_text())
    if record is None or "crc32" not in record:
        return None
    if path.stat().st_size != record["bytes"]:
        return f"{path.stat().st_size} bytes where {record['bytes']} were written: truncated or overwritten"
    if checksum(path)["crc32"] != record["crc32"]:
        return "its checksum differs from the one written when it was built"
    return None


def intact(path: str | Path, record: dict | None = None, aside: str | Path | None = None) -> bool:
    """Whether ``path`` exists and matches its checksum record (``record``, else the one beside it). A file that
    does not is moved aside (``aside``, e.g. its cache folder; by default the file) as ``<name>.damaged`` with a
    message, and False is returned: the caller builds it again."""
    path = Path(path)
    if not path.exists():
        return False
    if record is None and record_path(path).exists():
        record = json.loads(record_path(path).read_text())
    moved = Path(aside or path)
    if record is None or "crc32" not in record:
        shutil.rmtree(moved) if moved.is_dir() else moved.unlink()  # quietly: nothing was lost
        return False
    problem = damage(path, record)
    if problem is None:
        return True
    target = moved.with_name(moved.name + ".damaged")
    if target.exists():
        target = moved.with_name(f"{moved.name}.damaged-{os.getpid()}")
    os.replace(moved, target)
    if moved == path and record_path(path).exists():
        record_path(path).unlink()
    print(f"{moved.name}: damaged ({problem}); moved aside as {target.name}, built again")
    return False


def load_intact(path: str | Path, mmap: bool = False) -> np.ndarray | None:
    """The array of a sealed ``.npy`` file (memory-mapped with ``mmap``), or None when it is missing or damaged
    (:func:`intact`: then moved aside), so that the caller builds it."""
    if not intact(path):
        return None
    return np.load(path, mmap_mode="r" if mmap else None)
