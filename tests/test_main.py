"""srez_main: flags and their errors (one line, before TensorFlow loads, nothing left behind),
and which errors are the user's to fix (one line) and which are bugs (a traceback)."""
import errno
import os
import tempfile

import pytest
from helpers import as_ordinary_user, run_srez

pytestmark = pytest.mark.full_install  # Modes of the full install, through the CLI.


def cli(*args, cwd, pythonpath, env=None):
    """Runs srez_main.py to completion with `pythonpath` first; returns (status, stderr)."""
    result = run_srez(cwd, *args, env=dict(PYTHONPATH=pythonpath, **(env or {})), timeout=60)
    return result.returncode, result.stderr


def assert_one_line_error(status, stderr, fragment):
    assert status == 2
    assert stderr.startswith('srez: error: ') and stderr.count('\n') == 1, stderr
    assert fragment in stderr


@pytest.mark.parametrize('args, fragment', [
    (['--run', 'predict'],
     'flag --run=predict: value should be one of <train|demo|infer|eval|export|bench|facecheck|'
     'align|serve>'),
    # The original's default, --run demo, with no grids yet.
    ([], 'No sample grids (batch*_out.png) in train/: run `python srez_main.py --run train` '
         'first.'),
    (['--run', 'train', '--sample_size', '62'], 'flag --sample_size=62: must be a multiple of 4'),
    (['--run', 'train', '--sample_size', '132'], '--sample_size=132: must be a multiple of 4 from '
     '64 to 128'),
    (['--run', 'train', '--batch_size', '0'], 'flag --batch_size=0: 0 is not a positive integer'),
    (['--run', 'train', '--batch_size', 'x'], 'flag --batch_size=x: invalid literal'),
    (['--run', 'train', '--checkpoint_period', '0'], '--checkpoint_period=0: 0 is not a positive'),
    (['--run', 'train', '--summary_period', '-5'], '--summary_period=-5: -5 is not a positive'),
    (['--run', 'train', '--train_time', '0'], 'flag --train_time=0.0: must be positive'),
    (['--run', 'train', '--ema_decay', '1'], 'flag --ema_decay=1.0: must be in [0, 1)'),
    (['--run', 'train', '--gene_units', '8,8'], "--gene_units=['8', '8']: must be exactly 3 "
     'positive integers separated by commas, e.g. --gene_units 256,128,96'),
    (['--run', 'train', '--gene_units', '8,8,8,8'], ': must be exactly 3'),
    (['--run', 'train', '--learning_rate_schedule', 'cosine'], '--learning_rate_schedule cosine '
     'needs --max_batches'),
    (['--run', 'train', '--recipe', 'best'], 'flag --recipe=best: value should be one of '
     '<faithful|fidelity|sharp|fidelity_128|sharp_128>'),
    (['--run', 'infer', '--input', 'file.txt', '--output', 'out', '--sharpness', '2'],
     'flag --sharpness=2: 2.0 is not a number in the range [0, 1]'),
    (['--run', 'infer', '--input', 'file.txt', '--sharpness', 'nan'],
     'flag --sharpness=nan: must be a finite number'),
    (['--run', 'train', '--learning_rate_start', 'inf'],
     'flag --learning_rate_start=inf: must be a finite number'),
    (['--run', 'train', '--train_dir', 'file.txt/train'], '--train_dir: the folder '
     'file.txt/train cannot be used ('),
    (['--run', 'train', '--checkpoint_dir', 'file.txt'], '--checkpoint_dir: the folder file.txt '
     'cannot be used ('),
    (['--run', 'train', '--dataset', 'faces', '--train_dir', 'faces'], '--train_dir faces is '
     'inside --dataset faces'),
    (['--run', 'train', '--dataset', 'faces', '--train_dir', 'faces/out'], '--train_dir '
     'faces/out is inside --dataset faces'),
    (['--run', 'bench', '--bench_batches', '0'], 'flag --bench_batches=0: 0 is not a positive'),
    (['--run', 'bench', '--bench_batch_sizes', '16,0'], "--bench_batch_sizes=['16', '0']: must "
     'be positive integers'),
    (['--run', 'bench', '--dataset', 'no/such/folder'], '--dataset no/such/folder is not a folder'),
    (['--run', 'infer'], '--run infer needs --input: an image file or a folder of images'),
    (['--run', 'infer', '--input', 'file.txt', '--output', 'out', '--max_images', '-1'],
     'flag --max_images=-1: -1 is not a non-negative integer'),
    (['--run', 'infer', '--input', 'file.txt', '--output', 'file.txt/out'], '--output: the '
     'folder file.txt/out cannot be used ('),
    (['--run', 'eval', '--upscale_batch', '0'], 'flag --upscale_batch=0: 0 is not a positive '
     'integer'),
    (['--run', 'eval', '--damage', 'jpeg:200'], "flag --damage=jpeg:200: 'jpeg:200': jpeg takes "
     'a quality from 1 to 100'),
    (['--run', 'eval', '--degrade', 'blur:1+rain:2'], "'rain:2' is not a damage: use clean, or "
     'blur:SIGMA'),
    (['--run', 'train', '--damage_clean', '1.5'], 'flag --damage_clean=1.5: 1.5 is not a number in '
     'the range [0, 1]'),
    (['--run', 'train', '--damage_jpeg_quality', '95,30'], "--damage_jpeg_quality=['95', '30']: "
     'must be a range low,high of numbers from 1 to 100, e.g. --damage_jpeg_quality 30,95'),
    (['--run', 'eval', '--input', 'file.txt'], '--input file.txt is not a folder'),
    (['--run', 'export', '--export_dir', 'file.txt/export'], '--export_dir: the folder '
     'file.txt/export cannot be used ('),
])
def test_bad_flag_is_a_one_line_error_before_tensorflow_loads(tmp_path, without_tensorflow, args,
                                                              fragment):
    (tmp_path / 'file.txt').write_text('in the way')

    status, stderr = cli(*args, cwd=tmp_path, pythonpath=without_tensorflow)

    assert_one_line_error(status, stderr, fragment)
    assert sorted(os.listdir(tmp_path)) == ['file.txt']  # Nothing made for a refused run.


