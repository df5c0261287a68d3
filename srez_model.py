"""srez networks and losses: tensors in, tensors out.

The generator turns a 16x16 face into a 64x64 one (4x); the discriminator scores 64x64 faces as
real or generated. Each is one short class whose constructor reads like the original srez
builder (add_residual_block, add_upscale, add_conv2d...), and counts its own FLOPs.

Precision: variables are float32; layers compute in the dtype of their input (float32, bfloat16 or
float16), batch statistics and losses stay in float32.
"""
import math

import tensorflow as tf

import srez_config
import srez_images

BATCH_NORM_EPSILON = 1e-3  # contrib's batch_norm default, which the original used.
# The original never updated its averages; 0.99 follows Keras (and they are debiased anyway).
BATCH_NORM_MOMENTUM = 0.99


def init_stddev(in_units, out_units, mapsize, factor):
    """The original srez initializer scale: sqrt(factor / (sqrt(fan_in * fan_out) * k * k))."""
    return math.sqrt(factor / (math.sqrt(in_units * out_units) * mapsize * mapsize))


class Conv2D(tf.Module):
    """A 'SAME' convolution with bias, initialised as in srez."""

    def __init__(self, rng, in_units, out_units, mapsize, stride=1, init_factor=1.0, name=None):
        super().__init__(name=name)
        stddev = init_stddev(in_units, out_units, mapsize, init_factor)
        shape = [mapsize, mapsize, in_units, out_units]
        self.kernel = tf.Variable(rng.truncated_normal(shape, stddev=stddev), name='kernel')
        self.bias = tf.Variable(tf.zeros([out_units]), name='bias')
        self.stride = stride

    def __call__(self, x, training):
        y = tf.nn.conv2d(x, tf.cast(self.kernel, x.dtype), self.stride, padding='SAME')
        return tf.nn.bias_add(y, tf.cast(self.bias, x.dtype))

    def flops(self, height, width):
        """(FLOPs on one [height, width] image, output height, output width); see `flops`."""
        mapsize, _, in_units, out_units = self.kernel.shape
        height, width = -(-height // self.stride), -(-width // self.stride)  # 'SAME' padding
        return 2 * mapsize * mapsize * in_units * out_units * height * width, height, width


# SUBPIXEL_TAPS[a][u][d]: whether tap d (-1, 0, 1) of a 3x3 kernel on a nearest-upscaled map reads
# low-resolution offset u (-1, 0, 1), for sub-pixel a (0 = top or left, 1 = bottom or right).
SUBPIXEL_TAPS = (((1, 0, 0), (0, 1, 1), (0, 0, 0)),
                 ((0, 0, 0), (1, 1, 0), (0, 0, 1)))


class PixelShuffle(tf.Module):
    """A 2x upscale that learns each of the four sub-pixels: a 3x3 convolution to 4x the units at
    the low resolution, rearranged by depth_to_space (ESPCN's sub-pixel convolution).

    It costs the FLOPs of srez's nearest-neighbour upscale followed by a 3x3 convolution, and
    starts as exactly that: a 3x3 kernel on a nearest-upscaled map touches, for each sub-pixel,
    only a 2x2 patch of the low-resolution map, so the sub-pixel kernels are sums of its taps.
    """

    def __init__(self, rng, in_units, out_units, init_factor=1.0, name=None):
        super().__init__(name=name)
        stddev = init_stddev(in_units, out_units, 3, init_factor)
        kernel = rng.truncated_normal([3, 3, in_units, out_units], stddev=stddev)
        taps = tf.constant(SUBPIXEL_TAPS, tf.float32)
        subpixels = [tf.einsum('ud,ve,deio->uvio', taps[a], taps[b], kernel)
                     for a in (0, 1) for b in (0, 1)]  # depth_to_space's channel order
        self.kernel = tf.Variable(tf.concat(subpixels, axis=-1), name='kernel')
        self.bias = tf.Variable(tf.zeros([4 * out_units]), name='bias')

    def __call__(self, x, training):
        y = tf.nn.conv2d(x, tf.cast(self.kernel, x.dtype), 1, padding='SAME')
        return tf.nn.depth_to_space(tf.nn.bias_add(y, tf.cast(self.bias, x.dtype)), 2)

    def flops(self, height, width):
        _, _, in_units, out_units = self.kernel.shape
        return 2 * 9 * in_units * out_units * height * width, 2 * height, 2 * width


class BatchNorm(tf.Module):
    """Batch normalisation with a learned offset and no scale, as srez used it.

    Hand-written, not Keras's layer: its two-pass moments and debiased averages were measured to
    be needed (N replicas match one device; the averages are right from the first batch).

    Training normalises with the statistics of the whole global batch (synchronised across
    replicas, so N devices train exactly like one device on N times the batch) and updates moving
    averages, which inference uses. The averages start at zero and are divided by their total
    weight (as Adam debiases its moments), so they are accurate from the first batch on.
    """

    def __init__(self, units, name=None):
        super().__init__(name=name)
        self.offset = tf.Variable(tf.zeros([units]), name='offset')
        # ON_READ: each replica keeps its copy; they agree because the statistics are synchronised.
        local = dict(trainable=False, synchronization=tf.VariableSynchronization.ON_READ,
                     aggregation=tf.VariableAggregation.MEAN)
        self.moving_mean = tf.Variable(tf.zeros([units]), name='moving_mean', **local)
        self.moving_variance = tf.Variable(tf.zeros([units]), name='moving_variance', **local)
        self.moving_weight = tf.Variable(0.0, name='moving_weight', **local)

    def __call__(self, x, training):
        if training:
            mean, variance = _global_moments(tf.cast(x, tf.float32))
            for average, value in ((self.moving_mean, mean), (self.moving_variance, variance),
                                   (self.moving_weight, 1.0)):
                average.assign(BATCH_NORM_MOMENTUM * average + (1 - BATCH_NORM_MOMENTUM) * value)
        else:
            # Before any training step there are no statistics yet: normalise by nothing.
            trained = self.moving_weight > 0
            weight = tf.maximum(self.moving_weight, 1e-12)
            mean = tf.where(trained, self.moving_mean / weight, 0.0)
            variance = tf.where(trained, self.moving_variance / weight, 1.0)
        scale = tf.math.rsqrt(variance + BATCH_NORM_EPSILON)
        shift = self.offset - mean * scale
        return x * tf.cast(scale, x.dtype) + tf.cast(shift, x.dtype)


def reset_batch_norm_statistics(network):
    """Forgets the moving averages of every BatchNorm in `network` (a tf.Module)."""
    for module in network.submodules:
        if isinstance(module, BatchNorm):
            for average in (module.moving_mean, module.moving_variance, module.moving_weight):
                average.assign(tf.zeros_like(average))


def _global_moments(x):
    """Mean and variance over batch and space, across all replicas when there are several.

    Two passes (the mean, then the squared deviations from it): the one-pass E[x^2] - E[x]^2
    cancels catastrophically where the mean is large against the spread, as after srez's
    near-zero-initialised residual convolutions, and then N replicas would not match one device.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1

    def global_mean(values):
        total = tf.reduce_sum(values, axis=[0, 1, 2])
        count = tf.cast(tf.reduce_prod(tf.shape(values)[:-1]), tf.float32)
        if replicas > 1:
            total, count = context.all_reduce(tf.distribute.ReduceOp.SUM, [total, count])
        return total / count

    mean = global_mean(x)
    return mean, global_mean(tf.square(x - mean))


class ResidualBlock(tf.Module):
    """srez's residual block: optional 1x1 projection, then twice BN-ReLU-conv3x3, plus bypass."""

    def __init__(self, rng, in_units, units, name=None):
        super().__init__(name=name)
        self.projection = (Conv2D(rng, in_units, units, mapsize=1, init_factor=1.0)
                           if in_units != units else None)
        self.layers = []
        for _ in range(2):
            self.layers += [BatchNorm(units), tf.nn.relu,
                            Conv2D(rng, units, units, mapsize=3, init_factor=1e-3)]

    def __call__(self, x, training):
        if self.projection is not None:
            x = self.projection(x, training)
        bypass = x
        for layer in self.layers:
            x = _apply(layer, x, training)
        return x + bypass

    def flops(self, height, width):
        return flops([self.projection] * (self.projection is not None) + self.layers,
                     height, width)


def _apply(layer, x, training):
    return layer(x, training) if isinstance(layer, tf.Module) else layer(x)


def flops(layers, height, width):
    """Forward FLOPs of `layers` on one [height, width] image: (FLOPs, output height, width).

    Counts the convolutions, 2 FLOPs per multiply-add; batch norm, ReLU, bias and upscaling are
    elementwise, under 1% of the total, and left out as is usual.
    """
    total = 0
    for layer in layers:
        if layer is srez_images.nearest_upscale:
            height, width = 2 * height, 2 * width
        elif hasattr(layer, 'flops'):
            layer_flops, height, width = layer.flops(height, width)
            total += layer_flops
    return total, height, width


def training_flops_per_image(generator, discriminator, sample_size, adversarial=True):
    """FLOPs of one training step per image: forward passes, and backward at twice forward.

    The generator runs once on the input (s/4 square); with the adversarial term the
    discriminator runs twice (real and generated faces, s square). Returns (training FLOPs,
    generator inference FLOPs).
    """
    generator_flops = generator.flops(sample_size // srez_config.SCALE,
                                      sample_size // srez_config.SCALE)[0]
    discriminator_flops = discriminator.flops(sample_size, sample_size)[0] if adversarial else 0
    return 3 * (generator_flops + 2 * discriminator_flops), generator_flops


class _Network(tf.Module):
    """A stack of layers built like the original srez `Model` class, one call per layer."""

    def __init__(self, rng, in_units, name):
        super().__init__(name=name)
        self._rng = rng
        self.units = in_units
        self.layers = []

    def add_conv2d(self, units, mapsize, stride=1, init_factor=1.0):
        self.layers.append(Conv2D(self._rng, self.units, units, mapsize, stride, init_factor))
        self.units = units

    def add_residual_block(self, units):
        self.layers.append(ResidualBlock(self._rng, self.units, units))
        self.units = units

    def add_batch_norm(self):
        self.layers.append(BatchNorm(self.units))

    def add_relu(self):
        self.layers.append(tf.nn.relu)

    def add_upscale(self):
        self.layers.append(srez_images.nearest_upscale)

    def add_pixel_shuffle(self, units, init_factor=1.0):
        self.layers.append(PixelShuffle(self._rng, self.units, units, init_factor))
        self.units = units

    def __call__(self, x, training):
        for layer in self.layers:
            x = _apply(layer, x, training)
        return x

    def flops(self, height, width):
        return flops(self.layers, height, width)


class Generator(_Network):
    """16x16 faces in, 64x64 faces out (any size in, 4x out: it is fully convolutional).

    config: a srez_config.ModelConfig; the generator reads its gene_* settings.

    gene_pixel_shuffle learns each 2x upscale as a sub-pixel convolution (PixelShuffle) in place
    of srez's nearest-neighbour upscale and the 3x3 convolution after it; at the same FLOPs, and
    starting from the same function.

    gene_residual makes the network correct a bilinear upscale of its input instead of painting
    the face from nothing: its last layer starts at zero and is added to the upscale's logits, so
    training starts from bilinear quality rather than from noise.

    Call: `generator(images, training)`, images [b, h, w, 3] in [0, 1] of the compute dtype;
    returns float32 [b, 4h, 4w, 3] in [0, 1].
    """

    def __init__(self, config, seed=0):
        super().__init__(tf.random.Generator.from_seed(seed), in_units=3, name='generator')
        self.residual = config.gene_residual
        self.input_size = config.input_size  # The aligned face it takes.
        units = config.gene_units
        for width, blocks in zip(units[:-1], config.gene_blocks):
            for _ in range(blocks):
                self.add_residual_block(width)
            if config.gene_pixel_shuffle:
                # Batch norm and ReLU commute with a nearest-neighbour upscale, so the order
                # changes nothing but where they run (on a quarter of the pixels).
                self.add_batch_norm()
                self.add_relu()
                self.add_pixel_shuffle(width, init_factor=1.0)
            else:
                self.add_upscale()
                self.add_batch_norm()
                self.add_relu()
                self.add_conv2d(width, mapsize=3, init_factor=1.0)
        self.add_conv2d(units[-1], mapsize=3, init_factor=2.0)
        self.add_relu()
        self.add_conv2d(units[-1], mapsize=1, init_factor=2.0)
        self.add_relu()
        self.add_conv2d(3, mapsize=1, init_factor=0.0 if self.residual else 1.0)
        del self._rng  # Only needed while building; keeps it out of checkpoints.

    def __call__(self, images, training):
        logits = tf.cast(super().__call__(images, training), tf.float32)
        if self.residual:
            # Clipped so that the logit stays finite on pure black or white pixels.
            upscaled = tf.clip_by_value(srez_images.bilinear_upscale(tf.cast(images, tf.float32)),
                                        1e-3, 1 - 1e-3)
            logits += tf.math.log(upscaled) - tf.math.log1p(-upscaled)
        return tf.sigmoid(logits)


class Discriminator(_Network):
    """Scores faces: images float [b, 64, 64, 3] in [0, 1] -> float32 logits [b, 1].

    config: a srez_config.ModelConfig; the discriminator reads its disc_units.
    """

    def __init__(self, config, seed=1):
        super().__init__(tf.random.Generator.from_seed(seed), in_units=3, name='discriminator')
        units = config.disc_units
        for width in units:
            self.add_conv2d(width, mapsize=3, stride=2, init_factor=2.0)
            self.add_batch_norm()
            self.add_relu()
        self.add_conv2d(units[-1], mapsize=3, init_factor=2.0)
        self.add_batch_norm()
        self.add_relu()
        self.add_conv2d(units[-1], mapsize=1, init_factor=2.0)
        self.add_batch_norm()
        self.add_relu()
        self.add_conv2d(1, mapsize=1, init_factor=2.0)
        del self._rng

    def __call__(self, images, training):
        scores = super().__call__(2 * images - 1, training)
        return tf.reduce_mean(tf.cast(scores, tf.float32), axis=[1, 2])


def generator_loss(gene_output, clean_input, truth, fake_logits, l1_factor, content_factor=0.0,
                   gradient_factor=0.0, valid=None):
    """srez's generator loss and its L1 term, float32 scalars (total, l1).

    gene_output, truth: [b, 4h, 4w, 3]; clean_input: [b, h, w, 3]; fake_logits: the
    discriminator's [b, 1] on gene_output, or None when the adversarial weight (1 - l1_factor)
    is 0. The L1 term compares the area-downscaled output with the input; content_factor > 0
    adds content_factor * mean|gene_output - truth|, the full-resolution content term of
    SRGAN/ESRGAN; gradient_factor > 0 adds gradient_factor * the mean squared distance between the
    output's and the truth's gradient magnitudes (SPSR's gradient loss: edges where the truth's
    are; squared, so that the output's expected detail is the truth's, where an L1 distance
    would settle for the median and keep the output smoother). valid: [b, 4h, 4w, 1], the share
    of each truth pixel that is a picture's own (None: all of them): every mean is weighted by
    it, so a frame's fill beyond its picture teaches nothing.
    """
    gene_output, truth = tf.cast(gene_output, tf.float32), tf.cast(truth, tf.float32)
    small_valid = None if valid is None else srez_images.box_downscale(valid)
    l1 = _mean(tf.abs(srez_images.box_downscale(gene_output) - tf.cast(clean_input, tf.float32)),
               small_valid)
    total = l1_factor * l1
    if fake_logits is not None:
        total += (1.0 - l1_factor) * tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.ones_like(fake_logits), logits=fake_logits))
    if content_factor:
        total += content_factor * _mean(tf.abs(gene_output - truth), valid)
    if gradient_factor:
        total += gradient_factor * _mean(tf.square(
            srez_images.gradient_magnitudes(gene_output, floor=1e-12)
            - srez_images.gradient_magnitudes(truth, floor=1e-12)), valid)
    return total, l1


def _mean(values, weights=None):
    """The mean of `values` [b, h, w, c], weighted by `weights` [b, h, w, 1] if given."""
    if weights is None:
        return tf.reduce_mean(values)
    weights = tf.cast(weights, values.dtype)
    return tf.reduce_sum(values * weights) / tf.maximum(
        tf.reduce_sum(weights) * tf.cast(tf.shape(values)[-1], values.dtype), 1e-6)


def discriminator_loss(real_logits, fake_logits):
    """Cross-entropy for real faces labelled 1 and generated ones labelled 0: (real, fake)."""
    real = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.ones_like(real_logits), logits=real_logits))
    fake = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.zeros_like(fake_logits), logits=fake_logits))
    return real, fake


