"""srez checkpoints: what they hold, cleaning up after interrupted saves, refusing ones made for
another model, and restoring the generator (srez_loader chooses which).

A training checkpoint holds both networks, both optimizers, the training progress (batch count and
training seconds), the whole srez_config.ModelConfig as JSON, and a record of how it was trained
(recipe, data, damage), so a run resumes exactly and every mode rebuilds the generator it needs
from the checkpoint alone. Checkpoints from before the JSON
held the model's widths and options as `shape/<setting>` variables; those still load.
"""
import dataclasses
import json
import os
import re
import shutil

import tensorflow as tf

import srez_config
import srez_model
from srez_errors import UsageError, first_line

NAME = 'srez'  # Checkpoints are NAME-<batch>.index and NAME-<batch>.data-*.
CONFIG_KEY = 'model_config'  # The checkpoint object holding the ModelConfig's JSON.
RECORD_KEY = 'training_record'  # And how it was trained: recipe, data, damage (JSON).
# Older checkpoints: shape/<setting> variables; the options among them were added over time.
LEGACY_SHAPE_KEYS = ('gene_units', 'disc_units', 'sample_size')
LEGACY_SHAPE_OPTIONS = ('gene_residual', 'gene_pixel_shuffle')


def config_variable(model_config):
    """What a checkpoint saves of `model_config` (a srez_config.ModelConfig): its JSON."""
    return tf.Variable(model_config.to_json(), trainable=False, name=CONFIG_KEY)


def record_variable(record):
    """What a checkpoint saves of how its model was trained: `record`, a JSON-ready dict (recipe,
    data, damage; srez_loader reads it back)."""
    return tf.Variable(json.dumps(record, sort_keys=True), trainable=False, name=RECORD_KEY)


def saved_record(path):
    """The training record of checkpoint `path` as a dict; {} for checkpoints from before it
    existed."""
    reader = tf.train.load_checkpoint(path)
    if not reader.has_tensor(_key(RECORD_KEY)):
        return {}
    return json.loads(reader.get_tensor(_key(RECORD_KEY)).decode())


class Progress(tf.Module):
    """How far training got: batches done and seconds spent training, over all runs."""

    def __init__(self):
        super().__init__(name='progress')
        self.batch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)


def latest(checkpoint_dir):
    """Path prefix of the newest complete checkpoint in `checkpoint_dir`, or None."""
    return tf.train.latest_checkpoint(checkpoint_dir)


@dataclasses.dataclass(frozen=True)
class Cleanup:
    """What `remove_unfinished` did: file names removed, and checkpoint prefixes left alone."""
    removed: list
    left_alone: list


def remove_unfinished(checkpoint_dir, log=None):
    """Deletes what a save cut short (by kill -9 or a crash) left in `checkpoint_dir`, and only that.

    A save writes NAME-<batch>_temp/, moves its data out as NAME-<batch>.data-*, writes
    NAME-<batch>.index, and only then names the checkpoint in the `checkpoint` file (written as
    checkpoint.tmp*, then renamed), which is what `latest` reads. So the temp files are unfinished,
    and so is a numbered checkpoint without a readable index or with a data shard missing
    (deleting an old checkpoint cut short leaves those too). A complete checkpoint that the
    `checkpoint` file does not name (another run's, say, in a shared folder) is left alone, and so
    is everything the `checkpoint` file names (restoring it says what is wrong).

    log: if given, called with a line saying what was removed and one naming what was left alone.
    Returns a Cleanup: the file names removed and the unnamed complete checkpoints left alone.
    """
    if not os.path.isdir(checkpoint_dir):
        return Cleanup([], [])  # Nothing saved yet.
    cleanup = _remove_unfinished(checkpoint_dir)
    if log and cleanup.removed:
        log(f'Removed what an interrupted save left in {checkpoint_dir}/: '
            f'{", ".join(cleanup.removed)}.')
    if log and cleanup.left_alone:
        log(f'Left alone in {checkpoint_dir}/: {", ".join(cleanup.left_alone)} (complete, but not '
            f'named in its checkpoint file, so not this run\'s to resume or delete).')
    return cleanup


def _remove_unfinished(checkpoint_dir):
    """remove_unfinished's work, on an existing folder: returns the Cleanup."""
    named = {os.path.basename(path) for path in _named_checkpoints(checkpoint_dir)}
    pattern = re.compile(rf'^(?:checkpoint\.tmp[0-9a-f]+|({NAME}-\d+)(_temp|\.index|\.data-.*))$')
    files_of = {}  # Checkpoint prefix -> its file names.
    removed = []
    for name in sorted(os.listdir(checkpoint_dir)):
        match = pattern.match(name)
        if not match or match.group(1) in named:
            continue
        if match.group(1) is None or match.group(2) == '_temp':
            _remove(os.path.join(checkpoint_dir, name))
            removed.append(name)
        else:
            files_of.setdefault(match.group(1), []).append(name)
    left_alone = []
    for prefix, names in sorted(files_of.items(), key=lambda item: _batch_of(item[0])):
        if _complete(os.path.join(checkpoint_dir, prefix), names):
            left_alone.append(prefix)
            continue
        for name in names:
            _remove(os.path.join(checkpoint_dir, name))
        removed.extend(names)
    return Cleanup(removed, left_alone)


