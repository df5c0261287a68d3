"""srez: super-resolution of faces (16x16 -> 64x64) with a GAN, on TensorFlow 2.

Train (on dataset/, or on built-in synthetic faces when it holds no images), then make a movie of
the sample grids:

    python srez_main.py --run train --train_time 20
    python srez_main.py --run train --dataset ../celeba/img_align_celeba --train_time 180
    python srez_main.py --run demo
    python srez_main.py --run bench --bench_batch_sizes 16,64,256

This is the only module that reads flags: it validates them, turns them into plain values and
hands those to the module that does the work.
"""
import functools
import os
import sys

# Hide TensorFlow's start-up chatter (such as CUDA probing on machines without a GPU).
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from absl import app, flags, logging  # noqa: E402

RUNS = ('train', 'demo', 'bench')
DEFAULT_DATASET = 'dataset'
SYNTHETIC = 'synthetic'

flags.DEFINE_enum('run', None, RUNS, 'What to do: train a model, make a demo movie, or benchmark '
                  'training speed.')
flags.DEFINE_integer('batch_size', 16, 'Number of samples per batch (per device).')
flags.DEFINE_string('checkpoint_dir', 'checkpoint', 'Output folder where checkpoints are dumped.')
flags.DEFINE_integer('checkpoint_period', 10000, 'Number of batches in between checkpoints.')
flags.DEFINE_string('dataset', DEFAULT_DATASET,
                    f'Folder of training images (searched recursively), or "{SYNTHETIC}" for the '
                    'built-in synthetic faces.')
flags.DEFINE_float('epsilon', 1e-8, 'Fuzz term to avoid numerical instability (Adam).')
flags.DEFINE_float('gene_l1_factor', 0.9,
                   'Multiplier for generator L1 loss term (the rest is the adversarial loss).')
flags.DEFINE_float('learning_beta1', 0.5, 'Beta1 parameter used for AdamOptimizer.')
flags.DEFINE_float('learning_rate_start', 0.0002, 'Starting learning rate used for AdamOptimizer.')
flags.DEFINE_integer('learning_rate_half_life', 5000,
                     'Number of batches until learning rate is halved.')
flags.DEFINE_bool('log_device_placement', False, 'Log the device where variables are placed.')
flags.DEFINE_integer('sample_size', 64, 'Image sample size in pixels (64..128, a multiple of 4).')
flags.DEFINE_integer('summary_period', 200, 'Number of batches between sample grids.')
flags.DEFINE_integer('random_seed', 0, 'Seed used to initialize the random generators.')
flags.DEFINE_integer('test_vectors', 16, 'Number of held-out images used as test vectors.')
flags.DEFINE_string('train_dir', 'train', 'Output folder for sample grids and summaries.')
flags.DEFINE_float('train_time', 20, 'Time in minutes to train the model (fractions allowed).')
flags.DEFINE_integer('max_batches', 0, 'Stop after this many batches in all (0 = no limit).')
flags.DEFINE_list('gene_units', ['256', '128', '96'],
                  'Generator widths: one per 2x upscale stage, then the final width.')
flags.DEFINE_list('disc_units', ['64', '128', '256', '512'],
                  'Discriminator widths, one per stride-2 stage.')

flags.DEFINE_enum('precision', 'auto', ['auto', 'float32', 'bfloat16', 'float16'],
                  'Compute precision; auto picks the fastest for the device (variables and losses '
                  'stay float32).')
flags.DEFINE_bool('xla', None, 'Compile the training and inference steps with XLA '
                  '(default: where it is faster).')
flags.DEFINE_enum('strategy', 'auto', ['auto', 'one', 'mirrored', 'multiworker'],
                  'Devices to train on: one device, all local GPUs (mirrored), or several machines '
                  'configured by TF_CONFIG (multiworker); auto = mirrored with several GPUs.')
flags.DEFINE_bool('cache', False, 'Keep the decoded face boxes in memory (or --cache_file), so '
                  'images are decoded only once.')
flags.DEFINE_string('cache_file', '', 'With --cache: a file to cache the decoded faces in, for '
                    'datasets larger than memory.')

