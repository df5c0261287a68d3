"""srez_models: model files, the two shipped models, the --sharpness knob, and which model the
modes use (a user's checkpoint first, else the shipped models)."""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import srez_checkpoint
import srez_config
import srez_infer
import srez_models

INPUTS = tf.random.stateless_uniform([2, 16, 16, 3], seed=[4, 2])


def outputs(generator):
    return generator(INPUTS, training=False).numpy()


def test_a_model_file_holds_the_averaged_generator_and_its_config(trained_model):
    generator, info = srez_models.read(str(trained_model / 'model.zip'))
    average, checkpoint_info = srez_checkpoint.load_generator(str(trained_model / 'checkpoint'))
    assert info['model'] == checkpoint_info['model'] and info['batch'] == 6
    assert info['weights'] == 'average'
    np.testing.assert_array_equal(outputs(generator), outputs(average))


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
            import zipfile
            with zipfile.ZipFile(path, 'w') as archive:
                archive.writestr(srez_models.MANIFEST, json.dumps(
                    {'model_config': json.loads(srez_config.ModelConfig().to_json())}))
    status = srez_cli('--run', 'train', '--dataset', 'synthetic', '--init_from', str(path),
                      '--train_dir', str(tmp_path / 'train'), '--checkpoint_dir',
                      str(tmp_path / 'checkpoint'), '--gene_units', '8,8,8', '--disc_units',
                      '8,8', '--noxla', '--max_batches', '1')
    error = capsys.readouterr().err
    assert status == 2 and error.count('\n') == 1, error
    assert error.startswith(f'srez: error: The model file {path} ')


def test_sharpness_0_and_1_are_exactly_the_two_shipped_models():
    fidelity, _ = srez_models.read(srez_config.SHIPPED_MODELS['fidelity'])
    sharp, _ = srez_models.read(srez_config.SHIPPED_MODELS['sharp'])
    assert not np.array_equal(outputs(fidelity), outputs(sharp))
    for sharpness, expected in ((0.0, fidelity), (1.0, sharp)):
        generator, info = srez_models.shipped(sharpness)
        np.testing.assert_array_equal(outputs(generator), outputs(expected))
        assert info['weights'] == f'shipped, --sharpness {sharpness:g}'
    # Between, every weight is the mix of the two.
    mixed, _ = srez_models.shipped(0.25)
    for variable, a, b in zip(mixed.variables, fidelity.variables, sharp.variables):
        np.testing.assert_allclose(variable, 0.75 * a.numpy() + 0.25 * b.numpy(), rtol=1e-6,
                                   atol=1e-7)


def test_shipped_models_are_small_and_their_card_says_how_they_were_made():
    card = open(os.path.join(srez_config.MODELS_DIR, 'README.md')).read()
    for name, path in srez_config.SHIPPED_MODELS.items():
        assert os.path.getsize(path) <= 5 * 2 ** 20
        assert f'--recipe {name}' in card
    assert 'non-commercial' in card


def test_without_a_checkpoint_every_mode_uses_the_shipped_models(tmp_path, srez_cli, capsys):
    face = np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8)
    Image.fromarray(face).save(tmp_path / 'face.png')
    common = ['--checkpoint_dir', str(tmp_path / 'none'), '--sharpness', '0.25']
    assert srez_cli('--run', 'infer', '--input', str(tmp_path / 'face.png'), '--output',
                    str(tmp_path / 'out'), *common) == 0
    said = capsys.readouterr().out
    assert f'No checkpoint in {tmp_path}/none/: using the shipped models at --sharpness 0.25' in said
    expected = srez_infer.upscale(srez_models.shipped(0.25)[0], face[np.newaxis])[0]
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / 'out' / 'face.png')), expected)
    assert srez_cli('--run', 'eval', '--dataset', 'synthetic', '--test_vectors', '2',
                    '--train_dir', str(tmp_path / 'eval'), *common) == 0
    assert json.loads((tmp_path / 'eval' / 'eval.json').read_text())['weights'] == (
        'shipped, --sharpness 0.25')
    assert srez_cli('--run', 'export', '--export_dir', str(tmp_path / 'export'), *common) == 0
    serve = tf.saved_model.load(str(tmp_path / 'export')).signatures['serving_default']
    np.testing.assert_array_equal(serve(images=tf.constant(face[np.newaxis]))['upscaled'][0],
                                  expected)


def test_a_users_checkpoint_comes_first_unless_the_shipped_models_are_asked_for(
        trained_model, tmp_path, srez_cli, capsys):
    face = np.random.default_rng(1).integers(0, 256, (16, 16, 3), np.uint8)
    Image.fromarray(face).save(tmp_path / 'face.png')
    common = ['--input', str(tmp_path / 'face.png'), '--checkpoint_dir',
              str(trained_model / 'checkpoint')]
    assert srez_cli('--run', 'infer', '--output', str(tmp_path / 'mine'), *common) == 0
    assert srez_cli('--run', 'infer', '--output', str(tmp_path / 'shipped'), '--shipped_models',
                    *common) == 0
    capsys.readouterr()
    mine = srez_checkpoint.load_generator(str(trained_model / 'checkpoint'))[0]
    for folder, generator in (('mine', mine), ('shipped', srez_models.shipped(0.5)[0])):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / folder / 'face.png')),
                                      srez_infer.upscale(generator, face[np.newaxis])[0])


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
                    sharpness, '--train_dir', str(tmp_path / 'eval')) == 0
    results = json.loads((tmp_path / 'eval' / 'eval.json').read_text())
    assert results['model']['psnr'] > results['bicubic']['psnr'] + 0.5
    assert results['model']['ssim'] > results['bicubic']['ssim']
