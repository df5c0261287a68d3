"""Shared test helpers: tiny models and data, the CLI in-process and as a process, an ordinary
user's rights, the repository's files. Tests import them from here; conftest.py holds the
fixtures.
"""
import contextlib
import dataclasses
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(REPO_ROOT, 'srez_main.py')
CELEBA = os.path.join(REPO_ROOT, '..', 'shared', 'celeba')
LEGACY_CHECKPOINTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                  'legacy_checkpoints')
# A model small enough to train a batch in milliseconds; no XLA, whose compiling would dominate.
TINY_MODEL = ['--gene_units', '8,8,8', '--disc_units', '8,8', '--noxla']
TINY_FLAGS = TINY_MODEL + ['--batch_size', '4', '--test_vectors', '4']
# TensorFlow's import alone takes ~5 s; CI machines are shared.
PROCESS_TIMEOUT = 300
NOBODY = 65534  # The ordinary user's id.
# What Python and pytest write into the repository as they run, git's own files, and the ignored
# folder where long trainings keep their checkpoints (they may run beside the tests).
NOT_WRITTEN_BY_TESTS = {'.git', '__pycache__', '.pytest_cache', '.venv', 'runs'}


def tiny_config(folder, **changes):
    """A srez_config.TrainConfig of the tiny model, writing under `folder`."""
    import srez_config

    model = dict(gene_units=(8, 8, 8), disc_units=(8, 8))
    model.update({field.name: changes.pop(field.name)
                  for field in dataclasses.fields(srez_config.ModelConfig) if field.name in changes})
    settings = dict(batch_size=4, test_vectors=4, train_dir=str(folder / 'train'),
                    checkpoint_dir=str(folder / 'checkpoint'), summary_period=1000,
                    checkpoint_period=1000, train_time=60, model=srez_config.ModelConfig(**model))
    settings.update(changes)
    return srez_config.TrainConfig(**settings)


def synthetic_data(count=8, test_vectors=4):
    """A srez_input.TrainingData of `count` synthetic faces and `test_vectors` held out."""
    import srez_input
    import srez_synthetic

    keys, load = srez_synthetic.synthetic_faces(range(count + test_vectors))
    return srez_input.TrainingData((srez_input.KeyGroup(keys[:count]),), keys[count:], load)


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


def summaries(train_dir):
    """{tag: {step: value}} of the TensorBoard event files in `train_dir` (images as arrays)."""
    import tensorflow as tf

    values = {}
    for name in sorted(os.listdir(train_dir)):
        if name.startswith('events.out.tfevents.'):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(train_dir, name)):
                for value in event.summary.value:
                    values.setdefault(value.tag, {})[event.step] = tf.make_ndarray(value.tensor)
    return values


def run_srez(cwd, *args, env=None, timeout=PROCESS_TIMEOUT):
    """Runs srez_main.py as a user does, in `cwd`; returns the CompletedProcess (text)."""
    return subprocess.run([sys.executable, MAIN, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


class BackgroundRun:
    """srez_main.py running in the background, its output in a file."""

    def __init__(self, log_path, args, env=None, cwd=None):
        self.log_path = log_path
        with open(log_path, 'w') as log:
            self.process = subprocess.Popen(
                [sys.executable, MAIN, *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONUNBUFFERED='1', **(env or {})))

    @property
    def output(self):
        return self.log_path.read_text()

    def wait_for(self, text, timeout=PROCESS_TIMEOUT):
        """Waits until `text` is in the output; fails if the run ends or the time runs out."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, self.output
            time.sleep(0.005)

    def wait(self, timeout=PROCESS_TIMEOUT):
        """The exit status; kills the process and fails if it is still running after `timeout`."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f'{self.log_path.name} still ran after {timeout} s:\n{self.output}')

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def as_ordinary_user():
    """Runs the block with the rights of an ordinary user: root may read and write anything."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


def repository_entries():
    """Every file and folder in the repository (relative paths), but NOT_WRITTEN_BY_TESTS."""
    entries = set()
    for folder, subfolders, names in os.walk(REPO_ROOT):
        subfolders[:] = [name for name in subfolders if name not in NOT_WRITTEN_BY_TESTS]
        entries.update(os.path.relpath(os.path.join(folder, name), REPO_ROOT)
                       for name in subfolders + names)
    return entries


def cli_in_process(*args):
    """Runs srez_main with command-line arguments in this process, as `python srez_main.py`
    would (flags parsed by its own parser, recipes applied); returns the exit status. The flags
    are back at their defaults afterwards, and the environment as it was."""
    import srez_main

    srez_main.FLAGS.unparse_flags()
    # A run sets environment variables for TensorFlow (TF_XLA_FLAGS); later processes of the
    # tests must not inherit them.
    environment = dict(os.environ)
    try:
        srez_main.main(srez_main.parse_flags(['srez_main.py', *args]))
    except SystemExit as exit:
        return exit.code
    finally:
        srez_main.FLAGS.unparse_flags()
        os.environ.clear()
        os.environ.update(environment)
    return 0

