"""Reading radiographs from disk: PNG (8/16 bit), JPEG (EXIF orientation), JPEG 2000, DICOM.

Every reader returns a 2-D float32 film in 0-1 with bone bright. Bit depth is kept until that final
normalisation; MONOCHROME1 DICOMs are inverted. Palette, CMYK and opaque grey+alpha images are
converted to the grey they show. What cannot be read correctly raises :class:`ImageReadError` naming
the file and the true reason: a corrupt or truncated file, an unsupported transfer syntax, a colour
image, transparent pixels, a size beyond :data:`MAX_PIXELS` (checked from the header, before any
memory is spent decoding), a header that disagrees with the pixel stream, or a decoded film that is
nearly constant or pure noise (what a corrupt compressed stream often decodes to).

:func:`probe_image` reads only the header; loaders call it on every file so that an unreadable image
fails at loading, not an hour later inside training.

Example:
    >>> import tempfile, numpy as np, cv2
    >>> path = tempfile.mktemp(suffix=".png")
    >>> _ = cv2.imwrite(path, (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4096))
    >>> film = read_film(path)
    >>> film.dtype, float(film.max())
    (dtype('float32'), 0.9375...)
"""

from __future__ import annotations

import math
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: RGB films whose channels differ by more than this (0-1 scale, 99th percentile) are colour images
COLOUR_TOLERANCE = 0.04
#: the largest film read (pixels); real radiographs have 2-20 million, a 50 um film scan about 75 million
MAX_PIXELS = 100_000_000
#: neighbouring pixels of a radiograph correlate at 0.98-1.00 (real films); decoded garbage at about 0
MIN_NEIGHBOUR_CORRELATION = 0.5
#: JPEG 2000 tiles smaller than this side, or more of them than this, are refused before decoding
#: (a header of 1 x 1-pixel tiles makes the decoder allocate hundreds of MB for a one-pixel film)
MIN_J2K_TILE, MAX_J2K_TILES = 16, 65536

_DICOM_SUFFIXES = (".dcm", ".dicom")
_J2K_SUFFIXES = (".jp2", ".j2k", ".j2c", ".jpf", ".jpx")


class ImageReadError(ValueError):
    """A radiograph that cannot be read; the message names the file."""


def read_film(path: str | Path, bits: int | None = None, photometric: str | None = None) -> np.ndarray:
    """Read any supported radiograph as a float32 film in 0-1 with bone bright.

    Args:
        bits: the stored bit depth of a 16-bit PNG whose values use fewer bits (e.g. 12); default:
            the container's depth (8 or 16).
        photometric: ``"MONOCHROME1"`` inverts a PNG/JPEG stored inverted (DICOMs say it themselves).
    """
    path = _existing(path)
    if _is_dicom(path):
        return read_dicom(path)
    raw = _read_raster(path)
    top = float(2**bits - 1) if bits else (65535.0 if raw.dtype == np.uint16 else 255.0)
    if bits and raw.max() > top:
        raise ImageReadError(f"{path}: values up to {int(raw.max())} do not fit the stated {bits} bits")
    film = raw.astype(np.float32) / top
    return 1 - film if photometric == "MONOCHROME1" else film


def probe_image(path: str | Path) -> tuple[int, int]:
    """Open only the header of a radiograph and return its ``(height, width)``; raise
    :class:`ImageReadError` with the reason when it cannot be a readable film (no file, not an image,
    too large, an unsupported pixel format or transfer syntax). Cheap: no pixel is decoded.

    Example:
        >>> probe_image("missing.png")
        Traceback (most recent call last):
        ...
        ralib.data.io.ImageReadError: missing.png: no such file
    """
    path = _existing(path)
    if _is_dicom(path):
        ds = _dicom_dataset(path, pixels=False)
        return _check_dicom_header(path, ds)
    with _opened(path) as im:
        _refuse_mode(path, im.mode)
        return im.size[1], im.size[0]


# ---------------------------------------------------------------------------------------------
# PNG, JPEG, TIFF, JPEG 2000 through Pillow


