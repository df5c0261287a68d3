"""srez_pixels: the numpy image operations of upscaling, against TensorFlow's where they stand in."""
import numpy as np
import pytest
import tensorflow as tf

import srez_pixels

RNG = np.random.default_rng(0)


def test_bicubic_upscale_is_tensorflows_within_float_rounding_in_both_dtypes():
    pixels = RNG.integers(0, 256, size=[2, 5, 7, 1], dtype=np.uint8)  # Sharp: it overshoots.
    as_float = srez_pixels.bicubic_upscale(pixels.astype(np.float32) / 255)
    as_uint8 = srez_pixels.bicubic_upscale(pixels)
    assert as_float.shape == as_uint8.shape == (2, 20, 28, 1) and as_uint8.dtype == np.uint8
    assert as_float.min() >= 0 and as_float.max() <= 1
    expected = tf.clip_by_value(tf.image.resize(pixels.astype(np.float32) / 255, [20, 28],
                                                method='bicubic'), 0, 1)
    np.testing.assert_allclose(as_float, expected, atol=1e-6)
    tensorflows = tf.image.convert_image_dtype(expected, tf.uint8, saturate=True).numpy()
    difference = np.abs(as_uint8.astype(int) - tensorflows)
    assert difference.max() <= 1 and np.mean(difference > 0) < 0.01
    # On a photo's worth of pixels: a level apart in about one pixel of 200,000.
    photo = RNG.integers(0, 256, size=[1, 120, 160, 3], dtype=np.uint8)
    tensorflows = tf.image.convert_image_dtype(tf.clip_by_value(tf.image.resize(
        photo.astype(np.float32) / 255, [480, 640], method='bicubic'), 0, 1), tf.uint8,
        saturate=True).numpy()
    difference = np.abs(srez_pixels.bicubic_upscale(photo).astype(int) - tensorflows)
    assert difference.max() <= 1 and np.mean(difference > 0) < 1e-4
    # Any whole scale, as detection's 3x: TensorFlow looks its weights up in a table of 1024, so
    # at thirds of a pixel they differ a little: under a fifth of a level.
    three = tf.image.resize(pixels.astype(np.float32), [15, 21], method='bicubic').numpy()
    np.testing.assert_allclose(srez_pixels.bicubic_upscale(pixels / 255, 3) * 255,
                               np.clip(three, 0, 255), atol=0.2)


@pytest.mark.parametrize('size', [(60, 79), (42, 56), (100, 133), (150, 200)])
def test_area_resize_is_tensorflows(size):
    image = RNG.uniform(-1, 1, (100, 133, 3)).astype(np.float32)
    np.testing.assert_allclose(srez_pixels.area_resize(image, size),
                               tf.image.resize(image[None], size, method='area')[0], atol=5e-5)


def test_warp_is_tensorflows_bilinear_projective_transform():
    image = RNG.uniform(0, 255, (30, 40, 3)).astype(np.float32)
    transform = np.array([0.9, 0.2, 3.3, -0.15, 1.1, 5.7], np.float32)
    expected = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=np.r_[transform, 0, 0][None].astype(np.float32),
        output_shape=[25, 25], fill_value=0.0, interpolation='BILINEAR', fill_mode='NEAREST')
    np.testing.assert_allclose(srez_pixels.warp(image, transform.reshape(2, 3), 25), expected[0],
                               atol=1e-3)


def test_to_uint8_rounds_as_tensorflow_does():
    values = np.linspace(-0.1, 1.1, 1001, dtype=np.float32)
    np.testing.assert_array_equal(
        srez_pixels.to_uint8(values),
        tf.image.convert_image_dtype(np.clip(values, 0, 1), tf.uint8, saturate=True))
