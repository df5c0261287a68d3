"""srez: super-resolution of faces (16x16 -> 64x64) with a GAN, on TensorFlow 2.

Upscale faces and photos with the shipped models, or with your own (the newest checkpoint in
--checkpoint_dir comes first); measure a model against bicubic on held-out faces; export it:

    python srez_main.py --run infer --input photos/ --output upscaled/ --compare --sharpness 0.5
    python srez_main.py --run eval --input faces/
    python srez_main.py --run export --export_dir export

Train (on dataset/, or on built-in synthetic faces when it holds no images), then make a movie of
the sample grids; --recipe fidelity and sharp are what trained the shipped models:

    python srez_main.py --run train --train_time 20
    python srez_main.py --run train --recipe fidelity --dataset ../celeba/img_align_celeba
    python srez_main.py --run demo      # or just python srez_main.py, as in the original
    python srez_main.py --run bench --bench_batch_sizes 16,64,256

This is the only module that reads flags: it validates them, turns them into plain values and
hands those to the module that does the work. A UsageError (a mistake the user can fix) is
reported as one line; anything else is a bug and keeps its traceback.

The environment variable SREZ_CPU_DEVICES=N splits the CPU into N logical devices, so that
`--strategy mirrored` can be tried (and checked against one device) on a machine without GPUs.
"""
import errno
import functools
import importlib.metadata
import os
import sys
import time
import traceback

LAUNCHED = time.perf_counter()  # Start-up phases are reported from here (see srez_train).

# Hide TensorFlow's start-up chatter (such as CUDA probing on machines without a GPU).
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from absl import app, flags, logging  # noqa: E402

import srez_config  # noqa: E402
import srez_files  # noqa: E402
from srez_errors import UsageError  # noqa: E402

RUNS = ('train', 'demo', 'infer', 'eval', 'export', 'bench')
DEFAULT_DATASET = 'dataset'
SYNTHETIC = 'synthetic'
CPU_DEVICES_VARIABLE = 'SREZ_CPU_DEVICES'
# Errors of the machine (disk full, no permission), not of srez: one line, like a UsageError.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})

flags.DEFINE_enum('run', 'demo', RUNS, 'What to do: train a model, make a demo movie of its '
                  'sample grids (the default, as in the original), upscale images (infer), measure '
                  'the model against bicubic (eval), export it, or benchmark training and '
                  'inference speed (bench).')
flags.DEFINE_string('dataset', DEFAULT_DATASET,
                    f'Folder of training images (searched recursively), or "{SYNTHETIC}" for the '
                    'built-in synthetic faces.')
flags.DEFINE_enum('generator_weights', 'average', ['average', 'raw'],
                  'infer, eval, export: use the averaged generator weights (or the raw ones when '
                  'a checkpoint has none), or the raw weights as last trained.')
flags.DEFINE_bool('log_device_placement', False, 'Log the device where variables are placed.')
flags.DEFINE_string('input', '', 'infer: an image file or a folder of images (searched '
                    'recursively). eval: a folder of ground-truth faces (default: the held-out '
                    'test vectors of --dataset).')
flags.DEFINE_string('output', 'upscaled', 'infer: the folder to write the upscaled PNGs into.')
flags.DEFINE_enum('faces', 'auto', ['auto', 'on', 'off'], 'infer: find the faces of each image, '
                  'align, upscale and paste them back into its bicubic upscale (on), or upscale '
                  'each image whole (off); auto = whole for images of the model\'s input size '
                  '(aligned faces, 16x16 at the default --sample_size), faces for the rest.')
flags.DEFINE_bool('compare', False, 'infer: also write <stem>_compare.png, input nearest | '
                  'bicubic | output, side by side.')
flags.DEFINE_string('degrade', 'clean', 'eval: damage every input the same way each time, as '
                    'real small faces are damaged: clean, or blur:SIGMA (pixels of the truth), '
                    'noise:SIGMA (1/255) and jpeg:QUALITY joined by +, e.g. '
                    'blur:1.2+noise:3+jpeg:75.')
