"""Robustness (issue 5): bad data, interruptions, diverging training and bad flags lose nothing.

One test per case. Data checks, resume, refusal and divergence run in-process on a tiny model; flag
errors (fast: they are reported before TensorFlow loads), Ctrl-C/SIGTERM and kill -9 run the real
CLI in subprocesses. The three training subprocesses start together (loading TensorFlow takes most
of their time), so the CLI tests sit at the end of the file and share them.
"""
import contextlib
import dataclasses
import glob
import io
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import srez_checkpoint
import srez_input
import srez_main
import srez_synthetic
import srez_train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(REPO, 'srez_main.py')
TINY_FLAGS = ['--gene_units', '8,8,8', '--disc_units', '8,8', '--batch_size', '4',
              '--test_vectors', '2', '--sample_size', '64']
TINY = srez_train.TrainConfig(gene_units=(8, 8, 8), disc_units=(8, 8), batch_size=4,
                              test_vectors=2, sample_size=64, train_time=60, summary_period=5,
                              checkpoint_period=5, learning_rate_half_life=10)
NOBODY = 65534
CLI_START_TIMEOUT = 240  # TensorFlow's import alone takes ~10 s; CI machines are shared.


# Images.

def face(size=(178, 218), mode='RGB'):
    """A smooth colour image (so JPEG round trips stay close) of `size` (width, height)."""
    x, y = np.meshgrid(np.linspace(0, 1, size[0]), np.linspace(0, 1, size[1]))
    pixels = np.stack([x, y, (x + y) / 2], axis=-1) * 200 + 30
    return Image.fromarray(pixels.astype(np.uint8)).convert(mode)


def write_face(path, size=(178, 218), mode='RGB'):
    face(size, mode).save(path)
    return str(path)


