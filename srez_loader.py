"""srez loader: the one way every mode gets its model, and the one line that names it.

A model comes from a training checkpoint, a model file (srez_modelfile, or its LiteRT form), or
the shipped pair at a knob. The choice, by a srez_config.ModelChoice:

1. --model names a model file or a checkpoint folder: that one;
2. --shipped_models: the shipped pair at --sharpness;
3. the newest checkpoint of --checkpoint_dir, unless it was trained on the built-in synthetic
   faces and the folder was not named on the command line: a quick-start run is never used on a
   user's faces by accident;
4. else the shipped pair.

`load` gives the TensorFlow generators that eval, export and bench need; `load_upscalers` gives
what upscaling needs, functions on numpy arrays, run by LiteRT for the shipped models and LiteRT
files (srez_lite, no TensorFlow) and by TensorFlow for checkpoints and model files. TensorFlow is
imported only for those, so the light install (requirements-light.txt) runs the rest.

The shipped models come in pairs, one for each size of face (16 -> 64 px and, when it is there,
32 -> 128 px): `load` gives every pair it has, by input size, so that photos take each face to
the model of its size. Whatever it chooses comes with a ModelSource: where it came from, its
settings, the recipe, batches and data that trained it, and why it was chosen; infer, eval,
export and bench print its line, and eval.json records it.
"""
import dataclasses
import importlib.util
import json
import os

import numpy as np

import srez_config
import srez_lite
import srez_modelfile
from srez_errors import UsageError

CHECKPOINT, MODEL_FILE, LITE_FILE, SHIPPED = ('checkpoint', 'model file', 'LiteRT file',
                                              'shipped models')
LITE_EXTENSION = '.tflite'
FULL_INSTALL = 'pip install -r requirements.txt'


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """Where a generator came from, and what trained it.

    kind: CHECKPOINT, MODEL_FILE or SHIPPED. path: the checkpoint (its path prefix), the model
    file, or the folder of the shipped ones. model: its srez_config.ModelConfig (of the smallest
    faces' pair, for the shipped ones). weights:
    'average' or 'raw'. batches, recipe, data (a folder, or srez_config.SYNTHETIC_SOURCE) and
    damaged (whether its inputs were damaged in training): None where the model does not say
    (files of earlier releases). sharpness: the shipped pair's knob. reason: why `load` chose it,
    when it was not named.
    """
    kind: str
    path: str
    model: srez_config.ModelConfig
    weights: str = 'average'
    batches: int = None
    recipe: str = None
    data: str = None
    damaged: bool = None
    sharpness: float = None
    sample_sizes: tuple = ()
    reason: str = ''

    def line(self):
        """One line saying which model this is, what trained it, and why it was chosen."""
        return f'Model: {self.describe()}.' + (f' {self.reason}' if self.reason else '')

    def describe(self):
        """Which model this is and what trained it: 'the model file a.zip (batch 6, ...)'."""
        if self.kind == SHIPPED:
            faces = ' and '.join(f'{size // 4} -> {size} px' for size in self.sample_sizes)
            what = (f'the shipped models at --sharpness {self.sharpness:g} ({faces}; 0 = '
                    f'fidelity, 1 = sharp; models/README.md)')
        else:
            what = f'the {self.kind} {self.path}'
        facts = [f'batch {self.batches}' if self.batches is not None else None,
                 f'{self.weights} weights' if self.kind != SHIPPED else None,
                 f'--recipe {self.recipe}' if self.recipe else None,
                 f'trained on {self.data}' if self.data else None,
                 {True: 'damaged inputs', False: 'clean inputs'}.get(self.damaged)]
        facts = ', '.join(fact for fact in facts if fact)
        return what + (f' ({facts})' if facts else '')

    def to_json(self):
        """A JSON-ready dict of this description (eval.json's `model_source`)."""
        return json.loads(json.dumps(dict(dataclasses.asdict(self),
                                          model=json.loads(self.model.to_json()))))

    def record(self):
        """What a model file made from this model keeps of it (srez_modelfile's source)."""
        return dict(checkpoint=self.path, batch=self.batches, weights=self.weights,
                    recipe=self.recipe, data=self.data, damaged=self.damaged)


