"""Image files are read as they look: bit depth, orientation, transparency, modes, frames,
and one resize for files and arrays (sklearn_curate.embedding._images).

Every file is written here with Pillow (or by hand where Pillow cannot write it) and
the loaded values are checked against the pixels that were written.
"""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits, load_sample_images

from sklearn_curate.embedding._images import load_image, load_images, resize_images


@pytest.fixture(scope="module")
def photo():
    """A 60 x 80 RGB crop of scikit-learn's china.jpg, uint8 (H, W, 3)."""
    return np.ascontiguousarray(load_sample_images().images[0][150:210, 200:280])


@pytest.fixture(scope="module")
def digit():
    """A 32 x 32 uint8 digit (scikit-learn's digits, 8 x 8 blown up), 0-255."""
    img = load_digits().images[0]
    return np.kron(np.round(img * 255 / 16), np.ones((4, 4))).astype(np.uint8)


def _mode(path):
    with Image.open(path) as img:
        return img.mode


def _load(path, **kw):
    return load_image(path, **kw).numpy()


def _gradient(h=64, w=64, bits=16):
    """A 0-to-1 ramp, quantized to what a ``bits``-bit file holds."""
    full = 2**bits - 1
    return np.round(np.linspace(0.0, 1.0, h * w).reshape(h, w) * full) / full


