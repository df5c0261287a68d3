"""srez training: the loop, its progress lines, and writing sample grids, summaries and checkpoints.

`train(config, data, strategy)` runs one training session: it resumes from the newest checkpoint in
`config.checkpoint_dir` when there is one, trains until the time or batch budget (counted over all
sessions) is spent or it is interrupted, and always ends with a checkpoint and a sample grid.
"""
import contextlib
import dataclasses
import os
import signal
import tempfile
import threading
import time

import numpy as np
import tensorflow as tf

import srez_checkpoint
import srez_devices
import srez_images
import srez_input
import srez_model
from srez_errors import UsageError

PROGRESS_PERIOD = 10
# Batches whose statistics the generator's batch norm is given before each grid and checkpoint.
STATISTICS_BATCHES = 8
NOISE_STDDEV = 0.03  # The original srez adds this noise to the generator's input in training.


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs, as plain values (srez_main builds it from the flags)."""
    batch_size: int = 16
    checkpoint_dir: str = 'checkpoint'
    checkpoint_period: int = 10000
    epsilon: float = 1e-8
    gene_l1_factor: float = 0.9
    learning_beta1: float = 0.5
    learning_rate_start: float = 0.0002
    learning_rate_half_life: int = 5000
    sample_size: int = 64
    summary_period: int = 200
    random_seed: int = 0
    test_vectors: int = 16
    train_dir: str = 'train'
    train_time: float = 20.0
    max_batches: int = 0
    gene_units: tuple = (256, 128, 96)
    disc_units: tuple = (64, 128, 256, 512)
    noise_stddev: float = NOISE_STDDEV
    precision: str = 'float32'
    xla: bool = False
    cache: bool = False
    cache_file: str = ''
    ema_decay: float = 0.999
    content_factor: float = 0.0
    gene_residual: bool = False
    gene_pixel_shuffle: bool = False

    def generator_options(self):
        """{option: bool} for each of srez_checkpoint.GENERATOR_OPTIONS."""
        return {key: getattr(self, key) for key in srez_checkpoint.GENERATOR_OPTIONS}

    def generator(self, seed=0):
        """A new generator of this configuration's shape."""
        return srez_checkpoint.new_generator(self.gene_units, seed=seed,
                                             **self.generator_options())


class Diverged(Exception):
    """Training produced a NaN or Inf; the message says where and what to do."""


