"""Reading weight files (checkpoints, state dicts, localisers) so that a damaged one is named.

torch's own errors for a truncated or overwritten file ("PytorchStreamReader failed reading zip archive")
name no file, and torch reads a file whose tensors were zeroed without a word; :func:`read_weights` raises
:class:`DamagedWeights` with the path and what to do instead, for both (the second where the file has the
checksum record :func:`ralib.integrity.seal` writes beside every checkpoint ``ralib`` saves).

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "empty.pt"
    >>> _ = path.write_bytes(b"")
    >>> read_weights(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ralib.models.weight_files.DamagedWeights: .../empty.pt: not a readable weights file (...); it is truncated, damaged or not torch's: delete it ...
"""

from __future__ import annotations

from pathlib import Path

import torch

from ralib.integrity import damage


class DamagedWeights(ValueError):
    """A weights file torch cannot read; ``path`` is the file."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        super().__init__(f"{path}: not a readable weights file ({reason}); it is truncated, damaged or not torch's: delete it "
                         "(a run's checkpoint is then trained again) or give another")  # fmt: skip


def read_weights(path: str | Path, mmap: bool = False) -> dict:
    """``torch.load`` of a weights file on the CPU with ``weights_only=True`` (memory-mapped with ``mmap``); a file
    that is missing raises FileNotFoundError, one that cannot be read :class:`DamagedWeights`."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no weights file {path}")
    if problem := damage(path):
        raise DamagedWeights(path, problem)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # torch's zip reader and unpickler name no file
        raise DamagedWeights(path, f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else ''}") from error