def _u8_to_float(u8):
    """What an 8-bit file must load as: uint8 / 255 in float32, channels first."""
    a = np.asarray(u8, dtype=np.float32) / np.float32(255.0)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _png16(arr, color_type):
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB): color_type 2 = RGB."""
    h, w = arr.shape[:2]
    rows = b"".join(b"\x00" + arr[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# -- bit depth ------------------------------------------------------------------------------------
def test_16bit_gray_png_spans_0_to_1(tmp_path):
    g = _gradient()
    path = tmp_path / "i16.png"
    Image.fromarray(np.round(g * 65535).astype(np.uint16)).save(path)
    assert _mode(path) == "I;16"
    gray = _load(path, n_channels=1)
    assert abs(gray.mean() - 0.5) < 0.01  # was 0.998: every value above 255 was white
    np.testing.assert_allclose(gray[0], g, atol=1e-6)
    rgb = _load(path)  # gray -> RGB repeats the channel
    assert rgb.shape == (3, 64, 64)
    np.testing.assert_array_equal(rgb, np.repeat(gray, 3, axis=0))


def test_16bit_rgb_png_is_scaled_to_0_1(tmp_path, photo):
    # a real photo at 16 bits (each 8-bit value v becomes v * 257 plus noise in the low byte)
    rng = np.random.default_rng(0)
    a16 = photo.astype(np.uint16) * 257 + rng.integers(0, 200, photo.shape).astype(np.uint16)
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png16(a16, color_type=2))
    img = _load(path)
    # Pillow has no 16-bit RGB mode: it keeps the high byte, so 1/255 is the precision
    np.testing.assert_allclose(img, a16.transpose(2, 0, 1) / 65535, atol=1 / 255 + 1e-6)
    grad = tmp_path / "grad16.png"
    grad.write_bytes(_png16(np.round(np.dstack([_gradient()] * 3) * 65535), color_type=2))
    assert abs(_load(grad).mean() - 0.5) < 0.01


def test_int32_tiff_is_scaled_by_its_range(tmp_path):
    g = _gradient(bits=31)
    path = tmp_path / "i32.tif"
    Image.fromarray(np.round(g * (2**31 - 1)).astype(np.int32)).save(path)
    assert _mode(path) == "I"
    img = _load(path, n_channels=1)
    assert abs(img.mean() - 0.5) < 0.01  # was 1.0 (white)
    np.testing.assert_allclose(img[0], g, atol=1e-6)
    # negative values of a signed type are clipped to 0
    neg = tmp_path / "neg.tif"
    Image.fromarray(np.array([[-(2**30), 0, 2**30]], dtype=np.int32)).save(neg)
    np.testing.assert_allclose(_load(neg, n_channels=1)[0, 0], [0.0, 0.0, 0.5], atol=1e-6)


def test_uint32_tiff_uses_the_files_sample_format(tmp_path):
    g = _gradient(bits=32)
    u32 = np.round(g * (2**32 - 1)).astype(np.uint32)
    path = tmp_path / "u32.tif"
    Image.fromarray(u32.view(np.int32)).save(path)
    # Pillow writes SampleFormat=2 (signed); mark the file unsigned (tag 339 = 1)
    entry = struct.pack("<HHI", 339, 3, 1)
    data = path.read_bytes()
    assert data.count(entry + b"\x02\x00") == 1
    path.write_bytes(data.replace(entry + b"\x02\x00", entry + b"\x01\x00"))
    img = _load(path, n_channels=1)
    assert abs(img.mean() - 0.5) < 0.01
    np.testing.assert_allclose(img[0], g, atol=1e-6)


def test_16bit_pgm_is_scaled(tmp_path):
    g = _gradient()
    path = tmp_path / "i16.pgm"
    path.write_bytes(b"P5\n64 64\n65535\n" + np.round(g * 65535).astype(">u2").tobytes())
    assert _mode(path) == "I"  # Pillow opens 16-bit PGM as 32-bit "I"
    img = _load(path, n_channels=1)
    assert abs(img.mean() - 0.5) < 0.01
    np.testing.assert_allclose(img[0], g, atol=1e-6)


def test_float_tiff_keeps_values_and_clips_outside_0_1(tmp_path, photo):
    gray = (photo.mean(axis=2) / 255).astype(np.float32)
    path = tmp_path / "f.tif"
    Image.fromarray(gray).save(path)
    assert _mode(path) == "F"
    np.testing.assert_array_equal(_load(path, n_channels=1)[0], gray)  # old code: all ~0
    np.testing.assert_array_equal(_load(path), np.stack([gray] * 3))
    out = tmp_path / "out.tif"
    Image.fromarray(np.array([[-0.5, 0.25, 1.5]], dtype=np.float32)).save(out)
    np.testing.assert_array_equal(_load(out, n_channels=1)[0, 0], [0.0, 0.25, 1.0])


def test_float_tiff_with_nan_is_unreadable(tmp_path):
    path = tmp_path / "nan.tif"
    Image.fromarray(np.array([[0.5, np.nan]], dtype=np.float32)).save(path)
    with pytest.raises(ValueError, match="nan.tif.*non-finite"):
        load_image(path)
    images, ok, reasons = load_images([path], n_channels=1)
    assert not ok[0] and "non-finite" in reasons[0] and images.shape[0] == 0


def test_8bit_files_are_divided_by_255(tmp_path, photo, digit):
    gray, rgb = tmp_path / "gray.png", tmp_path / "rgb.png"
    Image.fromarray(digit).save(gray)
    Image.fromarray(photo).save(rgb)
    np.testing.assert_array_equal(_load(gray, n_channels=1), _u8_to_float(digit))
    np.testing.assert_array_equal(_load(rgb), _u8_to_float(photo))
    rgba = _load(rgb, n_channels=4)  # opaque files get alpha 1
    np.testing.assert_array_equal(rgba[:3], _u8_to_float(photo))
    np.testing.assert_array_equal(rgba[3], 1.0)
    # RGB -> gray: Pillow's luma formula, in float (within half a step of Pillow's "L")
    luma = _u8_to_float(photo).transpose(1, 2, 0) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(_load(rgb, n_channels=1)[0], luma, atol=1e-6)
    pil_l = _u8_to_float(np.asarray(Image.fromarray(photo).convert("L")))
    np.testing.assert_allclose(_load(rgb, n_channels=1), pil_l, atol=0.5 / 255 + 1e-6)


# -- orientation ----------------------------------------------------------------------------------
def _shown():
    """What a viewer shows: 14 high x 10 wide, white, a black block top-left, gray bottom-left."""
    img = np.full((14, 10), 255, dtype=np.uint8)
    img[:4, :4] = 0
    img[10:, :4] = 128
    return img


# the pixels to store so that a viewer applying EXIF orientation o shows _shown()
_STORED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # rotated 180
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.T,  # transposed
    6: lambda a: np.rot90(a, 1),  # viewer rotates 90 clockwise
    7: lambda a: a[::-1, ::-1].T,  # transversed
    8: lambda a: np.rot90(a, -1),  # viewer rotates 90 counter-clockwise
}


@pytest.mark.parametrize("orientation", sorted(_STORED))
def test_exif_orientation_is_applied(tmp_path, orientation):
    stored = np.ascontiguousarray(_STORED[orientation](_shown()))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(stored).convert("RGB").save(path, exif=exif.tobytes(), quality=95)
    img = _load(path)
    assert img.shape == (3, 14, 10)  # H, W as displayed
    gray = img.mean(axis=0)
    assert gray[:3, :3].mean() < 0.15  # black marker top-left
    assert 0.35 < gray[11:, :3].mean() < 0.65  # gray marker bottom-left
    assert gray[:3, 7:].mean() > 0.85 and gray[11:, 7:].mean() > 0.85  # right corners white


def test_exif_rotated_photo_loads_upright(tmp_path, photo):
    path = tmp_path / "rot6.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.ascontiguousarray(np.rot90(photo, 1))).save(
        path, exif=exif.tobytes(), quality=95, subsampling=0
    )
    img = _load(path)
    assert img.shape == (3, 60, 80)
    assert np.abs(img - _u8_to_float(photo)).mean() < 0.02


# -- transparency ---------------------------------------------------------------------------------
def _palette_png(path, transparency):
    idx = np.zeros((4, 6), dtype=np.uint8)
    idx[:, 3:] = 1  # left: index 0 (red), right: index 1 (blue)
    img = Image.fromarray(idx, mode="P")
    img.putpalette([255, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    img.save(path, transparency=transparency)


def test_palette_png_transparent_index_is_white(tmp_path):
    path = tmp_path / "p.png"
    _palette_png(path, transparency=0)
    rgb = _load(path)
    np.testing.assert_array_equal(rgb[:, :, :3], 1.0)  # transparent red: white
    blue = np.broadcast_to(np.array([0.0, 0.0, 1.0])[:, None, None], (3, 4, 3))
    np.testing.assert_array_equal(rgb[:, :, 3:], blue)
    gray = _load(path, n_channels=1)[0]
    np.testing.assert_array_equal(gray[:, :3], 1.0)
    np.testing.assert_allclose(gray[:, 3:], 0.114, atol=1e-6)
    rgba = _load(path, n_channels=4)
    np.testing.assert_array_equal(rgba[3, :, :3], 0.0)  # alpha kept
    np.testing.assert_array_equal(rgba[:, :, 3:].reshape(4, -1).T, [[0, 0, 1, 1]] * 12)


def test_palette_png_partial_alpha_is_composited(tmp_path):
    path = tmp_path / "pa.png"
    _palette_png(path, transparency=b"\xff\x66")  # red opaque, blue at alpha 0x66
    a = 0x66 / 255
    rgb = _load(path)
    np.testing.assert_allclose(rgb[:, 0, 0], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(rgb[:, 0, 5], [1 - a, 1 - a, 1], atol=1e-6)
    np.testing.assert_allclose(_load(path, n_channels=4)[:, 0, 5], [0, 0, 1, a], atol=1e-6)


def test_la_png_is_composited_onto_white(tmp_path):
    la = np.zeros((2, 3, 2), dtype=np.uint8)
    la[..., 0] = 51
    la[..., 1] = [0, 128, 255]  # transparent, half, opaque columns
    path = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(path)
    a = np.array([0, 128, 255]) / 255
    want = 51 / 255 * a + (1 - a)
    gray = _load(path, n_channels=1)
    np.testing.assert_allclose(gray[0], np.tile(want, (2, 1)), atol=1e-6)  # old: 0.2 everywhere
    np.testing.assert_array_equal(_load(path), np.repeat(gray, 3, axis=0))
    rgba = _load(path, n_channels=4)
    np.testing.assert_allclose(rgba[:3], 51 / 255, atol=1e-6)
    np.testing.assert_allclose(rgba[3], np.tile(a, (2, 1)), atol=1e-6)


def test_rgba_photo_is_composited_onto_white_and_alpha_kept_for_4_channels(tmp_path, photo):
    alpha = np.tile(np.linspace(0, 255, photo.shape[1]).round().astype(np.uint8), (60, 1))
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([photo, alpha]), mode="RGBA").save(path)
    a = alpha / 255.0
    want = _u8_to_float(photo) * a + (1 - a)
    np.testing.assert_allclose(_load(path), want, atol=1e-6)
    luma = want.transpose(1, 2, 0) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(_load(path, n_channels=1)[0], luma, atol=1e-6)
    np.testing.assert_array_equal(
        _load(path, n_channels=4), _u8_to_float(np.dstack([photo, alpha]))
    )


def test_transparent_colour_of_gray_files_is_white(tmp_path, digit):
    path = tmp_path / "trns.png"
    Image.fromarray(digit).save(path, transparency=0)  # tRNS: black is transparent
    img = _load(path, n_channels=1)[0]
    expected = _u8_to_float(digit)[0]
    np.testing.assert_allclose(img, np.where(digit == 0, 1.0, expected), atol=1e-6)
    path16 = tmp_path / "trns16.png"
    Image.fromarray(digit.astype(np.uint16) * 257).save(path16, transparency=0)
    np.testing.assert_allclose(_load(path16, n_channels=1)[0], img, atol=1e-6)
    np.testing.assert_array_equal(_load(path16, n_channels=4)[3], (digit != 0).astype(np.float32))


# -- other modes and frames -------------------------------------------------------------------------
def test_cmyk_is_converted_to_rgb_by_pillow(tmp_path, photo):
    cmyk = Image.fromarray(photo).convert("CMYK")
    tif, jpg = tmp_path / "cmyk.tif", tmp_path / "cmyk.jpg"
    cmyk.save(tif)
    cmyk.save(jpg, quality=95)
    assert _mode(tif) == _mode(jpg) == "CMYK"
    np.testing.assert_allclose(_load(tif), _u8_to_float(photo), atol=1e-6)
    assert np.abs(_load(jpg) - _u8_to_float(photo)).mean() < 0.02
    assert _load(tif, n_channels=1).shape == (1, 60, 80)


def test_1bit_png_is_0_or_1(tmp_path, digit):
    mask = digit > 127
    path = tmp_path / "bw.png"
    Image.fromarray(mask).save(path)
    assert _mode(path) == "1"
    np.testing.assert_array_equal(_load(path, n_channels=1)[0], mask.astype(np.float32))
    np.testing.assert_array_equal(_load(path), np.stack([mask.astype(np.float32)] * 3))


@pytest.mark.parametrize("ext", ["gif", "tif"])
def test_multi_frame_files_read_the_first_frame(tmp_path, ext):
    d = load_digits().images
    frames = [np.kron(np.round(d[i] * 255 / 16), np.ones((4, 4))).astype(np.uint8) for i in (0, 1)]
    path = tmp_path / f"two.{ext}"
    pil = [Image.fromarray(f) for f in frames]
    pil[0].save(path, save_all=True, append_images=pil[1:])
    with Image.open(path) as img:
        assert getattr(img, "n_frames", 1) == 2
    got = _load(path, n_channels=1)[0]
    np.testing.assert_allclose(got, frames[0] / 255, atol=1e-6)
    assert np.abs(got - frames[1] / 255).max() > 0.5


# -- one resize for files and arrays ------------------------------------------------------------------
@pytest.mark.parametrize("size", [(32, 48), (90, 120), 17])
def test_file_with_image_size_equals_array_through_resize_images(tmp_path, photo, size):
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    from_file = _load(path, image_size=size)
    from_array = resize_images(_u8_to_float(photo)[None], size)[0]
    assert from_file.shape == from_array.shape
    np.testing.assert_allclose(from_file, from_array, atol=1e-6)


def test_gray_file_with_image_size_equals_array(tmp_path, digit):
    path = tmp_path / "digit.png"
    Image.fromarray(digit).save(path)
    for size in (8, 64, (20, 12)):
        np.testing.assert_allclose(
            _load(path, n_channels=1, image_size=size),
            resize_images(_u8_to_float(digit), size),
            atol=1e-6,
        )


def test_resize_images_is_pillows_bilinear_filter(photo):
    chw = _u8_to_float(photo)
    for h, w in [(20, 30), (150, 170), (60, 33)]:
        pil = np.stack(
            [np.asarray(Image.fromarray(c).resize((w, h), Image.Resampling.BILINEAR)) for c in chw]
        )
        np.testing.assert_allclose(resize_images(chw, (h, w)), pil, atol=1e-4)


def test_resize_images_shapes_range_and_antialiasing(photo):
    batch = np.stack([_u8_to_float(photo), 1 - _u8_to_float(photo)])
    out = resize_images(batch, (30, 40))
    assert out.shape == (2, 3, 30, 40) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(out[1], resize_images(batch[1], (30, 40)))  # per image
    same = resize_images(batch, (60, 80))
    np.testing.assert_array_equal(same, batch)
    assert resize_images(np.zeros((0, 1, 8, 8)), 4).shape == (0, 1, 4, 4)
    # shrinking averages every source pixel: noise 64 -> 8 becomes nearly flat
    noise = np.random.default_rng(0).random((1, 1, 64, 64))
    assert resize_images(noise, 8).std() < 0.06  # plain bilinear sampling leaves ~0.14
    ones = resize_images(np.ones((1, 1, 7, 9)), (30, 3))  # rounding never leaves [0, 1]
    assert ones.min() == 1.0 and ones.max() == 1.0
    holed = batch.copy()
    holed[0, 0, 0, 0] = np.nan  # a NaN stays local: the far corner is still a number
    out = resize_images(holed, (30, 40))
    assert np.isnan(out[0, 0, 0, 0]) and np.isfinite(out[0, 0, -1, -1])
    assert np.nanmax(out) <= 1.0


def test_resize_images_refuses_bad_input():
    with pytest.raises(ValueError, match="shape"):
        resize_images(np.zeros((8, 8)), 4)
    with pytest.raises(ValueError, match="positive"):
        resize_images(np.zeros((1, 8, 8)), 0)
    with pytest.raises(ValueError, match="pair"):
        resize_images(np.zeros((1, 8, 8)), (1, 2, 3))
    with pytest.raises(ValueError, match="zero height or width"):
        resize_images(np.zeros((1, 0, 8)), 4)
    with pytest.raises(TypeError, match="numeric"):
        resize_images(np.array([[["a"]]]), 4)


def test_preprocess_gets_the_resized_8bit_pil_image(tmp_path, photo):
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    seen = []

    def spy(img):
        seen.append((img.mode, img.size))
        return img

    got = load_image(path, image_size=(30, 40), preprocess=spy).numpy()
    assert seen == [("RGB", (40, 30))]
    want = resize_images(_u8_to_float(photo), (30, 40))
    np.testing.assert_allclose(got, np.round(want * 255) / 255, atol=1e-6)
    la = tmp_path / "la.png"
    Image.fromarray(np.zeros((4, 4, 2), dtype=np.uint8), mode="LA").save(la)
    out = load_image(la, n_channels=4, preprocess=spy)
    assert seen[-1] == ("RGBA", (4, 4)) and isinstance(out, torch.Tensor)


def test_bad_arguments_raise_instead_of_marking_files_unreadable(tmp_path, digit):
    path = tmp_path / "d.png"
    Image.fromarray(digit).save(path)
    with pytest.raises(ValueError, match="n_channels"):
        load_images([path], n_channels=2)
    with pytest.raises(ValueError, match="positive"):
        load_images([path], image_size=0)