flags.DEFINE_integer('max_images', 0, 'infer, eval: use only the first this many images '
                     '(0 = all).', lower_bound=0)
flags.DEFINE_string('export_dir', 'export', 'export: the folder to write the SavedModel into.')
flags.DEFINE_string('export_file', '', 'export: write the generator as one srez model file '
                    '(.zip, what --init_from and the shipped models are) instead of a SavedModel.')
flags.DEFINE_float('sharpness', 0.5, 'infer, eval, export with the shipped models: 0 = the '
                   'fidelity model (most faithful), 1 = the sharp model (GAN detail), between = '
                   'their weights interpolated.', lower_bound=0, upper_bound=1)
flags.DEFINE_bool('shipped_models', False, 'infer, eval, export: use the shipped models even '
                  'when --checkpoint_dir holds a checkpoint (without one they are used anyway); '
                  'bench: measure the shipped models\' widths.')
flags.DEFINE_enum('recipe', 'faithful', list(srez_config.RECIPES), 'train: a set of flag values '
                  'that flags given on the command line override. faithful = the 2016 srez; '
                  'fidelity and sharp = what trained the shipped models (models/README.md).')
flags.DEFINE_enum('precision', 'auto', ['auto', 'float32', 'bfloat16', 'float16'],
                  'Compute precision; auto picks the fastest for the device (variables and losses '
                  'stay float32).')
flags.DEFINE_bool('xla', None, 'Compile the training and inference steps with XLA '
                  '(default: where it is faster).')
flags.DEFINE_enum('strategy', 'auto', ['auto', 'one', 'mirrored', 'multiworker'],
                  'Devices to train on: one device, all local GPUs (mirrored), or several machines '
                  'configured by TF_CONFIG (multiworker); auto = mirrored with several GPUs.')
flags.DEFINE_string('xla_cache_dir', None, 'Folder where compiled XLA programs are kept, so the '
                    'next run of the same model starts without compiling (default: '
                    '$XDG_CACHE_HOME/srez/xla, else ~/.cache/srez/xla; "" = no cache).')
flags.DEFINE_integer('bench_batches', 10, 'With --run bench: batches per timed repeat.',
                     lower_bound=1)
flags.DEFINE_integer('bench_repeats', 5, 'With --run bench: timed repeats of each figure, of '
                     'which the median is reported.', lower_bound=1)
flags.DEFINE_list('bench_batch_sizes', [], 'With --run bench: batch sizes to measure, e.g. '
                  '16,64,256 (default: --batch_size).')

FLAGS = flags.FLAGS


def _positive_integers(values, exactly=None, at_least=0):
    """Whether the strings `values` are positive integers, `exactly` or `at_least` so many."""
    if not all(value.isdigit() and int(value) > 0 for value in values):
        return False
    return len(values) == exactly if exactly is not None else len(values) >= at_least


def _is_range(values, number, low, high):
    """Whether the strings `values` are two numbers of type `number`, low <= a <= b <= high."""
    try:
        parsed = [number(value) for value in values]
    except ValueError:
        return False
    return len(parsed) == 2 and low <= parsed[0] <= parsed[1] <= high


