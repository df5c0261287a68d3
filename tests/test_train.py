"""srez_train: the training step and loop, sample grids, checkpoints and resuming."""
import os

import numpy as np
import pytest
import tensorflow as tf

import srez_checkpoint
import srez_input
import srez_synthetic
import srez_train


def tiny_config(tmp_path, **overrides):
    settings = dict(batch_size=4, test_vectors=4, gene_units=(8, 8, 8), disc_units=(8, 8),
                    train_dir=str(tmp_path / 'train'), checkpoint_dir=str(tmp_path / 'checkpoint'),
                    summary_period=1000, checkpoint_period=1000, train_time=10)
    settings.update(overrides)
    return srez_train.TrainConfig(**settings)


def synthetic_data(count=8):
    keys, load = srez_synthetic.synthetic_faces(range(count + 4))
    return srez_input.TrainingData(keys[:count], keys[count:], load)


def test_a_few_dozen_batches_lower_the_l1_term(tmp_path):
    # Width 16 learns steadily in 40 batches (width 8 barely moves); measured ratio about 0.62.
    config = tiny_config(tmp_path, gene_units=(16, 16, 16), learning_rate_start=0.001)
    session = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    data = synthetic_data()
    iterator = iter(srez_input.training_dataset(data.train_keys, data.load, 4, 64, seed=0))
    l1_terms = [float(session.train_step(iterator)[3]) for _ in range(40)]
    assert np.mean(l1_terms[-5:]) < 0.85 * np.mean(l1_terms[:5])


def summaries(train_dir):
    """{tag: [(step, tf.compat.v1.Summary.Value)]} from the event files in `train_dir`."""
    values = {}
    for name in os.listdir(train_dir):
        if name.startswith('events.out.tfevents.'):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(train_dir, name)):
                for value in event.summary.value:
                    values.setdefault(value.tag, []).append((event.step, value))
    return values


def test_train_writes_grids_summaries_and_checkpoints(tmp_path):
    lines = []
    config = tiny_config(tmp_path, max_batches=12, summary_period=5, checkpoint_period=10)
    assert srez_train.train(config, synthetic_data(), log=lines.append) == 12
    # TensorBoard (tensorboard --logdir train): scalars every 10 batches and at the end, and each
    # sample grid as an image.
    values = summaries(config.train_dir)
    for tag in ('generator_loss', 'discriminator_real_loss', 'discriminator_fake_loss',
                'generator_l1_loss', 'learning_rate', 'images_per_second'):
        assert [step for step, _ in values[tag]] == [10, 12], tag
    assert float(tf.make_ndarray(values['learning_rate'][0][1].tensor)) == pytest.approx(0.0002)
    assert [step for step, _ in values['samples']] == [5, 10, 12]
    width, height = tf.make_ndarray(values['samples'][-1][1].tensor)[:2]
    assert (int(width), int(height)) == (4 * 64, 4 * 64)
    assert sorted(f for f in os.listdir(config.train_dir) if f.endswith('.png')) == [
        'batch000005_out.png', 'batch000010_out.png', 'batch000012_out.png']
    grid = tf.io.decode_png(tf.io.read_file(os.path.join(config.train_dir, 'batch000012_out.png')))
    assert grid.shape == (4 * 64, 4 * 64, 3)  # 4 test vectors, 4 columns of 64.
    assert srez_checkpoint.latest(config.checkpoint_dir).endswith('srez-12')
    progress = [line for line in lines if line.startswith('Progress[')]
    assert len(progress) == 2 and 'Batch [  10], G_Loss[' in progress[0]
    assert 'D_Real_Loss[' in progress[0] and 'images/s' in progress[0]