@pytest.mark.parametrize('value', ['0', 'two'])
def test_bad_cpu_device_count_is_a_one_line_error(tmp_path, without_tensorflow, value):
    status, stderr = cli('--run', 'train', cwd=tmp_path, pythonpath=without_tensorflow,
                         env={'SREZ_CPU_DEVICES': value})

    assert_one_line_error(status, stderr, f'SREZ_CPU_DEVICES must be a positive number of '
                                          f'logical CPU devices (got {value!r}).')
    assert os.listdir(tmp_path) == []


def test_output_folder_without_write_permission_is_a_one_line_error(srez_cli, capsys):
    # In-process, as an ordinary user when root (for whom every folder is writable). The first
    # call imports srez_main and absl as root: an ordinary user may not read root's Python.
    srez_cli('--run', 'train', '--train_time', 'x')
    capsys.readouterr()
    folder = tempfile.mkdtemp()
    try:
        os.chmod(folder, 0o555)
        with as_ordinary_user():
            status = srez_cli('--run', 'train', '--train_dir', f'{folder}/train')
        assert_one_line_error(status, capsys.readouterr().err,
                              f'--train_dir: the folder {folder}/train cannot be used '
                              f'(permission denied)')
    finally:
        os.rmdir(folder)



@pytest.mark.parametrize('args, message', [
    (['--run', 'train', '--dataset', 'no/such/folder'], '--dataset no/such/folder is not a folder'),
    (['--run', 'demo'], 'No sample grids'),
])
def test_user_errors_are_one_line(tmp_path, args, message):
    result = run_srez(tmp_path, *args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('srez: error:') and message in lines[0]


def test_explicit_empty_dataset_is_an_error_not_a_fallback(tmp_path, srez_cli, capsys):
    (tmp_path / 'faces').mkdir()
    status = srez_cli('--run', 'train', '--dataset', str(tmp_path / 'faces'), '--train_dir',
                      str(tmp_path / 'train'), '--checkpoint_dir', str(tmp_path / 'checkpoint'))
    output = capsys.readouterr()
    assert status == 2
    assert 'has 0 usable images' in output.err and 'synthetic' not in output.out


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
