"""Scaling out on CPU, from the command line as a user runs it: two workers on 127.0.0.1, a worker
that dies, and two mirrored devices on one machine.

The workers share a run that costs about a minute each time it starts, so one sequence drives the
multi-worker tests: two workers train until the chief has saved, one is killed, the other must end
with one line; both start again with the same command and finish; a one-process run continues.
Every wait is bounded: a process still running at its deadline is killed and the test fails.
"""
import json
import os
import pathlib
import re
import socket
import time

import numpy as np
import pytest
import tensorflow as tf
from helpers import BackgroundRun, summaries, tiny_config, write_face_images

import srez_checkpoint
import srez_session

pytestmark = pytest.mark.slow  # Each run starts TensorFlow; a lost worker takes half a minute.
TINY = ['--gene_units', '16,8,8', '--disc_units', '8,16', '--batch_size', '4',
        '--test_vectors', '2', '--checkpoint_period', '2', '--summary_period', '2']
RUN_TIMEOUT = 300  # Seconds from start to exit; TensorFlow's start-up alone takes ~10 s.
# Seconds for the survivor to end once a worker is killed: TensorFlow notices missing heartbeats
# within about half a minute, a broken connection at once.
LOST_WORKER_TIMEOUT = 150
# Float32 sums taken in another order (per replica, then across) differ in the last bits.
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(('127.0.0.1', 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


class Cluster:
    """Two workers on 127.0.0.1 sharing --checkpoint_dir, each with its own --train_dir and
    temporary folder (so we see what each one writes), started as the README says."""

    def __init__(self, root):
        self.root = root
        self.faces = root / 'faces'
        write_face_images(self.faces, 8)  # 6 to train on, 2 test vectors.
        self.checkpoints = root / 'checkpoint'
        self.addresses = [f'127.0.0.1:{port}' for port in free_ports(2)]
        self.runs = []

    def start(self, name, *args):
        """Starts both workers with the same command; returns their Runs (the chief first)."""
        workers = []
        for index in range(2):
            folder = self.root / f'worker{index}'
            (folder / 'tmp').mkdir(parents=True, exist_ok=True)
            tf_config = {'cluster': {'worker': self.addresses},
                         'task': {'type': 'worker', 'index': index}}
            workers.append(BackgroundRun(
                self.root / f'{name}{index}.txt',
                ['--run', 'train', '--strategy', 'multiworker', '--dataset', str(self.faces), *TINY,
                 '--train_dir', str(folder / 'train'), '--checkpoint_dir', str(self.checkpoints),
                 *args],
                env={'TF_CONFIG': json.dumps(tf_config), 'TMPDIR': str(folder / 'tmp')},
                cwd=folder))
        self.runs += workers
        return workers


def restores_to(path):
    """The batch count of checkpoint `path` after restoring all of it into a new session."""
    config = tiny_config(pathlib.Path(path).parent, gene_units=(16, 8, 8), disc_units=(8, 16))
    session = srez_session.TrainingSession(config, tf.distribute.get_strategy())
    session.checkpoint.restore(path).assert_consumed()
    return int(session.progress.batch.numpy())


@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp('cluster'))
    yield cluster
    for run in cluster.runs:
        run.kill()


@pytest.fixture(scope='module')
def killed(cluster):
    """Two workers train until the chief has saved a checkpoint; then worker 1 is killed."""
    chief, other = cluster.start('killed', '--max_batches', '100000')
    deadline = time.monotonic() + RUN_TIMEOUT
    while srez_checkpoint.latest(str(cluster.checkpoints)) is None:
        assert chief.process.poll() is None and other.process.poll() is None, chief.output
        if time.monotonic() > deadline:
            pytest.fail(f'No checkpoint after {RUN_TIMEOUT} s:\n{chief.output}')
        time.sleep(0.1)
    other.kill()
    chief.status = chief.wait(LOST_WORKER_TIMEOUT)
    cluster.killed_chief = chief
    cluster.left = sorted(os.listdir(cluster.checkpoints))
    cluster.latest = srez_checkpoint.latest(str(cluster.checkpoints))
    return cluster


@pytest.fixture(scope='module')
def restarted(killed):
    """Both workers started again with the same command, for two more batches."""
    latest_batch = srez_checkpoint.saved_progress(killed.latest)[0]
    # What the kill left in worker 1's temporary folder (a save it was in the middle of, when the
    # machine is slow): the process that could have deleted it is gone.
    killed.left_by_kill = set(os.listdir(killed.root / 'worker1' / 'tmp'))
    workers = killed.start('restarted', '--max_batches', str(latest_batch + 2))
    for run in workers:
        run.status = run.wait()
    killed.restarted = workers
    killed.resumed_batch = latest_batch
    return killed


def test_a_lost_worker_ends_the_other_with_one_line_naming_it(killed):
    chief = killed.killed_chief
    output = chief.output
    assert chief.status == 2, output
    assert 'Traceback' not in output
    last = output.strip().splitlines()[-1]
    assert re.fullmatch(
        rf'srez: error: Lost worker 1 \({re.escape(killed.addresses[1])}\) after batch \d+: it '
        rf'stopped responding \(it crashed, was stopped, or cannot be reached\)\. Start every '
        rf'worker again with the same command to continue from {re.escape(killed.latest)}\.',
        last), last
    # Nothing half-saved is left: every checkpoint in the folder restores.
    prefixes = sorted({name.split('.')[0] for name in killed.left if name != 'checkpoint'})
    assert prefixes and all(name.startswith('srez-') and name.count('.') == 1
                            for name in killed.left if name != 'checkpoint'), killed.left
    for prefix in prefixes:
        assert restores_to(str(killed.checkpoints / prefix)) == int(prefix[len('srez-'):])


def test_restarted_workers_resume_from_the_last_complete_checkpoint(restarted):
    for run in restarted.restarted:
        output = run.output
        assert run.status == 0, output
        assert f'Resuming from {restarted.latest} at batch {restarted.resumed_batch} ' in output
        assert f'Finished training at batch {restarted.resumed_batch + 2}:' in output
        assert 'Traceback' not in output


def test_only_the_chief_writes_grids_and_checkpoints(restarted):
    chief, other = restarted.root / 'worker0', restarted.root / 'worker1'
    assert any(name.endswith('.png') for name in os.listdir(chief / 'train'))
    assert os.listdir(other / 'train') == []
    # Worker 1 took part in every save, into a temporary folder that it then deleted.
    assert not [name for name in os.listdir(other / 'tmp')
                if 'checkpoint' in name and name not in restarted.left_by_kill]
    final = restarted.resumed_batch + 2
    assert srez_checkpoint.latest(str(restarted.checkpoints)).endswith(f'srez-{final}')


def test_the_chiefs_checkpoint_continues_in_one_process(restarted, srez_cli, capsys):
    final = restarted.resumed_batch + 2
    status = srez_cli('--run', 'train', '--strategy', 'one', '--noxla', '--dataset',
                      str(restarted.faces), *TINY, '--train_dir', str(restarted.root / 'one' / 'train'),
                      '--checkpoint_dir', str(restarted.checkpoints), '--max_batches',
                      str(final + 2))
    output = capsys.readouterr().out
    assert status == 0, output
    assert f'Resuming from {restarted.checkpoints}/srez-{final} at batch {final} ' in output
    assert f'Finished training at batch {final + 2}:' in output


def test_two_mirrored_cpu_devices_train_like_one_device_on_the_doubled_batch(tmp_path, srez_cli,
                                                                             capsys):
    write_face_images(tmp_path / 'faces', 12)
    # A large Adam epsilon makes each step linear in the gradient: with the usual 1e-8 Adam steps
    # by about +-learning_rate wherever the gradient is only rounding noise, and it would not
    # notice gradients scaled wrongly. A larger rate, or more batches, and the GAN amplifies the
    # rounding differences past the tolerance. A checkpoint after each of the two batches.
    common = ['--dataset', str(tmp_path / 'faces'), *TINY, '--max_batches', '2', '--noxla',
              '--checkpoint_period', '1', '--summary_period', '1', '--epsilon', '1',
              '--learning_rate_start', '0.1']
    folders = {name: (tmp_path / name / 'train', tmp_path / name / 'checkpoint')
               for name in ('mirrored', 'one')}
    flags = {name: ['--train_dir', str(train), '--checkpoint_dir', str(checkpoint)]
             for name, (train, checkpoint) in folders.items()}
    mirrored = BackgroundRun(tmp_path / 'mirrored.txt',
                             ['--run', 'train', *common, *flags['mirrored'], '--strategy',
                              'mirrored'], env={'SREZ_CPU_DEVICES': '2'}, cwd=tmp_path)
    try:
        # Meanwhile, in this process: one device, twice the batch.
        status = srez_cli(*common, *flags['one'], '--run', 'train', '--strategy', 'one',
                          '--batch_size', '8')
        assert status == 0, capsys.readouterr()
        assert mirrored.wait() == 0, mirrored.output
    finally:
        mirrored.kill()

    assert 'Finished training at batch 2' in mirrored.output
    losses = {name: {tag: float(values[2]) for tag, values in summaries(train).items()
                     if tag.endswith('_loss')} for name, (train, _) in folders.items()}
    assert len(losses['one']) == 4, losses
    for tag, value in losses['one'].items():
        np.testing.assert_allclose(losses['mirrored'][tag], value, err_msg=tag, **TOLERANCE)
    readers = {name: tf.train.load_checkpoint(str(checkpoint / 'srez-2'))
               for name, (_, checkpoint) in folders.items()}
    earlier = tf.train.load_checkpoint(str(folders['one'][1] / 'srez-1'))
    names = [name for name in readers['one'].get_variable_to_shape_map()
             if name.startswith(('generator/', 'discriminator/'))]
    moved = max(np.abs(readers['one'].get_tensor(name) - earlier.get_tensor(name)).max()
                for name in names if '/kernel/' in name)
    # The second batch moved the weights well past the tolerance: the match means something (a
    # gradient summed over replicas instead of averaged would double the step).
    assert moved > 30 * TOLERANCE['atol']
    for name in names:
        np.testing.assert_allclose(readers['mirrored'].get_tensor(name),
                                   readers['one'].get_tensor(name), err_msg=name, **TOLERANCE)
