"""srez_upscaler: the Python API on arrays (faces, images of any channels, photos), and windows."""
import os

import numpy as np
import pytest
from helpers import REPO_ROOT
from PIL import Image

import srez_pixels
import srez_upscaler

GROUP_PHOTO = os.path.join(REPO_ROOT, 'docs', 'group_photo.png')


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



def test_the_knob_moves_on_the_same_photo_without_finding_its_faces_again(monkeypatch):
    import srez_faces

    shipped = srez_upscaler.Upscaler(keep_last=True)
    photo = np.asarray(Image.open(GROUP_PHOTO).convert('RGB'))
    expected = srez_upscaler.Upscaler(sharpness=1.0).upscale_photo(photo).image
    first = shipped.upscale_photo(photo)
    detections = []
    monkeypatch.setattr(srez_faces.Detector, 'detect',
                        lambda self, image: detections.append(image) or [])
    shipped.set_sharpness(1.0)
    sharp = shipped.upscale_photo(photo)
    assert detections == []  # The photo's faces were kept.
    assert [face.box for face in sharp.faces] == [face.box for face in first.faces]
    assert not np.array_equal(sharp.image, first.image)
    assert shipped.source.sharpness == 1.0
    np.testing.assert_array_equal(sharp.image, expected)
    with pytest.raises(ValueError, match='sharpness must be a number from 0 to 1'):
        shipped.set_sharpness(float('nan'))


def test_the_knob_is_for_the_shipped_models_only(upscaler):
    with pytest.raises(ValueError, match='the sharpness is for the shipped models'):
        upscaler.set_sharpness(0.5)
