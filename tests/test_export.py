"""Tests for srez_export and --run export: the generator as a SavedModel."""

import numpy as np
import tensorflow as tf
from PIL import Image

import srez_infer
import srez_upscaler


def test_reloaded_savedmodel_gives_the_pixels_of_infer(tmp_path, trained_model, generator,
                                                      srez_cli):
    export_dir = tmp_path / 'export'
    assert srez_cli('--run', 'export', '--checkpoint_dir', str(trained_model / 'checkpoint'),
                    '--export_dir', str(export_dir)) == 0
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (2, 16, 16, 3), np.uint8)
    wide = rng.integers(0, 256, (1, 12, 20, 3), np.uint8)

    serve = tf.saved_model.load(str(export_dir)).signatures['serving_default']
    upscaled = serve(images=tf.constant(faces))['upscaled']
    upscaled_wide = serve(images=tf.constant(wide))['upscaled']

    assert upscaled.dtype == tf.uint8 and upscaled.shape == (2, 64, 64, 3)
    assert upscaled_wide.shape == (1, 48, 80, 3)
    Image.fromarray(faces[1]).save(tmp_path / 'face.png')
    srez_infer.upscale_files(srez_upscaler.Upscaler.from_generator(generator, None),
                             str(tmp_path), [str(tmp_path / 'face.png')], str(tmp_path / 'out'))
    # One graph against another: the same pixels but for float rounding, as the light runtime's.
    infer = np.asarray(Image.open(tmp_path / 'out' / 'face.png'), np.int16)
    assert np.abs(upscaled[1].numpy().astype(np.int16) - infer).max() <= 1
