"""Reading radiographs: what reads, what is refused, and that every refusal names the file and the true reason."""

import io
import struct

import numpy as np
import pytest
from PIL import Image

from ralib.data import io as ralib_io
from ralib.data.io import ImageReadError, j2k_header, probe_image, read_film

GRADIENT = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (30, 1))  # 30 x 40, brighter to the right
GREY8 = (GRADIENT * 255).astype(np.uint8)


def test_png_8_and_16_bit(tmp_path):
    Image.fromarray(GREY8).save(tmp_path / "a.png")
    Image.fromarray((GRADIENT * 4095).astype(np.uint16)).save(tmp_path / "b.png")
    np.testing.assert_allclose(read_film(tmp_path / "a.png"), GRADIENT, atol=1 / 255)
    np.testing.assert_allclose(read_film(tmp_path / "b.png", bits=12), GRADIENT, atol=1 / 4095)
    assert read_film(tmp_path / "b.png").max() < 0.07  # 12-bit values in a 16-bit container
    with pytest.raises(ImageReadError, match="do not fit the stated 8 bits"):
        read_film(tmp_path / "b.png", bits=8)
    inverted = read_film(tmp_path / "a.png", photometric="MONOCHROME1")
    assert inverted[0, 0] > inverted[0, -1]


def test_jpeg_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(GREY8).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(tmp_path / "r.jpg", exif=exif, quality=95)
    film = read_film(tmp_path / "r.jpg")
    assert film.shape == GRADIENT.shape
    assert film[:, -5:].mean() > film[:, :5].mean() + 0.5


def test_grey_rgb_jpeg_reads_as_grey(tmp_path):
    Image.fromarray(np.stack([GREY8] * 3, -1)).save(tmp_path / "rgb.jpg", quality=95)
    assert read_film(tmp_path / "rgb.jpg").ndim == 2


# --- grey stored in other modes: read what the image shows, not its encoding -----------------


def test_palette_png_reads_the_grey_it_shows_not_its_indices(tmp_path):
    # a palette ordered against brightness: index 0 is white, so indices read as pixels invert the film
    palette_image = Image.fromarray(255 - GREY8).convert("P")
    palette = np.array(palette_image.getpalette()).reshape(-1, 3)[:, 0]
    inverted_indices = Image.fromarray(np.argsort(np.argsort(-palette))[np.asarray(palette_image)].astype(np.uint8), "P")
    inverted_indices.putpalette(np.repeat(np.sort(palette)[::-1], 3).tolist())
    inverted_indices.save(tmp_path / "palette.png")
    assert Image.open(tmp_path / "palette.png").mode == "P"
    np.testing.assert_allclose(read_film(tmp_path / "palette.png"), 1 - GRADIENT, atol=2 / 255)


def test_opaque_grey_alpha_reads_and_transparent_pixels_are_refused(tmp_path):
    Image.fromarray(GREY8).convert("LA").save(tmp_path / "la.png")
    np.testing.assert_allclose(read_film(tmp_path / "la.png"), GRADIENT, atol=1 / 255)
    pixels = np.array(Image.open(tmp_path / "la.png"))
    pixels[:3, :3, 1] = 0
    Image.fromarray(pixels, "LA").save(tmp_path / "holes.png")
    with pytest.raises(ImageReadError, match=r"holes.png: .*transparent"):
        read_film(tmp_path / "holes.png")


def test_cmyk_jpeg_reads_as_grey(tmp_path):
    Image.fromarray(GREY8).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    np.testing.assert_allclose(read_film(tmp_path / "cmyk.jpg"), GRADIENT, atol=3 / 255)


def test_bilevel_image_is_refused_as_such(tmp_path):
    Image.fromarray(GREY8).convert("1").save(tmp_path / "bw.png")
    with pytest.raises(ImageReadError, match="bw.png: a 1-bit black-and-white image"):
        read_film(tmp_path / "bw.png")


# --- what cannot be read -------------------------------------------------------------------


def test_bad_files_name_themselves(tmp_path):
    Image.fromarray(GREY8).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "garbage.jpg").write_bytes(b"not an image at all")
    colour = np.zeros((30, 40, 3), np.uint8)
    colour[..., 0] = 200
    Image.fromarray(colour).save(tmp_path / "colour.png")
    Image.fromarray(np.full((30, 40), 7, np.uint8)).save(tmp_path / "flat.png")
    for name, why in [("truncated.png", "not a readable"), ("empty.jpg", "empty"), ("garbage.jpg", "not a readable"),
                      ("colour.png", "colour image"), ("flat.png", "empty image"), ("missing.png", "no such file")]:  # fmt: skip
        with pytest.raises(ImageReadError, match=f"{name}.*{why}"):
            read_film(tmp_path / name)


def test_nearly_constant_and_noise_films_are_refused(tmp_path):
    nearly = np.zeros((64, 64), np.uint8)
    nearly[0, :20] = 255  # 0.5 % of the pixels differ: a decode gone wrong, not a film
    Image.fromarray(nearly).save(tmp_path / "nearly.png")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")
    with pytest.raises(ImageReadError, match="nearly.png: empty image"):
        read_film(tmp_path / "nearly.png")
    with pytest.raises(ImageReadError, match="noise.png: the pixels look like noise"):
        read_film(tmp_path / "noise.png")


def test_size_is_checked_from_the_header_before_decoding(tmp_path, monkeypatch):
    Image.fromarray(GREY8).save(tmp_path / "big.png")
    monkeypatch.setattr(ralib_io, "MAX_PIXELS", 1000)  # the film has 1,200
    with pytest.raises(ImageReadError, match=r"big.png: 40 x 30 pixels exceed the limit of 1,000 .*before decoding"):
        read_film(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match="big.png: 40 x 30 pixels exceed"):
        probe_image(tmp_path / "big.png")