def _read_raster(path: Path) -> np.ndarray:
    """PNG / JPEG / TIFF / JPEG 2000 pixels as a 2-D uint8 or uint16 array, EXIF orientation applied."""
    with _opened(path) as im:
        _refuse_mode(path, im.mode)
        try:
            im = ImageOps.exif_transpose(im)  # JPEGs from phones and some scanners are rotated by a tag
            im.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(f"{path}: not a readable image ({exc})") from exc
        mode = im.mode
        array = _grey_pixels(path, im)
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        if array.min() < 0 or array.max() > 65535:
            raise ImageReadError(f"{path}: 32-bit pixel values {array.min()}..{array.max()} outside 0-65535")
        array = array.astype(np.uint16)
    if array.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{path}: unsupported pixel type {array.dtype} (mode {mode})")
    _check_content(path, array)
    return array


class _opened:
    """``Image.open`` with the size checked before decoding and Pillow's errors named after the file."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> Image.Image:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check the size ourselves
                self.image = Image.open(self.path)
        except Image.DecompressionBombError as exc:
            raise ImageReadError(f"{self.path}: {exc}; refused before decoding") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(f"{self.path}: not a readable image ({exc})") from exc
        try:
            width, height = self.image.size
            _check_size(self.path, height, width)
            if self.path.suffix.lower() in _J2K_SUFFIXES or self.image.format == "JPEG2000":
                with open(self.path, "rb") as f:
                    _check_j2k(self.path, f.read(1 << 16), (height, width))
        except BaseException:
            self.image.close()
            raise
        return self.image

    def __exit__(self, *exc) -> None:
        self.image.close()


def _refuse_mode(path: Path, mode: str) -> None:
    if mode == "1":
        raise ImageReadError(f"{path}: a 1-bit black-and-white image, not a grey radiograph")
    if mode in ("F", "I;32F") or mode.startswith("F;"):
        raise ImageReadError(f"{path}: floating-point pixels (mode {mode}); save the film as 8/16-bit PNG or DICOM")


def _grey_pixels(path: Path, im: Image.Image) -> np.ndarray:
    """The grey values an image shows: palettes looked up, CMYK converted, opaque alpha dropped."""
    if im.mode in ("P", "PA"):
        im = im.convert("RGBA")  # palette indices are not intensities: look them up
    elif im.mode == "CMYK":
        im = im.convert("RGB")
    elif im.mode not in ("L", "LA", "RGB", "RGBA") and not im.mode.startswith("I"):
        try:
            im = im.convert("RGB")
        except ValueError as exc:
            raise ImageReadError(f"{path}: unsupported image mode {im.mode}") from exc
    if im.mode in ("LA", "RGBA"):
        alpha = np.asarray(im.getchannel("A"))
        if alpha.min() < 255:
            share = float((alpha < 255).mean())
            raise ImageReadError(f"{path}: {share:.1%} of the pixels are transparent (alpha channel); "
                                 "a radiograph has none: export it without transparency")  # fmt: skip
        im = im.convert(im.mode[:-1])
    array = np.asarray(im)
    if array.ndim == 3:
        channels = array[..., :3].astype(np.float32) / (65535.0 if array.dtype == np.uint16 else 255.0)
        spread = np.percentile(channels.max(axis=2) - channels.min(axis=2), 99)
        if spread > COLOUR_TOLERANCE:
            raise ImageReadError(f"{path}: a colour image where a grey radiograph is expected")
        array = array[..., 0]
    return array


# ---------------------------------------------------------------------------------------------
# DICOM


def read_dicom(path: str | Path) -> np.ndarray:
    """A DICOM radiograph: modality LUT, VOI LUT (window), MONOCHROME1 inverted, then 0-1.

    The header is checked before decoding (size, frames, a JPEG 2000 stream that agrees with it) and
    the decoded pixels after (shape, values within the stored bits, not constant, not noise).
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    path = _existing(path)
    ds = _dicom_dataset(path, pixels=True)
    if "PixelData" not in ds:
        raise ImageReadError(f"{path}: DICOM without pixel data")
    rows, columns = _check_dicom_header(path, ds)
    if _syntax(ds).is_compressed:
        _check_j2k(path, bytes(ds.PixelData[: 1 << 16]), (rows, columns), required=_is_j2k(ds))
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom wraps each decoder's own exception types
        name = getattr(_syntax(ds), "name", str(_syntax(ds)))
        raise ImageReadError(f"{path}: cannot decode its pixel data (transfer syntax {name}, {_syntax(ds)}): {exc}") from exc
    if pixels.shape != (rows, columns):
        raise ImageReadError(f"{path}: decoded pixels of shape {pixels.shape}, but the header says {rows} x {columns}")
    pixels = _within_stored_bits(path, ds, pixels)
    _check_content(path, pixels)
    values = apply_modality_lut(pixels, ds).astype(np.float64)
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        values = apply_voi_lut(values, ds, prefer_lut=True).astype(np.float64)
    lo, hi = float(values.min()), float(values.max())
    if hi == lo:
        raise ImageReadError(f"{path}: empty image (every pixel is {lo} after the LUTs)")
    film = (values - lo) / (hi - lo)
    if ds.get("PhotometricInterpretation", "MONOCHROME2") == "MONOCHROME1":
        film = 1 - film
    return film.astype(np.float32)


