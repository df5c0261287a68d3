"""srez loader: the one way every mode gets its model, and the one line that names it.

A model comes from a training checkpoint, a model file (srez_modelfile, or its LiteRT form), or
the shipped pair at a knob. The choice, by a srez_config.ModelChoice:

1. --model names a model file or a checkpoint folder: that one;
2. --shipped_models: the shipped pair at --sharpness;
3. the newest checkpoint of --checkpoint_dir, unless it was trained on the built-in synthetic
   faces and the folder was not named on the command line: a quick-start run is never used on a
   user's faces by accident;
4. else the shipped pair.

`load` gives it as a Model: a function on numpy arrays for each size of face it serves, run by
LiteRT for the shipped models and LiteRT files (srez_lite, no TensorFlow) and by TensorFlow for
checkpoints and model files, and the TensorFlow generators too where a mode needs them (eval,
export, bench). TensorFlow is imported only for those, so the light install
(requirements-light.txt) runs the rest.

The shipped models come in pairs, one for each size of face (16 -> 64 px and, when it is there,
32 -> 128 px): a Model holds every pair it has, keyed by input size (the side of the aligned face
a model takes), so that photos take each face to the model of its size. Whatever it chooses comes
with a ModelSource: where it came from, its settings, the recipe, batches and data that trained
it, and why it was chosen; every mode prints its line, and eval.json records it.
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

    kind: CHECKPOINT, MODEL_FILE, LITE_FILE or SHIPPED. path: the checkpoint (its path prefix),
    the model file, or the folder of the shipped ones. model: its srez_config.ModelConfig (of the
    smallest faces' pair, for the shipped ones). weights: 'average' or 'raw'. batches, recipe,
    data (a folder, or srez_config.SYNTHETIC_SOURCE) and damaged (whether its inputs were damaged
    in training): None where the model does not say (files of earlier releases). sharpness: the
    shipped pairs' knob, and input_sizes the faces they take. reason: why `load` chose it, when
    it was not named.
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
    input_sizes: tuple = ()
    reason: str = ''

    def line(self):
        """One line saying which model this is, what trained it, and why it was chosen."""
        return f'Model: {self.describe()}.' + (f' {self.reason}' if self.reason else '')

    def describe(self):
        """Which model this is and what trained it: 'the model file a.zip (batch 6, ...)'."""
        if self.kind == SHIPPED:
            faces = ' and '.join(f'{size} -> {size * srez_config.SCALE} px'
                                 for size in self.input_sizes)
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


@dataclasses.dataclass(frozen=True)
class Model:
    """A model ready to upscale, as every mode and the Python API get it.

    upscalers: {input size: upscale}, one for each size of aligned face it serves (the shipped
    pairs: 16, and 32 when its files are there), each float32 [n, s, s, 3] in [0, 1] -> float32
    [n, 4s, 4s, 3]. source: its ModelSource. generators: {input size: srez_model.Generator}, the
    same networks in TensorFlow when it was loaded with TensorFlow ({} when LiteRT runs it).
    """
    upscalers: dict
    source: ModelSource
    generators: dict = dataclasses.field(default_factory=dict)

    @property
    def generator(self):
        """The TensorFlow generator of the smallest faces it serves."""
        return self.generators[min(self.generators)]


def load(choice, tensorflow=False, input_size=None):
    """The Model that `choice` (a srez_config.ModelChoice) asks for, chosen as the module says.

    tensorflow: give TensorFlow generators too (eval, export and bench need them); otherwise the
    shipped models and LiteRT files run with LiteRT, and only a model file or a checkpoint needs
    TensorFlow. input_size: of the shipped pairs, only the one for faces of this size (eval and
    export measure and write one). Raises UsageError for a model that cannot be read or run.
    """
    path, reason = _choose(choice)
    if choice.sharpness_named and path is not None:
        reason = (reason + ' --sharpness is for the shipped models: this model is used as '
                  'trained (--shipped_models picks them).').strip()
    if path is None:
        model = shipped(choice.sharpness, tensorflow, input_size)
    elif path.endswith(LITE_EXTENSION):
        if tensorflow:
            raise UsageError(f'--model {path} is a LiteRT file, which only upscales (--run '
                             f'infer): eval, export and bench take a model file (.zip) or a '
                             f'checkpoint.')
        model = lite_file(path)
    elif not tensorflow_installed():
        raise UsageError(f'{path} is a TensorFlow model: it needs the full install ({FULL_INSTALL}'
                         f'), or its LiteRT file (--run export --export_lite).')
    else:
        model = from_path(path, choice.generator_weights)
    return dataclasses.replace(model, source=dataclasses.replace(model.source, reason=reason))


def may_need_tensorflow(choice):
    """Whether `choice` may turn out to need TensorFlow (a model that is not the shipped ones or
    a LiteRT file), where it is installed: so a caller can load it before the choice is made."""
    if not tensorflow_installed() or choice.shipped_models:
        return False
    if choice.model:
        return not choice.model.endswith(LITE_EXTENSION)
    return os.path.isfile(os.path.join(choice.checkpoint_dir, 'checkpoint'))


def tensorflow_installed():
    return importlib.util.find_spec('tensorflow') is not None


def _choose(choice):
    """(the path of the model `choice` asks for, or None for the shipped models; why they were
    chosen, when not named)."""
    folder = choice.checkpoint_dir
    if choice.model:
        return choice.model, ''
    if choice.shipped_models:
        return None, ''
    if not os.path.isfile(os.path.join(folder, 'checkpoint')):
        return None, f'Chosen because {folder}/ holds no checkpoint.'
    if choice.checkpoint_dir_named:
        return folder, ''
    if not tensorflow_installed():
        return None, (f'Chosen because the checkpoint in {folder}/ needs the full install '
                      f'({FULL_INSTALL}).')
    import srez_checkpoint
    path = srez_checkpoint.latest(folder)
    if path is None:
        return None, f'Chosen because {folder}/ holds no checkpoint.'
    if srez_checkpoint.saved_record(path).get('data') == srez_config.SYNTHETIC_SOURCE:
        return None, (f'Chosen because the checkpoint in {folder}/ was trained on built-in '
                      f'synthetic faces, not real ones (--checkpoint_dir {folder} uses it).')
    return folder, ''


def from_generator(generator, source=None):
    """The Model of one TensorFlow generator (srez_model.Generator), run by TensorFlow."""
    import tensorflow as tf

    function = tf.function(lambda frames: generator(frames, training=False), autograph=False,
                           input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    return Model({generator.input_size: lambda frames: function(
        np.asarray(frames, np.float32)).numpy()}, source, {generator.input_size: generator})


def from_path(path, weights='average'):
    """The Model of a model file, or of the newest checkpoint of a folder (or of a checkpoint's
    path prefix), run by TensorFlow."""
    import srez_checkpoint
    if os.path.isdir(path):
        checkpoint = srez_checkpoint.latest(path)
        if checkpoint is None:
            raise UsageError(f'No checkpoint in {path}/: train a model first (python srez_main.py '
                             f'--run train) or point at a folder that holds one.')
        return _from_checkpoint(checkpoint, weights)
    if os.path.isfile(path + '.index'):
        return _from_checkpoint(path, weights)
    generator, model, record = srez_modelfile.read(path)
    return from_generator(generator, _source(MODEL_FILE, path, model, record))


def _from_checkpoint(path, weights):
    import srez_checkpoint
    generator, weights = srez_checkpoint.restore_generator(path, weights)
    record = srez_checkpoint.saved_record(path)
    damage = record.get('damage')
    record.update(weights=weights, batch=srez_checkpoint.saved_progress(path)[0],
                  damaged=damage['damage_clean'] < 1 if damage else None)
    return from_generator(generator, _source(CHECKPOINT, path, srez_checkpoint.saved_config(path),
                                             record))


def shipped(sharpness, tensorflow=False, input_size=None):
    """The Model of each shipped pair (or the one for faces of `input_size`) at `sharpness` (0 =
    fidelity, 1 = sharp): run by LiteRT, or with `tensorflow` by TensorFlow, the weights of the
    two interpolated either way. Raises UsageError when a pair is not shipped."""
    sizes = shipped_input_sizes()
    if input_size not in (None, *sizes):
        raise UsageError(f'No shipped models for --sample_size {input_size * srez_config.SCALE}: '
                         f'they are for '
                         f'{" and ".join(str(size * srez_config.SCALE) for size in sizes)}.')
    upscalers, generators = {}, {}
    for size in [input_size] if input_size else sizes:
        if tensorflow:
            pair = [srez_modelfile.read(srez_config.SHIPPED_MODELS[size][name])[0]
                    for name in ('fidelity', 'sharp')]
            generators[size] = srez_modelfile.interpolate(*pair, sharpness)
            upscalers[size] = from_generator(generators[size]).upscalers[size]
        else:
            paths = srez_config.SHIPPED_LITE[size]
            upscalers[size] = srez_lite.generator(paths['fidelity'], paths['sharp'], sharpness)
    model, record = srez_modelfile.read_manifest(
        srez_config.SHIPPED_MODELS[min(upscalers)]['fidelity'])
    source = dataclasses.replace(
        _source(SHIPPED, srez_config.MODELS_DIR, model, dict(record, recipe=None, batch=None)),
        sharpness=sharpness, input_sizes=tuple(sorted(upscalers)))
    return Model(upscalers, source, generators)


def lite_file(path):
    """The Model of a LiteRT file that --export_lite wrote, and the description beside it
    (<stem>.json)."""
    description = os.path.splitext(path)[0] + '.json'
    try:
        with open(description) as file:
            manifest = json.load(file)
        model = srez_config.ModelConfig.from_dict(manifest['model_config'])
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f'The LiteRT file {path} has no readable description {description} '
                         f'({error}): export it again (--run export --export_lite).') from None
    # A pair's files each hold both models' batch-norm statistics, which the knob picks.
    upscale = srez_lite.generator(path, path, float(manifest.get('sharpness', 0.0)))
    return Model({model.input_size: upscale},
                 _source(LITE_FILE, path, model, manifest.get('source', {})))


def shipped_input_sizes():
    """The input size of each shipped pair in models/: 16, and 32 when its files are there (a
    file that is missing is named when it is read)."""
    return tuple(size for size, paths in sorted(srez_config.SHIPPED_MODELS.items())
                 if size == min(srez_config.SHIPPED_MODELS)
                 or any(os.path.exists(path) for path in paths.values()))


def _source(kind, path, model, record):
    """A ModelSource from a training record or a model file's source dict."""
    return ModelSource(kind=kind, path=path, model=model,
                       weights=record.get('weights') or 'average', batches=record.get('batch'),
                       recipe=record.get('recipe'), data=record.get('data'),
                       damaged=record.get('damaged'))
