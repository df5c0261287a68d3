"""End to end: the README's commands, run as a user runs them (tiny widths, a few batches)."""
import json
import os
import re

import numpy as np
import pytest
from helpers import TINY_FLAGS, TINY_MODEL, run_srez
from PIL import Image

import srez_loader

pytestmark = pytest.mark.full_install  # Modes of the full install, through the CLI.


def test_train_then_demo_on_builtin_faces(tmp_path):
    # No dataset/ folder in the working directory: the default falls back to synthetic faces.
    trained = run_srez(tmp_path, '--run', 'train', *TINY_MODEL, '--batch_size', '4',
                       '--max_batches', '10', '--summary_period', '5')
    assert trained.returncode == 0, trained.stderr
    assert 'training on built-in synthetic faces' in trained.stdout
    # Once, after the first batch: where the start-up time went.
    assert re.search(r'Started in [\d.]+ s: importing TensorFlow [\d.]+ s, finding devices and '
                     r'images [\d.]+ s, .*tracing the training step [\d.]+ s, first batch '
                     r'[\d.]+ s\.', trained.stdout)
    assert re.search(r'Progress\[ *\d+%\], ETA\[ *\d+m\], Batch \[  10\], G_Loss\[\d+\.\d{3}\], '
                     r'D_Real_Loss\[\d+\.\d{3}\], D_Fake_Loss\[\d+\.\d{3}\], [\d.]+ images/s',
                     trained.stdout)
    grids = sorted(os.listdir(tmp_path / 'train'))
    assert 'batch000005_out.png' in grids and 'batch000010_out.png' in grids
    with Image.open(tmp_path / 'train' / 'batch000010_out.png') as grid:
        assert grid.size == (256, 512)  # 4 columns x 64, 8 rows x 64 at the defaults.
    assert any(name.startswith('srez-10') for name in os.listdir(tmp_path / 'checkpoint'))
    assert 'Traceback' not in trained.stderr

    demo = run_srez(tmp_path)  # --run demo is the default, as in the original.
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / 'train' / 'demo1.mp4').stat().st_size > 0


def test_a_recipe_trains_on_real_faces_and_its_model_is_rebuilt_by_eval(tmp_path, srez_cli,
                                                                        celeba_folder, capsys):
    common = ['--train_dir', str(tmp_path / 'train'), '--checkpoint_dir',
              str(tmp_path / 'checkpoint')]
    assert srez_cli('--run', 'train', '--recipe', 'fidelity', '--dataset', celeba_folder,
                    *TINY_FLAGS, '--max_batches', '3', *common) == 0
    assert 'Training on 5022 images' in capsys.readouterr().out
    assert srez_cli('--run', 'eval', '--input', celeba_folder, '--max_images', '32',
                    '--eval_dir', str(tmp_path / 'eval'), *common) == 0
    results = json.loads((tmp_path / 'eval' / 'eval.json').read_text())
    # Eval rebuilt the residual generator from the checkpoint alone: after 3 batches it is
    # still about the bilinear upscale it starts from (the original generator is near 12 dB).
    assert results['model']['psnr'] > results['bicubic']['psnr'] - 1.5
    # Resuming without the recipe is another model: refused, naming the settings.
    assert srez_cli('--run', 'train', '--dataset', celeba_folder, *TINY_FLAGS,
                    '--max_batches', '4', *common) == 2
    assert capsys.readouterr().err.strip().endswith(
        'was made with --gene_residual --gene_pixel_shuffle, but this run has --nogene_residual '
        '--nogene_pixel_shuffle: use the same settings, or another --checkpoint_dir to start '
        'a new model.')


def test_the_quick_start_then_the_readme_upscale_gives_the_shipped_models_face(tmp_path):
    # As a newcomer: the quick-start training (a short run, on built-in synthetic faces), then the
    # README's upscale of the astronaut. The synthetic checkpoint is not used on a real face.
    docs = os.path.join(os.path.dirname(__file__), '..', 'docs')
    trained = run_srez(tmp_path, '--run', 'train', *TINY_MODEL, '--batch_size', '4',
                       '--max_batches', '2')
    assert trained.returncode == 0, trained.stderr
    result = run_srez(tmp_path, '--run', 'infer', '--input', os.path.join(docs, 'astronaut_face.png'),
                      '--compare')
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith('Model: the shipped models at --sharpness 0.5')
    assert 'trained on built-in synthetic faces, not real ones' in result.stdout.splitlines()[0]
    truth = np.asarray(Image.open(os.path.join(docs, 'astronaut_truth.png')), np.float64)
    compare = np.asarray(Image.open(tmp_path / 'upscaled' / 'astronaut_face_compare.png'),
                         np.float64)
    upscaled, bicubic = compare[:, 128:], compare[:, 64:128]

    def psnr(image):
        return 10 * np.log10(255 ** 2 / np.mean((image - truth) ** 2))

    assert psnr(upscaled) > psnr(bicubic) + 1.0


@pytest.mark.slow
def test_compiled_programs_are_reused_on_a_rerun_and_a_resume_and_a_changed_model_compiles_anew(
        tmp_path):
    cache = tmp_path / 'xla'

    def train(name, gene_units, cache_dir, max_batches=2):
        result = run_srez(tmp_path, '--run', 'train', '--dataset', 'synthetic', '--gene_units',
                          gene_units, '--disc_units', '8,8', '--batch_size', '4',
                          '--test_vectors', '4', '--max_batches', str(max_batches), '--train_dir',
                          f'{name}/train', '--checkpoint_dir', f'{name}/checkpoint', '--xla',
                          '--xla_cache_dir', cache_dir)
        assert result.returncode == 0, result.stderr
        return srez_loader.from_path(str(tmp_path / name / 'checkpoint'), 'raw').generator

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
