"""srez images: the upscales srez is compared with, and the sample grid that shows them.

One bicubic upscale and one nearest-neighbour upscale (the generator's own layer,
srez_model.nearest_upscale) serve training's grids, eval and infer's comparison images alike.
"""
import tensorflow as tf

import srez_model

GRID_MAX_ROWS = 8


def bicubic_upscale(images, factor=srez_model.UPSCALE_FACTOR):
    """Bicubic upscale, clipped to the image range: [b, h, w, c] -> [b, factor h, factor w, c].

    images: uint8, or float in [0, 1]; the result has the same dtype, as a tensor.
    """
    images = tf.convert_to_tensor(images)
    size = [factor * tf.shape(images)[1], factor * tf.shape(images)[2]]
    resized = tf.image.resize(tf.image.convert_image_dtype(images, tf.float32), size, 'bicubic')
    return tf.image.convert_image_dtype(tf.clip_by_value(resized, 0.0, 1.0), images.dtype,
                                        saturate=True)


def sample_grid(inputs, output, truth, max_rows=GRID_MAX_ROWS):
    """One row per test vector: nearest | bicubic | output | truth, each sample_size square.

    inputs: [n, s/4, s/4, 3]; output, truth: [n, s, s, 3], floats in [0, 1].
    Returns uint8 [min(n, max_rows) * s, 4 * s, 3].
    """
    inputs, output, truth = inputs[:max_rows], output[:max_rows], truth[:max_rows]
    inputs = tf.convert_to_tensor(inputs, tf.float32)
    nearest = srez_model.nearest_upscale(inputs, srez_model.UPSCALE_FACTOR)
    rows = tf.concat([nearest, bicubic_upscale(inputs), output, truth], axis=2)
    grid = tf.reshape(rows, [-1, rows.shape[2], 3])
    return tf.image.convert_image_dtype(tf.clip_by_value(grid, 0.0, 1.0), tf.uint8, saturate=True)
