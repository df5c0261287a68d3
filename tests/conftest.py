"""The tests' fixtures: a trained tiny model (trained once per run, through the CLI, for every
test that only needs one), the CLI in-process, real faces when present, a process without
TensorFlow, and the checks that every test leaves the repository and the user's cache alone.
Helpers that tests import are in helpers.py.
"""
import importlib.util
import os
import shutil

import pytest
from helpers import CELEBA, TINY_FLAGS, cli_in_process, repository_entries

# What the full install (requirements.txt) has beside the light one.
FULL_INSTALL_ONLY = ('tensorflow', 'moviepy', 'imageio_ffmpeg')
MISSING = [name for name in FULL_INSTALL_ONLY if importlib.util.find_spec(name) is None]
LACKING = MISSING and (f'needs {MISSING[0]}, which the light install lacks (pip install -r '
                       f'requirements.txt)')


def pytest_collection_modifyitems(items):
    """In the light install, the tests marked full_install are skipped, and say why."""
    for item in items:
        if MISSING and 'full_install' in item.keywords:
            item.add_marker(pytest.mark.skip(reason=LACKING))


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """In the light install, a test file that needs the full install is skipped, and says why."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and any(f"No module named '{name}'" in str(report.longrepr)
                             for name in MISSING):
        report.outcome = 'skipped'
        report.longrepr = (str(collector.path), 0, f'Skipped: {LACKING}')

@pytest.fixture(scope='session', autouse=True)
def repository_gains_no_file():
    """Fails the run when a test leaves a file or folder in the repository: every test writes
    only under its own temporary folders."""
    before = repository_entries()
    yield
    gained = sorted(repository_entries() - before)
    assert not gained, f'The tests left these in the repository: {", ".join(gained)}.'


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


def skip_without_full_install():
    """Skips the test in the light install."""
    if MISSING:
        pytest.skip(LACKING)


@pytest.fixture
def srez_cli():
    """cli_in_process: much faster than a process (no TensorFlow start-up) for tests of one
    mode's wiring (which, in this process, may import TensorFlow: the full install's)."""
    skip_without_full_install()
    return cli_in_process


@pytest.fixture(scope='session')
def trained_model(tmp_path_factory):
    """A tiny model trained for 6 batches through the CLI: its folder, holding checkpoint/ and
    train/ (grids at batches 3 and 6), and model.zip, its generator as a model file."""
    skip_without_full_install()
    folder = tmp_path_factory.mktemp('trained_model')
    folders = ['--train_dir', str(folder / 'train'), '--checkpoint_dir', str(folder / 'checkpoint')]
    assert cli_in_process('--run', 'train', '--dataset', 'synthetic', *TINY_FLAGS,
                          '--max_batches', '6', '--summary_period', '3', '--learning_rate_start',
                          '0.002', *folders) == 0
    assert cli_in_process('--run', 'export', '--export_file', str(folder / 'model.zip'),
                          *folders) == 0
    return folder


@pytest.fixture
def trained_copy(trained_model, tmp_path):
    """A copy of trained_model's folder, for a test that trains on or changes it."""
    shutil.copytree(trained_model, tmp_path / 'trained')
    return tmp_path / 'trained'


@pytest.fixture(scope='session')
def generator(trained_model):
    """The trained tiny generator, loaded as every mode loads it."""
    import srez_loader

    return srez_loader.from_path(str(trained_model / 'checkpoint')).generator


@pytest.fixture(scope='session')
def without_tensorflow(tmp_path_factory):
    """PYTHONPATH for a process in which `import tensorflow` fails."""
    folder = tmp_path_factory.mktemp('without_tensorflow')
    (folder / 'tensorflow').mkdir()
    (folder / 'tensorflow' / '__init__.py').write_text(
        'raise ImportError("this process was not to import TensorFlow")\n')
    return str(folder)

