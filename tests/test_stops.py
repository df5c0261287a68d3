"""srez_stops: Ctrl-C, SIGTERM and kill -9 lose no work, and TensorFlow's errors from a user's
data become one line.

The signal tests run the real CLI in processes started together (loading TensorFlow takes most
of their time); they are marked slow.
"""
import os
import pathlib
import re
import signal
import time

import pytest
import tensorflow as tf
from helpers import TINY_FLAGS, BackgroundRun, tiny_config
from image_files import DATA_CASES, corrupt_pixels_jpeg, write_face

import srez_checkpoint
import srez_input
import srez_session
import srez_stops


def test_tensorflow_errors_from_data_are_one_line(tmp_path):
    corrupt = str(corrupt_pixels_jpeg(tmp_path))
    cache_file = str(tmp_path / 'faces.cache')
    # What a run killed while filling its cache leaves: the next run would find the cache locked.
    (tmp_path / 'faces.cache_0.lockfile').write_text('Created at: 0')
    cached = srez_input.training_dataset(
        [srez_input.KeyGroup([write_face(tmp_path / 'face.jpg')])], srez_input.load_file, 4, 64,
        seed=0, cache=True, cache_file=cache_file)
    nothing_decodes = srez_input.training_dataset([srez_input.KeyGroup([corrupt])],
                                                  srez_input.load_file, 4, 64, seed=0)

    for dataset, message in [
            (cached, f'--cache_file {cache_file} is locked: another run is filling it, or one was '
                     f'killed while it did; if none is running, delete {cache_file}_0.lockfile.'),
            (nothing_decodes, 'No training image could be decoded: check the files in --dataset.')]:
        with pytest.raises(ValueError) as error, srez_stops.user_errors(cache_file):
            iter(dataset).get_next()
        assert str(error.value) == message


def training(folder, *args):
    """A CLI training run of the tiny model in the background, writing only under `folder`."""
    cwd = folder / 'cwd'  # Empty: nothing may land here.
    cwd.mkdir(parents=True)
    run = BackgroundRun(folder / 'output.txt',
                        ['--run', 'train', *TINY_FLAGS, '--train_dir', str(folder / 'train'),
                         '--checkpoint_dir', str(folder / 'checkpoint'), *args], cwd=cwd)
    run.folder, run.cwd = folder, cwd
    return run


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
        'messy': training(root / 'messy', '--dataset', str(dataset), '--max_batches', '100000'),
        'double_ctrl_c': training(root / 'double', '--dataset', 'synthetic', '--max_batches',
                                  '100000'),
        'kill_9': training(root / 'kill', *KILL_9_FLAGS, '--max_batches', '100000'),
    }
    runs['messy'].dataset = dataset
    yield runs
    for run in runs.values():
        run.kill()


@pytest.fixture(scope='module')
def sigterm_run(trainings):
    run = trainings['messy']
    listing = sorted(os.listdir(run.dataset))
    run.wait_for('Progress[')
    run.process.send_signal(signal.SIGTERM)
    run.status = run.wait()
    run.dataset_listing_before = listing
    return run


@pytest.mark.slow
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
    assert 'Training on 7 images' in output and 'Progress[' in output


@pytest.mark.slow
def test_sigterm_finishes_the_batch_saves_and_exits_0(sigterm_run):
    output = sigterm_run.output
    assert sigterm_run.status == 0, output
    assert ('SIGTERM: batch finished; saving a checkpoint and a grid, then stopping (press '
            'Ctrl-C again to quit at once).') in output
    batch = int(re.search(r'^Stopped at batch (\d+): sample grids in .*/train/, checkpoint in '
                          r'.*/checkpoint/\. Run the same command to continue\.$', output,
                          re.MULTILINE).group(1))
    assert srez_checkpoint.latest(str(sigterm_run.folder / 'checkpoint')).endswith(f'srez-{batch}')
    assert (sigterm_run.folder / 'train' / f'batch{batch:06d}_out.png').is_file()


@pytest.mark.slow
def test_output_lands_only_in_the_output_folders(sigterm_run):
    assert os.listdir(sigterm_run.cwd) == []
    assert sorted(os.listdir(sigterm_run.dataset)) == sigterm_run.dataset_listing_before
    assert sorted(os.listdir(sigterm_run.folder)) == ['checkpoint', 'cwd', 'output.txt', 'train']