class TrainingSession:
    """The networks, optimizers and bookkeeping of one model, placed for one strategy."""

    def __init__(self, config, strategy):
        self.config = config
        self.strategy = strategy
        self.compute_dtype = tf.as_dtype(config.precision)
        with strategy.scope():
            self.generator = config.generator(seed=config.random_seed)
            # The exponential moving average of the generator's weights: what grids, infer, eval
            # and export use. It starts as the same initial weights and never feeds training.
            self.generator_average = config.generator(seed=config.random_seed)
            self.discriminator = srez_model.Discriminator(config.disc_units,
                                                          seed=config.random_seed + 1)
            gene_variables = self.generator.trainable_variables
            disc_variables = self.discriminator.trainable_variables
            self.gene_optimizer = srez_model.Adam(gene_variables, config.learning_beta1,
                                                  epsilon=config.epsilon, name='gene_optimizer')
            self.disc_optimizer = srez_model.Adam(disc_variables, config.learning_beta1,
                                                  epsilon=config.epsilon, name='disc_optimizer')
            self.loss_scale = srez_model.LossScale(enabled=config.precision == 'float16')
        self.progress = srez_checkpoint.Progress()
        self.checkpointed = dict(
            generator=self.generator, generator_average=self.generator_average,
            discriminator=self.discriminator,
            gene_optimizer=self.gene_optimizer, disc_optimizer=self.disc_optimizer,
            loss_scale=self.loss_scale, progress=self.progress,
            shape=srez_checkpoint.ModelShape(config.gene_units, config.disc_units,
                                             config.sample_size,
                                             **config.generator_options()))
        self.checkpoint = tf.train.Checkpoint(**self.checkpointed)
        # XLA compiles the per-replica work; the outer train_step only feeds it and reduces.
        # No autograph in the steps (their loops are over layers, not tensors): converting the
        # model's code took a third of the tracing time.
        self._traced_replica_step = tf.function(self._replica_step, jit_compile=config.xla,
                                                autograph=False)
        # Not compiled: it runs once per grid, where compiling would cost more than it saves.
        self.upscale = tf.function(self._upscale)

    def checkpoint_to_resume(self):
        """Path of the newest checkpoint of checkpoint_dir, or None; restores nothing.

        Raises UsageError for a checkpoint of another model or one that cannot be read.
        """
        path = srez_checkpoint.latest(self.config.checkpoint_dir)
        if path is not None:
            srez_checkpoint.check_shape(path, gene_units=tuple(self.config.gene_units),
                                        disc_units=tuple(self.config.disc_units),
                                        sample_size=self.config.sample_size,
                                        **self.config.generator_options())
        return path

    def restore(self, path):
        """Restores checkpoint `path` (from checkpoint_to_resume) into this session.

        Raises UsageError, and restores nothing, for a checkpoint that cannot be read.
        """
        has_average = srez_checkpoint.holds(path, 'generator_average')
        objects = {name: value for name, value in self.checkpointed.items()
                   if has_average or name != 'generator_average'}
        # Options the checkpoint predates (check_shape found them off) are left out of its shape.
        config = self.config
        saved_options = {key: value if srez_checkpoint.holds(path, f'shape/{key}') else None
                         for key, value in config.generator_options().items()}
        objects['shape'] = srez_checkpoint.ModelShape(config.gene_units, config.disc_units,
                                                      config.sample_size, **saved_options)
        try:
            tf.train.Checkpoint(**objects).restore(path).assert_consumed()
        except Exception as error:  # TF's reader fails in many ways, all about this file.
            raise srez_checkpoint.unreadable(path, error) from None
        if not has_average:
            # Checkpoints from before weight averaging: the average starts from here.
            for average, variable in zip(self.generator_average.variables,
                                         self.generator.variables):
                average.assign(variable)

    def _replica_step(self, inputs, truth, batch):
        """One batch on one replica: both networks step from the same forward pass.

        inputs: float32 [b, s/4, s/4, 3]; truth: float32 [b, s, s, 3]; batch: int64, 1-based.
        Returns float32 losses (generator, discriminator real, discriminator fake, generator L1).
        """
        config = self.config
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        # Every replica draws the noise of the whole global batch and adds its own slice, so N
        # replicas add the same noise as one device on N times the batch.
        size = tf.shape(inputs)[0]
        start = context.replica_id_in_sync_group * size
        noise = tf.random.stateless_normal(
            tf.concat([[replicas * size], tf.shape(inputs)[1:]], axis=0),
            tf.stack([batch, tf.constant(1000 * config.random_seed, tf.int64)]),
            stddev=config.noise_stddev)
        noisy = inputs + noise[start:start + size]
        with tf.GradientTape(persistent=True) as tape:
            gene_output = self.generator(tf.cast(noisy, self.compute_dtype), training=True)
            fake_logits = self.discriminator(tf.cast(gene_output, self.compute_dtype), True)
            real_logits = self.discriminator(tf.cast(truth, self.compute_dtype), True)
            gene_loss, _, gene_l1 = srez_model.generator_loss(
                fake_logits, gene_output, inputs, config.gene_l1_factor, truth,
                config.content_factor)
            disc_real, disc_fake = srez_model.discriminator_loss(real_logits, fake_logits)
            # Optimizers sum gradients over replicas: each replica adds its share of the mean.
            gene_objective = self.loss_scale.scale(gene_loss / replicas)
            disc_objective = self.loss_scale.scale((disc_real + disc_fake) / replicas)
        gene_variables = self.generator.trainable_variables
        disc_variables = self.discriminator.trainable_variables
        gene_gradients = self.loss_scale.unscale(tape.gradient(gene_objective, gene_variables))
        disc_gradients = self.loss_scale.unscale(tape.gradient(disc_objective, disc_variables))
        finite = self.loss_scale.update(gene_gradients + disc_gradients)
        rate = srez_model.learning_rate(batch, config.learning_rate_start,
                                        config.learning_rate_half_life)
        self.gene_optimizer.apply(gene_gradients, gene_variables, rate, finite)
        self.disc_optimizer.apply(disc_gradients, disc_variables, rate, finite)
        srez_model.update_average(self.generator_average.trainable_variables, gene_variables,
                                  srez_model.average_decay(config.ema_decay, batch))
        return gene_loss, disc_real, disc_fake, gene_l1

    @tf.function(autograph=False)
    def train_step(self, iterator):
        """Trains one global batch from `iterator`; returns the losses averaged over replicas."""
        inputs, truth = next(iterator)
        batch = self.progress.batch.assign_add(1)
        losses = self.strategy.run(self._traced_replica_step, args=(inputs, truth, batch))
        return [self.strategy.reduce(tf.distribute.ReduceOp.MEAN, loss, axis=None)
                for loss in losses]

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
        inputs, _ = next(iterator)

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
        return all(bool(tf.reduce_all(tf.math.is_finite(v))) for v in self.checkpoint_variables())

    def checkpoint_variables(self):
        return (self.generator.variables + self.generator_average.variables
                + self.discriminator.variables)


