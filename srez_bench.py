"""srez benchmark: images/s of training, inference and the input pipeline, fast vs plain, and
how close they run to the device's own measured peak.

    python srez_main.py --run bench
    python srez_main.py --run bench --precision bfloat16 --xla --bench_batch_sizes 16,64,256

For each batch size it times the configured variant (--precision, --xla) and the plain one
(float32, no XLA) with the real training step of srez_session, in the same process, so the ratio
compares like with like. Training and inference are fed one batch held in memory, so they measure
the device alone; the input pipeline is timed alone, as training would read it, and again with
every input damaged (srez_damage, by the --damage_* settings).

FLOPs per image are counted from the networks' own layers (srez_model.flops); the peak is the
faster of a 2048x2048 float32 matmul and the generator's first 3x3 convolution at the model's
shapes, timed in the same run. Achieved GFLOP/s over that peak says at once whether training
runs near what the device can do, or is misconfigured.
"""
import dataclasses
import functools
import gc
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

import srez_devices
import srez_files
import srez_input
import srez_loader
import srez_model
import srez_session
import srez_upscaler

REPEATS = 5
WARMUP_CALLS = 2  # The first call traces (and with XLA compiles); the second settles allocators.
PLAIN = dict(precision='float32', xla=False)
MATMUL_SIZE = 2048
PHOTO_SIZE, PHOTO_FACES = (640, 480), 10  # The photo --run bench upscales through --faces.
VIDEO_SIZES, VIDEO_FRAMES = ((256, 192), (640, 480)), 36  # The videos: cut from the photo.


def run_bench(config):
    """--run bench: times what config.train (a srez_config.BenchConfig's) trains, as configured
    and plain; the report as JSON on stdout, the progress and its table on stderr, so that
    `--run bench > bench.json` keeps it clean."""
    train = srez_devices.resolved(config.train)
    log = functools.partial(print, file=sys.stderr)
    if config.choice.shipped_models or config.choice.model:
        model = srez_loader.load(config.choice)
        log(model.source.line())
        train = dataclasses.replace(train, model=model.source.model)
        log('Timing networks of its widths.')
    # Before any TensorFlow op, as in srez_train.run_train.
    strategy = srez_devices.make_strategy(train.device.strategy, train.device.cpu_devices)
    data = srez_input.configured_data(train, log)
    report = measure(train, data, strategy, config.bench_batch_sizes or (train.batch_size,),
                     config.bench_batches, repeats=config.bench_repeats, log=log)
    log(report_table(report))
    print(json.dumps(report))


def measure(config, data, strategy, batch_sizes, batches, repeats=REPEATS, log=print):
    """Measures every batch size; returns the report as a JSON-ready dict.

    config: a srez_config.TrainConfig (its batch_size is replaced by each of `batch_sizes`, per
    replica). data: a srez_input.TrainingData. batches: timed batches per repeat; the median
    repeat is reported. log: where progress lines go.
    """
    configured = dict(precision=config.precision, xla=config.xla)
    train_flops, inference_flops = srez_model.training_flops_per_image(
        srez_model.Generator(config.model), srez_model.Discriminator(config.model),
        config.model.sample_size, adversarial=config.gene_l1_factor < 1)
    report = {
        'device': device_name(),
        'tensorflow': tf.__version__,
        'replicas': strategy.num_replicas_in_sync,
        'model': dataclasses.asdict(config.model),
        'cache': config.cache,
        'batches': batches,
        'repeats': repeats,
        'configured': configured,
        'peak_memory': 'GPU:0 allocator peak' if _gpus() else 'process RSS peak',
        'train_gflop_per_image': train_flops / 1e9,
        'inference_gflop_per_image': inference_flops / 1e9,
        'results': [],
    }
    for batch_size in batch_sizes:
        report['results'].append(_measure_batch_size(
            dataclasses.replace(config, batch_size=batch_size), data, strategy, batches, repeats,
            report, log))
    log(f'Timing a {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} photo of {PHOTO_FACES} faces...')
    report['photo'] = _time_photo(config, data, repeats)
    log('Timing videos...')
    report['video'] = _time_videos(config, data)
    return report


