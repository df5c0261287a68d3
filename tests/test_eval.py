"""Tests for srez_eval and --run eval: the model against bicubic by the standard protocol."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import srez_config
import srez_eval
import srez_files
import srez_images
import srez_input
import srez_loader
import srez_synthetic


def figures(output, truth):
    """The figures of `output` against `truth`, with the input made from the truth."""
    inputs = srez_images.box_downscale(tf.constant(truth)).numpy()
    return srez_eval.summarise(srez_eval.measure_each(output, inputs, truth),
                               srez_eval.gradient_magnitude(truth))


def smooth_faces(count=2, size=64):
    """float32 [count, size, size, 3] in [0.1, 0.8]: smooth, distinct test images."""
    y, x = np.mgrid[0:size, 0:size] / size
    images = [np.stack([np.sin(3 * x + k), np.cos(2 * y - k), np.sin(x * y * 5 + k)], axis=-1)
              for k in range(count)]
    return (0.45 + 0.35 * np.stack(images)).astype(np.float32)


def test_identical_images_give_ssim_1_and_the_capped_psnr():
    truth = smooth_faces()

    result = figures(truth, truth)

    # PSNR is infinite for identical images; it is capped so that averages stay finite.
    assert result['psnr'] == srez_eval.PSNR_CAP_DB == 100.0
    assert result['ssim'] == pytest.approx(1.0, abs=1e-6)
    assert result['consistency_l1'] == pytest.approx(0.0, abs=1e-7)
    assert result['sharpness'] == pytest.approx(1.0)


def test_figures_against_a_hand_computed_case():
    truth = smooth_faces()

    # A uniform +0.1: MSE 0.01, so PSNR = 10 * log10(1 / 0.01) = 20 dB; it downscales to the
    # input + 0.1; its edges are the truth's.
    brighter = figures(truth + 0.1, truth)
    # Flat grey has no edges at all.
    flat = figures(np.full_like(truth, 0.5), truth)

    assert brighter['psnr'] == pytest.approx(20.0, abs=1e-3)
    assert brighter['consistency_l1'] == pytest.approx(0.1, abs=1e-6)
    assert brighter['sharpness'] == pytest.approx(1.0, abs=1e-5)
    assert brighter['ssim'] < 1.0
    assert flat['sharpness'] == 0.0
    assert flat['consistency_l1'] == pytest.approx(
        np.mean(np.abs(0.5 - srez_images.box_downscale(truth).numpy())), abs=1e-6)


def test_evaluate_writes_json_and_grid(tmp_path, generator):
    faces = tmp_path / 'faces'
    faces.mkdir()
    for seed in range(3):
        Image.fromarray(srez_synthetic.draw_synthetic_face(seed)).save(faces / f'{seed}.png')
    keys = srez_files.find_images(str(faces))
    source = srez_loader.ModelSource(srez_loader.CHECKPOINT, 'ckpt/srez-10',
                                     srez_config.ModelConfig(), batches=10)

    upscale = srez_loader.from_generator(generator).upscalers[16]
    results = srez_eval.evaluate(upscale, keys, srez_input.load_file, 64, str(tmp_path), source,
                                 'three faces', batch_size=2)

    with open(tmp_path / 'eval.json') as file:
        assert json.load(file) == results
    assert results['images'] == 3 and results['faces'] == 'three faces'
    assert results['model_source'] == source.to_json() and results['damage'] == 'clean'
    for system in ('model', 'bicubic'):
        assert set(results[system]) == {'psnr', 'ssim', 'consistency_l1', 'sharpness'}
    # Bicubic on clean synthetic faces: a plausible, well-defined baseline.
    assert 20 < results['bicubic']['psnr'] < 40 and 0.5 < results['bicubic']['ssim'] < 1
    assert results['bicubic']['sharpness'] < 1
    # The first images, as training's sample grids show them: 3 rows of 4 faces.
    assert np.asarray(Image.open(tmp_path / 'eval.png')).shape == (3 * 64, 4 * 64, 3)
    # The table a user reads: one row per system with its four figures as eval.json has them.
    lines = srez_eval.figures_table(results).splitlines()
    assert lines[0] == '3 images, clean inputs'
    for line, system in zip(lines[2:], ('model', 'bicubic')):
        figures = results[system]
        assert line.split() == [system, f'{figures["psnr"]:.2f}', f'{figures["ssim"]:.4f}',
                                f'{figures["consistency_l1"]:.4f}', f'{figures["sharpness"]:.3f}']


def test_cli_defaults_to_the_held_out_test_vectors(tmp_path, trained_model, srez_cli, capsys):
    status = srez_cli('--run', 'eval', '--dataset', 'synthetic', '--test_vectors', '3',
                      '--checkpoint_dir', str(trained_model / 'checkpoint'), '--eval_dir',
                      str(tmp_path))

    assert status == 0
    with open(tmp_path / 'eval.json') as file:
        results = json.load(file)
    assert results['images'] == 3 and 'held-out' in results['faces']
    assert 'PSNR' in capsys.readouterr().out


def test_cli_on_real_faces_with_max_images(tmp_path, trained_model, srez_cli, celeba_folder):
    status = srez_cli('--run', 'eval', '--input', celeba_folder, '--max_images', '2',
                      '--checkpoint_dir', str(trained_model / 'checkpoint'), '--eval_dir',
                      str(tmp_path))

    assert status == 0
    with open(tmp_path / 'eval.json') as file:
        results = json.load(file)
    assert results['images'] == 2
    assert 15 < results['bicubic']['psnr'] < 40


def test_cli_measures_the_weights_asked_for_and_records_the_model(tmp_path, trained_model,
                                                                 srez_cli):
    folder = str(trained_model / 'checkpoint')
    assert srez_cli('--run', 'eval', '--dataset', 'synthetic', '--test_vectors', '2',
                    '--checkpoint_dir', folder, '--eval_dir', str(tmp_path),
                    '--generator_weights', 'raw') == 0
    with open(tmp_path / 'eval.json') as file:
        figures = json.load(file)
    source = figures['model_source']
    assert (source['kind'], source['weights'], source['batches']) == ('checkpoint', 'raw', 6)
    assert source['data'] == 'built-in synthetic faces' and source['recipe'] == 'faithful'
    # The figure is that of the raw network on the held-out faces.
    keys, load = srez_synthetic.synthetic_faces(range(1_024, 1_026))
    inputs, truth, _ = srez_input.test_pairs(keys, load, 64)
    network = srez_loader.from_path(folder, 'raw').generator
    expected = srez_eval.summarise(
        srez_eval.measure_each(network(inputs, training=False), inputs, truth),
        srez_eval.gradient_magnitude(truth))
    assert figures['model']['psnr'] == pytest.approx(expected['psnr'], rel=1e-5)


def test_psnr_and_consistency_leave_out_a_frames_fill():
    rng = np.random.default_rng(1)
    truth = rng.uniform(size=(1, 64, 64, 3)).astype(np.float32)
    inputs = srez_images.box_downscale(truth).numpy()
    output = truth + rng.normal(0, 0.05, truth.shape).astype(np.float32)
    valid = np.ones((1, 64, 64, 1), np.float32)
    valid[:, :16] = 0
    spoilt = output.copy()
    spoilt[:, :16] = 1 - truth[:, :16]  # Wrong only where the picture was filled.
    figures, spoilt_figures = (srez_eval.measure_each(image, inputs, truth, valid)
                               for image in (output, spoilt))
    for name in ('psnr', 'consistency_l1'):
        np.testing.assert_allclose(figures[name], spoilt_figures[name], rtol=1e-5)
    squared = np.mean((output[:, 16:] - truth[:, 16:]) ** 2)
    assert figures['psnr'][0] == pytest.approx(-10 * np.log10(squared), abs=1e-3)
    assert srez_eval.measure_each(spoilt, inputs, truth)['psnr'][0] < figures['psnr'][0] - 3
