"""srez model files: one trained generator in one file, and the network interpolation between two.

A model file is a zip, like Keras's .keras: `srez.json` (the srez_config.ModelConfig and where the
weights came from: checkpoint, batch, weights, recipe, data, damage) and a TensorFlow checkpoint of
the generator alone (its averaged weights and batch-norm statistics), under the same names as in
training checkpoints.

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

import srez_config
import srez_files
from srez_errors import UsageError, first_line

MANIFEST = 'srez.json'
WEIGHTS = 'generator'  # The checkpoint's prefix inside the zip.


def write(generator, model_config, path, source):
    """Writes `generator` (built for `model_config`) as the model file `path`.

    source: JSON-ready facts about where the weights come from (checkpoint, batch, weights,
    recipe, data, damage).
    """
    import tensorflow as tf  # Only weights need it: manifests are read without.

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
    """(generator, model_config, source) of the model file `path`; source is the dict `write`
    was given ({} for files that hold none).

    Raises UsageError, in one line, when the file is missing or is not a whole srez model, with
    what mends it (for a shipped model, the git checkout that restores it).
    """
    import tensorflow as tf

    import srez_model
    model_config, source = read_manifest(path)
    try:
        with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as folder:
            archive.extractall(folder, [name for name in archive.namelist()
                                        if name.startswith(WEIGHTS + '.')])
            generator = srez_model.Generator(model_config)
            tf.train.Checkpoint(generator=generator).read(
                os.path.join(folder, WEIGHTS)).assert_consumed()
    except Exception as error:  # zipfile and TF's reader fail in many ways, all this file's.
        raise _unreadable(path, error) from None
    return generator, model_config, source


def read_manifest(path):
    """(model_config, source) of the model file `path`, without its weights (and without
    TensorFlow). Raises UsageError as `read` does."""
    if not os.path.isfile(path):
        raise UsageError(f'The model file {path} does not exist: {_mend(path)}.')
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
        return srez_config.ModelConfig.from_dict(manifest['model_config']), \
            manifest.get('source', {})
    except Exception as error:  # zipfile and json fail in many ways, all this file's.
        raise _unreadable(path, error) from None


def _unreadable(path, error):
    return UsageError(f'The model file {path} cannot be read ({first_line(error)}): '
                      f'{_mend(path)}.')


def _mend(path):
    """What mends a missing or broken model file `path`."""
    return (srez_files.restore_hint(path, srez_config.MODELS_DIR)
            or 'check the path, or export the model again (--run export --export_file)')


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
