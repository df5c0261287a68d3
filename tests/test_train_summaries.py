"""Tests for what training leaves for TensorBoard in train_dir."""

import glob
import os

import tensorflow as tf

SCALARS = {"generator_loss", "discriminator_real_loss", "discriminator_fake_loss",
           "generator_l1_loss", "learning_rate", "images_per_second"}


def test_event_files_hold_the_scalars_and_the_sample_grid(trained):
    events = glob.glob(os.path.join(trained["train_dir"], "events.out.tfevents.*"))
    values = {}
    for path in events:
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                values.setdefault(value.tag, []).append((event.step, value))

    assert SCALARS <= set(values)
    # One point per 10 batches: the tiny run trains 10.
    assert [step for step, _ in values["generator_loss"]] == [10]
    learning_rate = tf.make_ndarray(values["learning_rate"][0][1].tensor)
    assert abs(float(learning_rate) - 0.0002) < 1e-9
    # The sample grid as an image summary: 4 test vectors, nearest | bicubic | output | truth.
    (step, grid), = values["samples"]
    assert step == 10
    width, height = tf.make_ndarray(grid.tensor)[:2]
    assert (int(width), int(height)) == (4 * 64, 4 * 64)
