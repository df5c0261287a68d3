"""srez evaluation: the model against bicubic on ground-truth faces, by the standard protocol.

    python srez_main.py --run eval --dataset ../celeba/img_align_celeba   # its held-out vectors
    python srez_main.py --run eval --input faces/ --max_images 1000

Each image gives the centred 128x128 face box at x=25, y=60 (scaled for other sizes, as training
crops it), area-resized to the truth (sample_size square) and again by 4 to the input. The model and
bicubic each upscale the input, and are measured against the truth on [0, 1] RGB:

- PSNR in dB, averaged over images and capped at PSNR_CAP_DB: identical images give the cap, not
  infinity, so averages and eval.json stay finite; over the picture's own pixels, where a face
  re-aligned by srez_align has a frame running off its picture (its alpha marks the fill);
- SSIM, Gaussian 11x11 window with sigma 1.5 (tf.image.ssim's defaults), averaged over images;
- consistency L1, mean |box4(output) - input|: how well the output downscales back to the input
  (srez's own training objective);
- sharpness, the mean gradient magnitude of the outputs over that of the truths (1 matches the
  truth's detail, below 1 is blurrier, above 1 has more edges than the truth).
"""
import dataclasses
import json
import os
import sys

import numpy as np
import tensorflow as tf

import srez_config
import srez_damage
import srez_files
import srez_images
import srez_input
import srez_loader
import srez_pixels
from srez_errors import UsageError

PSNR_CAP_DB = 100.0
SYSTEMS = ('model', 'bicubic')
FIGURES = ('psnr', 'ssim', 'consistency_l1', 'sharpness')
DAMAGE_SEED = 2016  # Image i of an eval is damaged with seed (DAMAGE_SEED, i).


def run_eval(config):
    """--run eval: the model against bicubic on config's faces (a srez_config.EvalConfig):
    --input's, or the test vectors that training held out of --dataset."""
    keys, load, faces = _evaluation_faces(config.images, config.train)
    model = srez_loader.load(config.choice, tensorflow=True,
                             input_size=config.train.model.input_size)
    print(model.source.line())
    size = model.source.model.input_size
    os.makedirs(config.eval_dir, exist_ok=True)
    print(f'Evaluating on {len(keys)} images: {faces}.')
    results = evaluate(model.upscalers[size], keys, load, size * srez_config.SCALE,
                       config.eval_dir, model.source, faces,
                       batch_size=config.images.upscale_batch, report_count=_show_count,
                       damage=srez_config.Damage.parse(config.damage))
    print(figures_table(results))
    print(f'Wrote eval.json and eval.png to {config.eval_dir}/.')


def _evaluation_faces(images, train):
    """(keys, load, a line saying which faces) of the faces eval measures on: --input's, or the
    held-out test vectors of --dataset (srez_config.ImagesConfig and TrainConfig)."""
    if images.input:
        paths = srez_files.find_images(images.input)[:images.max_images or None]
        keys = srez_input.usable_images(images.input, paths)
        if not keys:
            raise UsageError(f'--input {images.input} holds no usable .jpg, .jpeg or .png files: '
                             f'give a folder of face images.')
        return keys, srez_input.load_file, f'the images of {images.input}'
    data = srez_input.configured_data(train, log=lambda line: None)
    faces = f' ({data.source})' if data.source == srez_config.SYNTHETIC_SOURCE else ''
    return (data.test_keys[:images.max_images or None], data.load,
            f'the held-out test vectors of --dataset {train.dataset}{faces}, --test_vectors '
            f'{train.test_vectors} --random_seed {train.random_seed}')


def _show_count(done, total):
    """A one-line counter on stderr, rewritten in place; logs (not a terminal) are spared it."""
    if sys.stderr.isatty():
        print(f'\r{done}/{total} images', end='\n' if done == total else '', file=sys.stderr,
              flush=True)


