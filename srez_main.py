"""srez: super-resolution of faces (16x16 -> 64x64) with a GAN, on TensorFlow 2.

    python srez_main.py --run infer --input photos/ --output upscaled/ --compare --sharpness 0.5
    python srez_main.py --run train --recipe fidelity --dataset ../celeba/img_align_celeba
    python srez_main.py --run demo      # or just python srez_main.py, as in the original

This is the only module that reads flags: it defines them from srez_config's dataclasses, turns
them into the config a mode takes and hands it to the mode (srez_modes says which module runs
it; README "Using a trained model" and "Training" tell every mode). A UsageError (a mistake the
user can fix) is reported as one line; anything else is a bug and keeps its traceback.
"""
import dataclasses
import errno
import functools
import math
import os
import sys
import time
import traceback

LAUNCHED = time.perf_counter()  # Start-up phases are reported from here (see srez_train).

# Hide TensorFlow's start-up chatter (such as CUDA probing on machines without a GPU).
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from absl import app, flags, logging  # noqa: E402

import srez_config  # noqa: E402
import srez_modes  # noqa: E402
from srez_errors import UsageError  # noqa: E402

# Errors of the machine (disk full, no permission), not of srez: one line, like a UsageError.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})

FLAGS = flags.FLAGS


def _positive_integers(values, exactly=None, at_least=0):
    """Whether the strings `values` are positive integers, `exactly` or `at_least` so many."""
    if not all(value.isdigit() and int(value) > 0 for value in values):
        return False
    return len(values) == exactly if exactly is not None else len(values) >= at_least


def _is_range(values, number, low, high):
    """Whether the strings `values` are two numbers of type `number`, low <= a <= b <= high."""
    try:
        parsed = [number(value) for value in values]
    except ValueError:
        return False
    return len(parsed) == 2 and low <= parsed[0] <= parsed[1] <= high


def _parses(parse, value):
    """absl validator: `parse(value)` must not raise; its ValueError is the flag's message."""
    try:
        parse(value)
    except ValueError as error:
        raise flags.ValidationError(str(error)) from None
    return True


def _element_type(field):
    """The type of the numbers of a list setting (int unless its interval is of floats)."""
    return type(field.metadata['interval'][0]) if 'interval' in field.metadata else int


def define_config_flags(config_class):
    """Defines a flag for each setting of a srez_config dataclass, with its default and rules.

    absl checks the rules as flags parse, before anything else runs (TensorFlow included), and
    parse_flags reports the first broken one in a line.
    """
    for field in srez_config.flag_fields(config_class):
        name, default, rules = field.name, field.default, dict(field.metadata)
        help_text = rules.pop('help')
        bounds = {key: rules.pop(key) for key in ('lower_bound', 'upper_bound') if key in rules}
        if field.type is tuple:
            _define_list_flag(name, default, help_text, rules)
        elif 'choices' in rules:
            flags.DEFINE_enum(name, default, rules.pop('choices'), help_text)
        else:
            define = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
                      float: flags.DEFINE_float, str: flags.DEFINE_string}[field.type]
            define(name, default, help_text, **bounds)
            if field.type is float:  # absl's bounds let NaN and infinities through.
                flags.register_validator(name, lambda value: value is None or math.isfinite(value),
                                         'must be a finite number')
        if 'check' in rules:
            check, what = rules.pop('check')
            flags.register_validator(name, check, f'must be {what}')
        if 'parse' in rules:
            flags.register_validator(name, functools.partial(_parses, rules.pop('parse')))
        if 'alias' in rules:
            flags.DEFINE_alias(rules.pop('alias'), name)
        assert not rules, f'srez_config rules srez_main does not know: {rules}'


def _define_list_flag(name, default, help_text, rules):
    """A comma-separated list flag: a range (rules' interval) or positive integers."""
    flags.DEFINE_list(name, [str(value) for value in default], help_text)
    example = srez_config.flag_words(name, default) if default else f'--{name} 16,64,256'
    if 'interval' in rules:
        low, high = rules.pop('interval')
        flags.register_validator(
            name, functools.partial(_is_range, number=type(low), low=low, high=high),
            f'must be a range low,high of numbers from {low} to {high}, e.g. {example}')
        return
    count = rules.pop('count', None)
    how_many = f'exactly {count} ' if count else ''
    flags.register_validator(
        name, functools.partial(_positive_integers, exactly=count,
                                at_least=rules.pop('at_least', 0)),
        f'must be {how_many}positive integers separated by commas, e.g. {example}')