def _named_checkpoints(checkpoint_dir):
    """The checkpoint paths that the `checkpoint` file of `checkpoint_dir` names (none without)."""
    state = tf.train.get_checkpoint_state(checkpoint_dir)
    return list(state.all_model_checkpoint_paths) + [state.model_checkpoint_path] if state else []


def _batch_of(prefix):
    return int(prefix.rsplit('-', 1)[1])


def _complete(prefix_path, names):
    """Whether checkpoint `prefix_path`, whose files are `names`, has a readable index and every
    data shard that the shard names promise (NAME-<batch>.data-<k>-of-<n>)."""
    shards = [re.fullmatch(r'.*\.data-(\d+)-of-(\d+)', name) for name in names]
    shards = [(int(m.group(1)), int(m.group(2))) for m in shards if m]
    if not shards or {index for index, _ in shards} != set(range(shards[0][1])):
        return False
    try:
        tf.train.load_checkpoint(prefix_path)  # Reads the index.
    except Exception:  # TF's reader fails in many ways, all meaning "not a whole index".
        return False
    return True


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    else:
        os.remove(path)


def saved_config(path):
    """The srez_config.ModelConfig of checkpoint `path`.

    Raises UsageError when `path` cannot be read or is not a srez training checkpoint.
    """
    try:
        reader = tf.train.load_checkpoint(path)
        if reader.has_tensor(_key(CONFIG_KEY)):
            values = json.loads(reader.get_tensor(_key(CONFIG_KEY)).decode())
        else:
            values = {name: reader.get_tensor(_key(f'shape/{name}')).tolist()
                      for name in LEGACY_SHAPE_KEYS + LEGACY_SHAPE_OPTIONS
                      if name in LEGACY_SHAPE_KEYS or reader.has_tensor(_key(f'shape/{name}'))}
        return srez_config.ModelConfig.from_dict(values)
    except Exception as error:  # TF's reader fails in many ways, all about this file.
        raise unreadable(path, error) from None


def saved_progress(path):
    """(batch count, training seconds) stored in checkpoint `path`.

    Raises UsageError when `path` cannot be read.
    """
    try:
        reader = tf.train.load_checkpoint(path)
        return (int(reader.get_tensor(_key('progress/batch'))),
                float(reader.get_tensor(_key('progress/train_seconds'))))
    except Exception as error:  # TF's reader fails in many ways, all about this file.
        raise unreadable(path, error) from None


def _key(name):
    """The checkpoint key of the variable saved as object `name` ('progress/batch')."""
    return f'{name}/.ATTRIBUTES/VARIABLE_VALUE'


def check_config(path, expected):
    """Raises UsageError naming every setting in which checkpoint `path` differs from `expected`
    (a srez_config.ModelConfig)."""
    mismatch = saved_config(path).mismatch(expected)
    if mismatch:
        saved, wanted = mismatch
        raise UsageError(f'The checkpoint {path} was made with {saved}, but this run has '
                         f'{wanted}: use the same settings, or another --checkpoint_dir to start a '
                         f'new model.')


def unreadable(path, error):
    """The UsageError for checkpoint `path` that failed to load with `error`."""
    return UsageError(f'The checkpoint {path} cannot be restored ({first_line(error)}): move it '
                      f'away, or use another --checkpoint_dir to start a new model.')


def holds(path, name):
    """Whether checkpoint `path` holds object `name` ('generator_average', 'model_config'),
    which checkpoints from before it was added do not."""
    return any(key.startswith(name + '/') for key, _ in tf.train.list_variables(path))


def restore_generator(path, weights='average'):
    """The generator of checkpoint `path`: (srez_model.Generator, the weights restored).

    weights: 'average' for the weight average training keeps (the raw weights when the checkpoint
    predates it), or 'raw' for the weights as last trained. Raises UsageError when `path` cannot
    be read.
    """
    model = saved_config(path)
    if weights == 'average' and not holds(path, 'generator_average'):
        weights = 'raw'
    generator = srez_model.Generator(model)
    key = 'generator_average' if weights == 'average' else 'generator'
    try:
        status = tf.train.Checkpoint(**{key: generator}).restore(path).expect_partial()
        status.assert_existing_objects_matched()
    except Exception as error:  # TF's reader fails in many ways, all about this file.
        raise unreadable(path, error) from None
    return generator, weights
