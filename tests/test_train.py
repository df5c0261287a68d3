"""srez_train: the loop, its progress lines, grids, summaries and checkpoints, resuming, budgets,
starting from another model, and stopping on a NaN."""
import dataclasses
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from helpers import TINY_FLAGS, summaries, synthetic_data, tiny_config

import srez_checkpoint
import srez_loader
import srez_train


def quietly(config, data=None):
    return srez_train.train(config, data or synthetic_data(), log=lambda line: None)


def test_train_writes_grids_summaries_and_checkpoints(tmp_path):
    lines = []
    config = tiny_config(tmp_path, max_batches=12, summary_period=5, checkpoint_period=10)
    assert srez_train.train(config, synthetic_data(), log=lines.append) == 12
    # TensorBoard (tensorboard --logdir train): scalars every 10 batches and at the end, and each
    # sample grid as an image.
    values = summaries(config.train_dir)
    for tag in ('generator_loss', 'discriminator_real_loss', 'discriminator_fake_loss',
                'generator_l1_loss', 'learning_rate', 'images_per_second'):
        assert sorted(values[tag]) == [10, 12], tag
    assert float(values['learning_rate'][10]) == pytest.approx(0.0002)
    assert sorted(values['samples']) == [5, 10, 12]
    width, height = values['samples'][12][:2]
    assert (int(width), int(height)) == (4 * 64, 4 * 64)
    assert sorted(f for f in os.listdir(config.train_dir) if f.endswith('.png')) == [
        'batch000005_out.png', 'batch000010_out.png', 'batch000012_out.png']
    grid = tf.io.decode_png(tf.io.read_file(os.path.join(config.train_dir, 'batch000012_out.png')))
    assert grid.shape == (4 * 64, 4 * 64, 3)  # 4 test vectors, 4 columns of 64.
    assert srez_checkpoint.latest(config.checkpoint_dir).endswith('srez-12')
    assert srez_checkpoint.saved_progress(srez_checkpoint.latest(config.checkpoint_dir))[0] == 12
    progress = [line for line in lines if line.startswith('Progress[')]
    assert len(progress) == 2
    assert re.fullmatch(r'Progress\[ *\d+%\], ETA\[ *\d+m\], Batch \[  10\], G_Loss\[\d+\.\d{3}\], '
                        r'D_Real_Loss\[\d+\.\d{3}\], D_Fake_Loss\[\d+\.\d{3}\], [\d.]+ images/s',
                        progress[0]), progress[0]


def test_the_grid_shows_the_averaged_generator_on_the_test_vectors(trained_model, generator):
    import srez_images
    import srez_input
    import srez_synthetic

    # The trained model's held-out test vectors: the last 4 of the seeded synthetic faces.
    keys, load = srez_synthetic.synthetic_faces(range(1024, 1028))
    inputs, truth, _ = srez_input.test_pairs(keys, load, 64)
    grid = tf.io.decode_png(tf.io.read_file(str(trained_model / 'train' / 'batch000006_out.png')))
    expected = srez_images.sample_grid(inputs, generator(inputs, training=False), truth)
    np.testing.assert_array_equal(grid, expected)