def truncated_jpeg(folder):
    path = folder / 'truncated.jpg'
    write_face(path)
    contents = path.read_bytes()
    path.write_bytes(contents[:len(contents) // 2])
    return path


def zero_byte_file(folder):
    path = folder / 'empty.jpg'
    path.write_bytes(b'')
    return path


def text_named_jpg(folder):
    path = folder / 'notes.jpg'
    path.write_text('not a picture\n')
    return path


def png_with_alpha(folder):
    image = face(mode='RGBA')
    image.putalpha(Image.linear_gradient('L').resize(image.size))
    image.save(folder / 'alpha.png')
    return folder / 'alpha.png'


def greyscale_jpeg(folder):
    return write_face(folder / 'grey.jpg', mode='L')


def cmyk_jpeg(folder):
    return write_face(folder / 'cmyk.jpg', mode='CMYK')


def smaller_than_128px(folder):
    return write_face(folder / 'small.jpg', size=(60, 50))


def one_pixel_high(folder):
    return write_face(folder / 'sliver.png', size=(300, 1))


def over_pil_pixel_limit(folder):
    """A valid 8x8 PNG whose header claims 20000x20000, which Pillow refuses as a bomb."""
    buffer = io.BytesIO()
    Image.new('L', (8, 8)).save(buffer, 'PNG')
    png = bytearray(buffer.getvalue())
    header = b'IHDR' + struct.pack('>II', 20000, 20000) + bytes(png[24:29])
    png[12:29], png[29:33] = header, struct.pack('>I', zlib.crc32(header))
    (folder / 'huge.png').write_bytes(bytes(png))
    return folder / 'huge.png'


def corrupt_pixels_jpeg(folder):
    """A JPEG with a valid header and end marker but garbage in the middle of its scan data."""
    path = folder / 'corrupt.jpg'
    noise = np.random.default_rng(0).integers(0, 256, (218, 178, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)  # Noise: long scan data to spoil.
    contents = bytearray(path.read_bytes())
    middle = len(contents) // 2
    for index in range(middle, middle + 2000, 7):
        contents[index] = 0xFF
    path.write_bytes(bytes(contents))
    return path


# file maker -> the reason it is skipped, or None when it must train.
DATA_CASES = {
    'truncated_jpeg': (truncated_jpeg, 'truncated JPEG'),
    'zero_byte_file': (zero_byte_file, 'empty file'),
    'text_named_jpg': (text_named_jpg, 'not an image'),
    'png_with_alpha': (png_with_alpha, None),
    'greyscale_jpeg': (greyscale_jpeg, None),
    'cmyk_jpeg': (cmyk_jpeg, None),
    'smaller_than_128px': (smaller_than_128px, None),
    'one_pixel_high': (one_pixel_high, None),
    'over_pil_pixel_limit': (over_pil_pixel_limit, 'too large to decode safely'),
}


@pytest.mark.parametrize('case', DATA_CASES)
def test_dataset_file_is_used_or_skipped_with_its_reason(tmp_path, case):
    make, reason = DATA_CASES[case]
    path = str(make(tmp_path))

    scan = srez_input.scan_images([path])

    if reason:
        assert scan.skipped == [(path, reason)] and not scan.usable
    else:
        # Usable means the pipeline turns it into a face box with Pillow's colours.
        assert scan.usable == [path] and not scan.skipped
        image = srez_input.load_file(tf.constant(path)).numpy()
        expected = np.asarray(Image.open(path).convert('RGB'))
        assert np.abs(image.astype(int) - expected).mean() < 3
        assert srez_input.face_box(image).shape == (144, 144, 3)


def test_unreadable_file_is_skipped():
    # Root reads every file, so the scan runs with the rights of an ordinary user.
    folder = tempfile.mkdtemp()
    try:
        os.chmod(folder, 0o755)
        good, secret = write_face(f'{folder}/good.jpg'), write_face(f'{folder}/secret.jpg')
        os.chmod(secret, 0)
        with _as_ordinary_user():
            scan = srez_input.scan_images([good, secret])
        assert scan.usable == [good]
        assert scan.skipped == [(secret, 'permission denied')]
    finally:
        subprocess.run(['rm', '-rf', folder], check=True)


@contextlib.contextmanager
def _as_ordinary_user():
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


def test_symlinks_are_followed_and_broken_ones_skipped(tmp_path):
    data, elsewhere = tmp_path / 'data', tmp_path / 'elsewhere'
    data.mkdir()
    elsewhere.mkdir()
    target = write_face(elsewhere / 'face.jpg')
    (data / 'link.jpg').symlink_to(target)
    (data / 'broken.jpg').symlink_to(tmp_path / 'gone.jpg')
    (data / 'loop.jpg').symlink_to(data / 'loop.jpg')
    (data / 'linked_folder').symlink_to(elsewhere)
    (elsewhere / 'back').symlink_to(data)  # A folder loop: walked once, not forever.

    paths = srez_input.find_images(str(data))
    scan = srez_input.scan_images(paths)

    names = lambda pairs: sorted(os.path.relpath(p, data) for p in pairs)
    assert names(paths) == ['broken.jpg', 'link.jpg', 'linked_folder/face.jpg', 'loop.jpg']
    assert names(scan.usable) == ['link.jpg', 'linked_folder/face.jpg']
    assert dict((os.path.basename(p), why) for p, why in scan.skipped) == {
        'broken.jpg': 'missing (broken link?)',
        'loop.jpg': 'not a readable image (Too many levels of symbolic links)'}


def test_non_image_files_are_ignored(tmp_path):
    face_path = write_face(tmp_path / 'face.JPG')
    for name in ('README.txt', 'labels.csv', '.DS_Store', 'clip.gif', 'Thumbs.db'):
        (tmp_path / name).write_bytes(b'\x00' * 10)
    (tmp_path / 'folder.png').mkdir()

    assert srez_input.find_images(str(tmp_path)) == [face_path]


def test_corrupt_test_vector_is_replaced_and_reported(tmp_path):
    goods = [write_face(tmp_path / f'good{i}.jpg') for i in range(4)]
    corrupt = str(corrupt_pixels_jpeg(tmp_path))
    assert srez_input.scan_images([corrupt]).usable  # Its header and end marker look fine.
    # A seed whose shuffle draws the corrupt file as a test vector.
    seed = next(seed for seed in range(100)
                if corrupt in srez_input.split_train_test(goods + [corrupt], 2, seed)[1])
    lines = []

    data = srez_input.training_data(str(tmp_path), test_vectors=2, seed=seed, log=lines.append)

    assert len(data.test_keys) == 2 and corrupt not in data.test_keys + data.train_keys
    assert sorted(data.test_keys + data.train_keys) == goods
    assert lines[0] == ('Skipping 1 of 5 image files that cannot be used: corrupt.jpg (corrupt '
                        'image data).')


def test_too_few_usable_images_is_a_one_line_error(tmp_path):
    write_face(tmp_path / 'a.jpg')
    write_face(tmp_path / 'b.png')
    zero_byte_file(tmp_path)
    lines = []

    with pytest.raises(ValueError) as error:
        srez_input.training_data(str(tmp_path), test_vectors=2, seed=0, log=lines.append)

    assert str(error.value) == (f'--dataset {tmp_path} has 2 usable images; it needs at least '
                                f'--test_vectors + 1 = 3.')
    assert lines == ['Skipping 1 of 3 image files that cannot be used: empty.jpg (empty file).']


# Training in-process: resume, refusal, divergence.

def synthetic_data(config):
    keys, load = srez_synthetic.synthetic_faces(range(10 ** 6, 10 ** 6 + 64 + config.test_vectors))
    return srez_input.TrainingData(keys[:64], keys[64:], load)


def train(tmp_path, log=None, **changes):
    config = dataclasses.replace(TINY, train_dir=str(tmp_path / 'train'),
                                 checkpoint_dir=str(tmp_path / 'checkpoint'), **changes)
    return srez_train.train(config, synthetic_data(config), log=log or (lambda line: None))


def scalar(train_dir, tag, step):
    for path in glob.glob(os.path.join(train_dir, 'events.out.tfevents.*')):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag and event.step == step:
                    return float(tf.make_ndarray(value.tensor))
    raise AssertionError(f'no {tag} at step {step}')


def saved(checkpoint_path, name):
    return tf.train.load_checkpoint(checkpoint_path).get_tensor(
        f'{name}/.ATTRIBUTES/VARIABLE_VALUE')


@pytest.fixture(scope='module')
def trained_to_10(tmp_path_factory):
    """A tiny model trained for 10 batches: grids and checkpoints at batches 5 and 10."""
    folder = tmp_path_factory.mktemp('trained')
    train(folder, max_batches=10)
    return folder


@pytest.fixture
def copy_of_trained_to_10(trained_to_10, tmp_path):
    shutil.copytree(trained_to_10, tmp_path, dirs_exist_ok=True)
    return tmp_path


def test_resume_continues_batches_learning_rate_and_time_budget(copy_of_trained_to_10):
    folder = copy_of_trained_to_10
    first_seconds = saved(str(folder / 'checkpoint/srez-10'), 'progress/train_seconds')
    lines = []

    assert train(folder, log=lines.append, max_batches=20) == 20

    latest = str(folder / 'checkpoint/srez-20')
    assert srez_checkpoint.latest(str(folder / 'checkpoint')) == latest
    assert lines[0].startswith(f'Resuming from {folder}/checkpoint/srez-10 at batch 10 (')
    # Adam's step count and the halving schedule (half-life 10) carry on from batch 10.
    assert saved(latest, 'gene_optimizer/iterations') == 20
    assert scalar(str(folder / 'train'), 'learning_rate', 20) == pytest.approx(
        TINY.learning_rate_start / 2)
    spent = saved(latest, 'progress/train_seconds')
    assert spent > first_seconds
    # A budget already spent over both runs trains no further (0.99: float round trips).
    lines.clear()
    assert train(folder, log=lines.append, max_batches=30, train_time=0.99 * spent / 60) == 20
    assert lines[-1].startswith('Training already reached --train_time')


@pytest.mark.parametrize('change, message', [
    (dict(gene_units=(8, 8, 4)), '--gene_units 8,8,8, but this run has --gene_units 8,8,4'),
    (dict(disc_units=(8, 16)), '--disc_units 8,8, but this run has --disc_units 8,16'),
    (dict(sample_size=68), '--sample_size 64, but this run has --sample_size 68'),
    (dict(gene_residual=True), '--nogene_residual, but this run has --gene_residual'),
    (dict(gene_pixel_shuffle=True),
     '--nogene_pixel_shuffle, but this run has --gene_pixel_shuffle'),
])
def test_checkpoint_of_other_model_is_refused(trained_to_10, change, message):
    config = dataclasses.replace(TINY, checkpoint_dir=str(trained_to_10 / 'checkpoint'), **change)
    session = srez_train.TrainingSession(config, tf.distribute.get_strategy())

    with pytest.raises(ValueError) as error:
        session.checkpoint_to_resume()

    assert str(error.value) == (
        f'The checkpoint {trained_to_10}/checkpoint/srez-10 was made with {message}: use the '
        f'same setting, or another --checkpoint_dir to start a new model.')
    assert int(session.progress.batch.numpy()) == 0  # Nothing was loaded.


def test_unreadable_checkpoint_is_refused_in_one_line(copy_of_trained_to_10):
    folder = copy_of_trained_to_10
    data_file, = (folder / 'checkpoint').glob('srez-10.data-*')
    data_file.write_bytes(data_file.read_bytes()[:100])  # Say, a copy cut short.

    with pytest.raises(ValueError) as error:
        train(folder, max_batches=20)

    assert str(error.value).startswith(f'The checkpoint {folder}/checkpoint/srez-10 cannot be '
                                       f'restored (')
    assert '\n' not in str(error.value)


def test_tensorflow_errors_from_data_are_one_line(tmp_path):
    corrupt = str(corrupt_pixels_jpeg(tmp_path))
    cache_file = str(tmp_path / 'faces.cache')
    # What a run killed while filling its cache leaves: the next run would find the cache locked.
    (tmp_path / 'faces.cache_0.lockfile').write_text('Created at: 0')
    config = dataclasses.replace(TINY, cache=True, cache_file=cache_file)
    cached = srez_input.training_dataset([write_face(tmp_path / 'face.jpg')], srez_input.load_file,
                                         4, 64, seed=0, cache=True, cache_file=cache_file)
    nothing_decodes = srez_input.training_dataset([corrupt], srez_input.load_file, 4, 64, seed=0)

    for dataset, message in [
            (cached, f'--cache_file {cache_file} is locked: another run is filling it, or one was '
                     f'killed while it did; if none is running, delete {cache_file}_0.lockfile.'),
            (nothing_decodes, 'No training image could be decoded: check the files in --dataset.')]:
        with pytest.raises(ValueError) as error, srez_train._user_errors(config):
            iter(dataset).get_next()
        assert str(error.value) == message


@pytest.fixture
def flags_parsed():
    """Parses argv into srez_main's flags for one test, then restores the defaults."""
    def parse(argv):
        srez_main.FLAGS.unparse_flags()
        srez_main.FLAGS(['srez_main.py'] + argv)
    yield parse
    srez_main.FLAGS.unparse_flags()


def test_divergence_stops_and_keeps_the_last_good_checkpoint(copy_of_trained_to_10,
                                                             flags_parsed, capsys):
    checkpoints = copy_of_trained_to_10 / 'checkpoint'
    good = {path.name: path.read_bytes() for path in checkpoints.iterdir()}
    # An absurd learning rate overflows the weights within a few batches.
    flags_parsed(TINY_FLAGS + [
        '--run', 'train', '--dataset', 'synthetic', '--checkpoint_period', '5',
        '--max_batches', '40', '--learning_rate_start', '1e30',
        '--train_dir', str(copy_of_trained_to_10 / 'train'), '--checkpoint_dir', str(checkpoints)])

    with pytest.raises(SystemExit) as exit_status:
        srez_main.main(['srez_main.py'])

    assert exit_status.value.code == 2
    error = capsys.readouterr().err
    assert re.fullmatch(
        rf'srez: error: Training diverged at batch (1[1-9]|2\d): a (loss|weight) became NaN or '
        rf'Inf; the last good checkpoint, {checkpoints}/srez-10, is kept\. Try a lower '
        rf'--learning_rate_start \(e\.g\. 1e\+29\)\.\n', error), error
    assert {path.name: path.read_bytes() for path in checkpoints.iterdir()} == good


# The real CLI.

@pytest.fixture(scope='module')
def without_tensorflow(tmp_path_factory):
    """PYTHONPATH for a process in which importing TensorFlow fails."""
    folder = tmp_path_factory.mktemp('without_tensorflow')
    (folder / 'tensorflow').mkdir()
    (folder / 'tensorflow' / '__init__.py').write_text(
        'raise ImportError("srez imported TensorFlow before checking every flag")\n')
    return str(folder)


def cli(*args, cwd, pythonpath, env=None):
    """Runs srez_main.py to completion with `pythonpath` first; returns (status, stderr)."""
    result = subprocess.run([sys.executable, MAIN, *args], cwd=cwd, capture_output=True,
                            text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=pythonpath, **(env or {})))
    return result.returncode, result.stderr


def assert_one_line_error(status, stderr, fragment):
    assert status == 2
    assert stderr.startswith('srez: error: ') and stderr.count('\n') == 1, stderr
    assert fragment in stderr


@pytest.mark.parametrize('args, fragment', [
    (['--run', 'predict'],
     'flag --run=predict: value should be one of <train|demo|infer|eval|export|bench>'),
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
    (['--run', 'infer', '--input', 'file.txt'], '--run infer needs --input'),
    (['--run', 'infer', '--input', 'file.txt', '--output', 'out', '--max_images', '-1'],
     'flag --max_images=-1: -1 is not a non-negative integer'),
    (['--run', 'infer', '--input', 'file.txt', '--output', 'file.txt/out'], '--output: the '
     'folder file.txt/out cannot be used ('),
    (['--run', 'eval', '--batch_size', '0'], 'flag --batch_size=0: 0 is not a positive integer'),
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


def test_output_folder_without_write_permission_is_a_one_line_error(flags_parsed, capsys):
    # In-process, as an ordinary user when root (for whom every folder is writable).
    folder = tempfile.mkdtemp()
    try:
        os.chmod(folder, 0o555)
        flags_parsed(['--run', 'train', '--train_dir', f'{folder}/train'])
        with _as_ordinary_user(), pytest.raises(SystemExit) as exit_status:
            srez_main.main(['srez_main.py'])
        assert_one_line_error(exit_status.value.code, capsys.readouterr().err,
                              f'--train_dir: the folder {folder}/train cannot be used '
                              f'(permission denied)')
    finally:
        os.rmdir(folder)


class Training:
    """A CLI training run in the background, its output in a file we can watch."""

    def __init__(self, folder, *args):
        self.folder = folder
        self.cwd = folder / 'cwd'  # Empty: nothing may land here.
        self.cwd.mkdir(parents=True)
        self.log_path = folder / 'output.txt'
        with open(self.log_path, 'w') as log:
            self.process = subprocess.Popen(
                [sys.executable, MAIN, '--run', 'train', *TINY_FLAGS, '--train_dir',
                 str(folder / 'train'), '--checkpoint_dir', str(folder / 'checkpoint'), *args],
                cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONUNBUFFERED='1'))

    @property
    def output(self):
        return self.log_path.read_text()

    def wait_for(self, text, timeout=CLI_START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, self.output
            time.sleep(0.005)

    def wait(self, timeout=120):
        return self.process.wait(timeout)

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# A grid and a checkpoint every batch, so most of the time is spent saving.
KILL_9_FLAGS = ['--dataset', 'synthetic', '--checkpoint_period', '1', '--summary_period', '1']


def messy_dataset(folder):
    folder.mkdir()
    for index in range(6):
        write_face(folder / f'face{index}.jpg')
    for make, _ in DATA_CASES.values():
        make(folder)
    (folder / 'notes.txt').write_text('ignored')
    return folder


@pytest.fixture(scope='module')
def trainings(tmp_path_factory):
    """Starts the three CLI runs the tests below drive, together; kills what is left at the end."""
    root = tmp_path_factory.mktemp('cli')
    dataset = messy_dataset(root / 'dataset')
    runs = {
        'messy': Training(root / 'messy', '--dataset', str(dataset), '--max_batches', '100000'),
        'double_ctrl_c': Training(root / 'double', '--dataset', 'synthetic', '--max_batches',
                                  '100000'),
        'kill_9': Training(root / 'kill', *KILL_9_FLAGS, '--max_batches', '100000'),
    }
    runs['messy'].dataset = dataset
    yield runs
    for run in runs.values():
        run.stop()


@pytest.fixture(scope='module')
def sigterm_run(trainings):
    run = trainings['messy']
    listing = sorted(os.listdir(run.dataset))
    run.wait_for('Progress[')
    run.process.send_signal(signal.SIGTERM)
    run.status = run.wait()
    run.dataset_listing_before = listing
    return run


def test_messy_folder_trains_and_names_the_skipped_files(sigterm_run):
    output = sigterm_run.output
    assert 'Traceback' not in output
    skipped = re.search(r'^Skipping (\d+) of (\d+) image files that cannot be used: (.*)\.$',
                        output, re.MULTILINE)
    assert skipped, output
    # The five unusable cases of DATA_CASES; notes.txt is not an image file, so not counted.
    assert skipped.group(1, 2) == ('4', '15')
    assert skipped.group(3) == ('empty.jpg (empty file), huge.png (too large to decode safely), '
                                'notes.jpg (not an image), truncated.jpg (truncated JPEG)')
    assert 'Training on 9 images' in output and 'Progress[' in output


def test_sigterm_finishes_the_batch_saves_and_exits_0(sigterm_run):
    output = sigterm_run.output
    assert sigterm_run.status == 0, output
    assert 'SIGTERM: finishing this batch, then saving a checkpoint and a grid' in output
    batch = int(re.search(r'^Stopped at batch (\d+): sample grids in .*/train/, checkpoint in '
                          r'.*/checkpoint/\. Run the same command to continue\.$', output,
                          re.MULTILINE).group(1))
    assert srez_checkpoint.latest(str(sigterm_run.folder / 'checkpoint')).endswith(f'srez-{batch}')
    assert (sigterm_run.folder / 'train' / f'batch{batch:06d}_out.png').is_file()


def test_output_lands_only_in_the_output_folders(sigterm_run):
    assert os.listdir(sigterm_run.cwd) == []
    assert sorted(os.listdir(sigterm_run.dataset)) == sigterm_run.dataset_listing_before
    assert sorted(os.listdir(sigterm_run.folder)) == ['checkpoint', 'cwd', 'output.txt', 'train']


def test_second_ctrl_c_exits_at_once(trainings):
    run = trainings['double_ctrl_c']
    run.wait_for('Progress[')
    run.process.send_signal(signal.SIGINT)
    run.wait_for('press Ctrl-C again to quit at once')
    pressed = time.monotonic()

    run.process.send_signal(signal.SIGINT)

    assert run.wait() == -signal.SIGINT  # Ended by the signal, not by finishing the save.
    assert time.monotonic() - pressed < 2
    assert 'Stopped at batch' not in run.output


@pytest.fixture(scope='module')
def killed_and_resumed(trainings):
    """The kill_9 run, killed the moment a save (its third or later) is seen under way, then
    resumed by the same command for two more batches."""
    run = trainings['kill_9']
    checkpoints, grids = run.folder / 'checkpoint', run.folder / 'train'
    run.wait_for('Progress[')
    deadline = time.monotonic() + 60
    saving = re.compile(r'srez-([3-9]|\d\d+)_temp')
    while not any(saving.fullmatch(name) for name in os.listdir(checkpoints)):
        assert time.monotonic() < deadline
        time.sleep(0.0005)
    run.process.kill()
    run.wait()
    run.left = sorted(os.listdir(checkpoints))
    run.grids = {path.name: path.read_bytes() for path in grids.iterdir() if path.suffix == '.png'}
    run.latest = srez_checkpoint.latest(str(checkpoints))
    run.latest_batch = int(run.latest.rsplit('-', 1)[1])
    run.latest_restores_to = restores(run.latest, str(checkpoints))
    run.resumed = Training(run.folder / 'resumed', *KILL_9_FLAGS, '--max_batches',
                           str(run.latest_batch + 2), '--train_dir', str(grids),
                           '--checkpoint_dir', str(checkpoints))
    run.resumed.status = run.resumed.wait(CLI_START_TIMEOUT)
    return run


def restores(path, checkpoint_dir):
    config = dataclasses.replace(TINY, checkpoint_dir=checkpoint_dir)
    session = srez_train.TrainingSession(config, tf.distribute.get_strategy())
    session.checkpoint.restore(path).assert_consumed()
    return int(session.progress.batch.numpy())


def test_kill_9_during_a_save_resumes_from_the_last_complete_checkpoint(killed_and_resumed):
    run = killed_and_resumed
    checkpoints, latest = run.folder / 'checkpoint', run.latest_batch
    # The kill did catch a save half done: its files lie there, unnamed in `checkpoint`.
    assert any(name.startswith(f'srez-{latest + 1}') for name in run.left), run.left
    assert run.latest_restores_to == latest
    output = run.resumed.output
    assert run.resumed.status == 0, output
    assert f'Removed what an interrupted save left in {checkpoints}/: srez-{latest + 1}' in output
    assert f'Resuming from {run.latest} at batch {latest} ' in output
    assert f'Finished training at batch {latest + 2}:' in output


def test_every_checkpoint_left_after_kill_9_restores(killed_and_resumed):
    checkpoints, latest = killed_and_resumed.folder / 'checkpoint', killed_and_resumed.latest_batch
    names = sorted(os.listdir(checkpoints))
    prefixes = sorted({name.split('.')[0] for name in names if name != 'checkpoint'})
    assert prefixes == [f'srez-{latest + 1}', f'srez-{latest + 2}']
    for prefix in prefixes:
        assert restores(str(checkpoints / prefix), str(checkpoints)) == int(prefix[5:])
    assert len(names) == 1 + 2 * len(prefixes)  # `checkpoint`, and an index and data file each.


def test_resumed_run_does_not_overwrite_earlier_grids(killed_and_resumed):
    run, latest = killed_and_resumed, killed_and_resumed.latest_batch
    grids = run.folder / 'train'
    # The killed run drew batch latest + 1's grid before its save was cut short; the resumed
    # run draws that batch again.
    assert f'batch{latest + 1:06d}_out.png' in run.grids
    for name, contents in run.grids.items():
        assert (grids / name).read_bytes() == contents
    new = sorted({path.name for path in grids.glob('*.png')} - set(run.grids))
    assert new == [f'batch{latest + 1:06d}_out-1.png', f'batch{latest + 2:06d}_out.png']
