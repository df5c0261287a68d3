"""srez stops: how a training run ends early, and the one-line errors it ends with.

A signal (Ctrl-C, SIGTERM) asks the loop to stop after its batch, so it saves first; a NaN is
`Diverged`; a lost worker, undecodable data, a locked cache file or too little memory become a
UsageError that says what to do, instead of TensorFlow's traceback.
"""
import contextlib
import signal
import threading

import tensorflow as tf

import srez_checkpoint
import srez_devices
from srez_errors import UsageError


class Diverged(Exception):
    """Training produced a NaN or Inf; the message says where and what to do."""


def diverged(batch, what, config):
    """The Diverged error for `what` (a loss, a weight) found NaN or Inf at `batch`."""
    kept = srez_checkpoint.latest(config.checkpoint_dir)
    kept = f'the last good checkpoint, {kept}, is kept' if kept else 'no checkpoint was saved'
    return Diverged(f'Training diverged at batch {batch}: {what} became NaN or Inf; {kept}. Try '
                    f'a lower --learning_rate_start (e.g. {config.learning_rate_start / 10:g}).')


class StopRequest:
    """Ctrl-C or SIGTERM asks the loop to stop after the current batch; a second Ctrl-C quits.

    The handler only takes note: printing from it could interrupt a print of the loop's, and
    Python's buffered output is not reentrant. The loop calls `acknowledge` after each batch.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, log):
        self.requested = None  # The name of the signal that asked, once one did.
        self._log = log
        self._acknowledged = False

    def _handle(self, signum, frame):
        self.requested = signal.Signals(signum).name
        # The system's default action ends the process the moment a second signal arrives, even
        # inside a long TensorFlow call (a Python handler would wait for it to return). Checkpoints
        # survive that as they survive kill -9.
        for each in self.SIGNALS:
            signal.signal(each, signal.SIG_DFL)

    def acknowledge(self):
        """Says, once, that a stop was asked for; returns whether one was."""
        if self.requested and not self._acknowledged:
            self._acknowledged = True
            self._log(f'{self.requested}: batch finished; saving a checkpoint and a grid, then '
                      f'stopping (press Ctrl-C again to quit at once).')
        return bool(self.requested)

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


@contextlib.contextmanager
def lost_worker_errors(strategy, checkpoint_dir, batch, log):
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
            srez_checkpoint.remove_unfinished(checkpoint_dir, log)
        kept = srez_checkpoint.latest(checkpoint_dir)
        kept = (f'continue from {kept}' if kept else 'start again (no checkpoint was saved yet)')
        lost = srez_devices.lost_worker_name(strategy, error.message)
        raise UsageError(f'Lost {lost} after batch {batch()}: it '
                         f'stopped responding (it crashed, was stopped, or cannot be reached). '
                         f'Start every worker again with the same command to {kept}.') from None


@contextlib.contextmanager
def user_errors(cache_file):
    """Turns the TensorFlow errors that a user's data or settings cause into one-line errors."""
    try:
        yield
    except tf.errors.OutOfRangeError:
        raise UsageError('No training image could be decoded: check the files in --dataset.') \
            from None
    except tf.errors.AlreadyExistsError:
        raise UsageError(f'--cache_file {cache_file} is locked: another run is filling it, '
                         f'or one was killed while it did; if none is running, delete '
                         f'{cache_file}_0.lockfile.') from None
    except tf.errors.ResourceExhaustedError:
        raise UsageError('Out of memory: lower --batch_size, or the widths in --gene_units and '
                         '--disc_units.') from None