def load(choice, checkpoint_dir, checkpoint_dir_named=False, sample_size=None):
    """({input size: srez_model.Generator}, ModelSource): the model that `choice` asks for, as
    TensorFlow generators.

    choice: a srez_config.ModelChoice. checkpoint_dir: where training keeps its checkpoints.
    checkpoint_dir_named: whether the user named that folder (then its checkpoint is used
    whatever it trained on). sample_size: of the shipped pairs, only the one of this size (eval
    and export measure and write one). Raises UsageError for a model that cannot be read.
    """
    path, reason = _choose(choice, checkpoint_dir, checkpoint_dir_named)
    if path is None:
        return shipped(choice.sharpness, reason, sample_size)
    if path.endswith(LITE_EXTENSION):
        raise UsageError(f'--model {path} is a LiteRT file, which only upscales (--run infer): '
                         f'eval, export and bench take a model file (.zip) or a checkpoint.')
    generator, source = from_path(path, choice.generator_weights)
    return {generator.input_size: generator}, source


def load_upscalers(choice, checkpoint_dir, checkpoint_dir_named=False):
    """({input size: upscale}, ModelSource), each upscale a function float32 [n, s, s, 3] in
    [0, 1] -> float32 [n, 4s, 4s, 3]: the model that `choice` asks for, chosen as `load`
    chooses, run by LiteRT where it can be (the shipped models, LiteRT files)."""
    path, reason = _choose(choice, checkpoint_dir, checkpoint_dir_named)
    if path is None:
        return shipped_lite(choice.sharpness, reason)
    if path.endswith(LITE_EXTENSION):
        return lite_file(path)
    if not tensorflow_installed():
        raise UsageError(f'{path} is a TensorFlow model: it needs the full install ({FULL_INSTALL}'
                         f'), or its LiteRT file (--run export --export_lite).')
    generator, source = from_path(path, choice.generator_weights)
    return {generator.input_size: runner(generator)}, source


def may_need_tensorflow(choice, checkpoint_dir):
    """Whether `choice` may turn out to need TensorFlow (a model that is not the shipped ones or
    a LiteRT file), where it is installed: so a caller can load it before the choice is made."""
    if not tensorflow_installed() or choice.shipped_models:
        return False
    if choice.model:
        return not choice.model.endswith(LITE_EXTENSION)
    return os.path.isfile(os.path.join(checkpoint_dir, 'checkpoint'))


def tensorflow_installed():
    return importlib.util.find_spec('tensorflow') is not None


def _choose(choice, checkpoint_dir, checkpoint_dir_named):
    """(the path of the model `choice` asks for, or None for the shipped models; why they were
    chosen, when not named)."""
    if choice.model:
        return choice.model, ''
    if choice.shipped_models:
        return None, ''
    if not os.path.isfile(os.path.join(checkpoint_dir, 'checkpoint')):
        return None, f'Chosen because {checkpoint_dir}/ holds no checkpoint.'
    if checkpoint_dir_named:
        return checkpoint_dir, ''
    if not tensorflow_installed():
        return None, (f'Chosen because the checkpoint in {checkpoint_dir}/ needs the full install '
                      f'({FULL_INSTALL}).')
    import srez_checkpoint
    path = srez_checkpoint.latest(checkpoint_dir)
    if path is None:
        return None, f'Chosen because {checkpoint_dir}/ holds no checkpoint.'
    if srez_checkpoint.saved_record(path).get('data') == srez_config.SYNTHETIC_SOURCE:
        return None, (f'Chosen because the checkpoint in {checkpoint_dir}/ was trained on '
                      f'built-in synthetic faces, not real ones (--checkpoint_dir '
                      f'{checkpoint_dir} uses it).')
    return checkpoint_dir, ''