def test_resume_continues_batches_learning_rate_and_time_budget(tmp_path):
    config = tiny_config(tmp_path, max_batches=4, learning_rate_half_life=5)
    quietly(config)
    first_seconds = srez_checkpoint.saved_progress(
        srez_checkpoint.latest(config.checkpoint_dir))[1]
    lines = []
    assert srez_train.train(dataclasses.replace(config, max_batches=10), synthetic_data(),
                            log=lines.append) == 10
    assert lines[0].startswith(f'Resuming from {config.checkpoint_dir}/srez-4 at batch 4 (')
    latest = srez_checkpoint.latest(config.checkpoint_dir)
    # Adam's step count and the halving schedule (half-life 5) carry on from batch 4.
    reader = tf.train.load_checkpoint(latest)
    assert reader.get_tensor('gene_optimizer/iterations/.ATTRIBUTES/VARIABLE_VALUE') == 10
    assert float(summaries(config.train_dir)['learning_rate'][10]) == pytest.approx(0.0001)
    grids = sorted(f for f in os.listdir(config.train_dir) if f.endswith('.png'))
    assert grids == ['batch000004_out.png', 'batch000010_out.png']
    spent = srez_checkpoint.saved_progress(latest)[1]
    assert spent > first_seconds
    # A budget already spent over both runs trains no further and says how to train further
    # (0.99: float round trips).
    lines.clear()
    again = dataclasses.replace(config, max_batches=30, train_time=0.99 * spent / 60)
    assert srez_train.train(again, synthetic_data(), log=lines.append) == 10
    assert lines[-1].startswith('Training already reached --train_time')
    assert 'raise one to train further' in lines[-1]


def test_a_new_run_starts_from_another_models_generator(trained_model, tmp_path):
    lines = []
    config = tiny_config(tmp_path, max_batches=1, init_from=str(trained_model / 'model.zip'),
                         learning_rate_start=1e-12)
    srez_train.train(config, synthetic_data(), log=lines.append)
    assert any(line.startswith(f'Starting the generator from the model file '
                               f'{trained_model}/model.zip (batch 6') for line in lines)
    started = srez_loader.from_path(config.checkpoint_dir, 'raw').generator
    source = srez_loader.from_path(str(trained_model / 'model.zip')).generator
    for variable, expected in zip(started.trainable_variables, source.trainable_variables):
        np.testing.assert_allclose(variable, expected, atol=1e-6)  # One step at rate 1e-12.
    # A model of another shape is refused, naming the difference.
    other = tiny_config(tmp_path / 'other', init_from=str(trained_model / 'checkpoint'),
                        gene_units=(16, 8, 8))
    with pytest.raises(ValueError, match=r'^--init_from .*/checkpoint is a model made with '
                                         r'--gene_units 8,8,8, but this run has --gene_units '
                                         r'16,8,8: use the same settings\.$'):
        quietly(other)


@pytest.mark.slow
def test_a_nan_stops_training_and_keeps_the_last_good_checkpoint(trained_copy, srez_cli, capsys):
    checkpoints = trained_copy / 'checkpoint'
    good = {path.name: path.read_bytes() for path in checkpoints.iterdir()}
    # An absurd learning rate overflows the weights within a few batches.
    status = srez_cli('--run', 'train', '--dataset', 'synthetic', *TINY_FLAGS,
                      '--checkpoint_period', '5', '--max_batches', '40',
                      '--learning_rate_start', '1e30', '--train_dir', str(trained_copy / 'train'),
                      '--checkpoint_dir', str(checkpoints))
    assert status == 2
    error = capsys.readouterr().err
    assert re.fullmatch(
        rf'srez: error: Training diverged at batch ([7-9]|[1-3]\d): a (loss|weight) became NaN '
        rf'or Inf; the last good checkpoint, {checkpoints}/srez-6, is kept\. Try a lower '
        rf'--learning_rate_start \(e\.g\. 1e\+29\)\.\n', error), error
    assert {path.name: path.read_bytes() for path in checkpoints.iterdir()} == good


def test_an_unreadable_checkpoint_is_refused_in_one_line(trained_copy):
    data_file, = (trained_copy / 'checkpoint').glob('srez-6.data-*')
    data_file.write_bytes(data_file.read_bytes()[:100])  # Say, a copy cut short.
    config = tiny_config(trained_copy, max_batches=20, test_vectors=4)
    with pytest.raises(ValueError) as error:
        quietly(config)
    assert str(error.value).startswith(f'The checkpoint {trained_copy}/checkpoint/srez-6 cannot '
                                       f'be restored (')
    assert '\n' not in str(error.value)
