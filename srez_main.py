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
import dataclasses
import errno
import functools
import importlib.metadata
import importlib.util
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

CPU_DEVICES_VARIABLE = 'SREZ_CPU_DEVICES'
# Errors of the machine (disk full, no permission), not of srez: one line, like a UsageError.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})

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


def _parses(parse, value):
    """absl validator: `parse(value)` must not raise; its ValueError is the flag's message."""
    try:
        parse(value)
    except ValueError as error:
        raise flags.ValidationError(str(error)) from None
    return True


def _element_type(field):
    """The type of the numbers of a list setting (int unless its interval is of floats)."""
    return type(field.metadata['interval'][0]) if 'interval' in field.metadata else int


def define_config_flags(config_class):
    """Defines a flag for each setting of a srez_config dataclass, with its default and rules.

    absl checks the rules as flags parse, before anything else runs (TensorFlow included), and
    parse_flags reports the first broken one in a line.
    """
    for field in srez_config.flag_fields(config_class):
        name, default, rules = field.name, field.default, dict(field.metadata)
        help_text = rules.pop('help')
        bounds = {key: rules.pop(key) for key in ('lower_bound', 'upper_bound') if key in rules}
        if field.type is tuple:
            _define_list_flag(name, default, help_text, rules)
        elif 'choices' in rules:
            flags.DEFINE_enum(name, default, rules.pop('choices'), help_text)
        else:
            define = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
                      float: flags.DEFINE_float, str: flags.DEFINE_string}[field.type]
            define(name, default, help_text, **bounds)
        if 'check' in rules:
            check, what = rules.pop('check')
            flags.register_validator(name, check, f'must be {what}')
        if 'parse' in rules:
            flags.register_validator(name, functools.partial(_parses, rules.pop('parse')))
        assert not rules, f'srez_config rules srez_main does not know: {rules}'


def _define_list_flag(name, default, help_text, rules):
    """A comma-separated list flag: a range (rules' interval) or positive integers."""
    flags.DEFINE_list(name, [str(value) for value in default], help_text)
    example = srez_config.flag_words(name, default) if default else f'--{name} 16,64,256'
    if 'interval' in rules:
        low, high = rules.pop('interval')
        flags.register_validator(
            name, functools.partial(_is_range, number=type(low), low=low, high=high),
            f'must be a range low,high of numbers from {low} to {high}, e.g. {example}')
        return
    count = rules.pop('count', None)
    how_many = f'exactly {count} ' if count else ''
    flags.register_validator(
        name, functools.partial(_positive_integers, exactly=count,
                                at_least=rules.pop('at_least', 0)),
        f'must be {how_many}positive integers separated by commas, e.g. {example}')


def config_from_flags(config_class, **others):
    """The `config_class` (a srez_config dataclass) that the flags ask for; `others` sets fields
    that are not flags. A field that holds another flag config (TrainConfig.model) is made from
    the flags too."""
    values = {}
    for field in dataclasses.fields(config_class):
        if field.name in others:
            continue
        if 'help' in field.metadata:
            value = FLAGS[field.name].value
            values[field.name] = (tuple(_element_type(field)(v) for v in value)
                                  if field.type is tuple else value)
        elif type(field.default) in srez_config.FLAG_CONFIGS:
            values[field.name] = config_from_flags(type(field.default))
    return config_class(**values, **others)


for _config_class in srez_config.FLAG_CONFIGS:
    define_config_flags(_config_class)
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


def _make_output_folders(folders, config):
    """Checks --dataset and the output folders {flag name: path} (with --cache_file's), then
    makes them: a refused run leaves nothing. config: the run's srez_config.TrainConfig."""
    for folder, _ in srez_config.dataset_sources(config.dataset):
        if ('train_dir' in folders and config.dataset != srez_config.SYNTHETIC
                and srez_files.is_within(config.train_dir, folder)):
            raise UsageError(f'--train_dir {config.train_dir} is inside --dataset {folder}: its '
                             f'sample grids would become training images; choose a folder outside '
                             f'it.')
    _check_dataset_folder(config.dataset)
    if config.cache_file:
        folders = dict(folders, cache_file=os.path.dirname(config.cache_file) or '.')
    for name, path in folders.items():
        srez_files.check_writable(name, path)
    for name, path in folders.items():
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as error:  # Such as a read-only disk, which even root cannot write.
            raise UsageError(f'--{name}: the folder {path} cannot be created ({error.strerror}): '
                             f'choose another.') from None