def define_config_flags(config_class):
    """Defines a flag for each setting of a srez_config dataclass, with its default and rules.

    absl checks the rules as flags parse, before anything else runs (TensorFlow included), and
    parse_flags reports the first broken one in a line.
    """
    for field in srez_config.flag_fields(config_class):
        name, default, rules = field.name, field.default, dict(field.metadata)
        help_text = rules.pop('help')
        bounds = {key: rules.pop(key) for key in ('lower_bound', 'upper_bound') if key in rules}
        if isinstance(default, bool):
            flags.DEFINE_bool(name, default, help_text)
        elif isinstance(default, int):
            flags.DEFINE_integer(name, default, help_text, **bounds)
        elif isinstance(default, float):
            flags.DEFINE_float(name, default, help_text, **bounds)
        elif isinstance(default, tuple) and 'interval' in rules:
            flags.DEFINE_list(name, [str(value) for value in default], help_text)
            low, high = rules.pop('interval')
            flags.register_validator(
                name, functools.partial(_is_range, number=type(default[0]), low=low, high=high),
                f'must be a range low,high of numbers from {low} to {high}, e.g. '
                f'{srez_config.flag_words(name, default)}')
        elif isinstance(default, tuple):
            flags.DEFINE_list(name, [str(value) for value in default], help_text)
            count = rules.pop('count', None)
            how_many = f'exactly {count} ' if count else ''
            flags.register_validator(
                name, functools.partial(_positive_integers, exactly=count,
                                        at_least=rules.pop('at_least', 0)),
                f'must be {how_many}positive integers separated by commas, e.g. '
                f'{srez_config.flag_words(name, default)}')
        elif 'choices' in rules:
            flags.DEFINE_enum(name, default, rules.pop('choices'), help_text)
        else:
            flags.DEFINE_string(name, default, help_text)
        if 'check' in rules:
            check, what = rules.pop('check')
            flags.register_validator(name, check, f'must be {what}')
        assert not rules, f'srez_config rules srez_main does not know: {rules}'


def config_from_flags(config_class, **others):
    """The `config_class` (a srez_config dataclass) that the flags ask for; `others` sets the
    fields that are not flags."""
    values = {}
    for field in srez_config.flag_fields(config_class):
        value = FLAGS[field.name].value
        values[field.name] = (tuple(type(field.default[0])(v) for v in value)
                              if isinstance(field.default, tuple) else value)
    return config_class(**values, **others)


define_config_flags(srez_config.ModelConfig)
define_config_flags(srez_config.TrainConfig)
define_config_flags(srez_config.DamageConfig)
flags.register_validator('bench_batch_sizes', _positive_integers,
                         'must be positive integers separated by commas, e.g. '
                         '--bench_batch_sizes 16,64,256')
flags.register_multi_flags_validator(
    ['learning_rate_schedule', 'max_batches'],
    lambda values: values['learning_rate_schedule'] != 'cosine' or values['max_batches'] > 0,
    '--learning_rate_schedule cosine needs --max_batches, the length of its cosine')
flags.register_multi_flags_validator(
    ['run', 'input'], lambda values: values['run'] != 'infer' or bool(values['input']),
    '--run infer needs --input: an image file or a folder of images')


def import_tensorflow_quietly():
    """Imports TensorFlow with native stderr silenced.

    TensorFlow's C++ start-up prints CUDA probing lines before its own log settings apply; they
    are noise on machines without a GPU. Python errors still surface once stderr is back.
    """
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def use_xla_cache(folder):
    """Makes TensorFlow keep compiled XLA programs in `folder` ('' = not at all).

    Must run before TensorFlow loads, which reads TF_XLA_FLAGS once. An entry is found again only
    for the same computation (XLA keys it by a fingerprint of the whole compiled program: model,
    shapes and settings) on the same TensorFlow version (a folder per version), so a change of
    widths or flags compiles anew and cannot pick up a stale program.
    """
    if folder is None:
        base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
        folder = os.path.join(base, 'srez', 'xla')
    if not folder or 'tf_xla_persistent_cache_directory' in os.environ.get('TF_XLA_FLAGS', ''):
        return
    folder = os.path.join(folder, 'tensorflow-' + importlib.metadata.version('tensorflow'))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return  # An unwritable cache only costs start-up time: compile as without one.
    os.environ['TF_XLA_FLAGS'] = (f'{os.environ.get("TF_XLA_FLAGS", "")} '
                                  f'--tf_xla_persistent_cache_directory={folder}').strip()


def _integers(values):
    """The comma-separated values of a list flag that a validator passed, as a tuple of ints."""
    return tuple(int(value) for value in values)


