"""srez loader: the one way every mode gets its model, and the one line that names it.

A model comes from a training checkpoint, a model file (srez_modelfile), or the shipped pair at a
knob. `load` chooses, by a srez_config.ModelChoice:

1. --model names a model file or a checkpoint folder: that one;
2. --shipped_models: the shipped pair at --sharpness;
3. the newest checkpoint of --checkpoint_dir, unless it was trained on the built-in synthetic
   faces and the folder was not named on the command line: a quick-start run is never used on a
   user's faces by accident;
4. else the shipped pair.

Whatever it chooses comes with a ModelSource: where it came from, its settings, the recipe, batches
and data that trained it, and why it was chosen; infer, eval, export and bench print its line,
and eval.json records it.
"""
import dataclasses
import json
import os

import srez_checkpoint
import srez_config
import srez_input
import srez_modelfile
from srez_errors import UsageError

CHECKPOINT, MODEL_FILE, SHIPPED = 'checkpoint', 'model file', 'shipped models'


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """Where a generator came from, and what trained it.

    kind: CHECKPOINT, MODEL_FILE or SHIPPED. path: the checkpoint (its path prefix), the model
    file, or the folder of the shipped ones. model: its srez_config.ModelConfig. weights:
    'average' or 'raw'. batches, recipe, data (a folder, or srez_input.SYNTHETIC_SOURCE) and
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
    reason: str = ''

    def line(self):
        """One line saying which model this is, what trained it, and why it was chosen."""
        return f'Model: {self.describe()}.' + (f' {self.reason}' if self.reason else '')

    def describe(self):
        """Which model this is and what trained it: 'the model file a.zip (batch 6, ...)'."""
        if self.kind == SHIPPED:
            what = (f'the shipped models at --sharpness {self.sharpness:g} (0 = fidelity, '
                    f'1 = sharp; models/README.md)')
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
        return dict(dataclasses.asdict(self), model=json.loads(self.model.to_json()))

    def record(self):
        """What a model file made from this model keeps of it (srez_modelfile's source)."""
        return dict(checkpoint=self.path, batch=self.batches, weights=self.weights,
                    recipe=self.recipe, data=self.data, damaged=self.damaged)


def load(choice, checkpoint_dir, checkpoint_dir_named=False):
    """(srez_model.Generator, ModelSource): the model that `choice` asks for.

    choice: a srez_config.ModelChoice. checkpoint_dir: where training keeps its checkpoints.
    checkpoint_dir_named: whether the user named that folder (then its checkpoint is used
    whatever it trained on). Raises UsageError for a model that cannot be read.
    """
    if choice.model:
        return from_path(choice.model, choice.generator_weights)
    if choice.shipped_models:
        return shipped(choice.sharpness)
    path = srez_checkpoint.latest(checkpoint_dir)
    if path is None:
        return shipped(choice.sharpness, f'Chosen because {checkpoint_dir}/ holds no checkpoint.')
    generator, source = _from_checkpoint(path, choice.generator_weights)
    if source.data == srez_input.SYNTHETIC_SOURCE and not checkpoint_dir_named:
        return shipped(choice.sharpness,
                       f'Chosen because the checkpoint in {checkpoint_dir}/ was trained on '
                       f'built-in synthetic faces, not real ones (--checkpoint_dir '
                       f'{checkpoint_dir} uses it).')
    return generator, source


def from_path(path, weights='average'):
    """(generator, ModelSource) of a model file, or of the newest checkpoint of a folder."""
    if not os.path.isdir(path):
        generator, model, record = srez_modelfile.read(path)
        return generator, _source(MODEL_FILE, path, model, record)
    checkpoint = srez_checkpoint.latest(path)
    if checkpoint is None:
        raise UsageError(f'No checkpoint in {path}/: train a model first (python srez_main.py '
                         f'--run train) or point at a folder that holds one.')
    return _from_checkpoint(checkpoint, weights)


def _from_checkpoint(path, weights):
    generator, weights = srez_checkpoint.restore_generator(path, weights)
    record = srez_checkpoint.saved_record(path)
    damage = record.get('damage')
    record.update(weights=weights, batch=srez_checkpoint.saved_progress(path)[0],
                  damaged=damage['damage_clean'] < 1 if damage else None)
    return generator, _source(CHECKPOINT, path, srez_checkpoint.saved_config(path), record)


def shipped(sharpness, reason=''):
    """(generator, ModelSource): the shipped models interpolated at `sharpness` (0 = fidelity,
    1 = sharp)."""
    paths = srez_config.SHIPPED_MODELS
    fidelity, model, fidelity_record = srez_modelfile.read(paths['fidelity'])
    sharp, _, sharp_record = srez_modelfile.read(paths['sharp'])
    record = dict(fidelity_record, recipe=None, batch=None, weights='average')
    source = dataclasses.replace(_source(SHIPPED, srez_config.MODELS_DIR, model, record),
                                 sharpness=sharpness, reason=reason,
                                 damaged=fidelity_record.get('damaged'))
    return srez_modelfile.interpolate(fidelity, sharp, sharpness), source


def _source(kind, path, model, record):
    """A ModelSource from a training record or a model file's source dict."""
    return ModelSource(kind=kind, path=path, model=model,
                       weights=record.get('weights') or 'average', batches=record.get('batch'),
                       recipe=record.get('recipe'), data=record.get('data'),
                       damaged=record.get('damaged'))
