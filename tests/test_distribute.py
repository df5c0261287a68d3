"""Scale-out on CPU: two mirrored devices, and two worker processes, train like one device."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'distribute_helper.py')
TIMEOUT_SECONDS = 300
# Float32 sums taken in another order (per replica, then across) differ in the last bits.
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def helper(*args, env=None):
    return subprocess.Popen([sys.executable, HELPER, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', **(env or {})))


def finish(process):
    try:
        output, _ = process.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    assert process.returncode == 0, output


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(('127.0.0.1', 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_two_mirrored_devices_train_like_one_device_on_the_doubled_batch(tmp_path):
    out = tmp_path / 'weights.npz'
    finish(helper('mirrored', str(out)))
    weights = np.load(out)
    names = [key[len('one/'):] for key in weights if key.startswith('one/')]
    assert names and all(f'mirrored/{name}' in weights for name in names)
    moved = max(np.abs(weights[f'one/{name}'] - weights[f'initial/{name}']).max() for name in names)
    assert moved > 100 * TOLERANCE['atol']  # Training moved the weights: the match means something.
    for name in names:
        np.testing.assert_allclose(weights[f'mirrored/{name}'], weights[f'one/{name}'],
                                   err_msg=name, **TOLERANCE)


def test_two_workers_stay_in_sync_and_the_chiefs_checkpoint_restores_in_one_process(tmp_path):
    ports = free_ports(2)
    cluster = {'worker': [f'127.0.0.1:{port}' for port in ports]}
    workers = [helper('worker', str(tmp_path), env={'TF_CONFIG': json.dumps(
        {'cluster': cluster, 'task': {'type': 'worker', 'index': index}})}) for index in range(2)]
    for process in workers:
        finish(process)

    chief, other = np.load(tmp_path / 'worker0.npz'), np.load(tmp_path / 'worker1.npz')
    assert sorted(chief) == sorted(other)
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)
    # Only the chief writes grids; the other worker's checkpoints went to a temporary folder.
    assert any(name.endswith('.png') for name in os.listdir(tmp_path / 'train0'))
    assert not (tmp_path / 'train1').exists()

    import tensorflow as tf
    import srez_checkpoint
    import srez_train
    from distribute_helper import CONFIG, variables
    path = srez_checkpoint.latest(str(tmp_path / 'checkpoint'))
    assert srez_checkpoint.saved_batch(path) == CONFIG.max_batches
    session = srez_train.TrainingSession(CONFIG, tf.distribute.get_strategy())
    session.checkpoint.restore(path).assert_consumed()
    for name, value in variables(session).items():
        np.testing.assert_array_equal(value, chief[name], err_msg=name)