def _make_output_folders(names):
    """Checks --dataset and the output folders of flags `names` (and --cache_file's), then makes
    them: a refused run leaves nothing."""
    if ('train_dir' in names and FLAGS.dataset != SYNTHETIC
            and srez_files.is_within(FLAGS.train_dir, FLAGS.dataset)):
        raise UsageError(f'--train_dir {FLAGS.train_dir} is inside --dataset {FLAGS.dataset}: its '
                         f'sample grids would become training images; choose a folder outside it.')
    _check_dataset_folder(FLAGS.dataset)
    folders = {name: FLAGS[name].value for name in names}
    if FLAGS.cache_file:
        folders['cache_file'] = os.path.dirname(FLAGS.cache_file) or '.'
    for name, path in folders.items():
        srez_files.check_writable(name, path)
    for name, path in folders.items():
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as error:  # Such as a read-only disk, which even root cannot write.
            raise UsageError(f'--{name}: the folder {path} cannot be created ({error.strerror}): '
                             f'choose another.') from None


def _check_dataset_folder(dataset):
    """An explicitly given --dataset must be a folder; the default may be missing (synthetic)."""
    if dataset not in (SYNTHETIC, DEFAULT_DATASET) and not os.path.isdir(dataset):
        raise UsageError(f'--dataset {dataset} is not a folder: give the folder holding the '
                         f'training images (e.g. CelebA\'s img_align_celeba).')


def cpu_devices():
    """The number of logical CPU devices that SREZ_CPU_DEVICES asks for (default 1).

    Read here, like a flag, and checked before TensorFlow loads; srez_devices.make_strategy
    makes the devices.
    """
    value = os.environ.get(CPU_DEVICES_VARIABLE, '1')
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f'{CPU_DEVICES_VARIABLE} must be a positive number of logical CPU devices '
                         f'(got {value!r}).')
    return int(value)


def train_config(outputs=('train_dir', 'checkpoint_dir')):
    """Checks what the flag validators cannot, creates the output folders, returns a TrainConfig.

    outputs: the flags naming the folders this mode writes (--cache_file's folder is added when
    given). Every check runs before TensorFlow loads, so a mistake is reported in a moment.
    """
    cpu_devices()  # Checks SREZ_CPU_DEVICES too.
    _make_output_folders(outputs)
    use_xla_cache(FLAGS.xla_cache_dir)
    import_tensorflow_quietly()
    import srez_devices
    return config_from_flags(
        srez_config.TrainConfig, precision=srez_devices.resolve_precision(FLAGS.precision),
        xla=srez_devices.resolve_xla(FLAGS.xla, FLAGS.strategy),
        model=config_from_flags(srez_config.ModelConfig),
        damage=config_from_flags(srez_config.DamageConfig))


def _training_data(log=print):
    """--dataset's usable images (or synthetic faces) as a srez_input.TrainingData."""
    import srez_input
    return srez_input.training_data(
        None if FLAGS.dataset == SYNTHETIC else FLAGS.dataset, FLAGS.test_vectors,
        FLAGS.random_seed, log, synthetic_if_empty=FLAGS.dataset == DEFAULT_DATASET)


def run_train():
    config = train_config()
    import tensorflow as tf

    import srez_devices
    import srez_stops
    import srez_train
    imported = time.perf_counter()
    # A multi-worker strategy configures the runtime, which must happen before any TensorFlow op
    # (finding and test-decoding the images runs some).
    strategy = srez_devices.make_strategy(FLAGS.strategy, cpu_devices())
    tf.debugging.set_log_device_placement(FLAGS.log_device_placement)
    data = _training_data()
    startup = [('importing TensorFlow', imported - LAUNCHED),
               ('finding devices and images', time.perf_counter() - imported)]
    try:
        srez_train.train(config, data, strategy, startup=startup)
    except srez_stops.Diverged as error:
        raise UsageError(str(error)) from None


def run_demo():
    import srez_demo
    srez_demo.make_movie(FLAGS.train_dir)


