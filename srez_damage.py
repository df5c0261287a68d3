"""srez damage: the ways real small faces differ from clean area downscales, as TensorFlow ops.

Real small faces come out of soft lenses, resampled photos, noisy sensors and JPEG files. A model
trained only on exact area downscales breaks on them; trained on inputs damaged the same way (the
synthetic damage of Real-ESRGAN and GFPGAN, scaled to a 64 px truth) it learns to forgive
them. Two users:

- `training_pair`: training's tf.data pipeline turns each face into (input, truth), damaging the
  input by a srez_config.DamageConfig, each kind of damage with its own share and range;
- `apply`: eval's `--damage blur:1.2+noise:3+jpeg:75`, a srez_config.Damage made the same way
  every time.

The chain follows the camera: the lens blurs the scene (the truth), the sensor or a resize samples
it 4x smaller, the sensor adds noise, the file is a JPEG. Training damages the steps that were
measured to pay (the resize and JPEG); eval's fixed damage has blur, noise and JPEG. Blur sigmas
are in pixels of the truth (4 to an input pixel, so they mean the same at every --sample_size),
noise in steps of 1/255, JPEG in libjpeg's quality.
"""

import tensorflow as tf

import srez_config
import srez_pixels

BLUR_RADIUS = 7  # A 15x15 kernel holds a Gaussian of sigma 2.4 to 3 sigmas.
# With 4:2:0 chroma a JPEG codes 16x16 pixels at a time; a face cut out of a larger JPEG starts
# anywhere in such a block.
JPEG_BLOCK = 16
# The 4x downscales a photo may have had: ScaleAndTranslate's kernel and whether it antialiases
# (cameras and Pillow do; OpenCV's bilinear and bicubic sample points, and alias).
DOWNSCALES = (('box', True), ('triangle', True), ('keyscubic', True), ('triangle', False),
              ('keyscubic', False))


def quantise(image):
    """float [h, w, c] in [0, 1] -> the same in steps of 1/255, as an 8-bit file holds it."""
    return tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0) / 255.0


def gaussian_kernel(sigma, radius=BLUR_RADIUS):
    """A normalised Gaussian kernel of spread `sigma` pixels, float32 [2 radius + 1,
    2 radius + 1] summing to 1."""
    steps = tf.range(-radius, radius + 1, dtype=tf.float32)
    y, x = tf.meshgrid(steps, steps, indexing='ij')
    weights = tf.exp(-0.5 * (tf.square(x) + tf.square(y)) / tf.square(sigma))
    return weights / tf.reduce_sum(weights)


def blur(image, kernel):
    """`image` float32 [h, w, c] convolved with `kernel` [k, k], its edges mirrored."""
    radius = kernel.shape[0] // 2
    padded = tf.pad(image[tf.newaxis], [[0, 0], [radius, radius], [radius, radius], [0, 0]],
                    'REFLECT')
    channels = image.shape[-1]
    kernels = tf.tile(kernel[:, :, tf.newaxis, tf.newaxis], [1, 1, channels, 1])
    return tf.nn.depthwise_conv2d(padded, kernels, [1, 1, 1, 1], 'VALID')[0]


def resample(image, size, kernel, antialias):
    """`image` float32 [h, w, c] resampled to `size` (two ints) with ScaleAndTranslate's
    `kernel` ('box' and antialias: area)."""
    scale = [size[0] / image.shape[0], size[1] / image.shape[1]]
    resampled = tf.raw_ops.ScaleAndTranslate(
        images=image[tf.newaxis], size=size, scale=scale, translation=[0.0, 0.0],
        kernel_type=kernel, antialias=antialias)[0]
    return tf.ensure_shape(resampled, [*size, image.shape[-1]])