def train(config, data, strategy=None, log=print, startup=()):
    """Trains srez; resumes from config.checkpoint_dir. Returns the final batch number.

    data: a srez_input.TrainingData. strategy: a tf.distribute.Strategy (default: the current
    one). startup: (phase, seconds) pairs the caller spent before; with the phases here they make
    the one line, after the first batch, that says where the start-up time went.
    Raises Diverged when a loss or weight becomes NaN/Inf (the last good checkpoint is kept), and
    UsageError for a checkpoint of another model, for data or settings TensorFlow cannot use, and
    for a worker lost in multi-worker training.
    """
    strategy = strategy or tf.distribute.get_strategy()
    stopwatch = _Stopwatch(startup)
    # The chief (or worker 0 without one) writes grids, summaries and checkpoints; with one
    # process, that process.
    chief = strategy.extended.should_checkpoint
    if chief:
        _remove_unfinished(config.checkpoint_dir, log)
    session = TrainingSession(config, strategy)
    stopwatch.lap('building the model')
    resume_from = session.checkpoint_to_resume()
    start_batch, spent_seconds = (srez_checkpoint.saved_progress(resume_from) if resume_from
                                  else (0, 0.0))
    if _budget_spent(config, start_batch, spent_seconds):
        log(f'Training already reached --train_time {config.train_time:g} or --max_batches '
            f'{config.max_batches} at batch {start_batch}: raise one to train further.')
        return start_batch
    iterator, outputs = _inputs_and_outputs(config, data, session, chief, start_batch)
    stopwatch.lap('input pipeline and test vectors')
    # Traced on its own, so that the start-up line tells tracing from compiling, and before
    # restoring: restoring creates TensorFlow objects, which would rename the traced step and so
    # miss the XLA cache that a fresh run of the same model wrote.
    session.train_step.get_concrete_function(iterator)
    stopwatch.lap('tracing the training step')
    if resume_from:
        session.restore(resume_from)
        stopwatch.lap('restoring the checkpoint')
        log(f'Resuming from {resume_from} at batch {start_batch} '
            f'({spent_seconds / 60:.1f} of {config.train_time:g} minutes trained).')
    loop = _Loop(config, session, log)
    stop = _StopRequest(log)
    lost_workers = _lost_worker_errors(strategy, config, lambda: loop.batch, log)
    with stop.installed(), _user_errors(config), lost_workers:
        loop.run(iterator, outputs, stop, stopwatch)
    where = 'Stopped' if stop.requested else 'Finished training'
    again = ' Run the same command to continue.' if stop.requested else ''
    written = (f'sample grids in {config.train_dir}/, checkpoint in {config.checkpoint_dir}/'
               if chief else 'the chief wrote the sample grids and the checkpoint')
    log(f'{where} at batch {loop.batch}: {written}.{again}')
    return loop.batch


