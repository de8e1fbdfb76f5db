"""Reading radiographs from disk: PNG (8/16 bit), JPEG (EXIF orientation), DICOM.

Every reader returns a 2-D float32 film in 0-1 with bone bright. Bit depth is kept until that final
normalisation; MONOCHROME1 DICOMs are inverted. What cannot be read raises :class:`ImageReadError`
naming the file and the reason (corrupt or truncated file, unsupported transfer syntax, a colour
image where grey is expected, an empty image).

Example:
    >>> import tempfile, numpy as np, cv2
    >>> path = tempfile.mktemp(suffix=".png")
    >>> _ = cv2.imwrite(path, (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4096))
    >>> film = read_film(path)
    >>> film.dtype, float(film.max())
    (dtype('float32'), 0.9375...)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: RGB films whose channels differ by more than this (0-1 scale, 99th percentile) are colour images
COLOUR_TOLERANCE = 0.04


class ImageReadError(ValueError):
    """A radiograph that cannot be read; the message names the file."""


def read_film(path: str | Path, bits: int | None = None, photometric: str | None = None) -> np.ndarray:
    """Read any supported radiograph as a float32 film in 0-1 with bone bright.

    Args:
        bits: the stored bit depth of a 16-bit PNG whose values use fewer bits (e.g. 12); default:
            the container's depth (8 or 16).
        photometric: ``"MONOCHROME1"`` inverts a PNG/JPEG stored inverted (DICOMs say it themselves).
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file")
    if path.suffix.lower() in (".dcm", ".dicom") or _is_dicom(path):
        return read_dicom(path)
    raw = _read_raster(path)
    top = float(2**bits - 1) if bits else (65535.0 if raw.dtype == np.uint16 else 255.0)
    film = raw.astype(np.float32) / top
    if bits and raw.max() > top:
        raise ImageReadError(f"{path}: values up to {int(raw.max())} do not fit the stated {bits} bits")
    return 1 - film if photometric == "MONOCHROME1" else film


def _is_dicom(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def _read_raster(path: Path) -> np.ndarray:
    """PNG / JPEG / TIFF pixels as a 2-D integer array, EXIF orientation applied."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)  # JPEGs from phones and some scanners are rotated by a tag
            im.load()
            mode = im.mode
            array = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ImageReadError(f"{path}: not a readable image ({exc})") from exc
    if array.size == 0 or min(array.shape[:2]) == 0:
        raise ImageReadError(f"{path}: empty image")
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        array = array.astype(np.uint16) if array.max() <= 65535 else array
    if array.ndim == 3:
        channels = array[..., :3].astype(np.float32) / (65535.0 if array.dtype == np.uint16 else 255.0)
        spread = np.percentile(channels.max(axis=2) - channels.min(axis=2), 99)
        if spread > COLOUR_TOLERANCE:
            raise ImageReadError(f"{path}: a colour image where a grey radiograph is expected")
        array = array[..., 0]
    if array.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{path}: unsupported pixel type {array.dtype} (mode {mode})")
    if array.max() == array.min():
        raise ImageReadError(f"{path}: empty image (every pixel is {array.flat[0]})")
    return array


def read_dicom(path: str | Path) -> np.ndarray:
    """A DICOM radiograph: modality LUT, VOI LUT (window), MONOCHROME1 inverted, then 0-1."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # pydicom raises several types for corrupt files
        raise ImageReadError(f"{path}: not a readable DICOM file ({exc})") from exc
    if "PixelData" not in ds:
        raise ImageReadError(f"{path}: DICOM without pixel data")
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        name = getattr(syntax, "name", str(syntax))
        raise ImageReadError(
            f"{path}: cannot decode transfer syntax {name} ({syntax}) with the installed decoders: {exc}"
        ) from exc
    if pixels.ndim != 2:
        raise ImageReadError(f"{path}: expected one grey frame, found pixel array of shape {pixels.shape}")
    values = apply_modality_lut(pixels, ds).astype(np.float64)
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        values = apply_voi_lut(values, ds, prefer_lut=True).astype(np.float64)
    lo, hi = float(values.min()), float(values.max())
    if hi == lo:
        raise ImageReadError(f"{path}: empty image (every pixel is {lo})")
    film = (values - lo) / (hi - lo)
    if ds.get("PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1":
        film = 1 - film
    return film.astype(np.float32)


def read_radiograph(row) -> np.ndarray:
    """The film of one row of a data set's ``radiographs`` table (its ``bits`` and ``photometric`` if stated)."""
    bits = row.get("bits")
    bits = int(bits) if bits is not None and bits == bits else None  # NaN != NaN
    photometric = row.get("photometric")
    return read_film(row["image_path"], bits=bits, photometric=photometric if isinstance(photometric, str) else None)
