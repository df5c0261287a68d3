"""srez_facecheck: the frames the face check learns from."""
import numpy as np

import srez_facecheck
import srez_synthetic


def grey_frames(frames):
    """Which frames are black and white, but for what noise and JPEG's chroma add."""
    return np.abs(frames - frames.mean(-1, keepdims=True)).mean(axis=(1, 2, 3)) < 0.01


def test_the_grey_share_makes_that_share_of_frames_black_and_white():
    faces = [srez_synthetic.draw_synthetic_face(seed) for seed in range(4)]
    shares = {}
    for share in (0.0, 0.5, 1.0):
        frames, labels = srez_facecheck.examples(faces, 200, np.random.default_rng(0), share)
        assert frames.shape == (200, 16, 16, 3) and set(labels) == {0.0, 1.0}
        shares[share] = grey_frames(frames).mean()
    assert shares[1.0] > 0.85  # Colour noise on a fifth of the frames makes some colour again.
    assert 0.3 < shares[0.5] < 0.6
    assert shares[0.0] < 0.15  # Only frames grey of themselves.