def _check_dataset_folder(dataset):
    """An explicitly given --dataset must be folders; the default may be missing (synthetic)."""
    if dataset in (srez_config.SYNTHETIC, srez_config.DEFAULT_DATASET):
        return
    for folder, _ in srez_config.dataset_sources(dataset):
        if not os.path.isdir(folder):
            raise UsageError(f'--dataset {folder} is not a folder: give the folder holding the '
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


def load_tensorflow(device):
    """Imports TensorFlow for the srez_config.DeviceConfig `device`: its XLA cache must be set
    before TensorFlow loads."""
    use_xla_cache(device.xla_cache_dir)
    import_tensorflow_quietly()


def resolved(config, device):
    """`config` (a srez_config.TrainConfig) with --precision and --xla resolved for the devices
    (their 'auto' depends on them); TensorFlow must be loaded."""
    import srez_devices
    return dataclasses.replace(config, precision=srez_devices.resolve_precision(device.precision),
                               xla=srez_devices.resolve_xla(device.xla, device.strategy))


def _training_data(config, log=print):
    """The usable images of config.dataset (or synthetic faces) as a srez_input.TrainingData."""
    import srez_input
    return srez_input.training_data(
        None if config.dataset == srez_config.SYNTHETIC else config.dataset, config.test_vectors,
        config.random_seed, log, synthetic_if_empty=config.dataset == srez_config.DEFAULT_DATASET)


def run_train():
    config = config_from_flags(srez_config.TrainConfig)
    device = config_from_flags(srez_config.DeviceConfig)
    cpu_devices()  # Checks SREZ_CPU_DEVICES before anything is made.
    _make_output_folders({'train_dir': config.train_dir,
                          'checkpoint_dir': config.checkpoint_dir}, config)
    load_tensorflow(device)
    config = resolved(config, device)
    import tensorflow as tf

    import srez_devices
    import srez_stops
    import srez_train
    imported = time.perf_counter()
    # A multi-worker strategy configures the runtime, which must happen before any TensorFlow op
    # (finding and test-decoding the images runs some).
    strategy = srez_devices.make_strategy(device.strategy, cpu_devices())
    tf.debugging.set_log_device_placement(device.log_device_placement)
    data = _training_data(config)
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


def load_model(log=print, one=False):
    """({input size: generator}, srez_loader.ModelSource): the one model infer, eval, export and
    bench use, as --model, --shipped_models, --sharpness and --checkpoint_dir choose; `log` gets
    its line. one: of the shipped pairs, only the one of --sample_size (its default: 64)."""
    import srez_loader
    generators, source = srez_loader.load(
        config_from_flags(srez_config.ModelChoice), FLAGS.checkpoint_dir,
        FLAGS['checkpoint_dir'].present, sample_size=FLAGS.sample_size if one else None)
    _say_model(source, log)
    return generators, source


def _say_model(source, log=print):
    """The line that names the model a mode uses (srez_loader.ModelSource)."""
    log(source.line())
    if FLAGS['sharpness'].present and source.kind != 'shipped models':
        log('--sharpness is for the shipped models: this model is used as trained '
            '(--shipped_models picks them).')


def run_infer():
    infer = config_from_flags(srez_config.InferConfig)
    images = infer.images
    srez_files.check_writable('output', infer.output)
    import srez_infer
    import srez_loader
    import srez_upscaler
    choice = config_from_flags(srez_config.ModelChoice)
    if srez_loader.may_need_tensorflow(choice, FLAGS.checkpoint_dir):
        import_tensorflow_quietly()
    root, paths = srez_infer.find_inputs(images.input, infer.output)
    upscalers, source = srez_loader.load_upscalers(choice, FLAGS.checkpoint_dir,
                                                   FLAGS['checkpoint_dir'].present)
    _say_model(source)
    upscaler = srez_upscaler.Upscaler.from_models(upscalers, source, images.upscale_batch)
    summary = srez_infer.upscale_files(upscaler, root, paths[:images.max_images or None],
                                       infer.output, compare=infer.compare, faces=infer.faces,
                                       log=print)
    if summary.written:
        print(f'Wrote {len(summary.written)} upscaled images to {infer.output}/.')
    if summary.failed:
        for path, reason in summary.failed:
            print(f'srez: skipped {path}: {reason}', file=sys.stderr)
        tried = len(summary.written) + len(summary.failed)
        what = (f'{len(summary.failed)} of {tried} images failed' if summary.written else
                f'no image was upscaled: all {tried} failed, and nothing was written')
        print(f'srez: {what}.', file=sys.stderr)
        sys.exit(1)


def run_eval():
    evaluation = config_from_flags(srez_config.EvalConfig)
    images, train = evaluation.images, config_from_flags(srez_config.TrainConfig)
    if images.input and not os.path.isdir(images.input):
        raise UsageError(f'--input {images.input} is not a folder: give a folder of ground-truth '
                         f'face images.')
    if not images.input:
        _check_dataset_folder(train.dataset)
    srez_files.check_writable('eval_dir', evaluation.eval_dir)
    import_tensorflow_quietly()
    import srez_eval
    keys, load, faces = _evaluation_faces(images, train)
    generators, source = load_model(one=True)
    generator = generators[source.model.sample_size // 4]
    os.makedirs(evaluation.eval_dir, exist_ok=True)
    print(f'Evaluating on {len(keys)} images: {faces}.')
    results = srez_eval.evaluate(
        generator, keys, load, source.model.sample_size, evaluation.eval_dir, source, faces,
        batch_size=images.upscale_batch, report_count=_show_count,
        degradation=srez_config.Degradation.parse(evaluation.degrade))
    print(srez_eval.table(results))
    print(f'Wrote eval.json and eval.png to {evaluation.eval_dir}/.')


def _evaluation_faces(images, train):
    """(keys, load, a line saying which faces) of the faces eval measures on: --input's, or the
    held-out test vectors of --dataset."""
    import srez_input
    if images.input:
        paths = srez_files.find_images(images.input)[:images.max_images or None]
        keys = srez_input.usable_images(images.input, paths)
        if not keys:
            raise UsageError(f'--input {images.input} holds no usable .jpg, .jpeg or .png files: '
                             f'give a folder of face images.')
        return keys, srez_input.load_file, f'the images of {images.input}'
    data = _training_data(train, log=lambda line: None)
    faces = f' ({data.source})' if data.source == srez_config.SYNTHETIC_SOURCE else ''
    return (data.test_keys[:images.max_images or None], data.load,
            f'the held-out test vectors of --dataset {train.dataset}{faces}, --test_vectors '
            f'{train.test_vectors} --random_seed {train.random_seed}')


def run_export():
    export = config_from_flags(srez_config.ExportConfig)
    if export.export_file:
        srez_files.check_writable('export_file', os.path.dirname(export.export_file) or '.')
    else:
        srez_files.check_writable(*(('export_lite', export.export_lite) if export.export_lite
                                    else ('export_dir', export.export_dir)))
    import_tensorflow_quietly()
    import srez_export
    if export.export_lite and FLAGS.shipped_models:
        written = _export_shipped_lite(export.export_lite)
        print(f'Exported the shipped models to {", ".join(written)}.')
        return
    generators, source = load_model(one=True)
    generator = generators[source.model.sample_size // 4]
    if export.export_file:
        import srez_modelfile
        srez_modelfile.write(generator, source.model, export.export_file, source.record())
        written = export.export_file
    elif export.export_lite:
        written = _export_lite(srez_export.lite_pair(generator, generator)[0], source,
                               export.export_lite)
    else:
        srez_export.export(generator, export.export_dir)
        written = f'{export.export_dir}/'
    print(f'Exported its generator to {written}.')


def _export_lite(content, source, folder):
    """Writes a model's LiteRT file and its description into `folder`; returns the file's path."""
    import json
    stem = os.path.splitext(os.path.basename(source.path.rstrip('/')))[0] or 'model'
    path = os.path.join(folder, stem + '.tflite')
    os.makedirs(folder, exist_ok=True)
    srez_files.write_atomically(path, content)
    srez_files.write_atomically(os.path.splitext(path)[0] + '.json', json.dumps(dict(
        model_config=json.loads(source.model.to_json()), source=source.record()), indent=2))
    return path


def _export_shipped_lite(folder):
    """Writes the LiteRT files of every shipped pair into `folder`; returns their paths."""
    import srez_export
    import srez_loader
    import srez_modelfile
    os.makedirs(folder, exist_ok=True)
    written = []
    for size in srez_loader.shipped_sample_sizes():
        pair = [srez_modelfile.read(srez_config.SHIPPED_MODELS[size][name])[0]
                for name in ('fidelity', 'sharp')]
        for name, content in zip(('fidelity', 'sharp'), srez_export.lite_pair(*pair)):
            path = os.path.join(folder, os.path.basename(srez_config.SHIPPED_LITE[size][name]))
            srez_files.write_atomically(path, content)
            written.append(path)
    return written


def run_facecheck():
    config = config_from_flags(srez_config.FaceCheckConfig)
    dataset = FLAGS.dataset
    if not os.path.isdir(dataset):
        raise UsageError(f'--dataset {dataset} is not a folder: the face check learns from a '
                         f'folder of aligned faces (CelebA\'s img_align_celeba).')
    srez_files.check_writable('face_check_file', os.path.dirname(config.face_check_file) or '.')
    import_tensorflow_quietly()
    import srez_facecheck
    check, record = srez_facecheck.train(dataset, config.face_check_batches,
                                         config.face_check_frames, FLAGS.random_seed)
    srez_facecheck.save(check, config.face_check_file)
    print(f'Wrote the face check to {config.face_check_file} (trained on {record}).')


def run_align():
    config = config_from_flags(srez_config.AlignConfig)
    if not os.path.isdir(config.images.input):
        raise UsageError(f'--input {config.images.input} is not a folder: give the folder of face '
                         f'pictures to re-align.')
    if srez_files.is_within(config.aligned_dir, config.images.input):
        raise UsageError(f'--aligned_dir {config.aligned_dir} is inside --input '
                         f'{config.images.input}: choose a folder outside it.')
    srez_files.check_writable('aligned_dir', config.aligned_dir)
    import srez_align
    paths = srez_files.find_images(config.images.input)[:config.images.max_images or None]
    print(f'Aligning {len(paths)} pictures of {config.images.input} into {config.aligned_dir}/.')
    results = srez_align.align_folder(paths, config.images.input, config.aligned_dir,
                                      config.align_max_outside)
    print(srez_align.summary(results, config.align_max_outside) + f' Each picture\'s fate is in '
          f'{config.aligned_dir}/{srez_align.RECORD}.')


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
    bench = config_from_flags(srez_config.BenchConfig)
    config = config_from_flags(srez_config.TrainConfig)
    device = config_from_flags(srez_config.DeviceConfig)
    cpu_devices()
    _check_dataset_folder(config.dataset)  # Bench writes no grids and no checkpoints.
    load_tensorflow(device)
    config = resolved(config, device)
    import json

    import srez_bench
    import srez_devices
    # stdout carries only the JSON, so `--run bench > bench.json` keeps it clean.
    log = functools.partial(print, file=sys.stderr)
    if FLAGS.shipped_models or FLAGS.model:
        config = dataclasses.replace(config, model=load_model(log)[1].model)
        log('Timing networks of its widths.')
    # Before any TensorFlow op, as in run_train.
    strategy = srez_devices.make_strategy(device.strategy, cpu_devices())
    data = _training_data(config, log)
    report = srez_bench.run(config, data, strategy, bench.bench_batch_sizes or (config.batch_size,),
                            bench.bench_batches, repeats=bench.bench_repeats, log=log)
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
        if FLAGS.run not in ('infer', 'align') and importlib.util.find_spec('tensorflow') is None:
            raise UsageError(f'--run {FLAGS.run} needs the full install (pip install -r '
                             f'requirements.txt): the light install upscales (--run infer) and '
                             f'aligns faces (--run align) only.')
        {'train': run_train, 'demo': run_demo, 'infer': run_infer, 'eval': run_eval,
         'export': run_export, 'bench': run_bench, 'facecheck': run_facecheck,
         'align': run_align}[FLAGS.run]()
    except KeyboardInterrupt:
        # Only outside the training loop, where Ctrl-C instead stops the loop, which saves first.
        print('srez: interrupted.', file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        # The reader of stdout has gone (`| head`): the work is done, nothing is left to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
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
