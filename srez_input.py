"""srez input: finding, scanning and decoding images, the crop arithmetic, the tf.data pipeline.

`training_data` picks what a run trains on: the usable images of a folder, or built-in synthetic
faces (srez_synthetic). Every training image becomes a 144x144 "face box" (uint8) around where
CelebA's aligned faces sit; augmentation takes a random 128x128 crop of it, and area-resizing
gives the truth (sample_size square) and the generator input (a quarter of that).
"""
import dataclasses
import os
import random
import typing

import numpy as np
import tensorflow as tf

import srez_config
import srez_damage
import srez_files
import srez_synthetic
from srez_errors import UsageError

# CelebA "Align&Cropped" geometry: every image is normalised to this size first.
ALIGNED_HEIGHT, ALIGNED_WIDTH = 218, 178
CROP_SIZE = 128
JITTER = 8
BOX_SIZE = CROP_SIZE + 2 * JITTER
# The 128x128 face box sits at x=25, y=60; the jitter margin widens it to 144x144 at x=17, y=52.
BOX_X, BOX_Y = 25 - JITTER, 60 - JITTER


class KeyGroup(typing.NamedTuple):
    """The training keys of one source, and its weight: each key is drawn in proportion to the
    weight of its group (1 everywhere: every image as often)."""
    keys: list
    weight: float = 1.0


@dataclasses.dataclass(frozen=True)
class TrainingData:
    """Where the faces come from: keys that `load` turns into uint8 images, for training (a
    KeyGroup per source) and held out as test vectors (file paths and `load_file`, or indices of
    synthetic faces), and `source`, the folders they are in or srez_config.SYNTHETIC_SOURCE."""
    train_groups: tuple
    test_keys: list
    load: object
    source: str = srez_config.SYNTHETIC_SOURCE

    @property
    def train_keys(self):
        """Every training key, of every source."""
        return [key for group in self.train_groups for key in group.keys]


def training_data(dataset, test_vectors, seed, log=print, synthetic_if_empty=False):
    """What a run trains on: the usable images under the folders of `dataset`, or synthetic faces.

    dataset: a --dataset value (folders, each with an optional weight:
    srez_config.dataset_sources), or None
    for the built-in synthetic faces. synthetic_if_empty: fall back to synthetic faces when the
    folder is missing or holds no images (srez_main's default --dataset); otherwise fewer than
    test_vectors + 1 usable images is a UsageError. The last `test_vectors` of a shuffle by
    `seed` of all the folders' images are held out. Returns TrainingData.
    """
    if dataset is not None:
        sources = srez_config.dataset_sources(dataset)
        paths = [srez_files.find_images(folder) if os.path.isdir(folder) else []
                 for folder, _ in sources]
        if any(paths) or not synthetic_if_empty:
            return _file_data(dataset, sources, paths, test_vectors, seed, log)
    reason = 'As asked' if dataset is None else f'No images in {dataset}/'
    log('=' * 78)
    log(f'{reason}: training on built-in synthetic faces. For real faces, download')
    log('CelebA "Align&Cropped" (img_align_celeba.zip) and unzip it into dataset/; see')
    log('dataset/README.md.')
    log('=' * 78)
    first = seed * 1_000_000
    keys, load = srez_synthetic.synthetic_faces(
        range(first, first + srez_synthetic.SYNTHETIC_TRAIN_FACES + test_vectors))
    return TrainingData((KeyGroup(keys[:-test_vectors]),), keys[-test_vectors:], load,
                        srez_config.SYNTHETIC_SOURCE)


def configured_data(config, log=print):
    """The TrainingData of a srez_config.TrainConfig: its --dataset, or synthetic faces when it
    says so or when the default folder holds no images."""
    return training_data(
        None if config.dataset == srez_config.SYNTHETIC else config.dataset, config.test_vectors,
        config.random_seed, log, synthetic_if_empty=config.dataset == srez_config.DEFAULT_DATASET)


def _file_data(dataset, sources, paths, test_vectors, seed, log):
    """TrainingData of the image files `paths` (a list per source of `sources`, [(folder,
    weight)]); logs what it skipped and uses."""
    usable, skipped = [], []
    for found in paths:
        scan = srez_files.scan_images(found)
        usable += scan.usable
        skipped += scan.skipped
    while len(usable) > test_vectors:
        train_keys, test_keys = split_train_test(usable, test_vectors, seed)
        # Test vectors are decoded before training starts, where a corrupt one would end the run
        # (training drops its own): set such files aside and draw the test vectors again.
        corrupt = [path for path in test_keys if not decodes(path)]
        if not corrupt:
            break
        skipped += [(path, 'corrupt image data') for path in corrupt]
        usable = [path for path in usable if path not in corrupt]
    for (folder, _), found in zip(sources, paths):
        ours = set(found)
        _report_skipped(folder, [item for item in skipped if item[0] in ours], len(found), log)
    if len(usable) <= test_vectors:
        raise UsageError(f'--dataset {dataset} has {len(usable)} usable images; it needs at '
                         f'least --test_vectors + 1 = {test_vectors + 1}.')
    training = set(train_keys)
    groups = tuple(KeyGroup([path for path in found if path in training], weight)
                   for (_, weight), found in zip(sources, paths))
    counts = ', '.join(f'{len(group.keys)} images from {folder}' + (f' (weight {weight:g})'
                                                             if len(sources) > 1 else '')
                       for group, (folder, weight) in zip(groups, sources))
    log(f'Training on {counts} ({test_vectors} held out as test vectors).')
    return TrainingData(groups, test_keys, load_file, dataset)