def _time_photo(config, data, repeats):
    """Seconds of each part of --run infer on one photo (PHOTO_SIZE, PHOTO_FACES of the run's
    faces), median of `repeats` after a warm-up, through the pipeline infer uses
    (srez_photo.PhotoPipeline): face detection with its second look, the faces (cut, model,
    paste), and the background upscale; photos/s for the three together."""
    pipeline = srez_upscaler.Upscaler.from_generator(srez_model.Generator(config.model), None,
                                                     config.batch_size).pipeline
    photo = _photo(data, min(pipeline.models))
    seconds = {'detection': [], 'faces': [], 'background': []}
    for repeat in range(repeats + 1):
        start = time.perf_counter()
        faces = pipeline.find_faces(photo)
        found = time.perf_counter()
        background = pipeline.upscale_background(photo)
        upscaled = time.perf_counter()
        pipeline.paste_faces(photo, faces, background)
        done = time.perf_counter()
        if repeat:  # The first is the warm-up: tracing and the detector's first calls.
            for part, value in (('detection', found - start), ('background', upscaled - found),
                                ('faces', done - upscaled)):
                seconds[part].append(value)
    figures = {f'{part}_seconds': statistics.median(values) for part, values in seconds.items()}
    figures.update(width=PHOTO_SIZE[0], height=PHOTO_SIZE[1], faces=PHOTO_FACES,
                   faces_found=len(faces),
                   photos_per_second=1 / sum(figures[f'{part}_seconds'] for part in seconds))
    return figures


