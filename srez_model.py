"""srez networks, losses, optimizer and weight average: tensors in, tensors out.

The generator turns a 16x16 face into a 64x64 one (4x); the discriminator scores 64x64 faces as
real or generated. Each is one short class whose constructor reads like the original srez
builder (add_residual_block, add_upscale, add_conv2d...), and counts its own FLOPs.

Precision: variables are float32; layers compute in the dtype of their input (float32, bfloat16 or
float16), batch statistics and losses stay in float32.
"""
import math

import tensorflow as tf

BATCH_NORM_EPSILON = 1e-3  # contrib's batch_norm default, which the original used.
# The original never updated its averages; 0.99 follows Keras (and they are debiased anyway).
BATCH_NORM_MOMENTUM = 0.99
UPSCALE_FACTOR = 4


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
        if layer is nearest_upscale:
            height, width = 2 * height, 2 * width
        elif hasattr(layer, 'flops'):
            layer_flops, height, width = layer.flops(height, width)
            total += layer_flops
    return total, height, width


def training_flops_per_image(generator, discriminator, sample_size):
    """FLOPs of one training step per image: forward passes, and backward at twice forward.

    The generator runs once on the input (s/4 square); the discriminator twice (real and
    generated faces, s square). Returns (training FLOPs, generator inference FLOPs).
    """
    generator_flops = generator.flops(sample_size // UPSCALE_FACTOR,
                                      sample_size // UPSCALE_FACTOR)[0]
    discriminator_flops = discriminator.flops(sample_size, sample_size)[0]
    return 3 * (generator_flops + 2 * discriminator_flops), generator_flops


def nearest_upscale(images, factor=2):
    """Nearest-neighbour upscale by repeating pixels (XLA-friendly). images: [b, h, w, c]."""
    return tf.repeat(tf.repeat(images, factor, axis=1), factor, axis=2)


def box_downscale(images, factor=UPSCALE_FACTOR):
    """Area (box) downscale by an integer factor; equals tf.image.resize(method='area') for it.

    An average pool, because XLA has no kernel for ResizeArea. images: [b, h, w, c].
    """
    return tf.nn.avg_pool2d(images, factor, factor, padding='VALID')


def bilinear_upscale(images, factor=UPSCALE_FACTOR):
    """Bilinear upscale by an integer factor (XLA has no kernel for bicubic). images: [b, h, w, c]."""
    return tf.image.resize(images, factor * tf.shape(images)[1:3], method='bilinear')


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
        self.layers.append(nearest_upscale)

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

    pixel_shuffle=True learns each 2x upscale as a sub-pixel convolution (PixelShuffle) in place
    of srez's nearest-neighbour upscale and the 3x3 convolution after it; at the same FLOPs, and
    starting from the same function.

    residual=True makes the network correct a bilinear upscale of its input instead of painting
    the face from nothing: its last layer starts at zero and is added to the upscale's logits, so
    training starts from bilinear quality rather than from noise.

    Call: `generator(images, training)`, images [b, h, w, 3] in [0, 1] of the compute dtype;
    returns float32 [b, 4h, 4w, 3] in [0, 1].
    """

    def __init__(self, units=(256, 128, 96), seed=0, residual=False, pixel_shuffle=False):
        super().__init__(tf.random.Generator.from_seed(seed), in_units=3, name='generator')
        self.residual = residual
        self.pixel_shuffle = pixel_shuffle
        for width in units[:-1]:
            self.add_residual_block(width)
            self.add_residual_block(width)
            if pixel_shuffle:
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
        self.add_conv2d(3, mapsize=1, init_factor=0.0 if residual else 1.0)
        del self._rng  # Only needed while building; keeps it out of checkpoints.

    def __call__(self, images, training):
        logits = tf.cast(super().__call__(images, training), tf.float32)
        if self.residual:
            # Clipped so that the logit stays finite on pure black or white pixels.
            upscaled = tf.clip_by_value(bilinear_upscale(tf.cast(images, tf.float32)),
                                        1e-3, 1 - 1e-3)
            logits += tf.math.log(upscaled) - tf.math.log1p(-upscaled)
        return tf.sigmoid(logits)


class Discriminator(_Network):
    """Scores faces: images float [b, 64, 64, 3] in [0, 1] -> float32 logits [b, 1]."""

    def __init__(self, units=(64, 128, 256, 512), seed=1):
        super().__init__(tf.random.Generator.from_seed(seed), in_units=3, name='discriminator')
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


def generator_loss(fake_logits, gene_output, clean_input, l1_factor, truth=None,
                   content_factor=0.0):
    """srez's generator loss, float32 scalars (total, adversarial, l1).

    fake_logits: [b, 1]; gene_output: [b, 4h, 4w, 3]; clean_input: [b, h, w, 3].
    content_factor > 0 adds content_factor * mean|gene_output - truth| (truth: [b, 4h, 4w, 3]),
    the full-resolution content term of SRGAN/ESRGAN, to the total.
    """
    adversarial = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.ones_like(fake_logits), logits=fake_logits))
    l1 = tf.reduce_mean(tf.abs(box_downscale(gene_output) - tf.cast(clean_input, tf.float32)))
    total = (1.0 - l1_factor) * adversarial + l1_factor * l1
    if content_factor:
        total += content_factor * tf.reduce_mean(tf.abs(gene_output - tf.cast(truth, tf.float32)))
    return total, adversarial, l1


def discriminator_loss(real_logits, fake_logits):
    """Cross-entropy for real faces labelled 1 and generated ones labelled 0: (real, fake)."""
    real = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.ones_like(real_logits), logits=real_logits))
    fake = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.zeros_like(fake_logits), logits=fake_logits))
    return real, fake


def learning_rate(batch, start, half_life):
    """The rate for 1-based `batch`: halved after every `half_life` batches, as srez did."""
    halvings = tf.math.floordiv(tf.cast(batch, tf.int64) - 1, half_life)
    return start * tf.pow(0.5, tf.cast(halvings, tf.float32))


class Adam(tf.Module):
    """Adam as TF1's AdamOptimizer computes it, replica-aware.

    Not keras.optimizers.Adam, though it computes the same steps (tests/test_model.py): Keras
    saves its moments as `_variables/<2i+1>` and `<2i+2>`, private names in an order of its own,
    so every existing checkpoint's `first_moments/<i>` and `second_moments/<i>` would need a
    mapping onto Keras internals that a Keras release may change (tried with Keras 3.15).

    `apply` is called from a replica context with this replica's gradients; it sums them over
    replicas, then updates every copy of each variable the same way.
    """

    def __init__(self, variables, beta1, beta2=0.999, epsilon=1e-8, name=None):
        super().__init__(name=name)
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name='iterations')
        self.first_moments = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in variables]
        self.second_moments = [tf.Variable(tf.zeros(v.shape), trainable=False) for v in variables]

    def apply(self, gradients, variables, rate, finite):
        """Steps `variables` (a list) with this replica's `gradients`; skips when not `finite`.

        finite: a bool tensor (LossScale.update's), constant True when there is no loss scaling.
        """
        context = tf.distribute.get_replica_context()
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
        step = tf.cast(self.iterations + 1, tf.float32)
        powers = (self.beta1 ** step, self.beta2 ** step)
        # What each replica computed (gradients, rate, finite) is handed to `update` per replica,
        # so every copy of a variable steps on its own device with its own equal values.
        context.merge_call(self._update_all, args=(gradients, variables, rate, powers, finite))

    def _update_all(self, strategy, gradients, variables, rate, powers, finite):
        for gradient, variable, first, second in zip(
                gradients, variables, self.first_moments, self.second_moments):
            strategy.extended.update(variable, self._update_one,
                                     args=(gradient, first, second, rate, powers, finite),
                                     group=False)
        strategy.extended.update(self.iterations, _count_step, args=(finite,), group=False)

    def _update_one(self, variable, gradient, first, second, rate, powers, finite):
        def update():
            # TF1's AdamOptimizer runs this kernel: one op per variable instead of a dozen keeps
            # the traced step small, and tracing and compiling it quick.
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle, m=first.handle, v=second.handle, beta1_power=powers[0],
                beta2_power=powers[1], lr=rate, beta1=self.beta1, beta2=self.beta2,
                epsilon=self.epsilon, grad=gradient)

        if tf.get_static_value(finite):  # Known when tracing (no loss scaling): no branch.
            update()
        else:
            tf.cond(finite, update, lambda: None)


def _count_step(iterations, finite):
    iterations.assign_add(tf.cast(finite, tf.int64))


def average_decay(decay, batch):
    """The weight-average decay after 1-based `batch`: min(decay, (1 + batch) / (10 + batch)).

    The ramp (tf.train.ExponentialMovingAverage's num_updates rule) forgets the random initial
    weights within tens of batches; a fixed 0.999 would still hold half of them after 700.
    """
    batch = tf.cast(batch, tf.float32)
    return tf.minimum(decay, (1.0 + batch) / (10.0 + batch))


def update_average(averages, variables, decay):
    """averages <- decay * averages + (1 - decay) * variables, from a replica context.

    averages, variables: equal-length lists of matching variables (the averaged network's and
    the trained one's). Every replica holds the same weights, so each copy of an average is moved
    toward its own device's copy of the variable.
    """
    targets = [decay * average + (1.0 - decay) * variable
               for average, variable in zip(averages, variables)]
    tf.distribute.get_replica_context().merge_call(_assign_all, args=(averages, targets))


def _assign_all(strategy, variables, values):
    for variable, value in zip(variables, values):
        strategy.extended.update(variable, lambda v, x: v.assign(x), args=(value,), group=False)


class LossScale(tf.Module):
    """Dynamic loss scaling, so float16 gradients neither underflow nor overflow.

    Not keras.mixed_precision.LossScaleOptimizer: that wraps one optimizer, with its own scale
    and its own skipped steps, where srez keeps one scale for both networks and skips their step
    together when any gradient of either overflows.

    Disabled (scale 1, every step applied) for float32 and bfloat16, which need none. Enabled, a
    step whose gradients are not finite is skipped and halves the scale; 2000 good steps double it.
    """

    GROWTH_INTERVAL = 2000

    def __init__(self, enabled, initial_scale=2.0 ** 15):
        super().__init__(name='loss_scale')
        self.enabled = enabled
        on_write = dict(trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.value = tf.Variable(initial_scale if enabled else 1.0, **on_write)
        self.good_steps = tf.Variable(0, dtype=tf.int64, **on_write)

    def scale(self, loss):
        return loss * self.value if self.enabled else loss

    def unscale(self, gradients):
        return [g / self.value for g in gradients] if self.enabled else gradients

    def update(self, gradients):
        """Adjusts the scale for this step's gradients; returns whether to apply them (bool)."""
        if not self.enabled:
            return tf.constant(True)
        local_finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in gradients])
        # Every replica must agree, so a step is applied only where all gradients are finite.
        bad_replicas = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(local_finite, tf.float32))
        finite = bad_replicas == 0
        grow = tf.logical_and(finite, self.good_steps + 1 >= self.GROWTH_INTERVAL)
        self.value.assign(tf.where(finite, tf.where(grow, self.value * 2, self.value),
                                   self.value / 2))
        zero = tf.zeros_like(self.good_steps)
        self.good_steps.assign(tf.where(finite, tf.where(grow, zero, self.good_steps + 1), zero))
        return finite