def usable_images(folder, paths, log=print):
    """The `paths` (under `folder`) whose headers say they decode; logs the ones skipped."""
    scan = srez_files.scan_images(paths)
    _report_skipped(folder, scan.skipped, len(paths), log)
    return scan.usable


def _report_skipped(folder, skipped, total, log):
    """One line naming the first few (path, reason) pairs in `skipped`, if any."""
    if skipped:
        shown = ', '.join(f'{os.path.relpath(p, folder)} ({why})' for p, why in skipped[:5])
        more = f' and {len(skipped) - 5} more' if len(skipped) > 5 else ''
        log(f'Skipping {len(skipped)} of {total} image files that cannot be used: {shown}{more}.')


def split_train_test(paths, test_vectors, seed):
    """Shuffles sorted `paths` with `seed`; the last `test_vectors` are held out as the test set."""
    shuffled = sorted(paths)
    random.Random(seed).shuffle(shuffled)
    return shuffled[:-test_vectors], shuffled[-test_vectors:]


def decodes(path):
    """Whether the image file at `path` decodes all the way into a face box (slow: use sparingly).

    A file can pass `scan_images` yet hold corrupt pixel data past a valid header.
    """
    try:
        face_box(load_file(tf.constant(path)))
    except tf.errors.OpError:
        return False
    return True


def decode_image(contents, channels=3):
    """Any JPEG/PNG bytes (grey, palette, CMYK, alpha) -> uint8 [h, w, 3].

    channels=0 keeps the file's own channels instead: 1 (grey), 2 (grey, alpha), 3 or 4 (RGBA).
    """
    # TensorFlow's default JPEG DCT is the fast, inexact one; faces deserve the accurate one.
    return tf.cond(
        tf.io.is_jpeg(contents),
        lambda: tf.io.decode_jpeg(contents, channels=channels, dct_method='INTEGER_ACCURATE'),
        lambda: tf.io.decode_image(contents, channels=channels, expand_animations=False))