def test_checkpoint_restore_gives_identical_outputs(tmp_path):
    config = tiny_config(tmp_path, max_batches=3)
    srez_train.train(config, synthetic_data(), log=lambda line: None)
    inputs = tf.random.uniform([2, 16, 16, 3], seed=5)
    restored = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    restored.restore(restored.checkpoint_to_resume())
    generator, info = srez_checkpoint.load_generator(config.checkpoint_dir)
    assert info['batch'] == 3 and info['gene_units'] == (8, 8, 8)
    np.testing.assert_array_equal(restored.upscale(inputs), generator(inputs, training=False))
    # And the restored networks are the trained ones, not a fresh initialisation.
    fresh = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    assert not np.array_equal(fresh.upscale(inputs), restored.upscale(inputs))


def test_saved_and_restored_sessions_match_exactly(tmp_path):
    config = tiny_config(tmp_path)
    session = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    data = synthetic_data()
    iterator = iter(srez_input.training_dataset(data.train_keys, data.load, 4, 64, seed=0))
    for _ in range(3):
        session.train_step(iterator)
    session.checkpoint.save(str(tmp_path / 'checkpoint' / 'srez'))
    inputs = tf.random.uniform([2, 16, 16, 3], seed=6)
    restored = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    restored.restore(restored.checkpoint_to_resume())
    np.testing.assert_array_equal(session.upscale(inputs), restored.upscale(inputs))
    assert int(restored.progress.batch) == 3
    for a, b in zip(session.gene_optimizer.first_moments, restored.gene_optimizer.first_moments):
        np.testing.assert_array_equal(a, b)


def test_resume_continues_the_batch_count(tmp_path):
    data = synthetic_data()
    srez_train.train(tiny_config(tmp_path, max_batches=4), data, log=lambda line: None)
    lines = []
    final = srez_train.train(tiny_config(tmp_path, max_batches=10), data, log=lines.append)
    assert final == 10
    assert any('Resuming from' in line and 'at batch 4' in line for line in lines)
    grids = sorted(f for f in os.listdir(tmp_path / 'train') if f.endswith('.png'))
    assert grids == ['batch000004_out.png', 'batch000010_out.png']
    # Asking for what is already done trains nothing and says how to train further.
    lines = []
    assert srez_train.train(tiny_config(tmp_path, max_batches=10), data, log=lines.append) == 10
    assert 'raise one to train further' in lines[-1]


def test_refreshed_statistics_make_inference_match_training(tmp_path):
    config = tiny_config(tmp_path, learning_rate_start=0.002)
    session = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    data = synthetic_data()
    iterator = iter(srez_input.training_dataset(data.train_keys, data.load, 4, 64, seed=0))
    for _ in range(10):  # Weights move fast: the moving averages lag behind them.
        session.train_step(iterator)
    inputs, truth = next(iterator)
    # Refreshed on this one batch, inference normalises exactly as training does on it, with
    # the raw weights and with their average alike.
    session.refresh_statistics(iter(tf.data.Dataset.from_tensors((inputs, truth)).repeat()))
    for generator in (session.generator, session.generator_average):
        np.testing.assert_allclose(generator(inputs, training=False),
                                   generator(inputs, training=True), atol=1e-5)
    # Grids show what infer gives: the averaged weights.
    np.testing.assert_array_equal(session.upscale(inputs),
                                  session.generator_average(inputs, training=False))


def test_weight_average_lags_the_raw_weights_and_decay_0_follows_them(tmp_path):
    data = synthetic_data()
    for decay in (0.999, 0.0):
        config = tiny_config(tmp_path / str(decay), ema_decay=decay, learning_rate_start=0.002)
        session = srez_train.TrainingSession(config, tf.distribute.get_strategy())
        iterator = iter(srez_input.training_dataset(data.train_keys, data.load, 4, 64, seed=0))
        for _ in range(5):
            session.train_step(iterator)
        pairs = list(zip(session.generator_average.trainable_variables,
                         session.generator.trainable_variables))
        if decay:
            assert any(not np.array_equal(a, v) for a, v in pairs)
        else:
            for average, variable in pairs:
                np.testing.assert_allclose(average, variable, rtol=1e-6, atol=1e-7)


