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
import json
import os

import tensorflow as tf

import srez_config
import srez_files
import srez_loader
import srez_model
import srez_modelfile


class ServingModule(tf.Module):
    """The generator with one uint8-in, uint8-out entry point."""

    def __init__(self, generator):
        super().__init__(name='upscaler')
        self.generator = generator

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name='images')])
    def serve(self, images):
        """uint8 [b, h, w, 3] -> {'upscaled': uint8 [b, 4h, 4w, 3]}."""
        output = self.generator(tf.image.convert_image_dtype(images, tf.float32), training=False)
        return {'upscaled': tf.image.convert_image_dtype(output, tf.uint8, saturate=True)}


def run_export(config):
    """--run export: the model that config.choice names as a SavedModel, one srez model file, or
    LiteRT files (a srez_config.ExportConfig)."""
    if config.export_lite and config.choice.shipped_models:
        written = export_shipped_lite(config.export_lite)
        print(f'Exported the shipped models to {", ".join(written)}.')
        return
    model = srez_loader.load(config.choice, tensorflow=True,
                             input_size=config.sample_size // srez_config.SCALE)
    print(model.source.line())
    generator, source = model.generators[model.source.model.input_size], model.source
    if config.export_file:
        srez_modelfile.write(generator, source.model, config.export_file, source.record())
        written = config.export_file
    elif config.export_lite:
        stem = os.path.splitext(os.path.basename(source.path.rstrip('/')))[0] or 'model'
        written = export_lite(lite_pair(generator, generator)[0], source.model, source.record(),
                              os.path.join(config.export_lite, stem + '.tflite'))
    else:
        export(generator, config.export_dir)
        written = f'{config.export_dir}/'
    print(f'Exported its generator to {written}.')


def export_lite(content, model_config, record, path, sharpness=0.0):
    """Writes a model's LiteRT file `content` as `path` (.tflite), and beside it (.json) its
    description: its srez_config.ModelConfig, `record` (where its weights came from, as
    srez_modelfile keeps it) and `sharpness`, the knob at which the file is its model (a pair's
    sharp file: 1). Returns `path`."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    srez_files.write_atomically(path, content)
    srez_files.write_atomically(os.path.splitext(path)[0] + '.json', json.dumps(dict(
        model_config=json.loads(model_config.to_json()), source=record, sharpness=sharpness),
        indent=2))
    return path


def export_shipped_lite(folder):
    """Writes the LiteRT files of every shipped pair, and their descriptions, into `folder`;
    returns their paths."""
    written = []
    for size in srez_loader.shipped_input_sizes():
        pair = [srez_modelfile.read(srez_config.SHIPPED_MODELS[size][name])
                for name in ('fidelity', 'sharp')]
        contents = lite_pair(*(generator for generator, _, _ in pair))
        for sharpness, name, (_, model_config, record), content in zip(
                (0.0, 1.0), ('fidelity', 'sharp'), pair, contents):
            path = os.path.join(folder, os.path.basename(srez_config.SHIPPED_LITE[size][name]))
            written.append(export_lite(content, model_config, record, path, sharpness))
    return written


def export(generator, export_dir):
    """Writes `generator` (a srez_model.Generator) as a SavedModel into `export_dir`."""
    module = ServingModule(generator)
    tf.saved_model.save(module, export_dir, signatures={'serving_default': module.serve})


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
