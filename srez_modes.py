"""srez modes: each --run, the config it takes, what must hold before it starts, and the module
that runs it.

A mode is run by `run_<mode>(config)` of its module (srez_train.run_train, srez_infer.run_infer,
...), given the srez_config dataclass that the mode names, made from the flags by srez_main.
Before that module is imported, `prepare` checks what can be checked without TensorFlow (folders
that must exist or be writable, one inside another), so a mistake is one line in a fraction of a
second and leaves nothing behind, then loads TensorFlow if the mode needs it, with its XLA cache
set. This module imports only the standard library and the light runtime.
"""
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import os
import time

import srez_config
import srez_files
import srez_infer
import srez_loader
from srez_errors import UsageError

_STARTUP = []  # (phase, seconds) of this process before the mode's module runs.


@dataclasses.dataclass(frozen=True)
class Mode:
    """module: whose run_<mode>(config) runs it; config: the srez_config dataclass it takes;
    check: what must hold before it starts, a function of the config that raises UsageError;
    full_install: whether the light install lacks what it needs; tensorflow: whether it loads
    TensorFlow, or a function of the config that says; device: the config's
    srez_config.DeviceConfig, for a mode that compiles with XLA (its cache is set first)."""
    module: str
    config: type
    check: object = None
    full_install: bool = True
    tensorflow: object = True
    device: object = None


def _check_train(config):
    _check_dataset(config.dataset, train_dir=config.train_dir)
    folders = {'train_dir': config.train_dir, 'checkpoint_dir': config.checkpoint_dir}
    if config.cache_file:
        folders['cache_file'] = os.path.dirname(config.cache_file) or '.'
    for name, path in folders.items():
        srez_files.check_writable(name, path)
    for name, path in folders.items():  # Made once all is checked: a refused run leaves nothing.
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as error:  # Such as a read-only disk, which even root cannot write.
            raise UsageError(f'--{name}: the folder {path} cannot be created ({error.strerror}): '
                             f'choose another.') from None


def _check_dataset(dataset, train_dir=None):
    """Each folder of --dataset must be one (the default may be missing: synthetic faces), and
    must not hold `train_dir`, whose grids would become training images."""
    if dataset == srez_config.SYNTHETIC:
        return
    for folder, _ in srez_config.dataset_sources(dataset):
        if train_dir and srez_files.is_within(train_dir, folder):
            raise UsageError(f'--train_dir {train_dir} is inside --dataset {folder}: its sample '
                             f'grids would become training images; choose a folder outside it.')
    if dataset == srez_config.DEFAULT_DATASET:
        return
    for folder, _ in srez_config.dataset_sources(dataset):
        if not os.path.isdir(folder):
            raise UsageError(f'--dataset {folder} is not a folder: give the folder holding the '
                             f'training images (e.g. CelebA\'s img_align_celeba).')


def _check_infer(config):
    folder, _ = srez_infer.output_place(config.images.input, config.output)
    srez_files.check_writable('output', folder)


def _check_serve(config):
    if importlib.util.find_spec('gradio') is None:
        raise UsageError('--run serve needs the web page\'s install: pip install -r '
                         'requirements-web.txt (Gradio, on top of the light install).')


def _check_eval(config):
    if config.images.input and not os.path.isdir(config.images.input):
        raise UsageError(f'--input {config.images.input} is not a folder: give a folder of '
                         f'ground-truth face images.')
    if not config.images.input:
        _check_dataset(config.train.dataset)
    srez_files.check_writable('eval_dir', config.eval_dir)


def _check_export(config):
    if config.export_file:
        srez_files.check_writable('export_file', os.path.dirname(config.export_file) or '.')
    elif config.export_lite:
        srez_files.check_writable('export_lite', config.export_lite)
    else:
        srez_files.check_writable('export_dir', config.export_dir)


def _check_facecheck(config):
    if not os.path.isdir(config.dataset):
        raise UsageError(f'--dataset {config.dataset} is not a folder: the face check learns from '
                         f'a folder of aligned faces (CelebA\'s img_align_celeba).')
    srez_files.check_writable('face_check_file', os.path.dirname(config.face_check_file) or '.')


