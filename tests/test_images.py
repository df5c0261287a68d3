"""srez_images: the resampling that the model, training, eval and infer share, and the grid."""
import numpy as np
import tensorflow as tf

import srez_images


def test_sample_grid_layout():
    rng = np.random.default_rng(0)
    inputs = rng.uniform(size=[10, 16, 16, 3]).astype(np.float32)
    output = rng.uniform(-0.5, 1.5, size=[10, 64, 64, 3]).astype(np.float32)
    truth = rng.uniform(size=[10, 64, 64, 3]).astype(np.float32)
    grid = srez_images.sample_grid(inputs, output, truth).numpy()
    assert grid.shape == (8 * 64, 4 * 64, 3) and grid.dtype == np.uint8  # At most 8 rows.
    row = 2
    cell = lambda column: grid[row * 64:(row + 1) * 64, column * 64:(column + 1) * 64]
    np.testing.assert_allclose(cell(0)[::4, ::4], inputs[row] * 255, atol=1)  # nearest
    np.testing.assert_allclose(cell(2), np.clip(output[row], 0, 1) * 255, atol=1)  # clipped
    np.testing.assert_allclose(cell(3), truth[row] * 255, atol=1)
    bicubic = tf.image.resize(inputs[row:row + 1], [64, 64], method='bicubic')[0]
    np.testing.assert_allclose(cell(1), np.clip(bicubic, 0, 1) * 255, atol=1)


def test_box_downscale_equals_area_resize():
    images = tf.random.uniform([3, 64, 64, 3], seed=1)
    expected = tf.image.resize(images, [16, 16], method='area')
    np.testing.assert_allclose(srez_images.box_downscale(images), expected, atol=1e-6)


def test_nearest_upscale_repeats_pixels():
    images = tf.reshape(tf.range(8, dtype=tf.float32), [1, 2, 2, 2])
    expected = tf.image.resize(images, [4, 4], method='nearest')
    np.testing.assert_array_equal(srez_images.nearest_upscale(images), expected)
