"""srez_checkpoint: what a checkpoint holds, cleaning up after an interrupted save (what is
provably unfinished and nothing else), refusing another model's, and loading every older one."""
import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from helpers import LEGACY_CHECKPOINTS, TINY_FLAGS, synthetic_data, tiny_config

import srez_checkpoint
import srez_config
import srez_loader
import srez_session
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

    srez_checkpoint.remove_unfinished(str(tmp_path), lines.append)

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
# written before would no longer restore. New entries are fine; a missing one is a rename. The
# model's settings, once shape/* variables, are now one JSON (test below).
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
}


def test_checkpoints_keep_the_keys_they_had(tmp_path):
    session = srez_session.TrainingSession(tiny_config(tmp_path), tf.distribute.get_strategy())
    path = session.checkpoint.save(str(tmp_path / srez_checkpoint.NAME))
    keys = {re.sub(r'/\d+(?=/)', '/N', name).replace('/.ATTRIBUTES/VARIABLE_VALUE', '')
            for name, _ in tf.train.list_variables(path)}
    assert not CHECKPOINT_KEYS_BEFORE - keys, sorted(CHECKPOINT_KEYS_BEFORE - keys)


def test_the_model_config_is_saved_whole_and_rebuilds_the_generator(tmp_path):
    config = tiny_config(tmp_path, max_batches=2, gene_units=(16, 8, 8), gene_residual=True)
    srez_train.train(config, synthetic_data(), log=lambda line: None)
    path = srez_checkpoint.latest(config.checkpoint_dir)
    saved = tf.train.load_checkpoint(path).get_tensor(
        'model_config/.ATTRIBUTES/VARIABLE_VALUE').decode()
    assert json.loads(saved)['gene_units'] == [16, 8, 8]
    assert srez_checkpoint.saved_config(path) == config.model
    model = srez_loader.from_path(config.checkpoint_dir)
    generator, source = model.generator, model.source
    assert source.model == config.model and source.batches == 2 and generator.residual


def test_a_checkpoint_of_another_model_is_refused_naming_every_difference(tmp_path):
    config = tiny_config(tmp_path, max_batches=1)
    srez_train.train(config, synthetic_data(), log=lambda line: None)
    other = srez_config.ModelConfig(gene_units=(8, 8, 4), disc_units=(8, 16), sample_size=68,
                                    gene_residual=True, gene_pixel_shuffle=True)
    path = srez_checkpoint.latest(config.checkpoint_dir)
    with pytest.raises(ValueError) as error:
        srez_checkpoint.check_config(path, other)
    assert str(error.value) == (
        f'The checkpoint {path} was made with --gene_units 8,8,8 --disc_units 8,8 --sample_size '
        f'64 --nogene_residual --nogene_pixel_shuffle, but this run has --gene_units 8,8,4 '
        f'--disc_units 8,16 --sample_size 68 --gene_residual --gene_pixel_shuffle: use the same '
        f'settings, or another --checkpoint_dir to start a new model.')


# Tiny checkpoints that srez releases wrote, with their generator's output on a fixed input:
# from before the weight average (raw weights only), before --gene_residual, before
# --gene_pixel_shuffle, and the last with the settings as shape/* variables.
LEGACY = {'before_average': dict(weights='raw'),
          'before_residual': dict(weights='average'),
          'before_pixel_shuffle': dict(weights='average', gene_residual=True),
          'shape_variables': dict(weights='average', gene_residual=True,
                                  gene_pixel_shuffle=True)}


@pytest.fixture(params=LEGACY)
def legacy_checkpoint(request, tmp_path):
    """(a copy of one legacy checkpoint folder, what it holds)."""
    folder = tmp_path / request.param
    shutil.copytree(os.path.join(LEGACY_CHECKPOINTS, request.param), folder)
    return folder, LEGACY[request.param]


def test_every_older_checkpoint_loads_as_it_was_made(legacy_checkpoint):
    folder, expected = legacy_checkpoint
    model = srez_loader.from_path(str(folder))
    generator, source = model.generator, model.source
    assert source.weights == expected['weights'] and source.batches == 3
    # They predate the training record: what trained them is not known, and not made up.
    assert source.recipe is source.data is source.damaged is None
    assert source.model == srez_config.ModelConfig(
        gene_units=(8, 8, 8), disc_units=(8, 8), gene_residual=expected.get('gene_residual', False),
        gene_pixel_shuffle=expected.get('gene_pixel_shuffle', False))
    inputs = tf.reshape(tf.linspace(0.0, 1.0, 16 * 16 * 3), [1, 16, 16, 3])
    np.testing.assert_allclose(generator(inputs, training=False),
                               np.load(folder / 'expected_output.npy'), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['before_average', 'shape_variables'])
def test_the_oldest_and_the_newest_older_checkpoint_resume_and_serve_every_mode(name, srez_cli,
                                                                                tmp_path):
    # Every older one loads as it was made (above); restoring for training differs only for the
    # one without an average, and the last layout holds every option.
    folder, expected = tmp_path / name, LEGACY[name]
    shutil.copytree(os.path.join(LEGACY_CHECKPOINTS, name), folder)
    model_flags = [flag for option in ('gene_residual', 'gene_pixel_shuffle')
                   if expected.get(option) for flag in [f'--{option}']]
    common = ['--checkpoint_dir', str(folder), '--train_dir', str(tmp_path / 'train')]
    assert srez_cli('--run', 'train', '--dataset', 'synthetic', *TINY_FLAGS, *model_flags,
                    '--max_batches', '4', *common) == 0
    assert srez_checkpoint.saved_progress(srez_checkpoint.latest(str(folder)))[0] == 4
    # Resumed from a checkpoint without an average, training keeps one from then on.
    assert srez_loader.from_path(str(folder)).source.weights == 'average'
    assert srez_cli('--run', 'eval', '--dataset', 'synthetic', '--test_vectors', '2',
                    '--eval_dir', str(tmp_path / 'eval'), *common) == 0
    assert srez_cli('--run', 'export', '--export_dir', str(tmp_path / 'export'), *common) == 0