def _check_align(config):
    if not os.path.isdir(config.images.input):
        raise UsageError(f'--input {config.images.input} is not a folder: give the folder of face '
                         f'pictures to re-align.')
    if srez_files.is_within(config.aligned_dir, config.images.input):
        raise UsageError(f'--aligned_dir {config.aligned_dir} is inside --input '
                         f'{config.images.input}: choose a folder outside it.')
    srez_files.check_writable('aligned_dir', config.aligned_dir)


MODES = {
    'train': Mode('srez_train', srez_config.TrainConfig, _check_train,
                  device=lambda config: config.device),
    'demo': Mode('srez_demo', srez_config.DemoConfig, tensorflow=False),
    'infer': Mode('srez_infer', srez_config.InferConfig, _check_infer,
                  full_install=False,
                  tensorflow=lambda config: srez_loader.may_need_tensorflow(config.choice)),
    'eval': Mode('srez_eval', srez_config.EvalConfig, _check_eval),
    'export': Mode('srez_export', srez_config.ExportConfig, _check_export),
    'bench': Mode('srez_bench', srez_config.BenchConfig,
                  lambda config: _check_dataset(config.train.dataset),
                  device=lambda config: config.train.device),
    'facecheck': Mode('srez_facecheck', srez_config.FaceCheckConfig, _check_facecheck),
    'align': Mode('srez_align', srez_config.AlignConfig, _check_align, full_install=False,
                  tensorflow=False),
    'serve': Mode('srez_web', srez_config.ServeConfig, _check_serve, full_install=False,
                  tensorflow=lambda config: srez_loader.may_need_tensorflow(config.choice)),
}
assert set(MODES) == set(srez_config.RUNS)


def prepare(name, config, launched):
    """Checks what mode `name` needs of `config` and of this install, and loads TensorFlow if it
    needs it. launched: when the process started (time.perf_counter()). Returns the mode's
    module, imported. Raises UsageError."""
    mode = MODES[name]
    if mode.full_install and not srez_loader.tensorflow_installed():
        raise UsageError(f'--run {name} needs the full install ({srez_loader.FULL_INSTALL}): the '
                         f'light install upscales (--run infer) and aligns faces (--run align) '
                         f'only.')
    if mode.check:
        mode.check(config)
    needs = mode.tensorflow(config) if callable(mode.tensorflow) else mode.tensorflow
    if needs:
        if mode.device:
            use_xla_cache(mode.device(config).xla_cache_dir)
        import_tensorflow_quietly()
    module = importlib.import_module(mode.module)
    if needs:
        _STARTUP.append(('importing TensorFlow', time.perf_counter() - launched))
    return module


def startup_phases():
    """(phase, seconds) pairs of this process before its mode began (importing TensorFlow)."""
    return list(_STARTUP)


def import_tensorflow_quietly():
    """Imports TensorFlow with native stderr silenced.

    TensorFlow's C++ start-up prints CUDA probing lines before its own log settings apply; they
    are noise on machines without a GPU. Python errors still surface once stderr is back.
    """
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def use_xla_cache(folder):
    """Makes TensorFlow keep compiled XLA programs in `folder` ('' = not at all; None = the
    user's cache folder).

    Must run before TensorFlow loads, which reads TF_XLA_FLAGS once. An entry is found again only
    for the same computation (XLA keys it by a fingerprint of the whole compiled program: model,
    shapes and settings) on the same TensorFlow version (a folder per version), so a change of
    widths or flags compiles anew and cannot pick up a stale program.
    """
    if folder is None:
        base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
        folder = os.path.join(base, 'srez', 'xla')
    if not folder or 'tf_xla_persistent_cache_directory' in os.environ.get('TF_XLA_FLAGS', ''):
        return
    folder = os.path.join(folder, 'tensorflow-' + importlib.metadata.version('tensorflow'))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return  # An unwritable cache only costs start-up time: compile as without one.
    os.environ['TF_XLA_FLAGS'] = (f'{os.environ.get("TF_XLA_FLAGS", "")} '
                                  f'--tf_xla_persistent_cache_directory={folder}').strip()