def _show_count(done, total):
    """A one-line counter on stderr, rewritten in place; logs (not a terminal) are spared it."""
    if sys.stderr.isatty():
        print(f'\r{done}/{total} images', end='\n' if done == total else '', file=sys.stderr,
              flush=True)


def run_infer():
    srez_files.check_writable('output', FLAGS.output)
    import_tensorflow_quietly()
    import srez_infer
    root, paths = srez_infer.find_inputs(FLAGS.input, FLAGS.output)
    generator, _ = trained_generator()
    summary = srez_infer.upscale_files(
        generator, root, paths[:FLAGS.max_images or None], FLAGS.output, compare=FLAGS.compare,
        batch_size=FLAGS.batch_size, faces=FLAGS.faces, log=print)
    print(f'Wrote {len(summary.written)} upscaled images to {FLAGS.output}/.')
    if summary.failed:
        for path, reason in summary.failed:
            print(f'srez: skipped {path}: {reason}', file=sys.stderr)
        print(f'srez: {len(summary.failed)} of {len(summary.written) + len(summary.failed)} '
              f'images failed.', file=sys.stderr)
        sys.exit(1)


def run_eval():
    try:
        degradation = srez_config.Degradation.parse(FLAGS.degrade)
    except ValueError as error:
        raise UsageError(f'--degrade {FLAGS.degrade}: {error}.') from None
    if FLAGS.input and not os.path.isdir(FLAGS.input):
        raise UsageError(f'--input {FLAGS.input} is not a folder: give a folder of ground-truth '
                         f'face images.')
    if not FLAGS.input:
        _check_dataset_folder(FLAGS.dataset)
    srez_files.check_writable('train_dir', FLAGS.train_dir)
    import_tensorflow_quietly()
    import srez_eval
    import srez_input
    if FLAGS.input:
        paths = srez_input.find_images(FLAGS.input)[:FLAGS.max_images or None]
        keys = srez_input.usable_images(FLAGS.input, paths)
        load, source = srez_input.load_file, f'the images of {FLAGS.input}'
    else:
        data = _training_data(log=lambda line: None)
        keys, load = data.test_keys[:FLAGS.max_images or None], data.load
        faces = ' (built-in synthetic faces)' if load is not srez_input.load_file else ''
        source = (f'the held-out test vectors of --dataset {FLAGS.dataset}{faces}, '
                  f'--test_vectors {FLAGS.test_vectors} --random_seed {FLAGS.random_seed}')
    if not keys:
        raise UsageError(f'--input {FLAGS.input} holds no usable .jpg, .jpeg or .png files: give '
                         f'a folder of face images.')
    generator, info = trained_generator()
    os.makedirs(FLAGS.train_dir, exist_ok=True)
    print(f'Evaluating on {len(keys)} images: {source}.')
    results = srez_eval.evaluate(generator, keys, load, info['model'].sample_size, FLAGS.train_dir,
                                 info, source, batch_size=FLAGS.batch_size,
                                 report_count=_show_count, degradation=degradation)
    print(srez_eval.table(results))
    print(f'Wrote eval.json and eval.png to {FLAGS.train_dir}/.')


def trained_generator():
    """(generator, info) for infer, eval and export: the newest checkpoint of --checkpoint_dir,
    else (or with --shipped_models) the shipped models at --sharpness, said in one line."""
    import srez_checkpoint
    import srez_models
    if not FLAGS.shipped_models and srez_checkpoint.latest(FLAGS.checkpoint_dir):
        if FLAGS['sharpness'].present:
            print(f'--sharpness is for the shipped models: using the checkpoint of '
                  f'{FLAGS.checkpoint_dir}/ as trained (--shipped_models picks them).')
        return srez_checkpoint.load_generator(FLAGS.checkpoint_dir, FLAGS.generator_weights)
    if not FLAGS.shipped_models:
        print(f'No checkpoint in {FLAGS.checkpoint_dir}/: using the shipped models at '
              f'--sharpness {FLAGS.sharpness:g} (0 = fidelity, 1 = sharp; see models/README.md).')
    return srez_models.shipped(FLAGS.sharpness)


