"""srez_modelfile: model files, the two shipped models and the interpolation between them."""
import json
import os
import shutil
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from helpers import LEGACY_CHECKPOINTS
from PIL import Image

import srez_config
import srez_loader
import srez_modelfile

INPUTS = tf.random.stateless_uniform([2, 16, 16, 3], seed=[4, 2])


def outputs(generator):
    return generator(INPUTS, training=False).numpy()


def test_a_model_file_holds_the_averaged_generator_its_config_and_what_trained_it(trained_model):
    generator, model, record = srez_modelfile.read(str(trained_model / 'model.zip'))
    average_model = srez_loader.from_path(str(trained_model / 'checkpoint'))
    average, source = average_model.generator, average_model.source
    assert model == source.model
    assert record == dict(source.record(), checkpoint=source.path)
    assert (record['batch'], record['weights'], record['recipe']) == (6, 'average', 'faithful')
    assert record['data'] == 'built-in synthetic faces' and record['damaged'] is False
    np.testing.assert_array_equal(outputs(generator), outputs(average))


def test_a_model_file_of_the_release_before_damage_loads_as_it_was_made(tmp_path, srez_cli):
    # The previous shipped pair is of this kind: its record predates recipes, data and damage.
    folder = os.path.join(LEGACY_CHECKPOINTS, 'before_damage_model_file')
    model = srez_loader.from_path(os.path.join(folder, 'model.zip'))
    generator, source = model.generator, model.source
    assert (source.batches, source.weights) == (3, 'average')
    assert source.recipe is source.data is source.damaged is None
    inputs = tf.reshape(tf.linspace(0.0, 1.0, 16 * 16 * 3), [1, 16, 16, 3])
    np.testing.assert_allclose(generator(inputs, training=False),
                               np.load(os.path.join(folder, 'expected_output.npy')), atol=1e-6)
    assert srez_cli('--run', 'export', '--model', os.path.join(folder, 'model.zip'),
                    '--export_lite', str(tmp_path)) == 0
    assert sorted(os.listdir(tmp_path)) == ['model.json', 'model.tflite']


@pytest.mark.parametrize('damage', ['missing', 'truncated', 'not a zip', 'no weights'])
def test_a_missing_or_corrupt_model_file_is_a_one_line_error(trained_model, tmp_path, damage,
                                                             srez_cli, capsys):
    path = tmp_path / 'model.zip'
    if damage != 'missing':
        shutil.copy(trained_model / 'model.zip', path)
        contents = path.read_bytes()
        if damage == 'truncated':
            path.write_bytes(contents[:len(contents) // 2])
        elif damage == 'not a zip':
            path.write_text('<html>Not found</html>')
        else:
            with zipfile.ZipFile(path, 'w') as archive:
                archive.writestr(srez_modelfile.MANIFEST, json.dumps(
                    {'model_config': json.loads(srez_config.ModelConfig().to_json())}))
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / 'face.png')
    status = srez_cli('--run', 'infer', '--model', str(path), '--input', str(tmp_path / 'face.png'),
                      '--output', str(tmp_path / 'out'))
    error = capsys.readouterr().err
    assert status == 2 and error.count('\n') == 1, error
    assert error.startswith(f'srez: error: The model file {path} ')
    assert 'export the model again' in error


def test_a_broken_shipped_model_names_the_git_checkout_that_mends_it(tmp_path, monkeypatch):
    broken = tmp_path / 'models' / 'fidelity.zip'
    broken.parent.mkdir()
    broken.write_bytes(open(srez_config.SHIPPED_MODELS[16]['fidelity'], 'rb').read()[:1000])
    monkeypatch.setattr(srez_config, 'MODELS_DIR', str(tmp_path / 'models'))
    monkeypatch.setitem(srez_config.SHIPPED_MODELS[16], 'fidelity', str(broken))
    with pytest.raises(ValueError, match=r'it came with srez; restore it with `git checkout '
                                         r'models/fidelity.zip` in the srez folder\.$'):
        srez_loader.shipped(0.5, tensorflow=True, input_size=16)


def test_sharpness_0_and_1_are_exactly_the_two_shipped_models():
    fidelity = srez_modelfile.read(srez_config.SHIPPED_MODELS[16]['fidelity'])[0]
    sharp = srez_modelfile.read(srez_config.SHIPPED_MODELS[16]['sharp'])[0]
    assert not np.array_equal(outputs(fidelity), outputs(sharp))
    for sharpness, expected in ((0.0, fidelity), (1.0, sharp)):
        model = srez_loader.shipped(sharpness, tensorflow=True, input_size=16)
        source = model.source
        np.testing.assert_array_equal(outputs(model.generators[16]), outputs(expected))
        assert source.kind == srez_loader.SHIPPED and source.sharpness == sharpness
    # Between, every weight is the mix of the two.
    mixed = srez_loader.shipped(0.25, tensorflow=True, input_size=16).generators[16]
    for variable, a, b in zip(mixed.variables, fidelity.variables, sharp.variables):
        np.testing.assert_allclose(variable, 0.75 * a.numpy() + 0.25 * b.numpy(), rtol=1e-6,
                                   atol=1e-7)


def test_shipped_models_are_small_and_their_card_says_how_they_were_made():
    card = open(os.path.join(srez_config.MODELS_DIR, 'README.md')).read()
    for size in srez_loader.shipped_input_sizes():
        for name, path in srez_config.SHIPPED_MODELS[size].items():
            assert os.path.getsize(path) <= 5 * 2 ** 20
            assert f'--recipe {name}' in card and os.path.basename(path) in card
    assert 'non-commercial' in card


@pytest.mark.parametrize('sharpness', ['0', '1'])
def test_the_shipped_models_beat_bicubic_on_validation_faces(celeba_folder, tmp_path, srez_cli,
                                                             sharpness):
    faces = tmp_path / 'validation'
    faces.mkdir()
    # CelebA's validation partition: files numbered 162771 and above, never trained on.
    for name in sorted(os.listdir(celeba_folder)):
        if int(name[:6]) >= 162771 and len(os.listdir(faces)) < 64:
            os.symlink(os.path.join(celeba_folder, name), faces / name)
    assert srez_cli('--run', 'eval', '--input', str(faces), '--shipped_models', '--sharpness',
                    sharpness, '--eval_dir', str(tmp_path / 'eval')) == 0
    results = json.loads((tmp_path / 'eval' / 'eval.json').read_text())
    assert results['model']['psnr'] > results['bicubic']['psnr'] + 0.5
    assert results['model']['ssim'] > results['bicubic']['ssim']
