"""Shared test helpers: tiny models and tiny datasets, so the suite stays fast on a CPU."""
import os

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CELEBA = os.path.join(REPO_ROOT, '..', 'shared', 'celeba')
TINY_MODEL_FLAGS = ['--gene_units', '8,8,8', '--disc_units', '8,8']


def write_face_images(folder, count, size=(178, 218), seed=0):
    """Writes `count` random-ish RGB JPEGs of `size` (w, h) into `folder`; returns their paths."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for index in range(count):
        # Smooth images (a random colour gradient) so JPEG artefacts stay small.
        y, x = np.mgrid[0:size[1], 0:size[0]] / max(size)
        colours = rng.uniform(0, 255, (3, 3))
        pixels = colours[0] + x[..., None] * colours[1] - y[..., None] * colours[2] * 0.5
        path = os.path.join(folder, f'{index:06d}.jpg')
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=95)
        paths.append(path)
    return paths


@pytest.fixture
def celeba_folder():
    if not os.path.isdir(CELEBA):
        pytest.skip('../shared/celeba (real CelebA faces) is not present on this machine')
    return CELEBA
