"""srez_lite and --export_lite: the LiteRT models upscale as the TensorFlow ones do."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import srez_config
import srez_lite
import srez_loader
import srez_modelfile
import srez_pixels

FACES = tf.random.stateless_uniform([8, 16, 16, 3], seed=[7, 1]).numpy()


@pytest.mark.parametrize('sharpness', [0.0, 0.5, 1.0])
def test_the_shipped_litert_files_upscale_as_the_model_files(sharpness):
    expected = srez_loader.shipped(sharpness, tensorflow=True, input_size=16).generator(
        FACES, training=False).numpy()
    lite = srez_loader.shipped(sharpness)
    got, source = lite.upscalers[16](FACES), lite.source
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Within 1/255 on every pixel once quantised, as infer writes them.
    assert np.abs(srez_pixels.to_uint8(got).astype(int)
                  - srez_pixels.to_uint8(expected).astype(int)).max() <= 1
    assert source.kind == srez_loader.SHIPPED and source.sharpness == sharpness


def test_the_shipped_litert_files_are_small():
    for size in srez_loader.shipped_input_sizes():
        for path in srez_config.SHIPPED_LITE[size].values():
            assert os.path.getsize(path) <= 5 * 2 ** 20, path


def test_a_checkpoint_exported_as_litert_upscales_as_in_tensorflow(trained_model, tmp_path,
                                                                   srez_cli, capsys):
    checkpoint = str(trained_model / 'checkpoint')
    assert srez_cli('--run', 'export', '--checkpoint_dir', checkpoint, '--export_lite',
                    str(tmp_path / 'lite')) == 0
    assert sorted(os.listdir(tmp_path / 'lite')) == ['srez-6.json', 'srez-6.tflite']
    described = json.loads((tmp_path / 'lite' / 'srez-6.json').read_text())
    assert described['model_config']['gene_units'] == [8, 8, 8]
    face = np.uint8(255 * FACES[0])
    Image.fromarray(face).save(tmp_path / 'face.png')
    for name, model in (('tensorflow', ['--checkpoint_dir', checkpoint]),
                        ('lite', ['--model', str(tmp_path / 'lite' / 'srez-6.tflite')])):
        assert srez_cli('--run', 'infer', '--input', str(tmp_path / 'face.png'), '--output',
                        str(tmp_path / name), *model) == 0
    assert 'Model: the LiteRT file' in capsys.readouterr().out
    difference = (np.asarray(Image.open(tmp_path / 'lite' / 'face.png'), int)
                  - np.asarray(Image.open(tmp_path / 'tensorflow' / 'face.png'), int))
    assert np.abs(difference).max() <= 1


def test_a_litert_file_is_for_upscaling_only_and_a_broken_one_is_one_line(tmp_path, srez_cli,
                                                                          capsys):
    broken = tmp_path / 'broken.tflite'
    broken.write_bytes(b'not a model')
    (tmp_path / 'broken.json').write_text(json.dumps({'model_config': {}}))
    assert srez_cli('--run', 'eval', '--model', str(broken), '--dataset', 'synthetic') == 2
    assert 'is a LiteRT file, which only upscales (--run infer)' in capsys.readouterr().err
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / 'face.png')
    assert srez_cli('--run', 'infer', '--model', str(broken), '--input',
                    str(tmp_path / 'face.png'), '--output', str(tmp_path / 'out')) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and f'The LiteRT model {broken} cannot be used' in error


def test_a_broken_shipped_litert_file_names_the_git_checkout_that_mends_it(tmp_path,
                                                                           monkeypatch):
    broken = tmp_path / 'models' / 'face_check.tflite'
    broken.parent.mkdir()
    broken.write_bytes(b'truncated')
    monkeypatch.setattr(srez_config, 'MODELS_DIR', str(tmp_path / 'models'))
    with pytest.raises(ValueError, match=r'restore it with `git checkout '
                                         r'models/face_check.tflite` in the srez folder\.$'):
        srez_lite.network(str(broken))


def test_two_models_of_other_graphs_do_not_blend():
    fidelity = srez_lite.read_bytes(srez_config.SHIPPED_LITE[16]['fidelity'])
    check = srez_lite.read_bytes(srez_config.FACE_CHECK)
    with pytest.raises(ValueError, match='not of one graph'):
        srez_lite.blended(fidelity, check, 0.5)
    assert srez_lite.blended(fidelity, fidelity, 0.5) == fidelity
    assert srez_modelfile.read_manifest(srez_config.SHIPPED_MODELS[16]['fidelity'])[0] \
        .gene_residual
