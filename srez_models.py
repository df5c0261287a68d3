"""srez model files: one trained generator in one file, the two shipped ones, and the knob between.

A model file is a zip, like Keras's .keras: `srez.json` (the srez_config.ModelConfig and where
the weights came from) and a TensorFlow checkpoint of the generator alone (its averaged
weights and batch-norm statistics), under the same names as in training checkpoints.

srez ships two models of one family in models/ (see models/README.md): `fidelity`, trained
without the adversarial term, and `sharp`, the GAN fine-tuned from it. Because one starts from
the other, their weights interpolate (ESRGAN's network interpolation): `--sharpness A` upscales
with `(1 - A) * fidelity + A * sharp`.
"""
import io
import json
import os
import tempfile
import zipfile

import tensorflow as tf

import srez_checkpoint
import srez_config
import srez_files
import srez_model
from srez_errors import UsageError

MANIFEST = 'srez.json'
WEIGHTS = 'generator'  # The checkpoint's prefix inside the zip.


def write(generator, model_config, path, source):
    """Writes `generator` (built for `model_config`) as the model file `path`.

    source: JSON-ready facts about where the weights come from (checkpoint, batch, weights).
    """
    manifest = {'model_config': json.loads(model_config.to_json()), 'source': source}
    contents = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder:
        tf.train.Checkpoint(generator=generator).write(os.path.join(folder, WEIGHTS))
        with zipfile.ZipFile(contents, 'w', zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
            for name in sorted(os.listdir(folder)):
                archive.write(os.path.join(folder, name), name)
    srez_files.write_atomically(path, contents.getvalue())


def read(path):
    """(generator, info) of the model file `path`; info as srez_checkpoint.load_generator's.

    Raises UsageError, in one line, when the file is missing or is not a whole srez model.
    """
    if not os.path.isfile(path):
        raise UsageError(f'The model file {path} does not exist: check the path (a fresh clone '
                         f'has models/fidelity.zip and models/sharp.zip).')
    try:
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as folder:
            manifest = json.loads(archive.read(MANIFEST))
            model_config = srez_config.ModelConfig.from_dict(manifest['model_config'])
            archive.extractall(folder, [name for name in archive.namelist()
                                        if name.startswith(WEIGHTS + '.')])
            generator = srez_model.Generator(model_config)
            tf.train.Checkpoint(generator=generator).read(
                os.path.join(folder, WEIGHTS)).assert_consumed()
    except Exception as error:  # zipfile, json and TF's reader fail in many ways, all this file's.
        reason = (getattr(error, 'message', None) or str(error)).strip().splitlines()[0]
        raise UsageError(f'The model file {path} cannot be read ({type(error).__name__}: '
                         f'{reason}): download it again, or use another.') from None
    source = manifest.get('source', {})
    return generator, dict(model=model_config, path=path, batch=source.get('batch'),
                           weights=source.get('weights', 'average'))


def load(path, weights='average'):
    """(generator, info) of a model file, or of the newest checkpoint of a folder."""
    if os.path.isdir(path):
        return srez_checkpoint.load_generator(path, weights)
    return read(path)


def shipped(sharpness):
    """(generator, info): the shipped models interpolated at `sharpness` (0 = fidelity,
    1 = sharp)."""
    paths = srez_config.SHIPPED_MODELS
    fidelity, fidelity_info = read(paths['fidelity'])
    sharp, sharp_info = read(paths['sharp'])
    generator = interpolate(fidelity, sharp, sharpness)
    return generator, dict(model=fidelity_info['model'], batch=sharp_info['batch'],
                           weights=f'shipped, --sharpness {sharpness:g}',
                           path=f'{paths["fidelity"]} and {paths["sharp"]}')


def interpolate(fidelity, sharp, sharpness):
    """The generator whose every variable is (1 - sharpness) * fidelity's + sharpness * sharp's.

    fidelity, sharp: srez_model.Generators of one config; the mix is assigned into `fidelity`,
    which is returned (at 0 and 1, the model itself). Batch-norm statistics are interpolated like
    the weights (docs/quality.md measures the curve).
    """
    if sharpness == 0:
        return fidelity
    if sharpness == 1:
        return sharp
    for mixed, other in zip(fidelity.variables, sharp.variables):
        mixed.assign((1 - sharpness) * mixed + sharpness * other)
    return fidelity