def test_modes_load_the_average_or_the_raw_weights(tmp_path):
    config = tiny_config(tmp_path, max_batches=6, learning_rate_start=0.002)
    srez_train.train(config, synthetic_data(), log=lambda line: None)
    session = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    session.restore(session.checkpoint_to_resume())
    inputs = tf.random.uniform([2, 16, 16, 3], seed=7)
    average, info = srez_checkpoint.load_generator(config.checkpoint_dir)
    raw, raw_info = srez_checkpoint.load_generator(config.checkpoint_dir, 'raw')
    assert (info['weights'], raw_info['weights']) == ('average', 'raw')
    np.testing.assert_array_equal(average(inputs, training=False),
                                  session.generator_average(inputs, training=False))
    np.testing.assert_array_equal(raw(inputs, training=False),
                                  session.generator(inputs, training=False))
    assert not np.array_equal(average(inputs, training=False), raw(inputs, training=False))


def test_checkpoint_from_before_weight_averaging_resumes_and_loads(tmp_path):
    config = tiny_config(tmp_path, max_batches=3)
    session = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    data = synthetic_data()
    iterator = iter(srez_input.training_dataset(data.train_keys, data.load, 4, 64, seed=0))
    for _ in range(3):
        session.train_step(iterator)
    # Laid out as checkpoints were before the average existed: everything else, by the same keys.
    old = {name: value for name, value in session.checkpointed.items()
           if name != 'generator_average'}
    tf.train.Checkpoint(**old).save(os.path.join(config.checkpoint_dir, 'srez'))
    inputs = tf.random.uniform([2, 16, 16, 3], seed=8)

    generator, info = srez_checkpoint.load_generator(config.checkpoint_dir)
    assert info['weights'] == 'raw'  # Nothing else to use: the raw weights, said so.
    np.testing.assert_array_equal(generator(inputs, training=False),
                                  session.generator(inputs, training=False))
    resumed = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    resumed.restore(resumed.checkpoint_to_resume())
    for average, variable in zip(resumed.generator_average.variables, session.generator.variables):
        np.testing.assert_array_equal(average, variable)  # The average starts from the weights.
    lines = []
    assert srez_train.train(tiny_config(tmp_path, max_batches=5), data, log=lines.append) == 5
    assert any('Resuming from' in line and 'at batch 3' in line for line in lines)
    assert srez_checkpoint.load_generator(config.checkpoint_dir)[1]['weights'] == 'average'


@pytest.mark.parametrize('option, attribute', [('gene_residual', 'residual'),
                                               ('gene_pixel_shuffle', 'pixel_shuffle')])
def test_generator_option_is_saved_as_such_and_checkpoints_without_it_load(tmp_path, option,
                                                                           attribute):
    config = tiny_config(tmp_path, max_batches=2, **{option: True})
    srez_train.train(config, synthetic_data(), log=lambda line: None)
    session = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    session.restore(session.checkpoint_to_resume())
    generator, info = srez_checkpoint.load_generator(config.checkpoint_dir)
    assert info[option] and getattr(generator, attribute)
    inputs = tf.random.uniform([2, 16, 16, 3], seed=9)
    np.testing.assert_array_equal(generator(inputs, training=False),
                                  session.generator_average(inputs, training=False))

    # Checkpoints from before the option have no such key: they hold the original generator.
    old_dir = tmp_path / 'old'
    shape = srez_checkpoint.ModelShape(config.gene_units, config.disc_units, config.sample_size,
                                       **{option: None})
    original = srez_train.TrainingSession(
        tiny_config(tmp_path, checkpoint_dir=str(old_dir)), tf.distribute.get_strategy())
    tf.train.Checkpoint(**dict(original.checkpointed, shape=shape)).save(str(old_dir / 'srez'))
    assert f'shape/{option}/.ATTRIBUTES/VARIABLE_VALUE' not in dict(
        tf.train.list_variables(str(old_dir)))
    generator, info = srez_checkpoint.load_generator(str(old_dir))
    assert not info[option] and not getattr(generator, attribute)
    resumed = srez_train.TrainingSession(original.config, tf.distribute.get_strategy())
    resume_from = resumed.checkpoint_to_resume()
    assert resume_from is not None
    resumed.restore(resume_from)
