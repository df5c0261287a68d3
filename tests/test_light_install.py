"""The light install (requirements-light.txt): upscaling through the real CLI and the README's
Python API, in processes where `import tensorflow` fails. CI also runs this module in a virtual
environment without TensorFlow, where every other mode must say that it needs the full install.

Nothing here imports TensorFlow, so the module runs under either install.
"""
import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import MAIN, REPO_ROOT

ASTRONAUT = os.path.join(REPO_ROOT, 'docs', 'astronaut_face.png')
ASTRONAUT_TRUTH = os.path.join(REPO_ROOT, 'docs', 'astronaut_truth.png')
GROUP_PHOTO = os.path.join(REPO_ROOT, 'docs', 'group_photo.png')
TENSORFLOW_INSTALLED = importlib.util.find_spec('tensorflow') is not None
# The modules of the light runtime: upscaling faces and photos, aligning faces, and the CLI's
# dispatch to them (README "Layout").
LIGHT_RUNTIME = ('srez_main', 'srez_modes', 'srez_config', 'srez_errors', 'srez_files',
                 'srez_imagefile', 'srez_pixels', 'srez_lite', 'srez_modelfile', 'srez_loader',
                 'srez_detect', 'srez_faces', 'srez_photo', 'srez_tracks', 'srez_video',
                 'srez_upscaler', 'srez_infer', 'srez_align')


@pytest.fixture
def tensorflow_fails(without_tensorflow):
    """Environment for a process in which `import tensorflow` raises."""
    return dict(os.environ, PYTHONPATH=without_tensorflow)


def run(args, cwd, env):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def psnr(image, truth):
    error = np.mean((np.asarray(image, float) - np.asarray(truth, float)) ** 2)
    return 10 * np.log10(255 ** 2 / error)


def test_every_light_runtime_module_imports_without_tensorflow(tensorflow_fails):
    code = (f'import sys\nfor name in {LIGHT_RUNTIME!r}:\n    __import__(name)\n'
            f'assert "tensorflow" not in sys.modules')
    result = run([sys.executable, '-c', code], REPO_ROOT, tensorflow_fails)
    assert result.returncode == 0, result.stderr


def test_a_face_upscales_through_the_cli_without_tensorflow(tmp_path, tensorflow_fails):
    result = run([sys.executable, MAIN, '--run', 'infer', '--input', ASTRONAUT], tmp_path,
                 tensorflow_fails)
    assert result.returncode == 0, result.stderr
    assert 'Model: the shipped models at --sharpness 0.5' in result.stdout
    with Image.open(tmp_path / 'upscaled' / 'astronaut_face.png') as upscaled, \
            Image.open(ASTRONAUT_TRUTH) as truth, Image.open(ASTRONAUT) as face:
        bicubic = face.resize(truth.size, Image.BICUBIC)
        assert upscaled.size == truth.size == (64, 64)
        assert psnr(upscaled, truth) >= psnr(bicubic, truth) + 1


def test_a_photo_upscales_its_faces_through_the_cli_without_tensorflow(tmp_path,
                                                                      tensorflow_fails):
    result = run([sys.executable, MAIN, '--run', 'infer', '--input', GROUP_PHOTO], tmp_path,
                 tensorflow_fails)
    assert result.returncode == 0, result.stderr
    with Image.open(GROUP_PHOTO) as photo, \
            Image.open(tmp_path / 'upscaled' / 'group_photo.png') as upscaled:
        assert upscaled.size == (4 * photo.width, 4 * photo.height)
    faces = json.loads((tmp_path / 'upscaled' / 'faces.json').read_text())['group_photo.png']
    used = [face for face in faces['faces'] if face['used']]
    assert len(used) >= 4, faces
    assert re.search(r'group_photo.png: \d+ faces found, \d+ upscaled by the model', result.stdout)