def _inputs_and_outputs(config, data, session, chief, start_batch):
    """(iterator of distributed training batches, _Outputs holding the test vectors)."""
    strategy = session.strategy
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    # A resumed session draws a new image order and augmentation: replaying the first session's
    # would train on the same images again after every interruption.
    dataset = srez_input.training_dataset(
        data.train_keys, data.load, global_batch, config.sample_size,
        config.random_seed + start_batch, cache=config.cache, cache_file=config.cache_file)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    test_inputs, test_truth = srez_input.test_pairs(data.test_keys, data.load, config.sample_size)
    return iterator, _Outputs(config, session, chief, test_inputs, test_truth)


class _Loop:
    """The training loop of one session: a batch at a time until a budget is spent or a stop is
    asked for, with progress lines, grids and checkpoints when they are due."""

    def __init__(self, config, session, log):
        self.config, self.session, self.log = config, session, log
        self.strategy = session.strategy
        self.batch = self.start_batch = int(session.progress.batch.numpy())  # The last trained.
        self.spent_seconds = float(session.progress.train_seconds.numpy())  # By earlier sessions.
        self.global_batch = config.batch_size * self.strategy.num_replicas_in_sync

    def run(self, iterator, outputs, stop, stopwatch):
        several_workers = srez_devices.several_workers(self.strategy)
        self._window_start, self._window_batch = time.perf_counter(), self.batch
        session_start = time.monotonic()
        self._recent_losses = []
        while True:
            self._recent_losses.append(self.session.train_step(iterator))
            self.batch += 1
            if self.batch == self.start_batch + 1:
                float(self._recent_losses[0][0])  # Waits for the batch, so it is counted.
                stopwatch.lap('first batch (XLA compilation, or loading it from the cache)')
                self.log(stopwatch.summary())
            elapsed = self.spent_seconds + time.monotonic() - session_start
            done = _budget_spent(self.config, self.batch, elapsed) or stop.requested
            if several_workers:
                # Clocks and signals differ between machines; a worker that stopped alone would
                # leave the others waiting forever in the next all-reduce.
                done = srez_devices.any_worker(self.strategy, done)
            if self.batch % PROGRESS_PERIOD == 0 or done:
                self._report_progress(elapsed, outputs)
            self._write_due_outputs(iterator, outputs, elapsed, done)
            if done:
                return

    def _report_progress(self, elapsed, outputs):
        """Logs the progress line (the newest losses, images/s since the last line) and writes
        the scalar summaries; raises Diverged if a loss since the last line is NaN or Inf."""
        losses = _check_finite(self._recent_losses, self.batch, self.config)
        self._recent_losses = []
        now = time.perf_counter()
        images_per_second = ((self.batch - self._window_batch) * self.global_batch
                             / (now - self._window_start))
        self._window_start, self._window_batch = now, self.batch
        fraction = _fraction_done(elapsed, self.config.train_time * 60, self.batch,
                                  self.config.max_batches)
        self.log(f'Progress[{int(100 * fraction):3d}%], '
                 f'ETA[{_eta_minutes(elapsed, fraction):4d}m], Batch [{self.batch:4d}], '
                 f'G_Loss[{losses[0]:3.3f}], D_Real_Loss[{losses[1]:3.3f}], '
                 f'D_Fake_Loss[{losses[2]:3.3f}], {images_per_second:.1f} images/s')
        outputs.write_scalars(self.batch, losses, images_per_second)

    def _write_due_outputs(self, iterator, outputs, elapsed, done):
        """The grid and the checkpoint, each when its period comes round or training ends."""
        grid_due = self.batch % self.config.summary_period == 0 or done
        checkpoint_due = self.batch % self.config.checkpoint_period == 0 or done
        if grid_due or checkpoint_due:
            self.session.refresh_statistics(iterator)
        if grid_due:
            outputs.write_grid(self.batch)
        if checkpoint_due:
            # Only checkpoints read it: no per-batch device op for the clock.
            self.session.progress.train_seconds.assign(elapsed)
            outputs.save_checkpoint(self.batch)


