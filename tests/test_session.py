"""srez_session: the training step, what it trains, and saving and restoring the whole state."""
import os
import shutil

import numpy as np
import tensorflow as tf
from helpers import LEGACY_CHECKPOINTS, synthetic_data, tiny_config

import srez_checkpoint
import srez_input
import srez_session


def session_and_batches(config, count=8):
    """A new TrainingSession of `config` and an iterator of batches of 4 synthetic faces."""
    session = srez_session.TrainingSession(config, tf.distribute.get_strategy())
    data = synthetic_data(count)
    return session, iter(srez_input.training_dataset(data.train_groups, data.load, 4, 64, seed=0))


def train_steps(session, iterator, count, first=1):
    """Trains batches first..first + count - 1; returns each step's results as floats."""
    return [srez_session.StepResults(*map(float, session.train_step(iterator,
                                                                   tf.constant(batch, tf.int64))))
            for batch in range(first, first + count)]


def test_a_few_dozen_batches_lower_the_l1_term(tmp_path):
    # Width 16 learns steadily in 40 batches (width 8 barely moves); measured ratio about 0.62.
    config = tiny_config(tmp_path, gene_units=(16, 16, 16), learning_rate_start=0.001)
    session, iterator = session_and_batches(config)
    l1_terms = [results.generator_l1_loss for results in train_steps(session, iterator, 40)]
    assert np.mean(l1_terms[-5:]) < 0.85 * np.mean(l1_terms[:5])


def test_without_the_adversarial_term_the_discriminator_is_neither_run_nor_trained(tmp_path):
    session, iterator = session_and_batches(tiny_config(tmp_path, gene_l1_factor=1.0))
    before = [variable.numpy() for variable in session.discriminator.variables]
    generator_before = [variable.numpy() for variable in session.generator.trainable_variables]
    results = train_steps(session, iterator, 3)
    assert all(step.discriminator_real_loss == step.discriminator_fake_loss == 0.0
               for step in results)  # No discriminator losses.
    for variable, value in zip(session.discriminator.variables, before):
        np.testing.assert_array_equal(variable, value)
    assert int(session.disc_optimizer.iterations) == 0
    assert int(session.gene_optimizer.iterations) == 3
    assert any(not np.array_equal(variable, value) for variable, value
               in zip(session.generator.trainable_variables, generator_before))


def test_the_step_reports_the_rate_it_trained_with(tmp_path):
    config = tiny_config(tmp_path, learning_rate_start=0.001, learning_rate_schedule='cosine',
                         max_batches=3)
    session, iterator = session_and_batches(config)
    rates = [results.learning_rate for results in train_steps(session, iterator, 3)]
    np.testing.assert_allclose(rates, [0.001, 0.00075, 0.00025], rtol=1e-5)


def test_input_noise_is_the_originals_unless_turned_off(tmp_path):
    inputs = tf.random.uniform([4, 16, 16, 3], seed=1)
    batch = tf.constant(1, tf.int64)
    noisy = srez_session.TrainingSession(tiny_config(tmp_path), tf.distribute.get_strategy())
    clean = srez_session.TrainingSession(tiny_config(tmp_path, gene_input_noise=0.0),
                                         tf.distribute.get_strategy())
    noise = noisy._noisy(inputs, batch) - inputs
    assert abs(float(tf.math.reduce_std(noise)) - 0.03) < 0.002
    np.testing.assert_array_equal(clean._noisy(inputs, batch), inputs)