def config_from_flags(config_class, **others):
    """The `config_class` (a srez_config dataclass) that the flags ask for; `others` sets fields
    that are not flags. A field that holds another config (TrainConfig.model) is made from the
    flags too; one that mirrors a flag (srez_config.mirror) takes its value, or whether it was
    given; one read from the environment (srez_config.from_environment) is checked here."""
    values = {}
    for field in dataclasses.fields(config_class):
        rules = field.metadata
        if field.name in others:
            continue
        if 'help' in rules:
            value = FLAGS[field.name].value
            values[field.name] = (tuple(_element_type(field)(v) for v in value)
                                  if field.type is tuple else value)
        elif 'mirror' in rules:
            flag = FLAGS[rules['mirror']]
            values[field.name] = flag.present > 0 if rules['given'] else flag.value
        elif 'environment' in rules:
            values[field.name] = _environment_value(*rules['environment'], field.default)
        elif dataclasses.is_dataclass(field.default):
            values[field.name] = config_from_flags(type(field.default))
    return config_class(**values, **others)


def _environment_value(variable, what, default):
    """The positive integer in environment variable `variable` (`default` where it is unset)."""
    value = os.environ.get(variable, str(default))
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f'{variable} must be {what} (got {value!r}).')
    return int(value)


for _config_class in srez_config.FLAG_CONFIGS:
    define_config_flags(_config_class)
flags.register_multi_flags_validator(
    ['learning_rate_schedule', 'max_batches'],
    lambda values: values['learning_rate_schedule'] != 'cosine' or values['max_batches'] > 0,
    '--learning_rate_schedule cosine needs --max_batches, the length of its cosine')
flags.register_multi_flags_validator(
    ['run', 'input'], lambda values: values['run'] != 'infer' or bool(values['input']),
    '--run infer needs --input: an image file or a folder of images')


def _exit_with_error(message):
    print(f'srez: error: {message}', file=sys.stderr)
    sys.exit(2)


def parse_flags(argv):
    """absl's flag parser, reporting a malformed or unknown flag like any other usage error.

    The values of --recipe take the place of the defaults of flags not given on the command line.
    """
    try:
        remaining = FLAGS(argv)
        for name, value in srez_config.RECIPES[FLAGS.recipe].items():
            if not FLAGS[name].present:
                FLAGS[name].value = list(map(str, value)) if isinstance(value, tuple) else value
        FLAGS.validate_all_flags()
        return remaining
    except flags.Error as error:
        # absl lists every broken rule, a line each; the first says what to fix first.
        _exit_with_error(f'{str(error).splitlines()[0]} (see --helpshort).')


class _UntilTheReaderGoes:
    """stdout, until its reader has gone (`| head -1`): from then on what is said goes nowhere,
    and the work goes on to write every file it was asked for."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_nowhere()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_nowhere()

    def _to_nowhere(self):
        os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv):
    logging.set_verbosity(logging.WARNING)  # TensorFlow's Python INFO lines are not for users.
    if hasattr(sys.stdout, 'reconfigure'):  # Not every stand-in for stdout has it.
        sys.stdout.reconfigure(line_buffering=True)  # A log file shows progress as it happens.
    stdout, sys.stdout = sys.stdout, _UntilTheReaderGoes(sys.stdout)
    try:
        if len(argv) > 1:
            raise UsageError(f'Unexpected arguments: {" ".join(argv[1:])} (flags are written '
                             f'--name value).')
        config = config_from_flags(srez_modes.MODES[FLAGS.run].config)
        module = srez_modes.prepare(FLAGS.run, config, LAUNCHED)
        sys.exit(getattr(module, f'run_{FLAGS.run}')(config) or 0)
    except KeyboardInterrupt:
        # Only outside the training loop, where Ctrl-C instead stops the loop, which saves first.
        print('srez: interrupted.', file=sys.stderr)
        sys.exit(130)
    except Exception as error:
        if isinstance(error, UsageError) or (isinstance(error, OSError)
                                             and error.errno in ENVIRONMENT_ERRNOS):
            _exit_with_error(error)
        # Anything else is a mistake in srez: its traceback is what a fix needs.
        traceback.print_exc()
        print('srez: internal error: this is a bug in srez, not in how you ran it; please report '
              'it with the traceback above and the command you ran.', file=sys.stderr)
        sys.exit(1)
    finally:
        sys.stdout = stdout


if __name__ == '__main__':
    app.run(main, flags_parser=parse_flags)
