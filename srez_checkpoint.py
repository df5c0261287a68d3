"""srez checkpoints: what they hold, and refusing ones made for another model.

A training checkpoint holds both networks, both optimizers, the training progress (batch count and
training seconds) and the model's shape (network widths and sample size), so a run resumes exactly
and every mode can rebuild the generator it needs from the checkpoint alone.
"""
import dataclasses
import os
import re
import shutil

import tensorflow as tf

import srez_model
from srez_errors import UsageError

NAME = 'srez'  # Checkpoints are NAME-<batch>.index and NAME-<batch>.data-*.
# Generator options saved as booleans; checkpoints from before an option lack it (it was off).
GENERATOR_OPTIONS = ('gene_residual', 'gene_pixel_shuffle')
SHAPE_KEYS = ('gene_units', 'disc_units', 'sample_size') + GENERATOR_OPTIONS
SHAPE_FLAGS = {key: '--' + key for key in SHAPE_KEYS}


class ModelShape(tf.Module):
    """Network widths, sample size and generator kind, saved so a mismatched checkpoint can be
    named and refused, and every mode can rebuild the generator."""

    def __init__(self, gene_units, disc_units, sample_size, **generator_options):
        """generator_options: GENERATOR_OPTIONS as bools (missing ones are off); None leaves
        one out, to restore checkpoints from before the option."""
        super().__init__(name='shape')
        self.gene_units = tf.Variable(list(gene_units), dtype=tf.int64, trainable=False)
        self.disc_units = tf.Variable(list(disc_units), dtype=tf.int64, trainable=False)
        self.sample_size = tf.Variable(sample_size, dtype=tf.int64, trainable=False)
        for key in GENERATOR_OPTIONS:
            value = generator_options.get(key, False)
            if value is not None:
                setattr(self, key, tf.Variable(value, dtype=tf.bool, trainable=False))


def new_generator(gene_units, seed=0, **generator_options):
    """A srez_model.Generator of widths `gene_units`, with GENERATOR_OPTIONS as bools (missing
    ones are off)."""
    return srez_model.Generator(gene_units, seed=seed,
                                residual=generator_options.get('gene_residual', False),
                                pixel_shuffle=generator_options.get('gene_pixel_shuffle', False))


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


def remove_unfinished(checkpoint_dir):
    """Deletes what a save cut short (by kill -9 or a crash) left in `checkpoint_dir`, and only that.

    A save writes NAME-<batch>_temp/, moves its data out as NAME-<batch>.data-*, writes
    NAME-<batch>.index, and only then names the checkpoint in the `checkpoint` file (written as
    checkpoint.tmp*, then renamed), which is what `latest` reads. So the temp files are unfinished,
    and so is a numbered checkpoint without a readable index or with a data shard missing
    (deleting an old checkpoint cut short leaves those too). A complete checkpoint that the
    `checkpoint` file does not name (another run's, say, in a shared folder) is left alone, and so
    is everything the `checkpoint` file names (restoring it says what is wrong).

    Returns a Cleanup: the file names removed and the unnamed complete checkpoints left alone.
    """
    if not os.path.isdir(checkpoint_dir):
        return Cleanup([], [])  # Nothing saved yet.
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


def saved_shape(path):
    """{'gene_units': tuple, 'disc_units': tuple, 'sample_size': int} and a bool for each of
    GENERATOR_OPTIONS, stored in checkpoint `path` (checkpoints from before an option say False).

    Raises UsageError when `path` cannot be read or is not a srez training checkpoint.
    """
    values = _saved_values(path, [f'shape/{key}' for key in SHAPE_KEYS],
                           optional={f'shape/{key}' for key in GENERATOR_OPTIONS})
    return {'gene_units': tuple(int(u) for u in values['shape/gene_units']),
            'disc_units': tuple(int(u) for u in values['shape/disc_units']),
            'sample_size': int(values['shape/sample_size']),
            **{key: bool(values.get(f'shape/{key}', False)) for key in GENERATOR_OPTIONS}}


def saved_progress(path):
    """(batch count, training seconds) stored in checkpoint `path`.

    Raises UsageError when `path` cannot be read.
    """
    values = _saved_values(path, ['progress/batch', 'progress/train_seconds'])
    return int(values['progress/batch']), float(values['progress/train_seconds'])


def _saved_values(path, names, optional=frozenset()):
    """{name: numpy value} of the variables `names` (like 'progress/batch') in checkpoint `path`;
    those in the set `optional` are left out when the checkpoint lacks them.

    Raises UsageError when `path` cannot be read or lacks any other of `names`.
    """
    try:
        reader = tf.train.load_checkpoint(path)
        keys = {name: f'{name}/.ATTRIBUTES/VARIABLE_VALUE' for name in names}
        return {name: reader.get_tensor(key) for name, key in keys.items()
                if name not in optional or reader.has_tensor(key)}
    except Exception as error:  # TF's reader fails in many ways, all about this file.
        raise unreadable(path, error) from None


def check_shape(path, **expected):
    """Raises UsageError naming the first setting in which checkpoint `path` differs from `expected`.

    expected: any of gene_units, disc_units (tuples of ints), sample_size (int) and
    GENERATOR_OPTIONS (bools).
    """
    saved = saved_shape(path)
    for key, value in expected.items():
        if _as_flag(key, saved[key]) != _as_flag(key, value):
            raise UsageError(
                f'The checkpoint {path} was made with {_as_flag(key, saved[key])}, but this run '
                f'has {_as_flag(key, value)}: use the same setting, or another --checkpoint_dir '
                f'to start a new model.')


def unreadable(path, error):
    """The UsageError for checkpoint `path` that failed to load with `error`."""
    reason = (getattr(error, 'message', None) or str(error)).strip().splitlines()[0]
    return UsageError(f'The checkpoint {path} cannot be restored ({reason}): move it away, or '
                      f'use another --checkpoint_dir to start a new model.')


def _as_flag(key, value):
    """The command-line words that set shape `key` to `value`: '--gene_units 8,8,8'."""
    flag = SHAPE_FLAGS[key]
    if isinstance(value, bool):
        return flag if value else flag.replace('--', '--no', 1)
    if isinstance(value, (tuple, list)):
        value = ','.join(map(str, value))
    return f'{flag} {value}'


def holds(path, name):
    """Whether checkpoint `path` holds object `name` ('generator_average', 'shape/gene_residual'),
    which checkpoints from before it was added do not."""
    return any(key.startswith(name + '/') for key, _ in tf.train.list_variables(path))


def load_generator(checkpoint_dir, weights='average'):
    """Rebuilds the generator of the newest checkpoint in `checkpoint_dir`.

    weights: 'average' for the weight average training keeps (the raw weights when the checkpoint
    predates it), or 'raw' for the weights as last trained.
    Returns (generator, info): info has the saved shape plus 'batch', 'path' and 'weights' (the
    ones loaded). Raises UsageError when there is no checkpoint.
    """
    path = latest(checkpoint_dir)
    if path is None:
        raise UsageError(f'No checkpoint in {checkpoint_dir}/: train a model first '
                         f'(python srez_main.py --run train) or point --checkpoint_dir at one.')
    info = saved_shape(path)
    if weights == 'average' and not holds(path, 'generator_average'):
        weights = 'raw'
    generator = new_generator(info['gene_units'],
                              **{key: info[key] for key in GENERATOR_OPTIONS})
    key = 'generator_average' if weights == 'average' else 'generator'
    status = tf.train.Checkpoint(**{key: generator}).restore(path).expect_partial()
    status.assert_existing_objects_matched()
    return generator, dict(info, batch=saved_progress(path)[0], path=path, weights=weights)
