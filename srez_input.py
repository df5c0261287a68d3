"""srez input: finding images, the tf.data pipeline, and built-in synthetic faces.

Every training image becomes a 144x144 "face box" (uint8) around where CelebA's aligned faces sit;
augmentation takes a random 128x128 crop of it, and area-resizing gives the truth (sample_size
square) and the generator input (a quarter of that).
"""
import dataclasses
import os
import random
import struct

import numpy as np
import tensorflow as tf
from PIL import Image

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
# CelebA "Align&Cropped" geometry: every image is normalised to this size first.
ALIGNED_HEIGHT, ALIGNED_WIDTH = 218, 178
CROP_SIZE = 128
JITTER = 8
BOX_SIZE = CROP_SIZE + 2 * JITTER
# The 128x128 face box sits at x=25, y=60; the jitter margin widens it to 144x144 at x=17, y=52.
BOX_X, BOX_Y = 25 - JITTER, 60 - JITTER
SYNTHETIC_TRAIN_FACES = 1024
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers (they carry the size): C0-CF except DHT (C4), JPG (C8), DAC (CC).
JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclasses.dataclass(frozen=True)
class ImageScan:
    """What `scan_images` found: usable paths, and (path, reason) for the files it skipped."""
    usable: list
    skipped: list


def find_images(folder):
    """Every .jpg/.jpeg/.png (any case) under `folder`, recursively, sorted.

    Linked folders are followed (datasets often live elsewhere), each real folder once, so a link
    loop cannot make the walk endless.
    """
    found, seen = [], {os.path.realpath(folder)}
    for root, dirs, files in os.walk(folder, followlinks=True):
        kept = []
        for name in sorted(dirs):
            real = os.path.realpath(os.path.join(root, name))
            if real not in seen:
                seen.add(real)
                kept.append(name)
        dirs[:] = kept
        found += [os.path.join(root, name) for name in files
                  if name.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


def scan_images(paths):
    """Sorts `paths` into files that decode and files that cannot, without decoding pixels.

    Reads just the header of each file (catching empty, non-image, unreadable and oversized files)
    and checks that JPEGs are complete (they end with the EOI marker), so training never meets a
    bad file mid-run. About 0.1 ms a file: a few seconds for CelebA's 200,000 images.
    """
    usable, skipped = [], []
    for path in paths:
        reason = _unusable_reason(path)
        if reason:
            skipped.append((path, reason))
        else:
            usable.append(path)
    return ImageScan(usable, skipped)


def _unusable_reason(path):
    try:
        with open(path, 'rb') as file:
            image_format, width, height = _image_header(file)
            if image_format is None:
                return 'empty file' if file.seek(0, os.SEEK_END) == 0 else 'not an image'
            if width * height > Image.MAX_IMAGE_PIXELS:
                return 'too large to decode safely'
            if image_format == 'JPEG':
                file.seek(-2, os.SEEK_END)
                if file.read(2) != b'\xff\xd9':
                    return 'truncated JPEG'
    except PermissionError:
        return 'permission denied'
    except FileNotFoundError:
        return 'missing (broken link?)'
    except (OSError, struct.error) as error:
        return f'not a readable image ({getattr(error, "strerror", None) or type(error).__name__})'
    return None


def _image_header(file):
    """(format, width, height) of a JPEG or PNG from its first bytes; (None, 0, 0) otherwise.

    Reads only the bytes that hold the size: Pillow's full header parse costs ~7x more per file,
    which matters on CelebA's 200,000 images.
    """
    head = file.read(24)
    if head.startswith(PNG_SIGNATURE) and head[12:16] == b'IHDR':
        width, height = struct.unpack('>II', head[16:24])
        return 'PNG', width, height
    if not head.startswith(b'\xff\xd8'):
        return None, 0, 0
    position = 2  # Walk the JPEG's marker segments up to the frame header, which has the size.
    while True:
        file.seek(position)
        segment = file.read(9)
        if len(segment) < 4 or segment[0] != 0xFF:
            return 'JPEG', 0, 0  # Cut short or damaged before the frame: the EOI check decides.
        if segment[1] in JPEG_FRAME_MARKERS and len(segment) == 9:
            height, width = struct.unpack('>HH', segment[5:9])
            return 'JPEG', width, height
        position += 2 + struct.unpack('>H', segment[2:4])[0]


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
    """The 144x144 box around the face: uint8 [h, w, 3] -> uint8 [144, 144, 3].

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


def augment(box, seed):
    """srez's training augmentation: uint8 box [144, 144, 3] -> float32 [128, 128, 3] in [0, 1].

    Random flip (the box is centred in the image, so flipping it equals flipping the image),
    saturation x[0.95, 1.05], brightness +-0.05, contrast x[0.95, 1.05], then a random 128x128
    crop. `seed`: int [2], so results are reproducible with --random_seed.
    """
    seeds = tf.random.experimental.stateless_split(seed, 5)
    image = tf.image.convert_image_dtype(box, tf.float32)
    image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    image = tf.image.stateless_random_saturation(image, 0.95, 1.05, seeds[1])
    image = tf.image.stateless_random_brightness(image, 0.05, seeds[2])
    image = tf.image.stateless_random_contrast(image, 0.95, 1.05, seeds[3])
    image = tf.image.stateless_random_crop(image, [CROP_SIZE, CROP_SIZE, 3], seeds[4])
    return tf.clip_by_value(image, 0.0, 1.0)


def centre_crop(box):
    """The un-jittered 128x128 face of a box, as test vectors use: -> float32 in [0, 1]."""
    face = tf.image.crop_to_bounding_box(box, JITTER, JITTER, CROP_SIZE, CROP_SIZE)
    return tf.image.convert_image_dtype(face, tf.float32)


def to_training_pair(faces, sample_size):
    """Area-resizes faces float [b, 128, 128, 3] to (input [b, s/4, s/4, 3], truth [b, s, s, 3])."""
    truth = faces
    if sample_size != CROP_SIZE:
        truth = tf.image.resize(faces, [sample_size, sample_size], method='area')
    small = sample_size // 4
    return tf.image.resize(truth, [small, small], method='area'), truth


def load_file(path):
    """Reads and decodes one image file: string tensor -> uint8 [h, w, 3]."""
    return decode_image(tf.io.read_file(path))


def synthetic_faces(seeds):
    """Draws the built-in synthetic faces for `seeds`; returns (keys, load) for training_dataset.

    They are drawn up front (about 5 ms a face), not inside tf.data: a Python function in the
    pipeline can hang TensorFlow's iterator teardown at exit, whose threads wait for the GIL the
    main thread holds. keys: indices; load: index tensor -> uint8 [218, 178, 3].
    """
    faces = tf.constant(np.stack([draw_synthetic_face(int(seed)) for seed in seeds]))
    return list(range(len(faces))), lambda index: tf.gather(faces, index)


def training_dataset(keys, load, batch_size, sample_size, seed, cache=False, cache_file=''):
    """Endless, shuffled, augmented batches (input [b, s/4, s/4, 3], truth [b, s, s, 3]), float32.

    keys: what `load` turns into a uint8 image (file paths for `load_file`, indices for the load
    of `synthetic_faces`). cache: keep the decoded face boxes (in memory, or in `cache_file`), so every
    epoch after the first only augments; without it each epoch decodes again, in a new order.
    """
    keys = tf.data.Dataset.from_tensor_slices(keys)
    if not cache:
        keys = keys.shuffle(len(keys), seed=seed)
    boxes = keys.map(lambda key: face_box(load(key)), num_parallel_calls=tf.data.AUTOTUNE)
    # A file that passed the scan but still fails to decode is dropped rather than ending a run.
    boxes = boxes.ignore_errors()
    if cache:
        boxes = boxes.cache(cache_file).shuffle(16384, seed=seed)
    # Each example gets its own pair of stateless seeds, derived from --random_seed.
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    faces = tf.data.Dataset.zip(boxes.repeat(), seeds).map(
        augment, num_parallel_calls=tf.data.AUTOTUNE)
    pairs = faces.batch(batch_size, drop_remainder=True).map(
        lambda batch: to_training_pair(batch, sample_size), num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    # Multi-worker training splits the batches, not the (possibly single) source.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return pairs.with_options(options).prefetch(tf.data.AUTOTUNE)


def test_pairs(keys, load, sample_size):
    """The fixed test vectors: centred faces, no augmentation, as numpy float32 arrays.

    Returns (input [n, s/4, s/4, 3], truth [n, s, s, 3]) for n keys (see `training_dataset`).
    """
    faces = [centre_crop(face_box(load(tf.constant(key)))) for key in keys]
    return tuple(np.asarray(t) for t in to_training_pair(tf.stack(faces), sample_size))


# Built-in synthetic faces, so srez trains and tests with no download.

# CelebA "Align&Cropped" frame. Features are placed in face-local pixel
# coordinates (u right, v down) whose origin sits between the eyes and mouth.
FACE_CENTRE_X, FACE_CENTRE_Y = 89.0, 122.0
_GRID_Y, _GRID_X = np.mgrid[0:ALIGNED_HEIGHT, 0:ALIGNED_WIDTH].astype(np.float32)

SKIN_LIGHT, SKIN_DARK = np.array([245, 210, 185]), np.array([85, 52, 35])
HAIR_COLOURS = np.array([[25, 20, 18], [62, 40, 26], [112, 74, 44],
                         [215, 180, 115], [150, 62, 30], [172, 170, 166]])
IRIS_COLOURS = np.array([[70, 45, 25], [60, 110, 160], [70, 110, 60], [120, 90, 45]])
EYE_WHITE = np.float32([235, 232, 225]).reshape(3, 1, 1)


def _window(pose, centre, radius):
    """Image-space slices covering a disc of the face-local plane.

    Shading only the pixels near a feature keeps small features cheap.

    Args:
        pose: (cos, sin, scale, x, y) mapping face-local to image coordinates.
        centre: (u, v) face-local centre of the disc.
        radius: disc radius in face-local pixels.

    Returns:
        (row slice, column slice), clipped to the image.
    """
    cos, sin, scale, x, y = pose
    image_x = x + scale * (cos * centre[0] - sin * centre[1])
    image_y = y + scale * (sin * centre[0] + cos * centre[1])
    reach = scale * radius + 2  # +2 px keeps the soft edge inside the window.
    return (slice(max(int(image_y - reach), 0), max(int(image_y + reach) + 1, 0)),
            slice(max(int(image_x - reach), 0), max(int(image_x + reach) + 1, 0)))


def _ellipse_mask(u, v, centre, radii, softness=1.5):
    """Soft-edged ellipse coverage.

    Args:
        u, v: float32 arrays [h, w], face-local pixel coordinates.
        centre: (u, v) of the ellipse centre.
        radii: (ru, rv) semi-axes in pixels.
        softness: width in pixels of the anti-aliased edge ramp.

    Returns:
        float32 array [h, w] in [0, 1]; 1 inside, 0 outside.
    """
    du, dv = (u - centre[0]) / radii[0], (v - centre[1]) / radii[1]
    distance = np.sqrt(du * du + dv * dv)  # np.hypot is ~5x slower.
    # (1 - distance) * min radius approximates the signed pixel distance to the edge.
    return np.clip((1 - distance) * (min(radii) / softness) + 0.5, 0, 1)


def _paint(image, mask, colour, opacity=1.0):
    """Alpha-blends `colour` into `image` in place.

    Args:
        image: float32 array [3, h, w], channel-first (broadcasting over a
            trailing axis of 3 is ~10x slower in numpy), values in [0, 255].
        mask: float32 array [h, w] in [0, 1], coverage of the shape.
        colour: float32 array [3, 1, 1] or [3, h, w], values in [0, 255].
        opacity: scalar in [0, 1] scaling the mask.
    """
    image += (mask * np.float32(opacity)) * (colour - image)


def _random_colour(rng, colour, amount):
    """Returns `colour` (RGB, 3 values) plus uniform noise of +-`amount` as float32 [3, 1, 1] in [0, 255]."""
    colour = np.clip(np.reshape(colour, 3) + rng.uniform(-amount, amount, 3), 0, 255)
    return colour.astype(np.float32).reshape(3, 1, 1)


def draw_synthetic_face(seed: int) -> np.ndarray:
    """Draws a random cartoon face framed like an aligned CelebA image.

    Eyes land near (x, y) = (68, 112) and (110, 112), the mouth near y = 150
    and the chin near y = 180, so the 128x128 crop at x=25, y=60 holds the face.

    Args:
        seed: seed for `np.random.default_rng`; equal seeds give equal images.

    Returns:
        uint8 array [218, 178, 3], RGB.
    """
    rng = np.random.default_rng(seed)
    # Pose: small roll, shift and scale, applied by mapping every pixel into face space.
    angle, scale = np.deg2rad(rng.uniform(-6, 6)), rng.uniform(0.92, 1.08)
    pose = (np.cos(angle), np.sin(angle), scale,
            FACE_CENTRE_X + rng.uniform(-4, 4), FACE_CENTRE_Y + rng.uniform(-4, 4))
    dx, dy = _GRID_X - np.float32(pose[3]), _GRID_Y - np.float32(pose[4])
    u = np.float32(pose[0] / scale) * dx + np.float32(pose[1] / scale) * dy
    v = np.float32(-pose[1] / scale) * dx + np.float32(pose[0] / scale) * dy

    # Background: muted linear gradient between two colours in a random direction.
    direction = rng.uniform(0, 2 * np.pi)
    ramp = np.clip(np.float32(np.cos(direction) / 220) * dx
                   + np.float32(np.sin(direction) / 220) * dy + 0.5, 0, 1)
    bg_start, bg_end = (_random_colour(rng, np.full(3, rng.uniform(40, 215)), 70) for _ in range(2))
    image = bg_start + ramp * (bg_end - bg_start)

    skin = _random_colour(rng, SKIN_LIGHT + rng.uniform() ** 1.6 * (SKIN_DARK - SKIN_LIGHT), 10)
    hair = _random_colour(rng, HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], 15)
    # Strands fanning out from the crown give the hair fine detail to super-resolve.
    hair_texture = hair * (0.93 + 0.07 * np.sin(90 * u / np.maximum(v + 130, 1)))
    hair_length = rng.uniform(-10, 70)
    _paint(image, _ellipse_mask(u, v, (0, hair_length / 2 - 12),
                                (rng.uniform(49, 62), 66 + hair_length / 2)), hair_texture)

    rows, cols = _window(pose, (0, 100), 100)
    body_u, body_v, body_image = u[rows, cols], v[rows, cols], image[:, rows, cols]
    _paint(body_image, _ellipse_mask(body_u, body_v, (0, 128), (rng.uniform(70, 95), 50)),
           rng.uniform(0, 255, (3, 1, 1)).astype(np.float32))
    _paint(body_image, _ellipse_mask(body_u, body_v, (0, 58), (25, 40)), skin * 0.8)

    # Egg-shaped head: widen u towards the chin so the jaw narrows; darken the rim for volume.
    for ear_centre in ((-47, -6), (47, -6)):
        rows, cols = _window(pose, ear_centre, 13)
        ear = _ellipse_mask(u[rows, cols], v[rows, cols], ear_centre, (7, 13))
        _paint(image[:, rows, cols], ear, skin * 0.9)
    rows, cols = _window(pose, (0, -4), 64)
    head_u, head_v, head_image = u[rows, cols], v[rows, cols], image[:, rows, cols]
    face_du, face_dv = head_u * (1 + 0.25 * np.clip(head_v / 58, 0, 1)) / 48, head_v / 58
    face_distance = np.sqrt(face_du * face_du + face_dv * face_dv)
    face_shade = skin * (1 - 0.3 * np.minimum(face_distance, 1) ** 4)
    _paint(head_image, np.clip((1 - face_distance) * 32 + 0.5, 0, 1), face_shade)

    # Fringe: the hair cap covers the face above a hairline that dips towards the temples.
    hairline = (rng.uniform(-42, -26) + rng.uniform(8, 30) * (head_u / 48) ** 2
                + rng.uniform(-8, 8) * head_u / 48)
    fringe = _ellipse_mask(head_u, head_v, (0, -6), (51, 63)) * np.clip(hairline - head_v + 0.5, 0, 1)
    _paint(head_image, fringe, hair_texture[:, rows, cols])

    iris = _random_colour(rng, IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))], 15)
    gaze_u, gaze_v = rng.uniform(-2, 2), rng.uniform(-0.8, 0.8)
    brow_height, brow_arch = rng.uniform(-24, -19), rng.uniform(0.01, 0.04)
    for eye_centre in (-21, 21):
        rows, cols = _window(pose, (eye_centre, -14), 16)
        eye_u, eye_v, eye_image = u[rows, cols], v[rows, cols], image[:, rows, cols]
        _paint(eye_image, _ellipse_mask(eye_u, eye_v, (eye_centre, -10), (10, 5.5)), skin * 0.45)
        white = _ellipse_mask(eye_u, eye_v, (eye_centre, -10), (9, 4.5), softness=1)
        _paint(eye_image, white, EYE_WHITE)
        iris_centre = (eye_centre + gaze_u, -10 + gaze_v)
        _paint(eye_image, white * _ellipse_mask(eye_u, eye_v, iris_centre, (4.5, 4.5)), iris)
        _paint(eye_image, white * _ellipse_mask(eye_u, eye_v, iris_centre, (1.8, 1.8), 0.8), np.float32(10))
        glint = (iris_centre[0] + 1.2, iris_centre[1] - 1.2)
        _paint(eye_image, _ellipse_mask(eye_u, eye_v, glint, (0.8, 0.8), 0.6), np.float32(255))
        # Arched brow: drop the ends by bending v with a parabola before testing a thin ellipse.
        brow_v = eye_v - brow_arch * (eye_u - eye_centre) ** 2
        _paint(eye_image, _ellipse_mask(eye_u, brow_v, (eye_centre, brow_height), (12, 2.2)), hair * 0.8, 0.9)

    # Nose: a shadow along the bridge, a darker tip and two nostrils.
    rows, cols = _window(pose, (0, 6), 15)
    nose_u, nose_v, nose_image = u[rows, cols], v[rows, cols], image[:, rows, cols]
    _paint(nose_image, _ellipse_mask(nose_u, nose_v, (rng.choice([-4, 4]), 5), (2.5, 12), 3), skin * 0.7, 0.5)
    _paint(nose_image, _ellipse_mask(nose_u, nose_v, (0, 14), (7, 5), 3), skin * 0.8, 0.4)
    for side in (-1, 1):
        _paint(nose_image, _ellipse_mask(nose_u, nose_v, (side * 3.5, 16), (2, 1.2), 1), skin * 0.35, 0.8)

    # Mouth: bending v by a parabola lifts (smile) or drops (frown) the corners.
    rows, cols = _window(pose, (0, 30), 18)
    mouth_u, mouth_image = u[rows, cols], image[:, rows, cols]
    mouth_v = v[rows, cols] + rng.uniform(-0.01, 0.03) * mouth_u ** 2
    mouth_width = rng.uniform(11, 16)
    lip = _random_colour(rng, 0.6 * skin + 0.4 * np.array([200, 60, 70]).reshape(3, 1, 1), 12)
    _paint(mouth_image, _ellipse_mask(mouth_u, mouth_v, (0, 30), (mouth_width, rng.uniform(3, 5.5))), lip)
    _paint(mouth_image, _ellipse_mask(mouth_u, mouth_v, (0, 30), (mouth_width - 1, 0.9), 0.8), lip * 0.4)

    # Directional lighting across the whole picture, then fine uniform noise (std ~3).
    light, strength = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.25) / 70
    image *= 1 + np.float32(strength * np.cos(light)) * u + np.float32(strength * np.sin(light)) * v
    image += (rng.random((ALIGNED_HEIGHT, ALIGNED_WIDTH), dtype=np.float32) - 0.5) * 10
    # Stacking uint8 planes is the cheapest way back to a contiguous [H, W, 3].
    return np.dstack(np.clip(image, 0, 255).astype(np.uint8))