def run_export():
    if FLAGS.export_file:
        srez_files.check_writable('export_file', os.path.dirname(FLAGS.export_file) or '.')
    else:
        srez_files.check_writable('export_dir', FLAGS.export_dir)
    import_tensorflow_quietly()
    import srez_export
    generator, info = trained_generator()
    if FLAGS.export_file:
        import srez_models
        srez_models.write(generator, info['model'], FLAGS.export_file,
                          source={key: info[key] for key in ('path', 'batch', 'weights')})
        written = FLAGS.export_file
    else:
        srez_export.export(generator, FLAGS.export_dir)
        written = f'{FLAGS.export_dir}/'
    print(f'Exported the generator of {info["path"]} (batch {info["batch"]}, '
          f'{info["weights"]} weights) to {written}.')


def _exit_with_error(message):
    print(f'srez: error: {message}', file=sys.stderr)
    sys.exit(2)


def parse_flags(argv):
    """absl's flag parser, reporting a malformed or unknown flag like any other usage error.

    The values of --recipe take the place of the defaults of flags not given on the command line.
    """
    try:
        remaining = FLAGS(argv)
        for name, value in srez_config.RECIPES[FLAGS.recipe].items():
            if not FLAGS[name].present:
                FLAGS[name].value = list(map(str, value)) if isinstance(value, tuple) else value
        FLAGS.validate_all_flags()
        return remaining
    except flags.Error as error:
        # absl lists every broken rule, a line each; the first says what to fix first.
        _exit_with_error(f'{str(error).splitlines()[0]} (see --helpshort).')


def run_bench():
    batch_sizes = _integers(FLAGS.bench_batch_sizes) or (FLAGS.batch_size,)
    config = train_config(outputs=())  # Bench writes no grids and no checkpoints.
    import dataclasses
    import json

    import srez_bench
    import srez_devices
    if FLAGS.shipped_models:
        import srez_models
        shipped = srez_models.read(srez_config.SHIPPED_MODELS['fidelity'])[1]['model']
        config = dataclasses.replace(config, model=shipped)
    # Before any TensorFlow op, as in run_train.
    strategy = srez_devices.make_strategy(FLAGS.strategy, cpu_devices())
    # stdout carries only the JSON, so `--run bench > bench.json` keeps it clean.
    log = functools.partial(print, file=sys.stderr)
    data = _training_data(log)
    report = srez_bench.run(config, data, strategy, batch_sizes, FLAGS.bench_batches,
                            repeats=FLAGS.bench_repeats, log=log)
    log(srez_bench.table(report))
    print(json.dumps(report))


def main(argv):
    logging.set_verbosity(logging.WARNING)  # TensorFlow's Python INFO lines are not for users.
    if hasattr(sys.stdout, 'reconfigure'):  # Not every stand-in for stdout has it.
        sys.stdout.reconfigure(line_buffering=True)  # A log file shows progress as it happens.
    try:
        if len(argv) > 1:
            raise UsageError(f'Unexpected arguments: {" ".join(argv[1:])} (flags are written '
                             f'--name value).')
        {'train': run_train, 'demo': run_demo, 'infer': run_infer, 'eval': run_eval,
         'export': run_export, 'bench': run_bench}[FLAGS.run]()
    except KeyboardInterrupt:
        # Only outside the training loop, where Ctrl-C instead stops the loop, which saves first.
        print('srez: interrupted.', file=sys.stderr)
        sys.exit(130)
    except Exception as error:
        if isinstance(error, UsageError) or (isinstance(error, OSError)
                                             and error.errno in ENVIRONMENT_ERRNOS):
            _exit_with_error(error)
        # Anything else is a mistake in srez: its traceback is what a fix needs.
        traceback.print_exc()
        print('srez: internal error: this is a bug in srez, not in how you ran it; please report '
              'it with the traceback above and the command you ran.', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    app.run(main, flags_parser=parse_flags)
