"""srez training: the loop, its progress lines, and writing sample grids, summaries and checkpoints.

`train(config, data, strategy)` runs one training session: it resumes from the newest checkpoint in
`config.checkpoint_dir` when there is one, trains until the time or batch budget (counted over all
sessions) is spent or it is interrupted, and always ends with a checkpoint and a sample grid.
The state it trains and its step are srez_session's; how a run stops early is srez_stops'.
"""
import dataclasses
import os
import tempfile
import time

import numpy as np
import tensorflow as tf

import srez_checkpoint
import srez_devices
import srez_files
import srez_images
import srez_input
import srez_loader
import srez_modes
import srez_session
import srez_stops
from srez_errors import UsageError

PROGRESS_PERIOD = 10


def run_train(config):
    """--run train: trains as `config` (a srez_config.TrainConfig) says, on its --dataset,
    resuming from its --checkpoint_dir."""
    config = srez_devices.resolved(config)
    found = time.perf_counter()
    # A multi-worker strategy configures the runtime, which must happen before any TensorFlow op
    # (finding and test-decoding the images runs some).
    strategy = srez_devices.make_strategy(config.device.strategy, config.device.cpu_devices)
    tf.debugging.set_log_device_placement(config.device.log_device_placement)
    data = srez_input.configured_data(config)
    startup = srez_modes.startup_phases() + [('finding devices and images',
                                              time.perf_counter() - found)]
    try:
        train(config, data, strategy, startup=startup)
    except srez_stops.Diverged as error:
        raise UsageError(str(error)) from None


def train(config, data, strategy=None, log=print, startup=()):
    """Trains srez; resumes from config.checkpoint_dir. Returns the final batch number.

    config: a srez_config.TrainConfig. data: a srez_input.TrainingData. strategy: a
    tf.distribute.Strategy (default: the current one). startup: (phase, seconds) pairs the caller
    spent before; with the phases here they make the one line, after the first batch, that says
    where the start-up time went.
    Raises srez_stops.Diverged when a loss or weight becomes NaN/Inf (the last good checkpoint is
    kept), and UsageError for a checkpoint of another model, for data or settings TensorFlow
    cannot use, and for a worker lost in multi-worker training.
    """
    strategy = strategy or tf.distribute.get_strategy()
    stopwatch = _Stopwatch(startup)
    # The chief (or worker 0 without one) writes grids, summaries and checkpoints; with one
    # process, that process.
    chief = strategy.extended.should_checkpoint
    if chief:
        srez_checkpoint.remove_unfinished(config.checkpoint_dir, log)
    session = srez_session.TrainingSession(config, strategy, data.source)
    stopwatch.lap('building the model')
    resume_from, start_batch, spent_seconds = _resume_point(config)
    if _budget_spent(config, start_batch, spent_seconds):
        log(f'Training already reached --train_time {config.train_time:g} or --max_batches '
            f'{config.max_batches} at batch {start_batch}: raise one to train further.')
        return start_batch
    iterator, outputs = _inputs_and_outputs(config, data, session, chief, start_batch)
    stopwatch.lap('input pipeline and test vectors')
    # Traced on its own, so that the start-up line tells tracing from compiling, and before
    # restoring: restoring creates TensorFlow objects, which would rename the traced step and so
    # miss the XLA cache that a fresh run of the same model wrote.
    session.train_step.get_concrete_function(iterator, tf.constant(1, tf.int64))
    stopwatch.lap('tracing the training step')
    if resume_from:
        session.restore(resume_from)
        stopwatch.lap('restoring the checkpoint')
        log(f'Resuming from {resume_from} at batch {start_batch} '
            f'({spent_seconds / 60:.1f} of {config.train_time:g} minutes trained).')
    elif config.init_from:
        _start_from(config.init_from, session, log)
    loop = _Loop(config, session, start_batch, spent_seconds, log)
    stop = srez_stops.StopRequest(log)
    with stop.installed(), srez_stops.user_errors(config.cache_file), \
            srez_stops.lost_worker_errors(strategy, config.checkpoint_dir, lambda: loop.batch, log):
        loop.run(iterator, outputs, stop, stopwatch)
    where = 'Stopped' if stop.requested else 'Finished training'
    again = ' Run the same command to continue.' if stop.requested else ''
    written = (f'sample grids in {config.train_dir}/, checkpoint in {config.checkpoint_dir}/'
               if chief else 'the chief wrote the sample grids and the checkpoint')
    log(f'{where} at batch {loop.batch}: {written}.{again}')
    return loop.batch


def _resume_point(config):
    """(newest checkpoint of config.checkpoint_dir or None, its batch, its training seconds).

    Raises UsageError for a checkpoint of another model, or one that cannot be read.
    """
    path = srez_checkpoint.latest(config.checkpoint_dir)
    if path is None:
        return None, 0, 0.0
    srez_checkpoint.check_config(path, config.model)
    return (path, *srez_checkpoint.saved_progress(path))


def _start_from(path, session, log):
    """Starts `session`'s generator, raw and averaged, from the model of `path` (--init_from).

    Raises UsageError when that model is not of this run's ModelConfig, naming the settings.
    """
    model = srez_loader.from_path(path)
    generator, source = model.generator, model.source
    # The generator is fully convolutional: its weights serve any sample size, so a 128 px run
    # can start from a 64 px model.
    ours = session.config.model
    mismatch = dataclasses.replace(source.model, sample_size=ours.sample_size).mismatch(ours)
    if mismatch:
        theirs, ours = mismatch
        raise UsageError(f'--init_from {path} is a model made with {theirs}, but this run has '
                         f'{ours}: use the same settings.')
    for network in (session.generator, session.generator_average):
        srez_session.copy_weights(generator, network)
    log(f'Starting the generator from {source.describe()}; the discriminator starts afresh.')


