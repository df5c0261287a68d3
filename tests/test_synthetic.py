"""srez_synthetic: the built-in faces are deterministic, clean, and framed as srez_input expects."""
import numpy as np
import pytest
import tensorflow as tf

import srez_input
import srez_synthetic


def test_synthetic_faces_are_framed_like_aligned_celeba():
    # srez_input crops every image as it crops CelebA's aligned frame; a face of another size
    # would be resized first and land off the face box.
    face = srez_synthetic.draw_synthetic_face(0)
    assert face.shape[:2] == (srez_input.ALIGNED_HEIGHT, srez_input.ALIGNED_WIDTH)


def test_synthetic_faces_are_deterministic_per_seed():
    face = srez_synthetic.draw_synthetic_face(7)
    assert face.shape == (218, 178, 3) and face.dtype == np.uint8
    np.testing.assert_array_equal(face, srez_synthetic.draw_synthetic_face(7))
    assert not np.array_equal(face, srez_synthetic.draw_synthetic_face(8))
    # Not a flat picture: the face box has real contrast.
    assert face[60:188, 25:153].std() > 20


@pytest.mark.slow
def test_every_default_synthetic_face_draws_cleanly():
    # The default run draws seeds 0..1023 plus its test vectors; one of them once hit a 0/0.
    with np.errstate(all='raise'):
        for seed in range(srez_synthetic.SYNTHETIC_TRAIN_FACES + 16):
            srez_synthetic.draw_synthetic_face(seed)


def test_synthetic_faces_load_by_index():
    keys, load = srez_synthetic.synthetic_faces([5, 9])
    assert keys == [0, 1]
    np.testing.assert_array_equal(load(tf.constant(1)), srez_synthetic.draw_synthetic_face(9))
