"""Runs the distributed halves of test_distribute in fresh processes.

Logical devices and TF_CONFIG must be set before TensorFlow initialises, so each case gets its own
interpreter:

    python tests/distribute_helper.py mirrored OUT.npz
    python tests/distribute_helper.py worker OUT_DIR   (with TF_CONFIG set)
"""
import dataclasses
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import srez_input  # noqa: E402
import srez_model  # noqa: E402
import srez_train  # noqa: E402

BATCHES = 3
PER_REPLICA_BATCH = 4
# Tiny widths keep each step fast; no input noise makes training deterministic. A large Adam
# epsilon makes each step linear in the gradient: with the usual 1e-8 Adam steps by about
# +-learning_rate wherever the gradient is only rounding noise (biases before a batch norm), and
# it would not notice gradients scaled wrongly.
CONFIG = srez_train.TrainConfig(
    batch_size=PER_REPLICA_BATCH, gene_units=(8, 8, 8), disc_units=(8, 8), sample_size=64,
    noise_stddev=0.0, epsilon=1.0, learning_rate_start=1.0, test_vectors=4, checkpoint_period=2, summary_period=2,
    max_batches=BATCHES)


def variables(session):
    """{name: numpy value} of both networks (BN averages included), read on this process."""
    return {f'{index}:{variable.name}': variable.numpy()
            for index, variable in enumerate(session.checkpoint_variables())}


def mirrored(out_path):
    """Trains the same batches on one device (batch 8) and on two (4 each); saves both weights."""
    cpu = tf.config.list_physical_devices('CPU')[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    size = CONFIG.sample_size
    rng = np.random.default_rng(0)
    truth = rng.uniform(size=[BATCHES, 2 * PER_REPLICA_BATCH, size, size, 3]).astype(np.float32)
    inputs = np.asarray(srez_model.box_downscale(truth.reshape([-1, size, size, 3])))
    inputs = inputs.reshape([BATCHES, 2 * PER_REPLICA_BATCH, size // 4, size // 4, 3])
    results = {}
    for name, strategy, batch_size in (
            ('one', tf.distribute.OneDeviceStrategy('/cpu:0'), 2 * PER_REPLICA_BATCH),
            ('mirrored', tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1']), PER_REPLICA_BATCH)):
        session = srez_train.TrainingSession(dataclasses.replace(CONFIG, batch_size=batch_size),
                                             strategy)
        # Each element is one global batch of 8; the strategy splits it between its replicas.
        dataset = tf.data.Dataset.from_tensor_slices((inputs, truth))
        iterator = iter(strategy.experimental_distribute_dataset(dataset))
        if name == 'one':
            results.update({f'initial/{key}': value for key, value in variables(session).items()})
        for _ in range(BATCHES):
            session.train_step(iterator)
        assert strategy.num_replicas_in_sync == (2 if name == 'mirrored' else 1)
        results.update({f'{name}/{key}': value for key, value in variables(session).items()})
    np.savez(out_path, **results)


def worker(out_dir):
    """One multi-worker process: trains with srez_train.train, saves its weights to out_dir."""
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    task = strategy.cluster_resolver.task_id
    sessions = []

    # train() is the real entry point under test; recording its session lets us read the weights.
    class Recorded(srez_train.TrainingSession):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            sessions.append(self)

    srez_train.TrainingSession = Recorded
    config = dataclasses.replace(
        CONFIG, checkpoint_dir=os.path.join(out_dir, 'checkpoint'),
        train_dir=os.path.join(out_dir, f'train{task}'))
    keys, load = srez_input.synthetic_faces(range(68))
    data = srez_train.TrainingData(keys[:64], keys[64:], load)
    srez_train.train(config, data, strategy, log=lambda line: None)
    np.savez(os.path.join(out_dir, f'worker{task}.npz'), **variables(sessions[0]))


if __name__ == '__main__':
    {'mirrored': mirrored, 'worker': worker}[sys.argv[1]](sys.argv[2])