def test_pillows_decompression_bomb_error_becomes_ours(tmp_path, monkeypatch):
    Image.fromarray(GREY8).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses above twice this
    with pytest.raises(ImageReadError, match="bomb.png: .*decompression bomb"):
        read_film(tmp_path / "bomb.png")


# --- JPEG 2000 and DICOM: check the header before decoding, the pixels after --------------------

SMOOTH = ((np.sin(np.arange(40) / 6)[None, :] + np.cos(np.arange(32) / 5)[:, None] + 2) / 4 * 4095).astype(np.uint16)


def _codestream(pixels=SMOOTH, tile=None, size=None) -> bytes:
    """A JPEG 2000 codestream of ``pixels``; ``tile`` / ``size`` overwrite what its SIZ header declares."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG2000", no_jp2=True)
    data = bytearray(buffer.getvalue())
    siz = data.find(b"\xff\x51") + 6  # Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz follow Lsiz and Rsiz
    if size:
        data[siz : siz + 8] = struct.pack(">II", *size)
    if tile:
        data[siz + 16 : siz + 24] = struct.pack(">II", *tile)
    return bytes(data)


def _dicom(path, photometric="MONOCHROME2", syntax=None, frame=None, stored=None, bits_stored=12, shape=None):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax or ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.Rows, ds.Columns = shape or GRADIENT.shape
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PhotometricInterpretation = photometric
    if syntax is not None:  # a compressed frame
        ds.PixelData = encapsulate([frame if frame is not None else b"\xff\xd8\xff\xf7" + b"\x00" * 64])
        ds["PixelData"].VR = "OB"
    else:
        ds.RescaleSlope, ds.RescaleIntercept = 2, 100
        if stored is None:
            stored = (GRADIENT * 4095).astype(np.uint16)
            stored = 4095 - stored if photometric == "MONOCHROME1" else stored
        ds.PixelData = stored.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_dicom_luts_and_monochrome1(tmp_path, photometric):
    film = read_film(_dicom(tmp_path / "x.dcm", photometric))
    np.testing.assert_allclose(film, GRADIENT, atol=2e-3)  # MONOCHROME1 comes back bone bright


def test_dicom_without_decoder_names_the_transfer_syntax(tmp_path):
    from pydicom.uid import JPEGLSLossless  # needs pylibjpeg or pyjpegls, which ralib does not install

    path = _dicom(tmp_path / "jls.dcm", syntax=JPEGLSLossless)
    for read in (read_film, probe_image):  # the header alone tells
        with pytest.raises(ImageReadError, match="jls.dcm.*transfer syntax JPEG-LS"):
            read(path)


def test_jpeg2000_dicom_reads_and_a_header_of_tiny_tiles_is_refused_before_decoding(tmp_path):
    from pydicom.uid import JPEG2000Lossless

    good = _dicom(tmp_path / "good.dcm", syntax=JPEG2000Lossless, frame=_codestream(), shape=SMOOTH.shape)
    np.testing.assert_allclose(read_film(good), (SMOOTH - SMOOTH.min()) / (SMOOTH.max() - SMOOTH.min()), atol=1e-6)
    tiles = _dicom(tmp_path / "tiles.dcm", syntax=JPEG2000Lossless, frame=_codestream(tile=(1, 1)), shape=SMOOTH.shape)
    with pytest.raises(ImageReadError, match=r"tiles.dcm: the JPEG 2000 header declares 1280 tiles of 1 x 1 pixels"):
        read_film(tiles)
    one_pixel = _dicom(tmp_path / "one.dcm", syntax=JPEG2000Lossless, frame=_codestream(size=(1, 1)), shape=SMOOTH.shape)
    with pytest.raises(ImageReadError, match=r"one.dcm: the JPEG 2000 stream is 1 x 1 pixels but the file says 40 x 32"):
        read_film(one_pixel)


def test_jpeg2000_file_with_tiny_tiles_is_refused(tmp_path):
    (tmp_path / "tiles.j2k").write_bytes(_codestream(tile=(1, 1)))
    assert j2k_header(_codestream())["tiles"] == 1
    with pytest.raises(ImageReadError, match="tiles.j2k: the JPEG 2000 header declares 1280 tiles"):
        read_film(tmp_path / "tiles.j2k")


def test_decoded_pixels_beyond_the_stored_bits_or_like_noise_are_refused(tmp_path):
    from pydicom.uid import JPEG2000Lossless

    overflowing = SMOOTH.copy()
    overflowing[0, 0] = 60000  # a lossless 12-bit stream cannot hold this: corrupt
    path = _dicom(tmp_path / "bits.dcm", syntax=JPEG2000Lossless, frame=_codestream(overflowing), shape=SMOOTH.shape)
    with pytest.raises(ImageReadError, match=r"bits.dcm: decoded values \d+..60000 exceed the 12 stored bits"):
        read_film(path)
    noise = np.random.default_rng(1).integers(0, 4096, GRADIENT.shape)
    with pytest.raises(ImageReadError, match="noise.dcm: the pixels look like noise"):
        read_film(_dicom(tmp_path / "noise.dcm", stored=noise))


def test_probe_reads_headers_only(tmp_path):
    Image.fromarray(GREY8).save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG but nothing else")
    assert probe_image(tmp_path / "ok.png") == GRADIENT.shape
    assert probe_image(_dicom(tmp_path / "x.dcm")) == GRADIENT.shape
    assert probe_image(tmp_path / "truncated.png") == GRADIENT.shape  # only decoding finds this one
    with pytest.raises(ImageReadError, match="garbage.png: not a readable image"):
        probe_image(tmp_path / "garbage.png")