def evaluate(upscale, keys, load, sample_size, eval_dir, model_source, faces, batch_size=16,
             report_count=None, damage=srez_config.Damage()):
    """Measures the model and bicubic on the faces of `keys`; writes eval.json and eval.png.

    Args:
        upscale: the model, float32 [n, s/4, s/4, 3] in [0, 1] -> [n, s, s, 3], s = sample_size.
        keys, load: the images, as srez_input.test_pairs takes them (paths and load_file).
        sample_size: side of the truth in pixels; the input is a quarter of it.
        eval_dir: where eval.json and eval.png (the first images as nearest | bicubic | output |
            truth, like training's sample grids) are written.
        model_source: the srez_loader.ModelSource of the model, for eval.json.
        faces: one line saying which images these are, for eval.json.
        batch_size: images measured together.
        report_count: called as report_count(done, total) after each batch, if given.
        damage: a srez_config.Damage that damages every input, the same way every
            time; model and bicubic upscale the damaged input, measured against the clean truth.

    Returns:
        The dict written to eval.json: {'model': figures, 'bicubic': figures, 'images': count,
        'faces', 'damage', 'model_source'}, figures being {'psnr', 'ssim', 'consistency_l1',
        'sharpness'} floats.
    """
    per_image = {system: [] for system in SYSTEMS}
    truth_gradients = []
    grid_rows = []  # (inputs, model output, truth) of the first images, for eval.png.
    for start in range(0, len(keys), batch_size):
        inputs, truth, valid = _pairs(keys[start:start + batch_size], load, sample_size,
                                      damage, start)
        outputs = {'model': upscale(inputs),
                   'bicubic': srez_pixels.bicubic_upscale(inputs)}
        for system in SYSTEMS:
            per_image[system].append(measure_each(outputs[system], inputs, truth, valid))
        truth_gradients.append(gradient_magnitude(truth))
        if start < srez_images.GRID_MAX_ROWS:
            grid_rows.append((inputs, outputs['model'], truth))
        if report_count:
            report_count(min(start + batch_size, len(keys)), len(keys))
    grid = srez_images.sample_grid(*(np.concatenate(parts) for parts in zip(*grid_rows)))
    srez_files.write_atomically(os.path.join(eval_dir, 'eval.png'),
                                tf.io.encode_png(grid).numpy())
    truth_gradients = np.concatenate(truth_gradients)
    results = {'model_source': model_source.to_json(), 'images': len(keys), 'faces': faces,
               'damage': str(damage)}
    for system in SYSTEMS:
        results[system] = summarise(
            {name: np.concatenate([batch[name] for batch in per_image[system]])
             for name in per_image[system][0]}, truth_gradients)
    srez_files.write_atomically(os.path.join(eval_dir, 'eval.json'),
                                json.dumps(results, indent=2))
    return results


def _pairs(keys, load, sample_size, damage, first):
    """srez_input.TestPairs of `keys`, the inputs damaged by `damage` (a black-and-white face's
    truth grey too); `first` is the first key's place in the eval, whose number seeds its
    damage."""
    pairs = srez_input.test_pairs(keys, load, sample_size)
    if damage == srez_config.Damage():
        return pairs
    truth = pairs.truth
    if damage.grey:  # An old photo: its truth is grey too.
        truth = np.repeat(truth @ srez_pixels.LUMA.astype(np.float32)[:, np.newaxis], 3, -1)
    plain = dataclasses.replace(damage, grey=False)
    return pairs._replace(truth=truth, inputs=np.stack([
        srez_damage.apply(tf.constant(image), plain, tf.constant([DAMAGE_SEED, first + index]))
        for index, image in enumerate(truth)]))


def measure_each(output, inputs, truth, valid=None):
    """Per-image figures of one system: {'psnr', 'ssim', 'consistency_l1', 'gradient'}.

    output, truth: float [n, s, s, 3] in [0, 1]; inputs: float [n, s/4, s/4, 3] in [0, 1];
    valid: float [n, s, s, 1], the share of each truth pixel that is the picture's own (a frame's
    fill beyond it, srez_align's, is left out of PSNR and the consistency L1); None: all.
    Each value is float numpy [n]; 'gradient' is the output's mean gradient magnitude.
    """
    output, inputs, truth = (tf.convert_to_tensor(x, tf.float32) for x in (output, inputs, truth))
    valid = tf.ones_like(truth[..., :1]) if valid is None else tf.convert_to_tensor(valid,
                                                                                    tf.float32)
    small_valid = srez_images.box_downscale(valid)
    consistency = (tf.reduce_sum(tf.abs(srez_images.box_downscale(output) - inputs) * small_valid,
                                 axis=[1, 2, 3]) / (3 * tf.reduce_sum(small_valid, axis=[1, 2, 3])))
    squared_error = (tf.reduce_sum(tf.square(output - truth) * valid, axis=[1, 2, 3])
                     / (3 * tf.reduce_sum(valid, axis=[1, 2, 3])))
    psnr = -10 * tf.math.log(squared_error) / tf.math.log(10.0)
    return {'psnr': tf.minimum(psnr, PSNR_CAP_DB).numpy(),
            'ssim': tf.image.ssim(output, truth, max_val=1.0, filter_size=11,
                                  filter_sigma=1.5).numpy(),
            'consistency_l1': consistency.numpy(),
            'gradient': gradient_magnitude(output)}


def gradient_magnitude(images):
    """Mean |(dx, dy)| of each image, by forward differences: float [n, h, w, c] -> numpy [n]."""
    return tf.reduce_mean(srez_images.gradient_magnitudes(images), axis=[1, 2, 3]).numpy()


def summarise(per_image, truth_gradients):
    """The figures of a system from measure_each's arrays and the truths' gradient magnitudes."""
    figures = {name: float(np.mean(per_image[name])) for name in ('psnr', 'ssim', 'consistency_l1')}
    figures['sharpness'] = float(np.sum(per_image['gradient']) / np.sum(truth_gradients))
    return figures


def figures_table(results):
    """A small text table of `results` (as `evaluate` returns), one row per system."""
    lines = [f'{results["images"]} images, {results["damage"]} inputs',
             f'{"":8s} {"PSNR dB":>8s} {"SSIM":>7s} {"cons. L1":>9s} {"sharpness":>9s}']
    for system in SYSTEMS:
        figures = results[system]
        lines.append(f'{system:8s} {figures["psnr"]:8.2f} {figures["ssim"]:7.4f} '
                     f'{figures["consistency_l1"]:9.4f} {figures["sharpness"]:9.3f}')
    return '\n'.join(lines)
