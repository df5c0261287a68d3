"""srez devices: which devices train, in what precision, whether XLA compiles, and the cluster.

The policy that `--strategy`, `--precision auto` and `--xla` (unset) stand for, chosen from what
`--run bench` measured (README "Speed"), and what a multi-worker run needs to know about its
cluster: how many processes train, and which task an error names.
"""
import dataclasses
import re

import tensorflow as tf


def make_strategy(name, cpu_devices=1):
    """The tf.distribute strategy for --strategy: auto, one, mirrored or multiworker.

    Call it before any TensorFlow op: a multi-worker strategy, and splitting the CPU, configure
    the runtime, which only works before it starts. cpu_devices: split the CPU into this many
    logical devices; on a machine without GPUs, mirrored then trains on all of them.
    """
    if cpu_devices > 1:
        cpu = tf.config.list_physical_devices('CPU')[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
    if name == 'auto':
        name = 'mirrored' if len(tf.config.list_logical_devices('GPU')) > 1 else 'one'
    if name == 'mirrored':
        # MirroredStrategy's default is every GPU, or the first CPU device when there is none.
        gpus = tf.config.list_logical_devices('GPU')
        return tf.distribute.MirroredStrategy(
            None if gpus else [device.name for device in tf.config.list_logical_devices('CPU')])
    if name == 'multiworker':
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def resolved(config):
    """`config` (a srez_config.TrainConfig) with its device's --precision and --xla resolved for
    the devices there are (their 'auto' depends on them)."""
    device = config.device
    return dataclasses.replace(config, precision=resolve_precision(device.precision),
                               xla=resolve_xla(device.xla, device.strategy))


def resolve_precision(requested):
    """--precision auto -> bfloat16 on GPUs that have it, float16 on older GPUs, float32 on CPU.

    On CPU `--run bench` measured bfloat16 no faster than float32 (it is emulated without native
    support), see README "Speed".
    """
    if requested != 'auto':
        return requested
    gpus = tf.config.list_physical_devices('GPU')
    if not gpus:
        return 'float32'
    capability = tf.config.experimental.get_device_details(gpus[0]).get('compute_capability')
    return 'bfloat16' if capability and capability >= (8, 0) else 'float16'


def resolve_xla(requested, strategy_name):
    """--xla unset -> on for one GPU; off on CPU and for several replicas.

    On this project's 2-core AVX-512 CPU `--run bench` measured XLA slower for training at 9 of
    12 width settings (0.85-0.93x at the default and the small widths, docs/speed.md), and it
    adds its compilation to every start; an older AVX2 CPU had measured it 1.16x faster. Several
    replicas run the step uncompiled: MirroredStrategy unwraps the compiled function on CPUs, and
    multi-GPU XLA with merge_call is untested here.
    """
    if requested is not None:
        return requested
    gpus = tf.config.list_physical_devices('GPU')
    return len(gpus) == 1 and strategy_name in ('auto', 'one')


def cluster(strategy):
    """{job: [addresses]} of a multi-worker strategy's TF_CONFIG; {} for one process."""
    resolver = getattr(strategy, 'cluster_resolver', None)
    return resolver.cluster_spec().as_dict() if resolver is not None else {}


def several_workers(strategy):
    """Whether `strategy` trains over more than one process."""
    return sum(len(tasks) for tasks in cluster(strategy).values()) > 1


def any_worker(strategy, flag):
    """Whether `flag` (a bool) is true on any worker; every worker must call it."""
    return bool(_sum_of_votes(strategy, tf.constant(float(flag))) > 0)


@tf.function
def _sum_of_votes(strategy, vote):
    # In a tf.function: run eagerly, the collective costs about half a second a call.
    return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: vote), axis=None)


def lost_worker_name(strategy, message):
    """'worker 1 (host:port)': the first task of the cluster, other than this one, that an error
    `message` of TensorFlow's names; 'another worker' when it names none."""
    tasks, resolver = cluster(strategy), strategy.cluster_resolver
    for job, index in re.findall(r'/job:(\w+)(?:/replica:\d+)?/task:(\d+)', message):
        index = int(index)
        if (job, index) != (resolver.task_type, resolver.task_id) and index < len(
                tasks.get(job, ())):
            return f'{job} {index} ({tasks[job][index]})'
    return 'another worker'