def _time_videos(config, data):
    """Frames/s of a video through srez_video.upscale_video, as --run infer upscales it: read,
    faces tracked and upscaled, the rest bicubic, written as H.264; for each of VIDEO_SIZES, a
    clip of VIDEO_FRAMES cut from the bench's photo (its faces at the model's input size),
    drifting a pixel every 4 frames."""
    import srez_video  # PyAV, only here.
    upscaler = srez_upscaler.Upscaler.from_generator(srez_model.Generator(config.model), None,
                                                     config.batch_size)
    photo = _photo(data, min(upscaler.input_sizes))
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        for width, height in VIDEO_SIZES:
            clip = os.path.join(folder, f'{width}x{height}.mp4')
            writer = srez_video.VideoWriter(clip, width, height, 12)
            for index in range(VIDEO_FRAMES):
                moved = np.roll(photo, (index // 4, index // 4), axis=(0, 1))
                writer.write(np.ascontiguousarray(moved[:height, :width]))
            writer.close()
            start = time.perf_counter()
            srez_video.upscale_video(upscaler.pipeline.upscale_frames, clip,
                                     os.path.join(folder, 'upscaled.mp4'))
            figures[f'{width}x{height}'] = VIDEO_FRAMES / (time.perf_counter() - start)
    return figures


def _photo(data, size):
    """uint8 [h, w, 3] of PHOTO_SIZE: PHOTO_FACES of the run's faces (test vectors first), each
    with its frame at the model's input size, spread over a smooth background."""
    keys = (list(data.test_keys) + list(data.train_keys))[:PHOTO_FACES]
    width, height = PHOTO_SIZE
    y, x = np.mgrid[0:height, 0:width] / max(PHOTO_SIZE)
    photo = np.stack([150 + 60 * x, 120 + 50 * y, 140 - 40 * x * y], -1)
    scale = size / srez_input.CROP_SIZE
    for index, key in enumerate(keys):
        image = tf.cast(data.load(tf.constant(key))[..., :3], tf.float32)
        small = tf.image.resize(image, [round(scale * side) for side in image.shape[:2]],
                                'area').numpy()
        top = 40 + (index // 5) * (height // 2)
        left = 20 + (index % 5) * (width // 5)
        photo[top:top + small.shape[0], left:left + small.shape[1]] = small
    return np.uint8(np.clip(np.round(photo), 0, 255))


def _measure_batch_size(config, data, strategy, batches, repeats, report, log):
    """The result of one batch size (config.batch_size, per replica): the pipeline, the device's
    peak, and the configured and plain variants with their ratios."""
    batch_size = config.batch_size
    configured = report['configured']
    global_batch = batch_size * strategy.num_replicas_in_sync
    log(f'Batch size {batch_size}: timing the input pipeline, as configured and damaging every '
        f'input...')
    pipeline, pair = _pipeline(config, data, global_batch, batches, repeats)
    every_input = dataclasses.replace(config.damage, damage_clean=0.0)
    damaged, _ = _pipeline(dataclasses.replace(config, damage=every_input), data, global_batch,
                           batches, repeats)
    result = {'batch_size': batch_size, 'global_batch_size': global_batch,
              'pipeline_images_per_second': pipeline,
              'damaged_pipeline_images_per_second': damaged}
    log(f'Batch size {batch_size}: timing the device peak...')
    result.update(_peak_gflops(config, batches, repeats))
    for name, variant in (('configured', configured), ('plain', PLAIN)):
        if name == 'plain' and configured == PLAIN:
            result['plain'] = result['configured']  # Same variant: no need to time it twice.
            continue
        log(f'Batch size {batch_size}: timing {variant["precision"]}, '
            f'{"XLA" if variant["xla"] else "no XLA"}...')
        figures = _time_variant(dataclasses.replace(config, **variant), strategy, pair,
                                batches, repeats)
        for task in ('train', 'inference'):
            achieved = figures[f'{task}_images_per_second'] * report[f'{task}_gflop_per_image']
            figures[f'{task}_gflops'] = achieved
            figures[f'{task}_fraction_of_peak'] = achieved / result['peak_gflops']
        result[name] = figures
    for key in ('train_images_per_second', 'inference_images_per_second'):
        result[key.replace('images_per_second', 'speedup')] = (
            result['configured'][key] / result['plain'][key])
    # How many times faster the pipeline delivers batches than training consumes them.
    result['pipeline_headroom'] = pipeline / result['configured']['train_images_per_second']
    return result


def _pipeline(config, data, global_batch, batches, repeats):
    """Pipeline-alone images/s, and one of its batches (input, truth, valid) to feed the device
    timings."""
    dataset = srez_input.training_dataset(
        data.train_groups, data.load, global_batch, config.model.sample_size, config.random_seed,
        cache=config.cache, cache_file=config.cache_file, damage=config.damage)
    iterator = iter(dataset)
    # With --cache the first epoch decodes and fills the cache; training reads the later ones.
    warmup = -(-len(data.train_keys) // global_batch) + 1 if config.cache else WARMUP_CALLS
    for _ in range(warmup):
        pair = next(iterator)
    seconds = _median_seconds(lambda: next(iterator), batches, repeats)
    return global_batch * batches / seconds, pair


def _peak_gflops(config, batches, repeats):
    """The device's GFLOP/s on a square matmul and on the model's first 3x3 convolution.

    Both run float32 on one replica's batch; each of the `batches` calls per repeat is one op.
    Returns {'matmul_gflops', 'convolution_gflops', 'peak_gflops' (the larger)}.
    """
    matrix = tf.random.uniform([MATMUL_SIZE, MATMUL_SIZE])
    matmul = tf.function(lambda: tf.linalg.matmul(matrix, matrix))
    units, side = config.model.gene_units[0], config.model.input_size
    layer = srez_model.Conv2D(tf.random.Generator.from_seed(0), units, units, mapsize=3)
    features = tf.random.uniform([config.batch_size, side, side, units])
    convolution = tf.function(lambda: layer(features, training=False))
    matmul_flops = 2 * MATMUL_SIZE ** 3
    convolution_flops = config.batch_size * layer.flops(side, side)[0]
    figures = {
        'matmul_gflops': matmul_flops * batches / _median_seconds(matmul, batches, repeats) / 1e9,
        'convolution_gflops': convolution_flops * batches
        / _median_seconds(convolution, batches, repeats) / 1e9}
    figures['peak_gflops'] = max(figures.values())
    return figures


def _time_variant(config, strategy, pair, batches, repeats):
    """Training and inference images/s and peak memory for one precision/XLA variant."""
    gc.collect()
    _reset_peak_memory()
    session = srez_session.TrainingSession(config, strategy)
    feed = tf.data.Dataset.from_tensors(pair).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(feed))
    global_batch = int(pair[0].shape[0])
    batch = tf.constant(1, tf.int64)
    train = _median_seconds(lambda: session.train_step(iterator, batch), batches, repeats)
    # The variant's own compilation (training's grids run uncompiled: they run once per grid).
    upscale = tf.function(lambda images: session.generator_average(images, training=False),
                          jit_compile=config.xla)
    inputs = tf.cast(pair[0], session.compute_dtype)
    inference = _median_seconds(lambda: upscale(inputs), batches, repeats)
    return {'train_images_per_second': global_batch * batches / train,
            'inference_images_per_second': global_batch * batches / inference,
            'peak_memory_bytes': _peak_memory_bytes()}


def _median_seconds(call, batches, repeats):
    """Median wall time of `repeats` runs of `batches` calls, after warm-up calls.

    Reading the last result back waits for the device, so queued work is counted.
    """
    for _ in range(WARMUP_CALLS):
        _wait(call())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(batches):
            result = call()
        _wait(result)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _wait(result):
    tf.nest.map_structure(lambda tensor: np.asarray(tensor), result)


def _gpus():
    return tf.config.list_physical_devices('GPU')


def device_name():
    """'GPU: <name> x<count>' or 'CPU: <model> (<cores> cores)'."""
    gpus = _gpus()
    if gpus:
        name = tf.config.experimental.get_device_details(gpus[0]).get('device_name', 'GPU')
        return f'GPU: {name} x{len(gpus)}'
    model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            model = next(line.split(':', 1)[1].strip() for line in cpuinfo
                         if line.startswith('model name'))
    except (OSError, StopIteration):
        pass  # Not Linux: platform's name will do.
    return f'CPU: {model} ({len(os.sched_getaffinity(0))} cores)'


def _reset_peak_memory():
    if _gpus():
        tf.config.experimental.reset_memory_stats('GPU:0')
        return
    try:
        # Linux: writing 5 resets the process's peak RSS (VmHWM) to its current RSS.
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')
    except OSError:
        pass  # Elsewhere the peak stays the process's lifetime peak.


def _peak_memory_bytes():
    if _gpus():
        return int(tf.config.experimental.get_memory_info('GPU:0')['peak'])
    peak = srez_files.proc_bytes('/proc/self/status', 'VmHWM')
    if peak is not None:
        return peak
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    scale = 1 if platform.system() == 'Darwin' else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def report_table(report):
    """The report as a readable table (one line per batch size and variant)."""
    configured = report['configured']
    name = f'{configured["precision"]}{" +XLA" if configured["xla"] else ""}'
    # Accelerators run thousands of GFLOP/s: TFLOP/s reads better there.
    unit, scale = ('TFLOP/s', 1e-3) if report['device'].startswith('GPU') else ('GFLOP/s', 1)
    lines = [f'{report["device"]}, TensorFlow {report["tensorflow"]}, '
             f'{report["replicas"]} replica(s); median of {report["repeats"]} x '
             f'{report["batches"]} batches; memory: {report["peak_memory"]}.',
             f'Per image: training {report["train_gflop_per_image"]:.2f} GFLOP, inference '
             f'{report["inference_gflop_per_image"]:.2f} GFLOP.',
             f'{"batch":>6} {"variant":<16} {"train img/s":>12} {"infer img/s":>12} '
             f'{"input img/s":>12} {"peak MiB":>9} {"train " + unit:>14} {"of peak":>8}']
    for result in report['results']:
        for variant, label in (('configured', name), ('plain', 'float32 (plain)')):
            figures = result[variant]
            lines.append(
                f'{result["batch_size"]:>6} {label:<16} {figures["train_images_per_second"]:>12.1f} '
                f'{figures["inference_images_per_second"]:>12.1f} '
                f'{result["pipeline_images_per_second"]:>12.1f} '
                f'{figures["peak_memory_bytes"] / 2 ** 20:>9.0f} '
                f'{figures["train_gflops"] * scale:>14.1f} '
                f'{figures["train_fraction_of_peak"]:>8.0%}')
        lines.append(f'{"":>6} {"ratio":<16} {result["train_speedup"]:>11.2f}x '
                     f'{result["inference_speedup"]:>11.2f}x '
                     f'{result["pipeline_headroom"]:>11.1f}x (input vs training)')
        lines.append(f'{"":>6} {"damaged input":<16} '
                     f'{result["damaged_pipeline_images_per_second"]:.1f} img/s (every input '
                     f'damaged by the --damage_* flags)')
        lines.append(f'{"":>6} {"device peak":<16} matmul {result["matmul_gflops"] * scale:.1f}, '
                     f'convolution {result["convolution_gflops"] * scale:.1f} {unit}')
    photo = report['photo']
    lines.append(f'A {photo["width"]}x{photo["height"]} photo of {photo["faces"]} faces '
                 f'({photo["faces_found"]} found): {photo["photos_per_second"]:.2f} photos/s; '
                 f'detection {photo["detection_seconds"]:.2f} s, faces {photo["faces_seconds"]:.2f}'
                 f' s, background {photo["background_seconds"]:.2f} s.')
    lines.append('Videos of faces, read, upscaled and written: ' + ', '.join(
        f'{size} {rate:.1f} frames/s' for size, rate in report['video'].items()) + '.')
    return '\n'.join(lines)
