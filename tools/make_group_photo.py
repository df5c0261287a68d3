"""Makes docs/group_photo.png, the README's example photo, from public-domain pictures only.

    pip install scikit-image && python tools/make_group_photo.py

Two faces of scikit-image's sample pictures, both free of copyright (`astronaut`: NASA's portrait
of Eileen Collins, public domain; `camera`: CC0 by Lav Varshney), are aligned to CelebA's frame
by their landmarks and pasted, small and a little turned, three times each into its `coffee`
picture (CC0 by Rachel Michetti) by tests/photos.py; the photo is the 4x area downscale of that,
320x240, with face frames of 14-28 px. Never from CelebA.
"""
import os
import sys

import numpy as np
import skimage.data
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(os.path.dirname(HERE), 'tests')]

import photos  # noqa: E402

import srez_faces  # noqa: E402

ALIGNED = (218, 178)  # CelebA's aligned frame: the 128x128 face box at x=25, y=60.


def aligned(image, detector):
    """`image`'s best face warped into CelebA's 178x218 frame by its five landmarks."""
    face = detector.detect(image)[0]
    target = srez_faces.TEMPLATE * photos.FRAME_SIZE + [photos.FRAME_X, photos.FRAME_Y]
    matrix = srez_faces.similarity_transform(face.landmarks, target)
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    rows, columns = np.mgrid[0:ALIGNED[0], 0:ALIGNED[1]] + 0.5
    source = np.stack([columns, rows, np.ones_like(rows)], -1) @ inverse.T
    return np.uint8(np.clip(photos._bilinear(image.astype(np.float32), source[..., 0] - 0.5,
                                             source[..., 1] - 0.5), 0, 255))


def make_group_photo():
    detector = srez_faces.Detector()
    people = [aligned(skimage.data.astronaut(), detector),
              aligned(np.stack([skimage.data.camera()] * 3, -1), detector)]
    _, photo, placed = photos.composite(people * 3, skimage.data.coffee(), size=(320, 240),
                                        frame_sides=(14, 28), max_angle=10, seed=5)
    Image.fromarray(photo).save(os.path.join(os.path.dirname(HERE), 'docs', 'group_photo.png'))
    print(f'{len(placed)} faces, frames of '
          f'{", ".join(f"{place.side:.0f}" for place in placed)} px.')


if __name__ == '__main__':
    make_group_photo()
