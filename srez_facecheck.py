"""srez face check: a second look at each detection before a model paints a face there.

mtcnn finds small faces well, but at the sizes srez serves it also finds faces in gravel, grass,
galaxies, cells and cartoons: its own scores and landmarks do not tell them apart (docs/faces.md
measures both). A model paints a face wherever it is given one, so every detection gets a second
look: `FaceCheck`, a small convolutional network, scores the detection's frame, aligned by its
landmarks and shrunk to 16x16, as a photographed face or not.

It learns (`train`) from a folder of aligned faces (CelebA's training faces for the shipped one),
each cut as a photo holds it: turned, shifted and scaled a little as the detector's landmarks
place it, 12-48 px, some saved as JPEG or noisy. What is not a face comes from the same pictures
(windows that miss the face, or hold a part of it), the built-in cartoon faces, and textures.
"""
import math

import numpy as np
import tensorflow as tf

import srez_damage
import srez_faces
import srez_files
import srez_input
import srez_pixels
import srez_synthetic
from srez_errors import UsageError

SIDE = srez_faces.CHECK_SIDE  # The check sees a face's frame as the 16x16 model does.
# Where an aligned 178x218 face has its frame: the 128x128 box at x=25, y=60.
FRAME_CENTRE = (25 + 64, 60 + 64)
FRAME_SIDE = 128
WIDTHS = (32, 64, 64)
BATCH, LEARNING_RATE, NOT_A_FACE_WEIGHT = 256, 2e-3, 2.0


class FaceCheck(tf.Module):
    """Scores frames: float32 [n, 16, 16, 3] in [0, 1] -> probability of a face [n]."""

    def __init__(self, seed=0):
        super().__init__(name='face_check')
        rng = tf.random.Generator.from_seed(seed)
        shapes, units = [], 3
        for width in WIDTHS:
            shapes.append([3, 3, units, width])
            units = width
        self.kernels = [tf.Variable(rng.normal(shape, stddev=math.sqrt(2 / (9 * shape[2]))),
                                    name=f'kernel{index}') for index, shape in enumerate(shapes)]
        self.biases = [tf.Variable(tf.zeros([shape[-1]]), name=f'bias{index}')
                       for index, shape in enumerate(shapes)]
        self.output_weights = tf.Variable(tf.zeros([units, 1]), name='output_weights')
        self.output_bias = tf.Variable(tf.zeros([1]), name='output_bias')

    def logits(self, frames):
        """float32 [n, 16, 16, 3] -> logits [n]: 3x3 convolutions, every one after the first
        halving the size, then the mean over the frame."""
        x = 2 * tf.convert_to_tensor(frames, tf.float32) - 1
        for index, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1 if index == 0 else 2, 'SAME') + bias)
        return (tf.reduce_mean(x, axis=[1, 2]) @ self.output_weights + self.output_bias)[:, 0]

    def __call__(self, frames):
        return tf.sigmoid(self.logits(frames))


def save(check, path):
    """Writes `check` to `path` as a LiteRT file, which photos run without TensorFlow: input
    `frames` float32 [n, 16, 16, 3] in [0, 1], output the probabilities [n]."""
    function = tf.function(check.__call__, autograph=False, input_signature=[
        tf.TensorSpec([None, SIDE, SIDE, 3], tf.float32, name='frames')])
    content = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], check).convert()
    srez_files.write_atomically(path, content)


def _frame_matrix(centre, side, angle, out_side=SIDE):
    """The matrix [2, 3] from image pixels to a frame of `out_side` whose square of `side` image
    pixels is centred at `centre` (x, y), turned by `angle` radians."""
    cos, sin = math.cos(angle), math.sin(angle)
    scale = out_side / side
    linear = scale * np.array([[cos, sin], [-sin, cos]])
    return np.concatenate([linear, (out_side / 2 - linear @ np.asarray(centre))[:, None]], 1)


def examples(images, count, rng, grey_share=0.0):
    """`count` training frames and labels from aligned 178x218 face `images` (uint8 arrays):
    (float32 [count, 16, 16, 3], float32 [count] with 1 for a face). Half are faces;
    `grey_share` of them, faces and not, black and white."""
    frames, labels = [], []
    synthetic = [srez_synthetic.draw_synthetic_face(seed) for seed in range(64)]
    for index in range(count):
        kind = rng.uniform()
        image = images[rng.integers(len(images))]
        if kind < 0.5:
            frame, label = _face(image, rng), 1.0
        elif kind < 0.65:
            frame, label = _face(synthetic[rng.integers(len(synthetic))], rng), 0.0
        elif kind < 0.75:
            frame, label = _misplaced(image, rng), 0.0
        elif kind < 0.92:
            frame, label = _elsewhere(image, rng), 0.0
        else:
            frame, label = _texture(rng), 0.0
        frames.append(_damaged(frame, rng, grey_share))
        labels.append(label)
    return np.stack(frames).astype(np.float32), np.array(labels, np.float32)


def _face(image, rng):
    """The face frame of an aligned image as a detector would place it in a photo: turned up to
    20 degrees, off by up to a tenth of its side, 12-48 photo pixels."""
    centre = np.array(FRAME_CENTRE) + rng.uniform(-0.1, 0.1, 2) * FRAME_SIDE
    side = FRAME_SIDE * rng.uniform(0.9, 1.1)
    return _photo_frame(image, centre, side, math.radians(rng.uniform(-20, 20)), rng)