def _dicom_dataset(path: Path, pixels: bool):
    import pydicom

    try:
        return pydicom.dcmread(path, stop_before_pixels=not pixels)
    except Exception as exc:  # pydicom raises several types for corrupt files
        raise ImageReadError(f"{path}: not a readable DICOM file ({exc})") from exc


def _syntax(ds):
    from pydicom.uid import ImplicitVRLittleEndian

    return getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None) or ImplicitVRLittleEndian


def _is_j2k(ds) -> bool:
    return "JPEG 2000" in getattr(_syntax(ds), "name", "")


def _check_dicom_header(path: Path, ds) -> tuple[int, int]:
    """Rows and columns from a DICOM header, with its size, frames and decoder checked."""
    from pydicom.pixels import get_decoder

    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImageReadError(f"{path}: DICOM without Rows / Columns: not an image") from exc
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames != 1 or int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise ImageReadError(f"{path}: expected one grey frame, the header says {frames} frames of "
                             f"{ds.get('SamplesPerPixel', 1)} samples")  # fmt: skip
    _check_size(path, rows, columns)
    syntax = _syntax(ds)
    if syntax.is_compressed:
        try:
            available = get_decoder(syntax).is_available
        except NotImplementedError:
            available = False
        if not available:
            raise ImageReadError(f"{path}: cannot decode transfer syntax {getattr(syntax, 'name', syntax)} "
                                 f"({syntax}) with the installed decoders (see pydicom's pixel-data guide)")  # fmt: skip
    return rows, columns


def _within_stored_bits(path: Path, ds, pixels: np.ndarray) -> np.ndarray:
    """Pixels checked against the header's ``BitsStored``: outside it, an uncompressed or lossless stream
    is corrupt (an error); a lossy one may overshoot by ringing, so it is clipped."""
    stored = int(ds.get("BitsStored", 0) or 0)
    if not stored or not np.issubdtype(pixels.dtype, np.integer):
        return pixels
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    lo, hi = (-(2 ** (stored - 1)), 2 ** (stored - 1) - 1) if signed else (0, 2**stored - 1)
    if pixels.min() >= lo and pixels.max() <= hi:
        return pixels
    syntax = _syntax(ds)
    if syntax.is_compressed and "lossless" not in getattr(syntax, "name", "").lower():
        return np.clip(pixels, lo, hi)
    raise ImageReadError(f"{path}: decoded values {pixels.min()}..{pixels.max()} exceed the {stored} stored "
                         "bits the header states: a corrupt pixel stream (or a wrong BitsStored)")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# checks shared by every format


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: a folder, not an image file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file")
    return path


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in _DICOM_SUFFIXES:
        return True
    with open(path, "rb") as f:
        head = f.read(132)
    return len(head) == 132 and head[128:132] == b"DICM"


def _check_size(path: Path, height: int, width: int) -> None:
    if height <= 0 or width <= 0:
        raise ImageReadError(f"{path}: empty image ({width} x {height} pixels)")
    if height * width > MAX_PIXELS:
        raise ImageReadError(f"{path}: {width} x {height} pixels exceed the limit of {MAX_PIXELS:,} "
                             "(a corrupt header or a decompression bomb); refused before decoding. "
                             "Raise ralib.data.io.MAX_PIXELS if the film is real")  # fmt: skip