def _budget_spent(config, batch, seconds):
    """Whether --train_time or --max_batches is used up at `batch`, `seconds` over all runs."""
    return seconds >= config.train_time * 60 or 0 < config.max_batches <= batch


class _Stopwatch:
    """Seconds spent in each named phase of the start-up, for one line that says where they went."""

    def __init__(self, phases=()):
        self.phases = list(phases)
        self._last = time.perf_counter()

    def lap(self, phase):
        """Ends `phase`, which began at the previous lap."""
        now = time.perf_counter()
        self.phases.append((phase, now - self._last))
        self._last = now

    def summary(self):
        total = sum(seconds for _, seconds in self.phases)
        return (f'Started in {total:.1f} s: '
                + ', '.join(f'{phase} {seconds:.1f} s' for phase, seconds in self.phases) + '.')


def _fraction_done(elapsed, budget_seconds, batch, max_batches):
    fraction = elapsed / budget_seconds
    if max_batches:
        fraction = max(fraction, batch / max_batches)
    return min(fraction, 1.0)


def _eta_minutes(elapsed, fraction):
    return int(round(elapsed * (1 - fraction) / max(fraction, 1e-9) / 60))


def _check_finite(recent_losses, batch, config):
    """Returns the newest losses as floats; raises Diverged at the first non-finite one."""
    values = np.asarray([[float(v) for v in losses] for losses in recent_losses])
    bad_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad_rows.size:
        raise _diverged(batch - len(recent_losses) + 1 + int(bad_rows[0]), 'a loss', config)
    return values[-1]


def _diverged(batch, what, config):
    """The Diverged error for `what` (a loss, a weight) found NaN or Inf at `batch`."""
    kept = srez_checkpoint.latest(config.checkpoint_dir)
    kept = f'the last good checkpoint, {kept}, is kept' if kept else 'no checkpoint was saved'
    return Diverged(f'Training diverged at batch {batch}: {what} became NaN or Inf; {kept}. Try '
                    f'a lower --learning_rate_start (e.g. {config.learning_rate_start / 10:g}).')


def _remove_unfinished(checkpoint_dir, log):
    """Removes what interrupted saves left in `checkpoint_dir`, saying what it removed and what
    it left alone."""
    cleanup = srez_checkpoint.remove_unfinished(checkpoint_dir)
    if cleanup.removed:
        log(f'Removed what an interrupted save left in {checkpoint_dir}/: '
            f'{", ".join(cleanup.removed)}.')
    if cleanup.left_alone:
        log(f'Left alone in {checkpoint_dir}/: {", ".join(cleanup.left_alone)} (complete, but not '
            f'named in its checkpoint file, so not this run\'s to resume or delete).')


@contextlib.contextmanager
def _lost_worker_errors(strategy, config, batch, log):
    """Turns the error of a worker that died or became unreachable into a one-line UsageError.

    TensorFlow's coordination service notices a worker that stops sending heartbeats, or a
    connection that breaks, and aborts the collectives the other workers wait in, which then
    raise here instead of waiting forever. batch: returns the last batch trained.
    """
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.AbortedError,
            tf.errors.DeadlineExceededError) as error:
        if not srez_devices.several_workers(strategy):
            raise  # One process: not a lost worker.
        if strategy.extended.should_checkpoint:  # The chief: a save cut short must not stay.
            _remove_unfinished(config.checkpoint_dir, log)
        kept = srez_checkpoint.latest(config.checkpoint_dir)
        kept = (f'continue from {kept}' if kept else 'start again (no checkpoint was saved yet)')
        lost = srez_devices.lost_worker_name(strategy, error.message)
        raise UsageError(f'Lost {lost} after batch {batch()}: it '
                         f'stopped responding (it crashed, was stopped, or cannot be reached). '
                         f'Start every worker again with the same command to {kept}.') from None