def _misplaced(image, rng):
    """A frame that holds a part of the face, or the face small within it: off by over a third
    of its side, or of half or twice its size."""
    offset = rng.uniform(0.35, 0.7) * rng.choice([-1, 1], 2) * rng.permutation([1, rng.uniform()])
    scale = rng.choice([rng.uniform(0.4, 0.6), rng.uniform(1.8, 2.5), rng.uniform(0.8, 1.2)])
    centre = np.array(FRAME_CENTRE) + offset * FRAME_SIDE * min(scale, 1.0)
    return _photo_frame(image, centre, FRAME_SIDE * scale, math.radians(rng.uniform(-20, 20)),
                        rng)


def _elsewhere(image, rng):
    """A frame that is not the face: anywhere in the picture, of any size, sharing under a
    quarter of its area with the face's frame (so a part of a face is not a face)."""
    while True:
        side = rng.uniform(0.25, 1.2) * FRAME_SIDE
        centre = rng.uniform([0, 0], [image.shape[1], image.shape[0]])
        overlap = np.prod(np.maximum(0, np.minimum(centre + side / 2, np.array(FRAME_CENTRE)
                                                   + FRAME_SIDE / 2)
                                     - np.maximum(centre - side / 2, np.array(FRAME_CENTRE)
                                                  - FRAME_SIDE / 2)))
        if overlap < 0.25 * min(side, FRAME_SIDE) ** 2:
            return _photo_frame(image, centre, side, math.radians(rng.uniform(-20, 20)), rng)


def _photo_frame(image, centre, side, angle, rng):
    """The frame of `side` image pixels at `centre`, turned by `angle`, as a photo holds it
    with that frame 12-48 pixels: float32 [16, 16, 3]."""
    photo_side = rng.uniform(12, 48)
    shrink = photo_side / side
    size = [max(1, round(image.shape[0] * shrink)), max(1, round(image.shape[1] * shrink))]
    photo = tf.image.resize(tf.cast(image, tf.float32), size, method='area', antialias=True)
    photo = np.round(photo.numpy())
    return srez_faces.cut(photo / 255.0, _frame_matrix(np.asarray(centre) * shrink, photo_side,
                                                        angle), SIDE)


def _texture(rng):
    """A patch of smooth random texture: noise blurred at a random scale, coloured."""
    field = rng.normal(size=(48, 48, 3)) * rng.uniform(0.05, 0.5, 3) + rng.uniform(0.2, 0.8, 3)
    sigma = rng.uniform(0.5, 4.0)
    blurred = srez_damage.blur(tf.constant(field, tf.float32),
                                srez_damage.gaussian_kernel(sigma))
    start = rng.integers(0, 48 - SIDE, 2)
    return np.clip(blurred.numpy()[start[0]:start[0] + SIDE, start[1]:start[1] + SIDE], 0, 1)


def _damaged(frame, rng, grey_share):
    """`frame` as an 8-bit photo may hold it: `grey_share` black and white (old photos), a fifth
    noisy, a third saved as JPEG."""
    if rng.uniform() < grey_share:
        frame = np.repeat(frame @ srez_pixels.LUMA[:, np.newaxis], 3, -1)
    frame = tf.constant(frame, tf.float32)
    if rng.uniform() < 0.2:
        frame = srez_damage.gaussian_noise(frame, rng.uniform(1, 8) / 255, rng.uniform() < 0.5,
                                            rng.integers(0, 2 ** 31, 2))
    frame = srez_damage.quantise(frame)
    if rng.uniform() < 0.33:
        frame = srez_damage.jpeg(frame, int(rng.integers(30, 96)),
                                  rng.integers(0, srez_damage.JPEG_BLOCK, 2))
    return frame.numpy()


def run_facecheck(config):
    """--run facecheck: trains the face check on config.dataset's aligned faces and writes it
    (a srez_config.FaceCheckConfig)."""
    check, record = train_check(config.dataset, config.face_check_batches,
                                config.face_check_frames, config.random_seed,
                                grey_share=config.face_check_grey_share)
    save(check, config.face_check_file)
    print(f'Wrote the face check to {config.face_check_file} (trained on {record}).')


def train_check(folder, steps=6000, count=160000, seed=0, log=print, grey_share=0.0):
    """A FaceCheck trained on the aligned faces of `folder` (CelebA's layout, searched
    recursively): `count` frames made once, `steps` batches of BATCH of them, the rate falling
    along a cosine. Missing a face costs half what taking a texture for one does: a face left to
    bicubic is still a fair picture; a face painted on gravel is not. Returns (FaceCheck,
    record)."""
    rng = np.random.default_rng(seed)
    paths = srez_files.find_images(folder)
    images = [srez_input.load_file(tf.constant(path)).numpy()[..., :3]
              for path in rng.permutation(paths)[:min(len(paths), 4000)]]
    if not images:
        raise UsageError(f'--dataset {folder} holds no images: the face check learns from '
                         f'aligned faces such as CelebA\'s.')
    log(f'Making {count} frames from {len(images)} faces of {folder}...')
    frames, labels = examples(images, count, rng, grey_share)
    check = FaceCheck(seed)
    optimizer = tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(
        LEARNING_RATE, steps))

    @tf.function(autograph=False)
    def step(batch_frames, batch_labels):
        weights = batch_labels + (1 - batch_labels) * NOT_A_FACE_WEIGHT
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(weights * tf.nn.sigmoid_cross_entropy_with_logits(
                labels=batch_labels, logits=check.logits(batch_frames)))
        optimizer.apply_gradients(zip(tape.gradient(loss, check.trainable_variables),
                                      check.trainable_variables))
        return loss

    for index in range(steps):
        chosen = rng.integers(0, count, BATCH)
        loss = step(frames[chosen], labels[chosen])
        if (index + 1) % 1000 == 0:
            log(f'Face check: batch {index + 1} of {steps}, loss {float(loss):.4f}.')
    return check, dict(data=folder, faces=len(images), frames=count, steps=steps, seed=seed)
