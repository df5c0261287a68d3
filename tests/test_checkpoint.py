"""srez_checkpoint: after an interrupted save, delete what is provably unfinished and nothing else."""
import os
import re

import tensorflow as tf

import srez_checkpoint
import srez_train


def save(folder, batches):
    """Saves checkpoints srez-<batch> as training does: each named in the `checkpoint` file."""
    checkpoint = tf.train.Checkpoint(weights=tf.Variable(tf.zeros([64, 64])))
    manager = tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=None,
                                         checkpoint_name=srez_checkpoint.NAME)
    for batch in batches:
        manager.save(checkpoint_number=batch)
    return checkpoint


def files(folder):
    return sorted(os.listdir(folder))


def test_a_complete_checkpoint_the_checkpoint_file_does_not_name_is_left_alone(tmp_path):
    checkpoint = save(tmp_path, [10])
    # Newer than the newest named one: another run's in a shared folder, or one copied in.
    checkpoint.write(str(tmp_path / 'srez-20'))
    before = files(tmp_path)
    lines = []

    srez_train._remove_unfinished(str(tmp_path), lines.append)

    assert files(tmp_path) == before
    assert lines == [f'Left alone in {tmp_path}/: srez-20 (complete, but not named in its '
                     f'checkpoint file, so not this run\'s to resume or delete).']


def test_temp_files_and_incomplete_checkpoints_are_removed_and_named(tmp_path):
    checkpoint = save(tmp_path, [10, 12])
    (tmp_path / 'srez-14_temp').mkdir()  # A save cut short while writing its shards...
    (tmp_path / 'srez-14_temp' / 'part-00000-of-00001.index').write_bytes(b'')
    (tmp_path / 'checkpoint.tmp0123abcd').write_text('')  # ...or while naming it.
    checkpoint.write(str(tmp_path / 'srez-16'))
    os.remove(tmp_path / 'srez-16.index')  # Cut short before its index was written.
    checkpoint.write(str(tmp_path / 'srez-8'))
    os.remove(tmp_path / 'srez-8.data-00000-of-00001')  # Deleting an old one, cut short.
    checkpoint.write(str(tmp_path / 'srez-18'))
    index = tmp_path / 'srez-18.index'
    index.write_bytes(index.read_bytes()[:20])  # An index written halfway.

    cleanup = srez_checkpoint.remove_unfinished(str(tmp_path))

    assert sorted(cleanup.removed) == [
        'checkpoint.tmp0123abcd', 'srez-14_temp', 'srez-16.data-00000-of-00001',
        'srez-18.data-00000-of-00001', 'srez-18.index', 'srez-8.index']
    assert cleanup.left_alone == []
    assert files(tmp_path) == ['checkpoint', 'srez-10.data-00000-of-00001', 'srez-10.index',
                               'srez-12.data-00000-of-00001', 'srez-12.index']
    assert srez_checkpoint.latest(str(tmp_path)) == str(tmp_path / 'srez-12')


def test_a_named_checkpoint_is_never_removed_even_when_damaged(tmp_path):
    save(tmp_path, [10])
    os.remove(tmp_path / 'srez-10.data-00000-of-00001')
    (tmp_path / 'notes.txt').write_text('mine')

    cleanup = srez_checkpoint.remove_unfinished(str(tmp_path))

    assert cleanup.removed == [] and cleanup.left_alone == []
    assert files(tmp_path) == ['checkpoint', 'notes.txt', 'srez-10.index']


# What a training checkpoint held before srez_devices, srez_images and srez_synthetic existed
# (layer indices as N): moving code between modules must not rename any of it, or checkpoints
# written before would no longer restore. New entries are fine; a missing one is a rename.
CHECKPOINT_KEYS_BEFORE = {
    'disc_optimizer/first_moments/N',
    'disc_optimizer/iterations',
    'disc_optimizer/second_moments/N',
    'discriminator/layers/N/bias',
    'discriminator/layers/N/kernel',
    'discriminator/layers/N/moving_mean',
    'discriminator/layers/N/moving_variance',
    'discriminator/layers/N/moving_weight',
    'discriminator/layers/N/offset',
    'gene_optimizer/first_moments/N',
    'gene_optimizer/iterations',
    'gene_optimizer/second_moments/N',
    'generator/layers/N/bias',
    'generator/layers/N/kernel',
    'generator/layers/N/layers/N/bias',
    'generator/layers/N/layers/N/kernel',
    'generator/layers/N/layers/N/moving_mean',
    'generator/layers/N/layers/N/moving_variance',
    'generator/layers/N/layers/N/moving_weight',
    'generator/layers/N/layers/N/offset',
    'generator/layers/N/moving_mean',
    'generator/layers/N/moving_variance',
    'generator/layers/N/moving_weight',
    'generator/layers/N/offset',
    'generator/layers/N/projection/bias',
    'generator/layers/N/projection/kernel',
    'generator_average/layers/N/bias',
    'generator_average/layers/N/kernel',
    'generator_average/layers/N/layers/N/bias',
    'generator_average/layers/N/layers/N/kernel',
    'generator_average/layers/N/layers/N/moving_mean',
    'generator_average/layers/N/layers/N/moving_variance',
    'generator_average/layers/N/layers/N/moving_weight',
    'generator_average/layers/N/layers/N/offset',
    'generator_average/layers/N/moving_mean',
    'generator_average/layers/N/moving_variance',
    'generator_average/layers/N/moving_weight',
    'generator_average/layers/N/offset',
    'generator_average/layers/N/projection/bias',
    'generator_average/layers/N/projection/kernel',
    'loss_scale/good_steps',
    'loss_scale/value',
    'progress/batch',
    'progress/train_seconds',
    'shape/disc_units',
    'shape/gene_units',
    'shape/sample_size',
}


def test_checkpoints_keep_the_keys_they_had(tmp_path):
    config = srez_train.TrainConfig(gene_units=(8, 8, 8), disc_units=(8, 8))
    session = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    path = session.checkpoint.save(str(tmp_path / srez_checkpoint.NAME))
    keys = {re.sub(r'/\d+(?=/)', '/N', name).replace('/.ATTRIBUTES/VARIABLE_VALUE', '')
            for name, _ in tf.train.list_variables(path)}
    assert not CHECKPOINT_KEYS_BEFORE - keys, sorted(CHECKPOINT_KEYS_BEFORE - keys)