def runner(generator):
    """A TensorFlow generator as an upscale on numpy arrays (see load_upscalers)."""
    import tensorflow as tf

    function = tf.function(lambda frames: generator(frames, training=False), autograph=False,
                           input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    return lambda frames: function(np.asarray(frames, np.float32)).numpy()


def from_path(path, weights='average'):
    """(generator, ModelSource) of a model file, or of the newest checkpoint of a folder."""
    import srez_checkpoint
    if not os.path.isdir(path):
        generator, model, record = srez_modelfile.read(path)
        return generator, _source(MODEL_FILE, path, model, record)
    checkpoint = srez_checkpoint.latest(path)
    if checkpoint is None:
        raise UsageError(f'No checkpoint in {path}/: train a model first (python srez_main.py '
                         f'--run train) or point at a folder that holds one.')
    return _from_checkpoint(checkpoint, weights)


def _from_checkpoint(path, weights):
    import srez_checkpoint
    generator, weights = srez_checkpoint.restore_generator(path, weights)
    record = srez_checkpoint.saved_record(path)
    damage = record.get('damage')
    record.update(weights=weights, batch=srez_checkpoint.saved_progress(path)[0],
                  damaged=damage['damage_clean'] < 1 if damage else None)
    return generator, _source(CHECKPOINT, path, srez_checkpoint.saved_config(path), record)


def shipped(sharpness, reason='', sample_size=None):
    """({input size: generator}, ModelSource): each shipped pair (or the one for `sample_size`)
    interpolated at `sharpness` (0 = fidelity, 1 = sharp). Raises UsageError when a pair is not
    shipped."""
    sizes = [sample_size] if sample_size else shipped_sample_sizes()
    if sample_size not in (None, *shipped_sample_sizes()):
        raise UsageError(f'No shipped models for --sample_size {sample_size}: they are for '
                         f'{" and ".join(map(str, shipped_sample_sizes()))}.')
    generators, records = {}, []
    for size in sizes:
        paths = srez_config.SHIPPED_MODELS[size]
        fidelity, model, record = srez_modelfile.read(paths['fidelity'])
        sharp, _, _ = srez_modelfile.read(paths['sharp'])
        generators[fidelity.input_size] = srez_modelfile.interpolate(fidelity, sharp, sharpness)
        records.append((model, record))
    model, record = records[0]
    source = dataclasses.replace(
        _source(SHIPPED, srez_config.MODELS_DIR, model, dict(record, recipe=None, batch=None)),
        sharpness=sharpness, reason=reason, sample_sizes=tuple(sizes))
    return generators, source


def shipped_lite(sharpness, reason=''):
    """({input size: upscale}, ModelSource): each shipped pair at `sharpness`, run by LiteRT."""
    upscalers, records = {}, []
    for size in shipped_sample_sizes():
        model, record = srez_modelfile.read_manifest(srez_config.SHIPPED_MODELS[size]['fidelity'])
        paths = srez_config.SHIPPED_LITE[size]
        upscalers[size // 4] = srez_lite.generator(paths['fidelity'], paths['sharp'], sharpness)
        records.append((model, record))
    model, record = records[0]
    source = dataclasses.replace(
        _source(SHIPPED, srez_config.MODELS_DIR, model, dict(record, recipe=None, batch=None)),
        sharpness=sharpness, reason=reason, sample_sizes=shipped_sample_sizes())
    return upscalers, source


def lite_file(path):
    """({input size: upscale}, ModelSource) of a LiteRT file that --export_lite wrote, and the
    description beside it (<stem>.json)."""
    description = os.path.splitext(path)[0] + '.json'
    try:
        with open(description) as file:
            manifest = json.load(file)
        model = srez_config.ModelConfig.from_dict(manifest['model_config'])
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f'The LiteRT file {path} has no readable description {description} '
                         f'({error}): export it again (--run export --export_lite).') from None
    upscale = srez_lite.generator(path, path, 0.0)
    return {model.sample_size // 4: upscale}, _source(LITE_FILE, path, model,
                                                      manifest.get('source', {}))


def shipped_sample_sizes():
    """The --sample_size of each shipped pair in models/: 64, and 128 when its files are there
    (a file that is missing is named when it is read)."""
    return tuple(size for size, paths in sorted(srez_config.SHIPPED_MODELS.items())
                 if size == 64 or any(os.path.exists(path) for path in paths.values()))


def _source(kind, path, model, record):
    """A ModelSource from a training record or a model file's source dict."""
    return ModelSource(kind=kind, path=path, model=model,
                       weights=record.get('weights') or 'average', batches=record.get('batch'),
                       recipe=record.get('recipe'), data=record.get('data'),
                       damaged=record.get('damaged'))
