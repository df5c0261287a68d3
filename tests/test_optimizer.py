"""srez_optimizer: Adam as Keras computes it, the learning-rate schedules, the weight average."""
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_config

import srez_optimizer


def test_learning_rate_halves_every_half_life(tmp_path):
    config = tiny_config(tmp_path, learning_rate_start=0.0002, learning_rate_half_life=100)
    rates = [float(srez_optimizer.learning_rate(b, config)) for b in (1, 100, 101, 200, 201)]
    assert rates == pytest.approx([0.0002, 0.0002, 0.0001, 0.0001, 0.00005])


def test_cosine_learning_rate_falls_to_zero_over_max_batches(tmp_path):
    config = tiny_config(tmp_path, learning_rate_start=0.001, learning_rate_schedule='cosine',
                         max_batches=100)
    rates = [float(srez_optimizer.learning_rate(b, config)) for b in (1, 51, 100, 101, 150)]
    assert rates[:2] == pytest.approx([0.001, 0.0005], rel=1e-6)
    assert 0 < rates[2] < 1e-6 and rates[3:] == [0.0, 0.0]  # The last batch still learns.


def test_adam_matches_keras_adam():
    variable = tf.Variable([1.0, -2.0, 3.0])
    reference = tf.Variable([1.0, -2.0, 3.0])
    adam = srez_optimizer.Adam([variable], beta1=0.5, epsilon=1e-8)
    keras_adam = tf.keras.optimizers.Adam(0.01, beta_1=0.5, epsilon=1e-8)
    for step in range(3):
        gradient = tf.constant([0.1, -0.3, 0.7]) * (step + 1)
        adam.apply([gradient], [variable], 0.01, finite=tf.constant(True))
        keras_adam.apply_gradients([(gradient, reference)])
    np.testing.assert_allclose(variable, reference, rtol=1e-5)


def test_weight_average_matches_a_hand_computation():
    variable, average = tf.Variable([1.0, -2.0]), tf.Variable([1.0, -2.0])
    expected = np.float32([1.0, -2.0])
    for batch, value in ((1, [3.0, 0.0]), (2, [5.0, 4.0]), (1000, [-1.0, 2.0])):
        variable.assign(value)
        decay = min(0.99, (1 + batch) / (10 + batch))  # 2/11, 3/12, then the cap 0.99
        assert float(srez_optimizer.average_decay(0.99, batch)) == pytest.approx(decay)
        srez_optimizer.update_average([average], [variable],
                                      srez_optimizer.average_decay(0.99, batch))
        expected = decay * expected + (1 - decay) * np.float32(value)
        np.testing.assert_allclose(average.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(variable.numpy(), [-1.0, 2.0])  # The trained weights unmoved.
