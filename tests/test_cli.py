"""End to end: the README's commands, run as a user runs them (tiny widths, a few batches)."""
import errno
import json
import os
import re
import subprocess
import sys

import pytest
from PIL import Image

from conftest import REPO_ROOT, TINY_MODEL_FLAGS

MAIN = os.path.join(REPO_ROOT, 'srez_main.py')


def srez(cwd, *args):
    """Runs srez_main.py in `cwd`; returns the CompletedProcess (text output)."""
    return subprocess.run([sys.executable, MAIN, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_train_then_demo_on_builtin_faces(tmp_path):
    # No dataset/ folder in the working directory: the default falls back to synthetic faces.
    # The default 16 test vectors need no batch of 16: they are decoded once, not batched.
    trained = srez(tmp_path, '--run', 'train', *TINY_MODEL_FLAGS, '--batch_size', '4',
                   '--max_batches', '10', '--summary_period', '5')
    assert trained.returncode == 0, trained.stderr
    assert 'training on built-in synthetic faces' in trained.stdout
    # Once, after the first batch: where the start-up time went.
    assert re.search(r'Started in [\d.]+ s: importing TensorFlow [\d.]+ s, finding devices and '
                     r'images [\d.]+ s, .*tracing the training step [\d.]+ s, first batch '
                     r'\(XLA compilation, or loading it from the cache\) [\d.]+ s\.',
                     trained.stdout)
    assert re.search(r'Progress\[ *\d+%\], ETA\[ *\d+m\], Batch \[  10\], G_Loss\[\d+\.\d{3}\], '
                     r'D_Real_Loss\[\d+\.\d{3}\], D_Fake_Loss\[\d+\.\d{3}\], [\d.]+ images/s',
                     trained.stdout)
    grids = sorted(os.listdir(tmp_path / 'train'))
    assert 'batch000005_out.png' in grids and 'batch000010_out.png' in grids
    with Image.open(tmp_path / 'train' / 'batch000010_out.png') as grid:
        assert grid.size == (256, 512)  # 4 columns x 64, 8 rows x 64 at the defaults.
    assert any(name.startswith('srez-10') for name in os.listdir(tmp_path / 'checkpoint'))
    assert 'Traceback' not in trained.stderr

    demo = srez(tmp_path)  # --run demo is the default, as in the original.
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / 'train' / 'demo1.mp4').stat().st_size > 0


def test_train_on_real_faces(tmp_path, celeba_folder):
    trained = srez(tmp_path, '--run', 'train', '--dataset', celeba_folder, *TINY_MODEL_FLAGS,
                   '--batch_size', '4', '--test_vectors', '4', '--max_batches', '3')
    assert trained.returncode == 0, trained.stderr
    assert 'Training on 5022 images' in trained.stdout
    assert os.path.exists(tmp_path / 'train' / 'batch000003_out.png')


def test_quality_recipe_starts_near_bicubic_and_its_checkpoint_keeps_it(tmp_path, celeba_folder):
    recipe = ['--gene_residual', '--gene_content_factor', '4', '--gene_pixel_shuffle']
    trained = srez(tmp_path, '--run', 'train', '--dataset', celeba_folder, *TINY_MODEL_FLAGS,
                   *recipe, '--batch_size', '4', '--test_vectors', '4', '--max_batches', '3')
    assert trained.returncode == 0, trained.stderr
    evaluated = srez(tmp_path, '--run', 'eval', '--input', celeba_folder, '--max_images', '32')
    assert evaluated.returncode == 0, evaluated.stderr
    results = json.loads((tmp_path / 'train' / 'eval.json').read_text())
    # Eval rebuilt the generator from the checkpoint alone: after 3 batches it is still
    # about the bilinear upscale it starts from (the original generator is near 12 dB here).
    assert results['model']['psnr'] > results['bicubic']['psnr'] - 1.5

    resumed = srez(tmp_path, '--run', 'train', '--dataset', celeba_folder, *TINY_MODEL_FLAGS,
                   '--gene_residual', '--batch_size', '4', '--test_vectors', '4',
                   '--max_batches', '4')
    assert resumed.returncode == 2
    assert resumed.stderr.strip().endswith(
        'was made with --gene_pixel_shuffle, but this run has --nogene_pixel_shuffle: use the '
        'same setting, or another --checkpoint_dir to start a new model.')


@pytest.mark.parametrize('args, message', [
    (['--run', 'train', '--dataset', 'no/such/folder'], '--dataset no/such/folder is not a folder'),
    (['--run', 'demo'], 'No sample grids'),
])
def test_user_errors_are_one_line(tmp_path, args, message):
    result = srez(tmp_path, *args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('srez: error:') and message in lines[0]


def test_explicit_empty_dataset_is_an_error_not_a_fallback(tmp_path):
    (tmp_path / 'faces').mkdir()
    result = srez(tmp_path, '--run', 'train', '--dataset', 'faces')
    assert result.returncode == 2
    assert 'has 0 usable images' in result.stderr and 'synthetic' not in result.stdout


@pytest.mark.parametrize('error, status', [
    (ValueError('a shape that srez got wrong'), 1),
    (OSError(errno.ENOSPC, 'No space left on device'), 2),
    (OSError(errno.ENOENT, 'No such file or directory'), 1),
])
def test_a_bug_keeps_its_traceback_and_a_full_disk_is_one_line(tmp_path, srez_cli, monkeypatch,
                                                              capsys, error, status):
    import srez_demo

    def fail(train_dir):
        raise error

    monkeypatch.setattr(srez_demo, 'make_movie', fail)
    assert srez_cli('--train_dir', str(tmp_path)) == status
    lines = capsys.readouterr().err.strip().splitlines()
    if status == 2:  # Not srez's to fix: one line.
        assert lines == [f'srez: error: {error}']
    else:
        assert lines[0] == 'Traceback (most recent call last):'
        assert lines[-2] == f'{type(error).__name__}: {error}'
        assert lines[-1] == ('srez: internal error: this is a bug in srez, not in how you ran it; '
                             'please report it with the traceback above and the command you ran.')


def test_compiled_programs_are_reused_on_a_rerun_and_a_resume_and_a_changed_model_compiles_anew(
        tmp_path):
    import numpy as np

    import srez_checkpoint

    cache = tmp_path / 'xla'

    def train(name, gene_units, cache_dir, max_batches=2):
        result = srez(tmp_path, '--run', 'train', '--dataset', 'synthetic', '--gene_units',
                      gene_units, '--disc_units', '8,8', '--batch_size', '4', '--test_vectors',
                      '4', '--max_batches', str(max_batches), '--train_dir', f'{name}/train',
                      '--checkpoint_dir', f'{name}/checkpoint', '--xla_cache_dir', cache_dir)
        assert result.returncode == 0, result.stderr
        return srez_checkpoint.load_generator(str(tmp_path / name / 'checkpoint'), 'raw')[0]

    def cached():
        return {path.name for path in cache.rglob('*') if path.is_file()}

    train('small', '8,8,8', str(cache))
    small_programs = cached()
    assert small_programs
    changed = train('changed', '16,8,8', str(cache))  # Other widths: none of those programs fit.
    assert cached() > small_programs
    programs = cached()
    again = train('again', '16,8,8', str(cache))  # The same model: every program is found.
    assert cached() == programs
    train('again', '16,8,8', str(cache), max_batches=3)  # Resumed: restoring renames nothing.
    assert cached() == programs
    uncached = train('uncached', '16,8,8', '')
    for network in (changed, again):
        for variable, expected in zip(network.variables, uncached.variables):
            np.testing.assert_allclose(variable, expected, rtol=1e-5, atol=1e-6)