def face_box(image):
    """The 144x144 box around the face: uint8 [h, w, c] -> uint8 [144, 144, c].

    Images of another size are first cropped to CelebA's aspect (centred) and resized to 178x218,
    so the box still lands on the face.
    """
    height, width = tf.shape(image)[0], tf.shape(image)[1]

    def to_aligned_size():
        # At least 1 px, so a sliver such as 300x1 still crops to something it can resize.
        crop_width = tf.clip_by_value(height * ALIGNED_WIDTH // ALIGNED_HEIGHT, 1, width)
        crop_height = tf.clip_by_value(width * ALIGNED_HEIGHT // ALIGNED_WIDTH, 1, height)
        cropped = tf.image.crop_to_bounding_box(
            image, (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width)
        resized = tf.image.resize(cropped, [ALIGNED_HEIGHT, ALIGNED_WIDTH], antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    aligned = tf.cond(tf.logical_and(height == ALIGNED_HEIGHT, width == ALIGNED_WIDTH),
                      lambda: image, to_aligned_size)
    return tf.image.crop_to_bounding_box(aligned, BOX_Y, BOX_X, BOX_SIZE, BOX_SIZE)


def with_alpha(image):
    """uint8 [h, w, 3 or 4] -> [h, w, 4]: RGB and alpha, which is 255 (opaque) where `image` has
    none."""
    if image.shape[-1] == 4:
        return image
    return tf.concat([image, tf.fill(tf.concat([tf.shape(image)[:-1], [1]], 0),
                                     tf.constant(255, image.dtype))], -1)


def augment(box, seed):
    """srez's training augmentation: uint8 box [144, 144, c] (RGB, and alpha if c is 4) -> float32
    [128, 128, c] in [0, 1].

    Random flip (the box is centred in the image, so flipping it equals flipping the image),
    saturation x[0.95, 1.05], brightness +-0.05, contrast x[0.95, 1.05] (of the colour only), then
    a random 128x128 crop. `seed`: int [2], so results are reproducible with --random_seed.
    """
    seeds = tf.random.experimental.stateless_split(seed, 5)
    image = tf.image.convert_image_dtype(box, tf.float32)
    image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    colour, alpha = image[..., :3], image[..., 3:]
    colour = tf.image.stateless_random_saturation(colour, 0.95, 1.05, seeds[1])
    colour = tf.image.stateless_random_brightness(colour, 0.05, seeds[2])
    colour = tf.image.stateless_random_contrast(colour, 0.95, 1.05, seeds[3])
    image = tf.concat([tf.clip_by_value(colour, 0.0, 1.0), alpha], -1)
    return tf.image.stateless_random_crop(image, [CROP_SIZE, CROP_SIZE, box.shape[-1]], seeds[4])


def centre_crop(box):
    """The un-jittered 128x128 face of a box, as test vectors use: -> float32 in [0, 1]."""
    face = tf.image.crop_to_bounding_box(box, JITTER, JITTER, CROP_SIZE, CROP_SIZE)
    return tf.image.convert_image_dtype(face, tf.float32)


def to_training_pair(faces, sample_size):
    """Area-resizes faces float [b, 128, 128, c] to (input [b, s/4, s/4, c], truth [b, s, s, c])."""
    truth = faces
    if sample_size != CROP_SIZE:
        truth = tf.image.resize(faces, [sample_size, sample_size], method='area')
    small = sample_size // srez_config.SCALE
    return tf.image.resize(truth, [small, small], method='area'), truth


def load_file(path):
    """Reads and decodes one image file: string tensor -> uint8 [h, w, 4], RGB and alpha (255
    where the file has none; srez_align marks a frame's fill with 0)."""
    contents = tf.io.read_file(path)
    return tf.cond(tf.io.is_jpeg(contents),
                   lambda: with_alpha(decode_image(contents)),
                   lambda: tf.io.decode_image(contents, channels=4, expand_animations=False))


def training_dataset(groups, load, batch_size, sample_size, seed, cache=False, cache_file='',
                     damage=None):
    """Endless, shuffled, augmented batches (input [b, s/4, s/4, 3], truth [b, s, s, 3], valid
    [b, s, s, 1]), float32; `valid` is the share of each truth pixel that is the picture's own
    (its alpha), which the losses weigh by.

    groups: KeyGroups of what `load` turns into a uint8 image (file paths for `load_file`,
    indices for the load of srez_synthetic.synthetic_faces); each key is drawn in proportion to
    its group's weight. cache: keep the decoded face boxes (in memory, or in `cache_file`), so
    every epoch after the first only augments; without it each epoch decodes again, in a new
    order. damage: a srez_config.DamageConfig, how the inputs are damaged
    (srez_damage.training_pair); None leaves them clean.
    """
    sources = [_boxes(group.keys, load, seed, cache,
                      cache_file and (cache_file if len(groups) == 1 else f'{cache_file}.{index}'))
               for index, group in enumerate(groups)]
    boxes = sources[0]
    if len(groups) > 1:
        shares = [group.weight * len(group.keys) for group in groups]
        boxes = tf.data.Dataset.sample_from_datasets(
            sources, [share / sum(shares) for share in shares], seed=seed)
    # Each example gets its own pair of stateless seeds, derived from --random_seed.
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    damage = damage or srez_config.DamageConfig()

    def example(box, seed):
        face = augment(box, seed)
        return srez_damage.training_pair(
            face, sample_size, damage, tf.random.experimental.stateless_fold_in(seed, 1))

    pairs = tf.data.Dataset.zip(boxes, seeds).map(
        example, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
    options = tf.data.Options()
    # Multi-worker training splits the batches, not the (possibly single) source.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return pairs.with_options(options).prefetch(tf.data.AUTOTUNE)


def _boxes(keys, load, seed, cache, cache_file):
    """The endless face boxes of `keys`, uint8 [144, 144, 4], shuffled (see training_dataset)."""
    keys = tf.data.Dataset.from_tensor_slices(keys)
    if not cache:
        keys = keys.shuffle(len(keys), seed=seed)
    boxes = keys.map(lambda key: with_alpha(face_box(load(key))),
                     num_parallel_calls=tf.data.AUTOTUNE)
    # A file that passed the scan but still fails to decode is dropped rather than ending a run.
    boxes = boxes.ignore_errors()
    if cache:
        boxes = boxes.cache(cache_file).shuffle(16384, seed=seed)
    return boxes.repeat()


class TestPairs(typing.NamedTuple):
    """Test vectors as numpy float32 arrays: inputs [n, s/4, s/4, 3], truth [n, s, s, 3] and the
    share of each truth pixel that is the picture's own, valid [n, s, s, 1]."""
    inputs: np.ndarray
    truth: np.ndarray
    valid: np.ndarray


def test_pairs(keys, load, sample_size, damage=None, seed=0):
    """The fixed test vectors of `keys` (see `training_dataset`): centred faces, no augmentation.

    Returns TestPairs. damage: a srez_config.DamageConfig by which every input is damaged (none
    left clean, each the same way every time for its `seed` and place), as the grids of a run
    that trains on damage show them; None keeps them clean.
    """
    faces = [centre_crop(with_alpha(face_box(load(tf.constant(key))))) for key in keys]
    if damage is None:
        inputs, truth = to_training_pair(tf.stack(faces), sample_size)
        return TestPairs(inputs.numpy()[..., :3], truth.numpy()[..., :3], truth.numpy()[..., 3:])
    every_one = dataclasses.replace(damage, damage_clean=0.0)
    pairs = [srez_damage.training_pair(face, sample_size, every_one,
                                        tf.constant([seed, index], tf.int64))
             for index, face in enumerate(faces)]
    return TestPairs(*(np.stack(part) for part in zip(*pairs)))
