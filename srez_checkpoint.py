"""srez checkpoints: what they hold, and refusing ones made for another model.

A training checkpoint holds both networks, both optimizers, the training progress (batch count and
training seconds) and the model's shape (network widths and sample size), so a run resumes exactly
and every mode can rebuild the generator it needs from the checkpoint alone.
"""
import os
import re
import shutil

import tensorflow as tf

import srez_model

NAME = 'srez'  # Checkpoints are NAME-<batch>.index and NAME-<batch>.data-*.
SHAPE_KEYS = ('gene_units', 'disc_units', 'sample_size')
SHAPE_FLAGS = {'gene_units': '--gene_units', 'disc_units': '--disc_units',
               'sample_size': '--sample_size'}


class ModelShape(tf.Module):
    """Network widths and sample size, saved so a mismatched checkpoint can be named and refused."""

    def __init__(self, gene_units, disc_units, sample_size):
        super().__init__(name='shape')
        self.gene_units = tf.Variable(list(gene_units), dtype=tf.int64, trainable=False)
        self.disc_units = tf.Variable(list(disc_units), dtype=tf.int64, trainable=False)
        self.sample_size = tf.Variable(sample_size, dtype=tf.int64, trainable=False)


class Progress(tf.Module):
    """How far training got: batches done and seconds spent training, over all runs."""

    def __init__(self):
        super().__init__(name='progress')
        self.batch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)


def latest(checkpoint_dir):
    """Path prefix of the newest complete checkpoint in `checkpoint_dir`, or None."""
    return tf.train.latest_checkpoint(checkpoint_dir)


def remove_unfinished(checkpoint_dir):
    """Deletes what a save cut short (by kill -9 or a crash) left in `checkpoint_dir`.

    A save writes NAME-<batch>_temp/, then NAME-<batch>.index and .data-*, and only then names
    that checkpoint in the `checkpoint` file (via checkpoint.tmp*, renamed), which is what
    `latest` reads. So temp files, and checkpoints newer than the latest named one, are unfinished.
    Returns the names removed.
    """
    path = latest(checkpoint_dir)
    named = re.fullmatch(rf'{NAME}-(\d+)', os.path.basename(path or ''))
    if not named:
        return []  # Without a `checkpoint` file naming ours, which are finished is unknown.
    newest = int(named.group(1))
    unfinished = re.compile(rf'^(checkpoint\.tmp[0-9a-f]+|{NAME}-(\d+)(_temp|\.index|\.data-.*))$')
    removed = []
    for name in sorted(os.listdir(checkpoint_dir)):
        match = unfinished.match(name)
        if match and (match.group(2) is None or match.group(3) == '_temp'
                      or int(match.group(2)) > newest):
            full = os.path.join(checkpoint_dir, name)
            if os.path.isdir(full):
                shutil.rmtree(full)
            else:
                os.remove(full)
            removed.append(name)
    return removed


def saved_shape(path):
    """{'gene_units': tuple, 'disc_units': tuple, 'sample_size': int} stored in checkpoint `path`.

    Raises ValueError when `path` cannot be read or is not a srez training checkpoint.
    """
    try:
        reader = tf.train.load_checkpoint(path)
        values = {key: reader.get_tensor(f'shape/{key}/.ATTRIBUTES/VARIABLE_VALUE')
                  for key in SHAPE_KEYS}
    except Exception as error:  # TF's reader fails in many ways, all about this file.
        raise unreadable(path, error) from None
    return {'gene_units': tuple(int(u) for u in values['gene_units']),
            'disc_units': tuple(int(u) for u in values['disc_units']),
            'sample_size': int(values['sample_size'])}


def saved_batch(path):
    """The batch count stored in checkpoint `path`."""
    return int(tf.train.load_checkpoint(path).get_tensor(
        'progress/batch/.ATTRIBUTES/VARIABLE_VALUE'))


def check_shape(path, **expected):
    """Raises ValueError naming the first setting in which checkpoint `path` differs from `expected`.

    expected: any of gene_units, disc_units (tuples of ints) and sample_size (int).
    """
    saved = saved_shape(path)
    for key, value in expected.items():
        if _as_flag(saved[key]) != _as_flag(value):
            raise ValueError(
                f'The checkpoint {path} was made with {SHAPE_FLAGS[key]} {_as_flag(saved[key])}, '
                f'but this run has {SHAPE_FLAGS[key]} {_as_flag(value)}: use the same setting, or '
                f'another --checkpoint_dir to start a new model.')


def unreadable(path, error):
    """The ValueError for checkpoint `path` that failed to load with `error`."""
    reason = (getattr(error, 'message', None) or str(error)).strip().splitlines()[0]
    return ValueError(f'The checkpoint {path} cannot be restored ({reason}): move it away, or '
                      f'use another --checkpoint_dir to start a new model.')


def _as_flag(value):
    return ','.join(str(v) for v in value) if isinstance(value, (tuple, list)) else str(value)


def has_average(path):
    """Whether checkpoint `path` holds the generator's weight average (those before it do not)."""
    return any(name.startswith('generator_average/')
               for name, _ in tf.train.list_variables(path))


def load_generator(checkpoint_dir, weights='average'):
    """Rebuilds the generator of the newest checkpoint in `checkpoint_dir`.

    weights: 'average' for the weight average training keeps (the raw weights when the checkpoint
    predates it), or 'raw' for the weights as last trained.
    Returns (generator, info): info has the saved shape plus 'batch', 'path' and 'weights' (the
    ones loaded). Raises ValueError when there is no checkpoint.
    """
    path = latest(checkpoint_dir)
    if path is None:
        raise ValueError(f'No checkpoint in {checkpoint_dir}/: train a model first '
                         f'(python srez_main.py --run train) or point --checkpoint_dir at one.')
    info = saved_shape(path)
    if weights == 'average' and not has_average(path):
        weights = 'raw'
    generator = srez_model.Generator(info['gene_units'])
    key = 'generator_average' if weights == 'average' else 'generator'
    status = tf.train.Checkpoint(**{key: generator}).restore(path).expect_partial()
    status.assert_existing_objects_matched()
    return generator, dict(info, batch=saved_batch(path), path=path, weights=weights)
