"""srez_upscaler: the Python API on arrays (faces, images of any channels, photos), and windows."""
import numpy as np
import pytest

import srez_pixels
import srez_upscaler


@pytest.fixture(scope='module')
def upscaler(generator):
    return srez_upscaler.Upscaler.from_generator(generator, None)


def noise(*shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, np.uint8)


def test_tiled_output_equals_whole_output(generator, upscaler):
    # 70x45 fits one window by default, and needs 4x3 windows of 8 + 2 * 16 pixels when tiled.
    image = noise(1, 70, 45, 3, seed=2)
    tiled_upscaler = srez_upscaler.Upscaler.from_generator(generator, None, tile_size=8)

    whole = upscaler.upscale_images(image)
    tiled = tiled_upscaler.upscale_images(image)

    margin = srez_pixels.TILE_MARGIN
    assert len(srez_pixels.spans(70, 8, margin)) > 1 and len(srez_pixels.spans(45, 8, margin)) > 1
    assert whole.shape == tiled.shape == (1, 280, 180, 3)
    # Equal up to float rounding in different convolution shapes: at most one level, rarely.
    difference = np.abs(whole.astype(int) - tiled.astype(int))
    assert difference.max() <= 1 and np.mean(difference > 0) < 1e-3


def test_every_kind_of_image_keeps_its_channels(upscaler):
    rgba = noise(16, 16, 4, seed=3)
    grey = rgba[..., 0]
    colour = upscaler.upscale_face(rgba[..., :3])
    as_rgb = upscaler.upscale_face(np.stack([grey] * 3, -1)).astype(float)

    assert colour.shape == (64, 64, 3) and colour.dtype == np.uint8
    # Grey stays grey, [h, w] or [h, w, 1]: the luminance of its upscale as RGB.
    expected_grey = np.round(as_rgb @ srez_pixels.LUMA).astype(np.uint8)
    np.testing.assert_array_equal(upscaler.upscale_face(grey), expected_grey)
    np.testing.assert_array_equal(upscaler.upscale_face(grey[..., None])[..., 0], expected_grey)
    # Alpha is upscaled bicubic; the colours do not depend on it.
    with_alpha = upscaler.upscale_face(rgba)
    np.testing.assert_array_equal(with_alpha[..., :3], colour)
    np.testing.assert_array_equal(with_alpha[..., 3:],
                                  srez_pixels.bicubic_upscale(rgba[np.newaxis, ..., 3:])[0])
    grey_alpha = upscaler.upscale_face(rgba[..., [0, 3]])
    np.testing.assert_array_equal(grey_alpha[..., 0], expected_grey)
    with pytest.raises(ValueError, match='images have 5 channels'):
        upscaler.upscale_face(noise(16, 16, 5))


def test_a_photo_without_faces_is_its_bicubic_upscale_in_its_channels(upscaler):
    flat = np.full((40, 50), 128, np.uint8)
    result = upscaler.upscale_photo(flat)
    assert result.faces == []
    np.testing.assert_array_equal(result.image, np.full((160, 200), 128, np.uint8))