flags.DEFINE_integer('bench_batches', 10, 'With --run bench: batches per timed repeat.')
flags.DEFINE_list('bench_batch_sizes', [], 'With --run bench: batch sizes to measure, e.g. '
                  '16,64,256 (default: --batch_size).')

FLAGS = flags.FLAGS


class UsageError(ValueError):
    """A flag or path the user must change; reported as one line."""


def _units(name, values, minimum_count, example=None):
    try:
        units = tuple(int(v) for v in values)
    except ValueError:
        units = ()
    if len(units) < minimum_count or min(units) < 1:
        raise UsageError(f'--{name} must be at least {minimum_count} positive integers separated '
                         f'by commas, e.g. --{name} {example or ",".join(FLAGS[name].default)}')
    return units


def _check_positive(*names):
    for name in names:
        if FLAGS[name].value <= 0:
            raise UsageError(f'--{name} must be positive (got {FLAGS[name].value}).')


def _check_writable(name, path):
    """The folder `path` exists or can be made, and can be written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise UsageError(f'--{name} {path} cannot be created ({error.strerror}): choose another '
                         f'folder.') from None
    if not os.path.isdir(path) or not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f'--{name} {path} is not a writable folder: choose another folder.')


def train_config():
    """Validates the training flags and returns them as a srez_train.TrainConfig."""
    import srez_train
    _check_positive('batch_size', 'checkpoint_period', 'summary_period', 'test_vectors',
                    'train_time', 'learning_rate_start', 'learning_rate_half_life', 'epsilon')
    if FLAGS.max_batches < 0:
        raise UsageError(f'--max_batches must be 0 (no limit) or positive (got '
                         f'{FLAGS.max_batches}).')
    if not 64 <= FLAGS.sample_size <= 128 or FLAGS.sample_size % 4:
        raise UsageError(f'--sample_size must be a multiple of 4 from 64 to 128 (got '
                         f'{FLAGS.sample_size}).')
    if FLAGS.test_vectors > FLAGS.batch_size:
        raise UsageError(f'--test_vectors ({FLAGS.test_vectors}) must not exceed --batch_size '
                         f'({FLAGS.batch_size}).')
    if not 0 <= FLAGS.gene_l1_factor <= 1:
        raise UsageError(f'--gene_l1_factor must be between 0 and 1 (got {FLAGS.gene_l1_factor}).')
    if not 0 <= FLAGS.learning_beta1 < 1:
        raise UsageError(f'--learning_beta1 must be in [0, 1) (got {FLAGS.learning_beta1}).')
    return srez_train.TrainConfig(
        batch_size=FLAGS.batch_size, checkpoint_dir=FLAGS.checkpoint_dir,
        checkpoint_period=FLAGS.checkpoint_period, epsilon=FLAGS.epsilon,
        gene_l1_factor=FLAGS.gene_l1_factor, learning_beta1=FLAGS.learning_beta1,
        learning_rate_start=FLAGS.learning_rate_start,
        learning_rate_half_life=FLAGS.learning_rate_half_life, sample_size=FLAGS.sample_size,
        summary_period=FLAGS.summary_period, random_seed=FLAGS.random_seed,
        test_vectors=FLAGS.test_vectors, train_dir=FLAGS.train_dir, train_time=FLAGS.train_time,
        max_batches=FLAGS.max_batches, gene_units=_units('gene_units', FLAGS.gene_units, 2),
        disc_units=_units('disc_units', FLAGS.disc_units, 1),
        precision=srez_train.resolve_precision(FLAGS.precision),
        xla=srez_train.resolve_xla(FLAGS.xla, FLAGS.strategy),
        cache=FLAGS.cache or bool(FLAGS.cache_file), cache_file=FLAGS.cache_file)


def training_data(dataset, test_vectors, seed, log=print):
    """Finds the training images and returns a srez_train.TrainingData.

    The default dataset folder falls back to synthetic faces when it holds no images; an explicitly
    chosen folder that is missing or empty is an error.
    """
    import srez_input
    import srez_train
    if dataset != SYNTHETIC:
        if not os.path.isdir(dataset):
            if dataset != DEFAULT_DATASET:
                raise UsageError(f'--dataset {dataset} is not a folder: give the folder holding '
                                 f'the training images (e.g. CelebA\'s img_align_celeba).')
            paths = []
        else:
            paths = srez_input.find_images(dataset)
        if paths or dataset != DEFAULT_DATASET:
            return _file_data(dataset, paths, test_vectors, seed, log)
    log('=' * 78)
    reason = 'As asked' if dataset == SYNTHETIC else 'No images in dataset/'
    log(f'{reason}: training on built-in synthetic faces. For real faces, download')
    log('CelebA "Align&Cropped" (img_align_celeba.zip) and unzip it into dataset/; see')
    log('dataset/README.md.')
    log('=' * 78)
    first = seed * 1_000_000
    train_keys = list(range(first, first + srez_input.SYNTHETIC_TRAIN_FACES))
    test_keys = list(range(train_keys[-1] + 1, train_keys[-1] + 1 + test_vectors))
    return srez_train.TrainingData(train_keys, test_keys, srez_input.load_synthetic)


def _file_data(dataset, paths, test_vectors, seed, log):
    import srez_input
    import srez_train
    scan = srez_input.scan_images(paths)
    if scan.skipped:
        shown = ', '.join(f'{os.path.relpath(p, dataset)} ({why})' for p, why in scan.skipped[:5])
        more = f' and {len(scan.skipped) - 5} more' if len(scan.skipped) > 5 else ''
        log(f'Skipping {len(scan.skipped)} of {len(paths)} image files that cannot be used: '
            f'{shown}{more}.')
    if len(scan.usable) < test_vectors + 1:
        raise UsageError(f'--dataset {dataset} has {len(scan.usable)} usable images; it needs at '
                         f'least --test_vectors + 1 = {test_vectors + 1}.')
    log(f'Training on {len(scan.usable) - test_vectors} images from {dataset} '
        f'({test_vectors} held out as test vectors).')
    train_keys, test_keys = srez_input.split_train_test(scan.usable, test_vectors, seed)
    return srez_train.TrainingData(train_keys, test_keys, srez_input.load_file)


def run_train():
    import tensorflow as tf
    import srez_train
    config = train_config()
    if os.path.realpath(config.train_dir) == os.path.realpath(FLAGS.dataset):
        raise UsageError('--train_dir must not be the --dataset folder: outputs would mix with the '
                         'training images.')
    _check_writable('train_dir', config.train_dir)
    _check_writable('checkpoint_dir', config.checkpoint_dir)
    tf.debugging.set_log_device_placement(FLAGS.log_device_placement)
    data = training_data(FLAGS.dataset, config.test_vectors, config.random_seed)
    try:
        srez_train.train(config, data, srez_train.make_strategy(FLAGS.strategy))
    except srez_train.Diverged as error:
        raise UsageError(str(error)) from None


def run_demo():
    import srez_demo
    srez_demo.make_movie(FLAGS.train_dir)


def run_bench():
    import json
    import srez_bench
    import srez_train
    config = train_config()
    _check_positive('bench_batches')
    batch_sizes = _units('bench_batch_sizes', FLAGS.bench_batch_sizes or [FLAGS.batch_size], 1,
                         example='16,64,256')
    # stdout carries only the JSON, so `--run bench > bench.json` keeps it clean.
    log = functools.partial(print, file=sys.stderr)
    data = training_data(FLAGS.dataset, config.test_vectors, config.random_seed, log)
    report = srez_bench.run(config, data, srez_train.make_strategy(FLAGS.strategy), batch_sizes,
                            FLAGS.bench_batches, log=log)
    log(srez_bench.table(report))
    print(json.dumps(report))


def main(argv):
    logging.set_verbosity(logging.WARNING)  # TensorFlow's Python INFO lines are not for users.
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {" ".join(argv[1:])}')
    if FLAGS.run is None:
        raise app.UsageError(f'--run is required: one of {", ".join(RUNS)}.')
    try:
        {'train': run_train, 'demo': run_demo, 'bench': run_bench}[FLAGS.run]()
    except ValueError as error:
        # UsageError and the ValueErrors of the modules carry one line for the user.
        print(f'srez: error: {error}', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    app.run(main)
