"""srez export: the generator as a SavedModel, for serving without this code.

    python srez_main.py --run export --export_dir export

Its serving signature takes uint8 images [batch, height, width, 3] of any size and returns
{'upscaled': uint8 [batch, 4 * height, 4 * width, 3]}, the same pixels as --run infer gives:

    upscaler = tf.saved_model.load('export')
    upscaled = upscaler.signatures['serving_default'](images=images)['upscaled']

Unlike --run infer, it upscales each image whole: memory grows with the image.
"""
import tensorflow as tf

import srez_upscaler


class Upscaler(tf.Module):
    """The generator with one uint8-in, uint8-out entry point."""

    def __init__(self, generator):
        super().__init__(name='upscaler')
        self.generator = generator

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name='images')])
    def serve(self, images):
        """uint8 [b, h, w, 3] -> {'upscaled': uint8 [b, 4h, 4w, 3]}."""
        return {'upscaled': srez_upscaler.upscale_uint8(self.generator, images)}


def export(generator, export_dir):
    """Writes `generator` (a srez_model.Generator) as a SavedModel into `export_dir`."""
    upscaler = Upscaler(generator)
    tf.saved_model.save(upscaler, export_dir, signatures={'serving_default': upscaler.serve})