def j2k_header(data: bytes) -> dict | None:
    """Image and tile geometry from the SIZ segment of a JPEG 2000 codestream (None if there is none).

    Example:
        >>> import io, numpy as np
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.fromarray(np.zeros((20, 30), np.uint8)).save(buffer, format="JPEG2000")
        >>> header = j2k_header(buffer.getvalue())
        >>> header["width"], header["height"], header["tiles"]
        (30, 20, 1)
    """
    start = data.find(b"\xff\x4f\xff\x51")  # SOC, then SIZ
    if start < 0 or len(data) < start + 42:
        return None
    _, _, xsiz, ysiz, x0, y0, xt, yt, xt0, yt0, components = struct.unpack(">HHIIIIIIIIH", data[start + 4 : start + 42])
    tiles = math.ceil((xsiz - xt0) / xt) * math.ceil((ysiz - yt0) / yt) if xt and yt else math.inf
    return {"width": xsiz - x0, "height": ysiz - y0, "tile_width": xt, "tile_height": yt, "tiles": tiles,
            "components": components}  # fmt: skip


def _check_j2k(path: Path, data: bytes, shape: tuple[int, int], required: bool = False) -> None:
    """Refuse a JPEG 2000 stream whose header disagrees with ``shape`` or would exhaust memory."""
    header = j2k_header(data)
    if header is None:
        if required:
            raise ImageReadError(f"{path}: a JPEG 2000 transfer syntax without a readable JPEG 2000 header")
        return
    if (header["height"], header["width"]) != tuple(shape):
        raise ImageReadError(f"{path}: the JPEG 2000 stream is {header['width']} x {header['height']} pixels but the "
                             f"file says {shape[1]} x {shape[0]}: a corrupt stream; refused before decoding")  # fmt: skip
    tiny_tiles = min(header["tile_width"], header["tile_height"]) < min(MIN_J2K_TILE, *shape)
    if tiny_tiles or header["tiles"] > MAX_J2K_TILES:
        raise ImageReadError(f"{path}: the JPEG 2000 header declares {header['tiles']} tiles of {header['tile_width']} x "
                             f"{header['tile_height']} pixels, which would take the decoder far more memory than the "
                             "film: a corrupt or hostile stream; refused before decoding")  # fmt: skip


def _check_content(path: Path, pixels: np.ndarray) -> None:
    """Refuse a decoded film that is (nearly) constant or looks like pure noise."""
    sample = pixels[:: max(1, pixels.shape[0] // 512)].astype(np.float64)  # up to ~512 rows, all columns
    lo, hi = np.percentile(sample, [1, 99])
    if hi == lo:
        raise ImageReadError(f"{path}: empty image (at least 98 % of the pixels are {lo:g})")
    if min(pixels.shape) < 16:
        return  # too small to judge texture
    rows = pixels[:: max(1, pixels.shape[0] // 256)].astype(np.float64)
    columns = pixels[:, :: max(1, pixels.shape[1] // 256)].astype(np.float64)
    neighbours = np.mean([_correlation(rows[:, :-1], rows[:, 1:]), _correlation(columns[:-1], columns[1:])])
    if neighbours < MIN_NEIGHBOUR_CORRELATION:
        raise ImageReadError(f"{path}: the pixels look like noise (neighbouring pixels correlate at {neighbours:.2f}; "
                             "radiographs at 0.98 or more): most likely a corrupt stream that decoded without error")  # fmt: skip


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denominator = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denominator if denominator else 1.0


def read_radiograph(row) -> np.ndarray:
    """The film of one row of a data set's ``radiographs`` table (its ``bits`` and ``photometric`` if stated)."""
    bits = row.get("bits")
    bits = int(bits) if bits is not None and bits == bits else None  # NaN != NaN
    photometric = row.get("photometric")
    return read_film(row["image_path"], bits=bits, photometric=photometric if isinstance(photometric, str) else None)
