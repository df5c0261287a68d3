"""srez training state: the networks, their optimizers and the step that trains them.

`TrainingSession(config, strategy)` holds everything a checkpoint saves; `train_step` trains one
batch. The loop around it (srez_train) decides when to report, write grids and checkpoint.
"""
import dataclasses
import typing

import tensorflow as tf

import srez_checkpoint
import srez_images
import srez_model
import srez_optimizer

# Batches whose statistics the generator's batch norm is given before each grid and checkpoint.
STATISTICS_BATCHES = 8


class StepResults(typing.NamedTuple):
    """What a training step reports, float32 scalars: the generator's loss and its L1 term, the
    discriminator's losses on real and generated faces (0 when it is not trained), and the
    learning rate the step used. Their names are the TensorBoard tags."""
    generator_loss: tf.Tensor
    discriminator_real_loss: tf.Tensor
    discriminator_fake_loss: tf.Tensor
    generator_l1_loss: tf.Tensor
    learning_rate: tf.Tensor


class TrainingSession:
    """The networks, optimizers and bookkeeping of one model, placed for one strategy."""

    def __init__(self, config, strategy, data_source=''):
        """config: a srez_config.TrainConfig; strategy: a tf.distribute.Strategy; data_source:
        what it trains on (srez_input.TrainingData.source), for the checkpoint's record."""
        self.config, self.strategy = config, strategy
        self.compute_dtype = tf.as_dtype(config.precision)
        # At gene_l1_factor 1 the adversarial term is gone: the discriminator is neither run nor
        # trained (it is still built and saved, so checkpoints keep one layout).
        self.adversarial = config.gene_l1_factor < 1
        with strategy.scope():
            self.generator = srez_model.Generator(config.model, seed=config.random_seed)
            # The exponential moving average of the generator's weights: what grids, infer, eval
            # and export use. It starts as the same initial weights and never feeds training.
            self.generator_average = srez_model.Generator(config.model, seed=config.random_seed)
            self.discriminator = srez_model.Discriminator(config.model,
                                                          seed=config.random_seed + 1)
            self.gene_optimizer = srez_optimizer.Adam(
                self.generator.trainable_variables, config.learning_beta1,
                epsilon=config.epsilon, name='gene_optimizer')
            self.disc_optimizer = srez_optimizer.Adam(
                self.discriminator.trainable_variables, config.learning_beta1,
                epsilon=config.epsilon, name='disc_optimizer')
            self.loss_scale = srez_optimizer.LossScale(enabled=config.precision == 'float16')
        self.progress = srez_checkpoint.Progress()
        self.checkpoint = tf.train.Checkpoint(
            generator=self.generator, generator_average=self.generator_average,
            discriminator=self.discriminator, gene_optimizer=self.gene_optimizer,
            disc_optimizer=self.disc_optimizer, loss_scale=self.loss_scale,
            progress=self.progress, model_config=srez_checkpoint.config_variable(config.model),
            training_record=srez_checkpoint.record_variable(dict(
                recipe=config.recipe, data=data_source,
                damage=dataclasses.asdict(config.damage))))
        # XLA compiles the per-replica work; the outer train_step only feeds it and reduces.
        # No autograph in the steps (their loops are over layers, not tensors): converting the
        # model's code took a third of the tracing time.
        self._traced_replica_step = tf.function(self._replica_step, jit_compile=config.xla,
                                                autograph=False)
        # Not compiled: it runs once per grid, where compiling would cost more than it saves.
        self.upscale = tf.function(self._upscale, autograph=False)

    def restore(self, path):
        """Restores checkpoint `path` (checked by srez_checkpoint.check_config) into this session.

        Raises UsageError, and restores nothing, for a checkpoint that cannot be read.
        """
        has_average = srez_checkpoint.holds(path, 'generator_average')
        objects = dict(generator=self.generator, discriminator=self.discriminator,
                       gene_optimizer=self.gene_optimizer, disc_optimizer=self.disc_optimizer,
                       loss_scale=self.loss_scale, progress=self.progress)
        if has_average:
            objects['generator_average'] = self.generator_average
        try:
            status = tf.train.Checkpoint(**objects).restore(path).expect_partial()
            status.assert_existing_objects_matched()
        except Exception as error:  # TF's reader fails in many ways, all about this file.
            raise srez_checkpoint.unreadable(path, error) from None
        if not has_average:
            # Checkpoints from before weight averaging: the average starts from here.
            copy_weights(self.generator, self.generator_average)

    def _replica_step(self, inputs, truth, valid, batch):
        """One batch on one replica: both networks step from the same forward pass.

        inputs: float32 [b, s/4, s/4, 3]; truth: float32 [b, s, s, 3]; valid: float32 [b, s, s,
        1], the share of each truth pixel that is a picture's own; batch: int64, 1-based.
        Returns StepResults.
        """
        config = self.config
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        with tf.GradientTape(persistent=True) as tape:
            gene_output = self.generator(
                tf.cast(self._noisy(inputs, batch), self.compute_dtype), training=True)
            fake_logits = real_logits = None
            if self.adversarial:
                # Where the truth is a frame's fill, the discriminator sees the truth in both.
                shown = valid * tf.cast(gene_output, tf.float32) + (1 - valid) * truth
                fake_logits, real_logits = self._discriminate(shown, truth)
            # The L1 term asks for the clean input's consistency, whatever damaged the input.
            gene_loss, gene_l1 = srez_model.generator_loss(
                gene_output, srez_images.box_downscale(truth), truth, fake_logits,
                l1_factor=config.gene_l1_factor,
                content_factor=config.gene_content_factor,
                gradient_factor=config.gene_gradient_factor, valid=valid)
            # Optimizers sum gradients over replicas: each replica adds its share of the mean.
            gene_objective = self.loss_scale.scale(gene_loss / replicas)
            if self.adversarial:
                disc_real, disc_fake = srez_model.discriminator_loss(real_logits, fake_logits)
                disc_objective = self.loss_scale.scale((disc_real + disc_fake) / replicas)
        networks = [(self.generator, self.gene_optimizer, gene_objective)]
        if self.adversarial:
            networks.append((self.discriminator, self.disc_optimizer, disc_objective))
        gradients = [list(self.loss_scale.unscale(tape.gradient(objective,
                                                                network.trainable_variables)))
                     for network, _, objective in networks]
        finite = self.loss_scale.update(sum(gradients, []))
        rate = srez_optimizer.learning_rate(batch, config)
        for (network, optimizer, _), network_gradients in zip(networks, gradients):
            optimizer.apply(network_gradients, network.trainable_variables, rate, finite)
        srez_optimizer.update_average(self.generator_average.trainable_variables,
                                      self.generator.trainable_variables,
                                      srez_optimizer.average_decay(config.ema_decay, batch))
        if not self.adversarial:
            disc_real = disc_fake = tf.constant(0.0)
        return StepResults(gene_loss, disc_real, disc_fake, gene_l1, rate)

    def _discriminate(self, fake, real):
        """The discriminator's logits on generated and real faces: (fake [b, 1], real [b, 1])."""
        fake, real = tf.cast(fake, self.compute_dtype), tf.cast(real, self.compute_dtype)
        if self.config.disc_joint_batch:
            return tf.split(self.discriminator(tf.concat([fake, real], 0), True), 2)
        return self.discriminator(fake, True), self.discriminator(real, True)

    def _noisy(self, inputs, batch):
        """The generator's training input: `inputs` plus the noise the original srez adds.

        Every replica draws the noise of the whole global batch and adds its own slice, so N
        replicas add the same noise as one device on N times the batch.
        """
        if not self.config.gene_input_noise:
            return inputs
        context = tf.distribute.get_replica_context()
        size = tf.shape(inputs)[0]
        start = context.replica_id_in_sync_group * size
        noise = tf.random.stateless_normal(
            tf.concat([[context.num_replicas_in_sync * size], tf.shape(inputs)[1:]], axis=0),
            tf.stack([batch, tf.constant(1000 * self.config.random_seed, tf.int64)]),
            stddev=self.config.gene_input_noise)
        return inputs + noise[start:start + size]

    @tf.function(autograph=False)
    def train_step(self, iterator, batch):
        """Trains global batch number `batch` (int64, 1-based) from `iterator`.

        Returns StepResults, the losses averaged over replicas.
        """
        inputs, truth, valid = next(iterator)
        results = self.strategy.run(self._traced_replica_step, args=(inputs, truth, valid, batch))
        return StepResults(*[self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                             for value in results])

    def refresh_statistics(self, iterator, batches=STATISTICS_BATCHES):
        """Re-estimates the batch-norm averages of both generators for their current weights.

        Moving averages lag weights that change fast (early in training above all), which makes
        inference (grids, eval, infer) much worse than training; forward passes over a few fresh
        batches give the statistics of the weights as they are ("precise BN").
        """
        for generator in (self.generator, self.generator_average):
            srez_model.reset_batch_norm_statistics(generator)
        for _ in range(batches):
            self._statistics_step(iterator)

    @tf.function(autograph=False)
    def _statistics_step(self, iterator):
        inputs = next(iterator)[0]

        def forward(images):
            images = tf.cast(images, self.compute_dtype)
            self.generator(images, training=True)
            self.generator_average(images, training=True)

        self.strategy.run(forward, args=(inputs,))

    def _upscale(self, inputs):
        """Inference as infer gives it (averaged weights): float32 [b, h, w, 3] in [0, 1] ->
        float32 [b, 4h, 4w, 3]."""
        return self.generator_average(tf.cast(inputs, self.compute_dtype), training=False)

    def weights_finite(self):
        networks = (self.generator, self.generator_average, self.discriminator)
        return all(bool(tf.reduce_all(tf.math.is_finite(variable)))
                   for network in networks for variable in network.variables)


def copy_weights(source, target):
    """Assigns every variable of network `source` to the same variable of `target`."""
    for target_variable, source_variable in zip(target.variables, source.variables):
        target_variable.assign(source_variable)