def test_saved_and_restored_sessions_match_exactly(tmp_path):
    config = tiny_config(tmp_path)
    session, iterator = session_and_batches(config)
    train_steps(session, iterator, 3)
    session.progress.batch.assign(3)
    path = session.checkpoint.save(str(tmp_path / 'checkpoint' / 'srez'))
    inputs = tf.random.uniform([2, 16, 16, 3], seed=6)
    restored = srez_session.TrainingSession(config, tf.distribute.get_strategy())
    restored.restore(path)
    np.testing.assert_array_equal(session.upscale(inputs), restored.upscale(inputs))
    assert int(restored.progress.batch) == 3
    for a, b in zip(session.gene_optimizer.first_moments, restored.gene_optimizer.first_moments):
        np.testing.assert_array_equal(a, b)
    # And the restored networks are the trained ones, not a fresh initialisation.
    fresh = srez_session.TrainingSession(config, tf.distribute.get_strategy())
    assert not np.array_equal(fresh.upscale(inputs), restored.upscale(inputs))


def test_a_checkpoint_from_before_the_average_starts_the_average_from_its_weights(tmp_path):
    folder = tmp_path / 'before_average'
    shutil.copytree(os.path.join(LEGACY_CHECKPOINTS, 'before_average'), folder)
    session = srez_session.TrainingSession(tiny_config(tmp_path), tf.distribute.get_strategy())
    session.restore(srez_checkpoint.latest(str(folder)))
    for average, variable in zip(session.generator_average.variables,
                                 session.generator.variables):
        np.testing.assert_array_equal(average, variable)


def test_refreshed_statistics_make_inference_match_training(tmp_path):
    session, iterator = session_and_batches(tiny_config(tmp_path, learning_rate_start=0.002))
    train_steps(session, iterator, 10)  # Weights move fast: the moving averages lag behind them.
    inputs, truth, _ = next(iterator)
    # Refreshed on this one batch, inference normalises exactly as training does on it, with
    # the raw weights and with their average alike.
    session.refresh_statistics(iter(tf.data.Dataset.from_tensors((inputs, truth)).repeat()))
    for generator in (session.generator, session.generator_average):
        np.testing.assert_allclose(generator(inputs, training=False),
                                   generator(inputs, training=True), atol=1e-5)
    # Grids show what infer gives: the averaged weights.
    np.testing.assert_array_equal(session.upscale(inputs),
                                  session.generator_average(inputs, training=False))


def test_the_average_follows_the_weights_with_the_ramped_decay_and_decay_0_is_them(tmp_path):
    for decay in (0.999, 0.0):
        config = tiny_config(tmp_path / str(decay), ema_decay=decay, learning_rate_start=0.002)
        session, iterator = session_and_batches(config)
        expected = [variable.numpy() for variable in session.generator.trainable_variables]
        for batch in range(1, 4):
            train_steps(session, iterator, 1, first=batch)
            # After batch b: decay min(ema_decay, (1 + b) / (10 + b)) towards the new weights.
            rate = min(decay, (1 + batch) / (10 + batch))
            expected = [rate * average + (1 - rate) * variable.numpy() for average, variable
                        in zip(expected, session.generator.trainable_variables)]
        for average, value in zip(session.generator_average.trainable_variables, expected):
            np.testing.assert_allclose(average, value, rtol=1e-5, atol=1e-6)
        moved = any(not np.allclose(average, variable) for average, variable in zip(
            session.generator_average.trainable_variables, session.generator.trainable_variables))
        assert moved == bool(decay)  # With decay 0 the average is the weights themselves.


def test_a_joint_batch_lets_the_discriminator_compare_real_and_generated_faces(tmp_path):
    real = tf.random.uniform([4, 64, 64, 3], seed=2)
    blurred = tf.image.resize(tf.image.resize(real, [16, 16], 'area'), [64, 64], 'bilinear')
    for joint in (False, True):
        session = srez_session.TrainingSession(tiny_config(tmp_path, disc_joint_batch=joint),
                                               tf.distribute.get_strategy())
        fake_logits, real_logits = session._discriminate(blurred, real)
        _, real_beside_others = session._discriminate(tf.zeros_like(real), real)
        # Each batch normalised on its own, the real faces' scores ignore the generated ones, so
        # how sharp the generated batch is as a whole is normalised away; jointly they do not.
        assert np.array_equal(real_logits, real_beside_others) == (not joint)