def _inputs_and_outputs(config, data, session, chief, start_batch):
    """(iterator of distributed training batches, _Outputs holding the test vectors)."""
    strategy = session.strategy
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    # A resumed session draws a new image order and augmentation: replaying the first session's
    # would train on the same images again after every interruption.
    dataset = srez_input.training_dataset(
        data.train_groups, data.load, global_batch, config.model.sample_size,
        config.random_seed + start_batch, cache=config.cache, cache_file=config.cache_file,
        damage=config.damage)
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    # The grids show damaged inputs when training damages them.
    damaged = config.damage.damage_clean < 1
    test_inputs, test_truth, _ = srez_input.test_pairs(
        data.test_keys, data.load, config.model.sample_size,
        damage=config.damage if damaged else None, seed=config.random_seed)
    return iterator, _Outputs(config, session, chief, test_inputs, test_truth)


class _Loop:
    """The training loop of one session: a batch at a time until a budget is spent or a stop is
    asked for, with progress lines, grids and checkpoints when they are due."""

    def __init__(self, config, session, start_batch, spent_seconds, log):
        """start_batch: the batches trained before; spent_seconds: by earlier sessions."""
        self.config, self.session, self.log = config, session, log
        self.strategy = session.strategy
        # The one batch counter (the last batch trained); checkpoints save a copy of it.
        self.batch = self.start_batch = start_batch
        self.spent_seconds = spent_seconds
        self.global_batch = config.batch_size * self.strategy.num_replicas_in_sync

    def run(self, iterator, outputs, stop, stopwatch):
        several_workers = srez_devices.several_workers(self.strategy)
        self._window_start, self._window_batch = time.perf_counter(), self.batch
        session_start = time.monotonic()
        self._recent_results = []
        while True:
            self._recent_results.append(
                self.session.train_step(iterator, tf.constant(self.batch + 1, tf.int64)))
            self.batch += 1
            if self.batch == self.start_batch + 1:
                float(self._recent_results[0].generator_loss)  # Waits, so the batch counts.
                stopwatch.lap('first batch (XLA compilation, or loading it from the cache)'
                              if self.config.xla else 'first batch')
                self.log(stopwatch.summary())
            elapsed = self.spent_seconds + time.monotonic() - session_start
            done = stop.acknowledge() or _budget_spent(self.config, self.batch, elapsed)
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
        results = _check_finite(self._recent_results, self.batch, self.config)
        self._recent_results = []
        now = time.perf_counter()
        images_per_second = ((self.batch - self._window_batch) * self.global_batch
                             / (now - self._window_start))
        self._window_start, self._window_batch = now, self.batch
        fraction = _fraction_done(elapsed, self.config.train_time * 60, self.batch,
                                  self.config.max_batches)
        self.log(f'Progress[{int(100 * fraction):3d}%], '
                 f'ETA[{_eta_minutes(elapsed, fraction):4d}m], Batch [{self.batch:4d}], '
                 f'G_Loss[{results.generator_loss:3.3f}], '
                 f'D_Real_Loss[{results.discriminator_real_loss:3.3f}], '
                 f'D_Fake_Loss[{results.discriminator_fake_loss:3.3f}], '
                 f'{images_per_second:.1f} images/s')
        outputs.write_scalars(self.batch, results, images_per_second)

    def _write_due_outputs(self, iterator, outputs, elapsed, done):
        """The grid and the checkpoint, each when its period comes round or training ends."""
        grid_due = self.batch % self.config.summary_period == 0 or done
        checkpoint_due = self.batch % self.config.checkpoint_period == 0 or done
        if grid_due or checkpoint_due:
            self.session.refresh_statistics(iterator)
        if grid_due:
            outputs.write_grid(self.batch)
        if checkpoint_due:
            outputs.save_checkpoint(self.batch, elapsed)


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


def _check_finite(recent_results, batch, config):
    """The newest srez_session.StepResults, as floats; raises Diverged at the first non-finite
    one."""
    values = np.asarray([[float(v) for v in results] for results in recent_results])
    bad_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad_rows.size:
        raise srez_stops.diverged(batch - len(recent_results) + 1 + int(bad_rows[0]), 'a loss',
                                  config)
    return srez_session.StepResults(*values[-1])


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

    def write_scalars(self, batch, results, images_per_second):
        """results: the step's srez_session.StepResults, a scalar each."""
        with self.summaries.as_default(step=batch):
            for name, value in results._asdict().items():
                tf.summary.scalar(name, value)
            tf.summary.scalar('images_per_second', images_per_second)

    def write_grid(self, batch):
        output = self.session.upscale(self.test_inputs).numpy()
        if not self.chief:
            return
        grid = srez_images.sample_grid(self.test_inputs, output, self.test_truth)
        path = _unused_path(os.path.join(self.config.train_dir, f'batch{batch:06d}_out.png'))
        srez_files.write_atomically(path, tf.io.encode_png(grid).numpy())
        with self.summaries.as_default(step=batch):
            tf.summary.image('samples', grid[tf.newaxis])
        self.summaries.flush()

    def save_checkpoint(self, batch, elapsed):
        """Saves the session as checkpoint `batch`, `elapsed` training seconds over all runs."""
        if not self.session.weights_finite():
            raise srez_stops.diverged(batch, 'a weight', self.config)
        progress = self.session.progress
        progress.batch.assign(batch)
        progress.train_seconds.assign(elapsed)
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
