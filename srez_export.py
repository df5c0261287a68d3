"""srez export: the generator as a SavedModel for serving, and as LiteRT files that upscale
without TensorFlow.

    python srez_main.py --run export --export_dir export
    python srez_main.py --run export --shipped_models --export_lite models

The SavedModel's serving signature takes uint8 images [batch, height, width, 3] of any size and
returns {'upscaled': uint8 [batch, 4 * height, 4 * width, 3]}, the same pixels as --run infer
gives; unlike --run infer, it upscales each image whole, so memory grows with the image:

    upscaler = tf.saved_model.load('export')
    upscaled = upscaler.signatures['serving_default'](images=images)['upscaled']

A LiteRT file (srez_lite runs it) takes `images` float32 [n, h, w, 3] in [0, 1] and `sharpness`,
and returns float32 [n, 4h, 4w, 3]. A pair (fidelity and sharp) is two files of one graph: each
holds its own convolutions and both models' batch-norm statistics, which the graph blends by
`sharpness`; srez_lite blends the convolutions when it loads them.
"""
import tensorflow as tf

import srez_model


class Upscaler(tf.Module):
    """The generator with one uint8-in, uint8-out entry point."""

    def __init__(self, generator):
        super().__init__(name='upscaler')
        self.generator = generator

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name='images')])
    def serve(self, images):
        """uint8 [b, h, w, 3] -> {'upscaled': uint8 [b, 4h, 4w, 3]}."""
        output = self.generator(tf.image.convert_image_dtype(images, tf.float32), training=False)
        return {'upscaled': tf.image.convert_image_dtype(output, tf.uint8, saturate=True)}


def export(generator, export_dir):
    """Writes `generator` (a srez_model.Generator) as a SavedModel into `export_dir`."""
    upscaler = Upscaler(generator)
    tf.saved_model.save(upscaler, export_dir, signatures={'serving_default': upscaler.serve})


def lite_pair(fidelity, sharp):
    """The LiteRT files (bytes) of a pair of generators of one srez_config.ModelConfig: (the
    fidelity one, the sharp one). A single model is the pair of itself and itself."""
    return tuple(_lite(convolutions, fidelity, sharp) for convolutions in (fidelity, sharp))


def _lite(convolutions, fidelity, sharp):
    """`convolutions`' generator as a LiteRT file whose batch norms blend fidelity's and sharp's
    statistics by the input `sharpness`: computed in the graph, they are not folded into the
    convolutions, whose weights then blend linearly."""
    def call(images, sharpness):
        saved = []
        for module, first, second in zip(*(network.submodules
                                           for network in (convolutions, fidelity, sharp))):
            if isinstance(module, srez_model.BatchNorm):
                for name in ('offset', 'moving_mean', 'moving_variance', 'moving_weight'):
                    saved.append((module, name, getattr(module, name)))
                    # Plain attribute swaps for the trace: tf.Module would track them.
                    object.__setattr__(module, name, (1 - sharpness) * getattr(first, name)
                                       + sharpness * getattr(second, name))
        try:
            return convolutions(images, training=False)
        finally:
            for module, name, value in saved:
                object.__setattr__(module, name, value)

    function = tf.function(call, autograph=False, input_signature=[
        tf.TensorSpec([None, None, None, 3], tf.float32), tf.TensorSpec([], tf.float32)])
    return tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], convolutions).convert()