def test_the_readmes_first_python_block_runs_as_written_without_tensorflow(tensorflow_fails):
    with open(os.path.join(REPO_ROOT, 'README.md')) as readme:
        block = re.search(r'```python\n(.*?)```', readme.read(), re.DOTALL).group(1)
    result = run([sys.executable, '-c', block], REPO_ROOT, tensorflow_fails)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith('Model: the shipped models at --sharpness 0.5')
    assert '(64, 64, 3)' in lines[1] and '(960, 1280, 3)' in lines[2]
    assert re.search(r'\d+ faces found, \d+ upscaled by the model', lines[2])


@pytest.mark.skipif(TENSORFLOW_INSTALLED, reason='only the light install lacks TensorFlow')
@pytest.mark.parametrize('mode', ['train', 'demo', 'eval', 'export', 'bench', 'facecheck'])
def test_every_other_mode_says_in_one_line_that_it_needs_the_full_install(tmp_path, mode):
    result = run([sys.executable, MAIN, '--run', mode], tmp_path, dict(os.environ))
    assert result.returncode == 2
    assert result.stderr.count('\n') == 1, result.stderr
    assert f'--run {mode} needs the full install' in result.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(importlib.util.find_spec('gradio') is not None,
                    reason='the web install has Gradio')
def test_serve_without_the_web_install_says_so_in_one_line(tmp_path):
    result = run([sys.executable, MAIN, '--run', 'serve'], tmp_path, dict(os.environ))
    assert result.returncode == 2
    assert result.stderr == ('srez: error: --run serve needs the web page\'s install: pip '
                             'install -r requirements-web.txt (Gradio, on top of the light '
                             'install).\n')


@pytest.mark.parametrize('inputs', [[ASTRONAUT], [GROUP_PHOTO], [GROUP_PHOTO, ASTRONAUT]])
def test_a_reader_that_stops_early_loses_no_work(tmp_path, tensorflow_fails, inputs):
    # `| head -1`: the reader closes the pipe after the model's line; every file is still written.
    folder = tmp_path / 'in'
    folder.mkdir()
    for path in inputs:
        os.symlink(path, folder / os.path.basename(path))
    process = subprocess.Popen([sys.executable, MAIN, '--run', 'infer', '--input',
                                str(folder if len(inputs) > 1 else folder / os.listdir(folder)[0])],
                               cwd=tmp_path, env=tensorflow_fails, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().startswith('Model: ')
    process.stdout.close()
    assert process.wait(timeout=300) == 0
    assert process.stderr.read() == ''
    written = sorted(os.listdir(tmp_path / 'upscaled'))
    names = sorted(os.path.basename(path) for path in inputs)
    assert [name for name in written if name != 'faces.json'] == names
    if GROUP_PHOTO in inputs:  # The faces record names the photo it describes.
        record = json.loads((tmp_path / 'upscaled' / 'faces.json').read_text())
        assert list(record) == ['group_photo.png']


@pytest.mark.parametrize('name, sharpness', [('fidelity', '0'), ('sharp', '1')])
def test_a_shipped_litert_file_is_a_model_of_its_own(tmp_path, tensorflow_fails, name,
                                                       sharpness):
    file = os.path.join(REPO_ROOT, 'models', f'{name}.tflite')
    for args, output in ((['--model', file], 'file.png'), (['--sharpness', sharpness], 'knob.png')):
        result = run([sys.executable, MAIN, '--run', 'infer', '--input', ASTRONAUT, '--output',
                      output, *args], tmp_path, tensorflow_fails)
        assert result.returncode == 0, result.stderr
    assert f'Model: the LiteRT file {file} (batch ' in run(
        [sys.executable, MAIN, '--run', 'infer', '--input', ASTRONAUT, '--model', file],
        tmp_path, tensorflow_fails).stdout
    with Image.open(tmp_path / 'file.png') as file_image, Image.open(tmp_path / 'knob.png') as knob:
        np.testing.assert_array_equal(np.asarray(file_image), np.asarray(knob))