@contextlib.contextmanager
def _user_errors(config):
    """Turns the TensorFlow errors that a user's data or settings cause into one-line errors."""
    try:
        yield
    except tf.errors.OutOfRangeError:
        raise UsageError('No training image could be decoded: check the files in --dataset.') \
            from None
    except tf.errors.AlreadyExistsError:
        raise UsageError(f'--cache_file {config.cache_file} is locked: another run is filling it, '
                         f'or one was killed while it did; if none is running, delete '
                         f'{config.cache_file}_0.lockfile.') from None
    except tf.errors.ResourceExhaustedError:
        raise UsageError('Out of memory: lower --batch_size, or the widths in --gene_units and '
                         '--disc_units.') from None


class _Outputs:
    """Writes what training leaves behind: grids, TensorBoard summaries, checkpoints."""

    def __init__(self, config, session, chief, test_inputs, test_truth):
        self.config, self.session, self.chief = config, session, chief
        self.test_inputs, self.test_truth = test_inputs, test_truth
        if chief:
            os.makedirs(config.train_dir, exist_ok=True)
            self.summaries = tf.summary.create_file_writer(config.train_dir)
            checkpoint_dir = config.checkpoint_dir
        else:
            # Every worker must take part in saving (variables are read collectively); only the
            # chief's copy is kept.
            self.summaries = tf.summary.create_noop_writer()
            checkpoint_dir = tempfile.mkdtemp(prefix='srez-worker-checkpoint-')
        self.manager = tf.train.CheckpointManager(session.checkpoint, checkpoint_dir,
                                                  max_to_keep=2,
                                                  checkpoint_name=srez_checkpoint.NAME)

    def write_scalars(self, batch, losses, images_per_second):
        config = self.config
        rate = srez_model.learning_rate(batch, config.learning_rate_start,
                                        config.learning_rate_half_life)
        with self.summaries.as_default(step=batch):
            tf.summary.scalar('generator_loss', losses[0])
            tf.summary.scalar('discriminator_real_loss', losses[1])
            tf.summary.scalar('discriminator_fake_loss', losses[2])
            tf.summary.scalar('generator_l1_loss', losses[3])
            tf.summary.scalar('learning_rate', rate)
            tf.summary.scalar('images_per_second', images_per_second)

    def write_grid(self, batch):
        output = self.session.upscale(self.test_inputs).numpy()
        if not self.chief:
            return
        grid = srez_images.sample_grid(self.test_inputs, output, self.test_truth)
        path = _unused_path(os.path.join(self.config.train_dir, f'batch{batch:06d}_out.png'))
        _write_atomically(path, tf.io.encode_png(grid).numpy())
        with self.summaries.as_default(step=batch):
            tf.summary.image('samples', grid[tf.newaxis])
        self.summaries.flush()

    def save_checkpoint(self, batch):
        if not self.session.weights_finite():
            raise _diverged(batch, 'a weight', self.config)
        path = self.manager.save(checkpoint_number=batch)
        if not self.chief:
            tf.io.gfile.rmtree(self.manager.directory)
        return path


def _unused_path(path):
    """`path`, or `stem-1.png`, `stem-2.png`... if taken: a grid is never overwritten."""
    stem, extension = os.path.splitext(path)
    candidate, number = path, 0
    while os.path.exists(candidate):
        number += 1
        candidate = f'{stem}-{number}{extension}'
    return candidate


def _write_atomically(path, contents):
    """Writes bytes so a crash never leaves a half-written file under `path`."""
    partial = f'{path}.partial'
    with open(partial, 'wb') as file:
        file.write(contents)
    os.replace(partial, path)


class _StopRequest:
    """Ctrl-C or SIGTERM asks the loop to stop after the current batch; a second Ctrl-C quits."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, log):
        self.requested = False
        self._log = log

    def _handle(self, signum, frame):
        self.requested = True
        # The system's default action ends the process the moment a second signal arrives, even
        # inside a long TensorFlow call (a Python handler would wait for it to return). Checkpoints
        # survive that as they survive kill -9.
        for each in self.SIGNALS:
            signal.signal(each, signal.SIG_DFL)
        self._log(f'{signal.Signals(signum).name}: finishing this batch, then saving a checkpoint '
                  f'and a grid (press Ctrl-C again to quit at once).')

    @contextlib.contextmanager
    def installed(self):
        """Handles SIGINT and SIGTERM inside the block (signals reach only the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
