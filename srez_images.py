"""srez images: the resamplings of the networks and their losses, in TensorFlow, and the sample
grid that shows them side by side.

The generator's nearest-neighbour and bilinear upscales and the area downscale of its loss and of
the eval protocol live here, so training's grids, eval and the model resample images the same
way; the bicubic upscale srez is compared with is srez_pixels' (numpy, so that upscaling runs
without TensorFlow).
"""
import tensorflow as tf

import srez_config
import srez_pixels

GRID_MAX_ROWS = 8


def nearest_upscale(images, factor=2):
    """Nearest-neighbour upscale by repeating pixels (XLA-friendly). images: [b, h, w, c]."""
    return tf.repeat(tf.repeat(images, factor, axis=1), factor, axis=2)


def box_downscale(images, factor=srez_config.SCALE):
    """Area (box) downscale by an integer factor; equals tf.image.resize(method='area') for it.

    An average pool, because XLA has no kernel for ResizeArea. images: [b, h, w, c].
    """
    return tf.nn.avg_pool2d(images, factor, factor, padding='VALID')


def bilinear_upscale(images, factor=srez_config.SCALE):
    """Bilinear upscale by an integer factor (XLA has no kernel for bicubic). images: [b, h, w, c]."""
    return tf.image.resize(images, factor * tf.shape(images)[1:3], method='bilinear')


def gradient_magnitudes(images, floor=0.0):
    """|(dx, dy)| at every pixel, by forward differences (0 at the last row and column): float
    [b, h, w, c] -> float32 [b, h, w, c]. Eval's sharpness ratio is their mean; a loss can match
    them to the truth's, with a small `floor` under the square root so that its gradient stays
    finite where the image is flat."""
    dy, dx = tf.image.image_gradients(tf.cast(images, tf.float32))
    return tf.sqrt(tf.square(dx) + tf.square(dy) + floor)


def sample_grid(inputs, output, truth, max_rows=GRID_MAX_ROWS):
    """One row per test vector: nearest | bicubic | output | truth, each sample_size square.

    inputs: [n, s/4, s/4, 3]; output, truth: [n, s, s, 3], floats in [0, 1].
    Returns uint8 [min(n, max_rows) * s, 4 * s, 3].
    """
    inputs, output, truth = inputs[:max_rows], output[:max_rows], truth[:max_rows]
    inputs = tf.convert_to_tensor(inputs, tf.float32)
    bicubic = srez_pixels.bicubic_upscale(inputs.numpy())
    rows = tf.concat([nearest_upscale(inputs, srez_config.SCALE), bicubic, output, truth], axis=2)
    grid = tf.reshape(rows, [-1, rows.shape[2], 3])
    return tf.image.convert_image_dtype(tf.clip_by_value(grid, 0.0, 1.0), tf.uint8, saturate=True)
