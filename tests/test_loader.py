"""srez_loader: which model every mode uses, and the one line that says so."""
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import srez_checkpoint
import srez_loader
import srez_upscaler

FACE = np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8)


def upscaled_by(generator):
    """FACE upscaled by `generator`."""
    return srez_upscaler.Upscaler.from_generator(generator).upscale_face(FACE)


def assert_upscaled_by_the_shipped_models(image):
    # infer runs the shipped models with LiteRT: within 1/255 of TensorFlow's pixels.
    expected = upscaled_by(srez_loader.shipped(0.5, tensorflow=True).generator)
    assert np.abs(image.astype(int) - expected.astype(int)).max() <= 1


@pytest.fixture
def face_file(tmp_path):
    Image.fromarray(FACE).save(tmp_path / 'face.png')
    return str(tmp_path / 'face.png')


def infer(srez_cli, capsys, face_file, output, *args):
    """Runs infer on `face_file` into `output`; (its output image, the Model: line)."""
    assert srez_cli('--run', 'infer', '--input', face_file, '--output', str(output), *args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith('Model: ')]
    assert len(lines) == 1, lines  # Every run names its model, once.
    return np.asarray(Image.open(output / 'face.png')), lines[0]


def test_without_a_checkpoint_infer_eval_and_export_use_the_shipped_models(
        tmp_path, srez_cli, capsys, face_file):
    common = ['--checkpoint_dir', str(tmp_path / 'none'), '--sharpness', '0.25']
    image, line = infer(srez_cli, capsys, face_file, tmp_path / 'out', *common)
    assert line.startswith('Model: the shipped models at --sharpness 0.25')
    assert line.endswith(f'Chosen because {tmp_path}/none/ holds no checkpoint.')
    expected = upscaled_by(srez_loader.shipped(0.25, tensorflow=True).generator)
    np.testing.assert_array_equal(image, expected)
    assert srez_cli('--run', 'eval', '--dataset', 'synthetic', '--test_vectors', '2',
                    '--eval_dir', str(tmp_path / 'eval'), *common) == 0
    recorded = json.loads((tmp_path / 'eval' / 'eval.json').read_text())['model_source']
    assert (recorded['kind'], recorded['sharpness']) == ('shipped models', 0.25)
    assert srez_cli('--run', 'export', '--export_dir', str(tmp_path / 'export'), *common) == 0
    serve = tf.saved_model.load(str(tmp_path / 'export')).signatures['serving_default']
    np.testing.assert_array_equal(serve(images=tf.constant(FACE[np.newaxis]))['upscaled'][0],
                                  expected)


def test_a_users_checkpoint_comes_first_unless_another_model_is_asked_for(
        trained_model, tmp_path, srez_cli, capsys, face_file):
    checkpoint = str(trained_model / 'checkpoint')
    mine, line = infer(srez_cli, capsys, face_file, tmp_path / 'mine', '--checkpoint_dir',
                       checkpoint)
    shipped, shipped_line = infer(srez_cli, capsys, face_file, tmp_path / 'shipped',
                                  '--checkpoint_dir', checkpoint, '--shipped_models')
    from_file, file_line = infer(srez_cli, capsys, face_file, tmp_path / 'file', '--checkpoint_dir',
                                 checkpoint, '--model', str(trained_model / 'model.zip'))
    np.testing.assert_array_equal(mine, upscaled_by(srez_loader.from_path(checkpoint).generator))
    assert_upscaled_by_the_shipped_models(shipped)
    np.testing.assert_array_equal(from_file, mine)  # The file holds that checkpoint's average.
    assert line == (f'Model: the checkpoint {srez_checkpoint.latest(checkpoint)} (batch 6, '
                    f'average weights, --recipe faithful, trained on built-in synthetic faces, '
                    f'clean inputs).')
    assert shipped_line.startswith('Model: the shipped models at --sharpness 0.5')
    assert file_line.startswith(f'Model: the model file {trained_model}/model.zip (batch 6')


def test_a_checkpoint_of_synthetic_faces_is_used_only_when_its_folder_is_named(
        trained_copy, srez_cli, capsys, face_file, monkeypatch):
    # The quick start trains on synthetic faces into checkpoint/; infer's default folder.
    monkeypatch.chdir(trained_copy)
    image, line = infer(srez_cli, capsys, face_file, trained_copy / 'out')
    assert line.endswith('Chosen because the checkpoint in checkpoint/ was trained on built-in '
                         'synthetic faces, not real ones (--checkpoint_dir checkpoint uses it).')
    assert_upscaled_by_the_shipped_models(image)
    named, line = infer(srez_cli, capsys, face_file, trained_copy / 'named', '--checkpoint_dir',
                        'checkpoint')
    assert line.startswith('Model: the checkpoint checkpoint/srez-6 ')
    np.testing.assert_array_equal(named, upscaled_by(srez_loader.from_path('checkpoint').generator))


def test_a_checkpoint_gives_its_average_or_its_raw_weights(trained_model):
    folder = str(trained_model / 'checkpoint')
    average_model = srez_loader.from_path(folder)
    average, source = average_model.generator, average_model.source
    raw_model = srez_loader.from_path(folder, 'raw')
    raw, raw_source = raw_model.generator, raw_model.source
    assert (source.weights, raw_source.weights) == ('average', 'raw')
    reader = tf.train.load_checkpoint(srez_checkpoint.latest(folder))
    for network, key in ((average, 'generator_average'), (raw, 'generator')):
        kernel = network.layers[-1].kernel
        np.testing.assert_array_equal(kernel, reader.get_tensor(
            f'{key}/layers/{len(network.layers) - 1}/kernel/.ATTRIBUTES/VARIABLE_VALUE'))
    assert not np.array_equal(upscaled_by(average), upscaled_by(raw))


def test_a_folder_without_a_checkpoint_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match=f'^No checkpoint in {tmp_path}/: train a model first'):
        srez_loader.from_path(str(tmp_path))