def stopped_while(run, condition, timeout=60):
    """Stops `run` (SIGSTOP) at a moment when `condition()` holds, as seen while it is stopped:
    what the test then does to it happens in that state, whatever the timing. Returns False if
    the run ended first."""
    deadline = time.monotonic() + timeout
    while run.process.poll() is None:
        assert time.monotonic() < deadline, run.output
        if condition():
            run.process.send_signal(signal.SIGSTOP)
            if run.process.poll() is None and condition():
                return True
            run.process.send_signal(signal.SIGCONT)  # The moment passed before the stop.
        time.sleep(0.0005)
    return False


def catches(pid, signum):
    """Whether process `pid` has a handler of its own for `signum` (Linux /proc)."""
    with open(f'/proc/{pid}/status') as status:
        mask = next(line.split()[1] for line in status if line.startswith('SigCgt:'))
    return bool(int(mask, 16) >> (signum - 1) & 1)


@pytest.mark.slow
def test_second_ctrl_c_exits_at_once(trainings, tmp_path):
    run = trainings['double_ctrl_c']
    for attempt in range(3):
        run.wait_for('Progress[')
        run.process.send_signal(signal.SIGINT)
        # Stopped once the first Ctrl-C has been handled (srez_stops restores the default
        # action), before the batch, the save and the exit that it asks for are done.
        if stopped_while(run, lambda: not catches(run.process.pid, signal.SIGINT)):
            break
        run = training(tmp_path / f'again{attempt}', '--dataset', 'synthetic',
                       '--max_batches', '100000')
    try:
        run.process.send_signal(signal.SIGINT)
        run.process.send_signal(signal.SIGCONT)
        assert run.wait() == -signal.SIGINT  # Ended by the signal, not by finishing the save.
        assert 'Stopped at batch' not in run.output
    finally:
        run.kill()


@pytest.fixture(scope='module')
def killed_and_resumed(trainings):
    """The kill_9 run, killed in the middle of a save (its third or later), then resumed by the
    same command for two more batches."""
    run = trainings['kill_9']
    checkpoints, grids = run.folder / 'checkpoint', run.folder / 'train'
    run.wait_for('Progress[')
    saving = re.compile(r'srez-([3-9]|\d\d+)_temp')
    assert stopped_while(run, lambda: any(saving.fullmatch(name)
                                          for name in os.listdir(checkpoints))), run.output
    run.process.kill()
    run.wait()
    run.left = sorted(os.listdir(checkpoints))
    run.grids = {path.name: path.read_bytes() for path in grids.iterdir() if path.suffix == '.png'}
    run.latest = srez_checkpoint.latest(str(checkpoints))
    run.latest_batch = int(run.latest.rsplit('-', 1)[1])
    run.latest_restores_to = restores(run.latest, str(checkpoints))
    run.resumed = training(run.folder / 'resumed', *KILL_9_FLAGS, '--max_batches',
                           str(run.latest_batch + 2), '--train_dir', str(grids),
                           '--checkpoint_dir', str(checkpoints))
    run.resumed.status = run.resumed.wait()
    return run


def restores(path, checkpoint_dir):
    """The batch count of checkpoint `path`, restored whole into a new session."""
    session = srez_session.TrainingSession(tiny_config(pathlib.Path(checkpoint_dir)),
                                           tf.distribute.get_strategy())
    session.checkpoint.restore(path).assert_consumed()
    return int(session.progress.batch.numpy())


@pytest.mark.slow
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


@pytest.mark.slow
def test_every_checkpoint_left_after_kill_9_restores(killed_and_resumed):
    checkpoints, latest = killed_and_resumed.folder / 'checkpoint', killed_and_resumed.latest_batch
    names = sorted(os.listdir(checkpoints))
    prefixes = sorted({name.split('.')[0] for name in names if name != 'checkpoint'})
    assert prefixes == [f'srez-{latest + 1}', f'srez-{latest + 2}']
    for prefix in prefixes:
        assert restores(str(checkpoints / prefix), str(checkpoints)) == int(prefix[5:])
    assert len(names) == 1 + 2 * len(prefixes)  # `checkpoint`, and an index and data file each.


@pytest.mark.slow
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
