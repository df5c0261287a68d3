"""srez optimisation: Adam, dynamic loss scaling, the learning-rate schedule and the weight average.

Written out rather than taken from Keras. `keras.optimizers.Adam` computes the same steps (a test
checks it) but saves its moments under private, positional names, so every existing checkpoint
would need a mapping onto Keras internals; `keras.mixed_precision.LossScaleOptimizer` scales each
optimizer on its own, where srez keeps one scale for both networks and skips their step together.
All of it is replica-aware: it runs inside `strategy.run`, on every replica of a tf.distribute
strategy.
"""
import math

import tensorflow as tf


def learning_rate(batch, config):
    """The rate for 1-based `batch` under config's (a srez_config.TrainConfig) schedule.

    halving: learning_rate_start halved after every learning_rate_half_life batches, as srez did.
    cosine: from learning_rate_start down to 0 at max_batches along a half cosine, SGDR's shape
    for a run of known length.
    """
    batch = tf.cast(batch, tf.int64)
    if config.learning_rate_schedule == 'cosine':
        progress = tf.minimum(tf.cast(batch - 1, tf.float32) / config.max_batches, 1.0)
        return config.learning_rate_start * 0.5 * (1.0 + tf.cos(math.pi * progress))
    halvings = tf.math.floordiv(batch - 1, config.learning_rate_half_life)
    return config.learning_rate_start * tf.pow(0.5, tf.cast(halvings, tf.float32))


class Adam(tf.Module):
    """Adam as TF1's AdamOptimizer computes it, replica-aware.

    Checkpoints save its moments as `first_moments/<i>` and `second_moments/<i>`. `apply` is
    called from a replica context with this replica's gradients; it sums them over replicas, then
    updates every copy of each variable the same way.
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

    One scale for both networks: their step is skipped together when any gradient of either
    overflows. Disabled (scale 1, every step applied) for float32 and bfloat16, which need none.
    Enabled, a step whose gradients are not finite is skipped and halves the scale; 2000 good steps
    double it.
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