def jpeg(image, quality, phase=(0, 0)):
    """`image` float32 [h, w, 3] in [0, 1], as decoded after saving it as a JPEG of `quality`
    (int32, 1-100) with 4:2:0 chroma, whose 16x16 blocks start `phase` (int32 [2], y and x, each
    0-15) pixels before the image: a face cut out of a larger JPEG."""
    height, width = image.shape[0], image.shape[1]
    padded = [-(-(side + JPEG_BLOCK - 1) // JPEG_BLOCK) * JPEG_BLOCK for side in (height, width)]
    around = tf.stack([[phase[0], padded[0] - height - phase[0]],
                       [phase[1], padded[1] - width - phase[1]], [0, 0]])
    coded = tf.image.adjust_jpeg_quality(tf.pad(image, around, 'SYMMETRIC'), quality)
    return coded[phase[0]:phase[0] + height, phase[1]:phase[1] + width]


def gaussian_noise(image, sigma, grey, seed):
    """`image` plus Gaussian noise of standard deviation `sigma`, the same in every channel if
    `grey` (a luminance sensor's) or independent in each (a colour one's). seed: int [2]."""
    noise = tf.random.stateless_normal(tf.shape(image), seed)
    noise = tf.where(grey, noise[..., :1], noise)
    return image + sigma * noise


def apply(truth, damage, seed):
    """The input of `truth` float32 [s, s, 3] under `damage`: float32 [s/4, s/4, 3].

    The truth is blurred (isotropic), area-downscaled, given colour Gaussian noise and saved as
    a JPEG whose blocks start at the face's corner; a damaged input is quantised to 8 bits, as a
    file is. Clean, it is the exact area downscale. seed: int [2], for the noise.
    """
    size = [truth.shape[0] // srez_config.SCALE, truth.shape[1] // srez_config.SCALE]
    if damage.blur:
        sigma = tf.constant(damage.blur, tf.float32)
        truth = blur(truth, gaussian_kernel(sigma))
    small = tf.image.resize(truth, size, method='area')
    if damage == srez_config.Damage():
        return small
    if damage.noise:
        small = gaussian_noise(small, damage.noise / 255, False, seed)
    small = quantise(small)
    if damage.jpeg:
        small = jpeg(small, damage.jpeg)
    return small


def training_pair(face, sample_size, config, seed):
    """One training example from a face: (input [s/4, s/4, 3], truth [s, s, 3], valid [s, s, 1]),
    float32.

    face: float32 [128, 128, 4] in [0, 1], the augmented face box and its alpha, which becomes
    `valid`: the share of each truth pixel that is the picture's own (all of them for a face of 3
    channels). config: a
    srez_config.DamageConfig. A share config.damage_grey of faces become black and white (truth
    and input), as in old photos. A share config.damage_clean of inputs are the exact area
    downscale of the truth; the rest are damaged, each kind of damage drawn with its own share:

    - the 4x downscale by a bilinear or bicubic kernel (antialiased or not) instead of by area;
    - JPEG, with 4:2:0 chroma and its blocks at a random phase;

    and quantised to 8 bits. (Blur before the downscale, sensor noise and cuts at a sub-pixel
    offset were measured too, and did not pay: docs/quality.md.) seed: int [2].
    """
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    draws = tf.random.stateless_uniform([4], seeds[0])
    truth = _area(face, sample_size)
    valid = truth[..., 3:] if face.shape[-1] == 4 else tf.ones_like(truth[..., :1])
    truth = truth[..., :3]
    if config.damage_grey:
        grey = tf.random.stateless_uniform([], seeds[3]) < config.damage_grey
        luma = tf.reduce_sum(truth * srez_pixels.LUMA.astype('float32'), -1, keepdims=True)
        truth = tf.where(grey, tf.tile(luma, [1, 1, 3]), truth)
    size = [sample_size // srez_config.SCALE] * 2
    kind = tf.where(draws[1] < config.damage_resize,
                    1 + tf.cast(draws[2] * (len(DOWNSCALES) - 1), tf.int32), 0)

    def damaged_input():
        small = quantise(tf.switch_case(kind, [
            lambda kernel=kernel, antialias=antialias: resample(truth, size, kernel, antialias)
            for kernel, antialias in DOWNSCALES]))
        quality = tf.cast(tf.round(_uniform(seeds[1], [], *config.damage_jpeg_quality)),
                          tf.int32)
        phase = tf.random.stateless_uniform([2], seeds[2], 0, JPEG_BLOCK, tf.int32)
        return tf.cond(draws[3] < config.damage_jpeg, lambda: jpeg(small, quality, phase),
                       lambda: small)

    inputs = tf.cond(draws[0] >= config.damage_clean, damaged_input,
                     lambda: _area(truth, size[0]))
    return inputs, truth, valid


def _area(image, size):
    """`image` [h, w, c] area-resized to `size` square (itself if it is that size already)."""
    if image.shape[0] == size:
        return image
    return tf.image.resize(image, [size, size], method='area')


def _uniform(seed, shape, low, high):
    return tf.random.stateless_uniform(shape, seed, float(low), float(high))
