"""Shared test helpers: tiny models and tiny datasets, so the suite stays fast on a CPU."""
import os

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CELEBA = os.path.join(REPO_ROOT, '..', 'shared', 'celeba')
TINY_MODEL_FLAGS = ['--gene_units', '8,8,8', '--disc_units', '8,8']
# What Python and pytest write into the repository as they run, and git's own files.
NOT_WRITTEN_BY_TESTS = {'.git', '__pycache__', '.pytest_cache', '.venv'}


def repository_entries():
    """Every file and folder in the repository (relative paths), but NOT_WRITTEN_BY_TESTS."""
    entries = set()
    for folder, subfolders, names in os.walk(REPO_ROOT):
        subfolders[:] = [name for name in subfolders if name not in NOT_WRITTEN_BY_TESTS]
        entries.update(os.path.relpath(os.path.join(folder, name), REPO_ROOT)
                       for name in subfolders + names)
    return entries


@pytest.fixture(scope='session', autouse=True)
def repository_gains_no_file():
    """Fails the run when a test leaves a file or folder in the repository: every test writes
    only under its own temporary folders."""
    before = repository_entries()
    yield
    gained = sorted(repository_entries() - before)
    assert not gained, f'The tests left these in the repository: {", ".join(gained)}.'


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


@pytest.fixture(autouse=True, scope='session')
def xla_cache_home(tmp_path_factory):
    """Compiled-program caches (srez_main --xla_cache_dir's default) go to a temporary folder,
    for this process and the srez_main processes tests start, not the user's ~/.cache."""
    previous = os.environ.get('XDG_CACHE_HOME')
    os.environ['XDG_CACHE_HOME'] = str(tmp_path_factory.mktemp('cache_home'))
    yield
    if previous is None:
        del os.environ['XDG_CACHE_HOME']
    else:
        os.environ['XDG_CACHE_HOME'] = previous


@pytest.fixture
def celeba_folder():
    if not os.path.isdir(CELEBA):
        pytest.skip('../shared/celeba (real CelebA faces) is not present on this machine')
    return CELEBA


@pytest.fixture(scope='session')
def checkpoint_dir(tmp_path_factory):
    """A checkpoint of an untrained tiny generator, laid out as training saves one.

    The modes that use a model need only its structure, and this takes a fraction of a second.
    """
    import tensorflow as tf

    import srez_checkpoint
    import srez_model

    folder = tmp_path_factory.mktemp('checkpoint')
    units = (16, 8, 8)
    checkpoint = tf.train.Checkpoint(
        generator=srez_model.Generator(units),
        shape=srez_checkpoint.ModelShape(units, (8, 8), sample_size=64),
        progress=srez_checkpoint.Progress())
    checkpoint.save(os.path.join(folder, 'srez'))
    return str(folder)


@pytest.fixture(scope='session')
def averaged_checkpoint_dir(tmp_path_factory):
    """A tiny checkpoint holding raw weights (seed 0) and a different weight average (seed 5).

    Returns (folder, raw generator, averaged generator), the generators as saved.
    """
    import tensorflow as tf

    import srez_checkpoint
    import srez_model

    folder = tmp_path_factory.mktemp('averaged_checkpoint')
    units = (16, 8, 8)
    raw, average = srez_model.Generator(units, seed=0), srez_model.Generator(units, seed=5)
    tf.train.Checkpoint(
        generator=raw, generator_average=average,
        shape=srez_checkpoint.ModelShape(units, (8, 8), sample_size=64),
        progress=srez_checkpoint.Progress()).save(os.path.join(folder, 'srez'))
    return str(folder), raw, average


@pytest.fixture(scope='session')
def generator(checkpoint_dir):
    """The tiny generator, loaded as every mode loads it."""
    import srez_checkpoint

    return srez_checkpoint.load_generator(checkpoint_dir)[0]


@pytest.fixture
def srez_cli():
    """Runs srez_main with command-line arguments in this process; returns the exit status.

    Much faster than a subprocess (no TensorFlow start-up) for tests of one mode's wiring.
    """
    import srez_main

    def run(*args):
        srez_main.FLAGS.unparse_flags()
        argv = srez_main.FLAGS(['srez_main.py', *args])
        try:
            srez_main.main(argv)
        except SystemExit as exit:
            return exit.code
        finally:
            srez_main.FLAGS.unparse_flags()
        return 0

    return run
