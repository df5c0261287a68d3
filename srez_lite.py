"""srez lite: running srez's networks with LiteRT (the TFLite interpreter), without TensorFlow.

Upscaling needs no training framework: the generators, the face check and the face detector's
three networks are shipped as LiteRT files in models/ (made from the TensorFlow models by
srez_export.lite_files), and `pip install -r requirements-light.txt` runs them with numpy and
Pillow alone.

A pair of generators (fidelity and sharp) is two LiteRT files of one graph whose convolutions
differ; `--sharpness A` blends those weights when the files are loaded, and feeds A to the graph,
which blends the batch-norm statistics itself (folded into the convolutions, they would not blend
linearly). So the knob stays continuous, and every setting runs at full speed.
"""
import collections
import contextlib
import os

import numpy as np

import srez_config
import srez_files
from srez_errors import UsageError, first_line

THREADS = 2
KEEP_ELEMENTS = 2 ** 18  # Inputs up to this many floats keep an interpreter of their own.


def _interpreter(content):
    # The light install's one heavy import, made when a model is first needed.
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter(model_content=content, num_threads=THREADS)


@contextlib.contextmanager
def _quiet_stderr():
    """Keeps LiteRT's native start-up line (its XNNPACK delegate's) off stderr; its refusals of a
    model still come as exceptions."""
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class Network:
    """A LiteRT model as a function of numpy arrays: network(images=..., sharpness=...) -> its
    outputs, a list in the model's order. Inputs are found by name, and may change shape
    between calls as far as the model allows (a fully convolutional network takes any size).

    Preparing an interpreter for new shapes (XNNPACK plans the whole graph) costs more than a
    small call: an interpreter is kept for each of the last `shapes_kept` shapes, so calls that
    come back to a shape (a detector's pyramid, frame after frame) find it ready; but not for
    inputs over KEEP_ELEMENTS, whose activations would hold much memory for little time saved.
    """

    def __init__(self, content, shapes_kept=1):
        self._content, self._shapes_kept = content, shapes_kept
        self._ready = collections.OrderedDict()  # Shapes -> interpreter, the newest last.
        first = _interpreter(content)
        # Converters name inputs 'images', 'images:0' or 'serving_default_images:0'.
        self._inputs = {details['name'].split(':')[0].removeprefix('serving_default_'):
                        details['index'] for details in first.get_input_details()}
        self._outputs = [details['index'] for details in first.get_output_details()]
        self._spare = first

    def __call__(self, **inputs):
        inputs = {name: np.ascontiguousarray(value, np.float32) for name, value in inputs.items()}
        interpreter = self._for(tuple(sorted((name, value.shape)
                                             for name, value in inputs.items())))
        for name, value in inputs.items():
            interpreter.set_tensor(self._inputs[name], value)
        interpreter.invoke()
        return [interpreter.get_tensor(index) for index in self._outputs]

    def _for(self, shapes):
        """The interpreter ready for input `shapes` ((name, shape) pairs)."""
        if shapes in self._ready:
            self._ready.move_to_end(shapes)
            return self._ready[shapes]
        interpreter = self._spare or _interpreter(self._content)
        self._spare = None
        # Allocating applies the XNNPACK delegate, which says so on stderr.
        with _quiet_stderr():
            for name, shape in shapes:
                interpreter.resize_tensor_input(self._inputs[name], shape)
            interpreter.allocate_tensors()
        if sum(np.prod(shape) for _, shape in shapes) <= KEEP_ELEMENTS:
            self._ready[shapes] = interpreter
        else:
            self._spare = interpreter  # Prepared again for the next shape.
        if len(self._ready) > self._shapes_kept:
            self._ready.popitem(last=False)
        return interpreter


def read_bytes(path):
    """The bytes of the LiteRT file `path`; UsageError in one line when it cannot be read."""
    try:
        with open(path, 'rb') as file:
            return file.read()
    except OSError as error:
        raise _unusable(path, error) from None


def network(path):
    """The LiteRT file `path` as a Network; UsageError in one line when it is missing or is not a
    LiteRT model."""
    content = read_bytes(path)
    try:
        return Network(content)
    except (ValueError, RuntimeError) as error:  # The interpreter's ways of refusing a file.
        raise _unusable(path, error) from None


def _unusable(path, error):
    hint = srez_files.restore_hint(path, srez_config.MODELS_DIR) or 'check the path'
    return UsageError(f'The LiteRT model {path} cannot be used ({first_line(error)}): {hint}.')


def blended(fidelity, sharp, sharpness):
    """The LiteRT model whose convolution weights are (1 - sharpness) * fidelity's + sharpness *
    sharp's: two models (bytes) of one graph, which differ only in those weights. Raises
    ValueError for two models that are not of one graph."""
    from ai_edge_litert import schema_py_generated as schema
    if sharpness == 0 or fidelity == sharp:
        return fidelity
    if len(fidelity) != len(sharp):
        raise ValueError('the two models are not of one graph')
    model = schema.Model.GetRootAs(fidelity, 0)
    base = np.frombuffer(fidelity, np.uint8)
    first, second = base, np.frombuffer(sharp, np.uint8)
    mixed = bytearray(fidelity)
    view = np.frombuffer(mixed, np.uint8)
    for index in range(model.BuffersLength()):
        data = model.Buffers(index).DataAsNumpy()
        if isinstance(data, int) or data is None or not data.size:
            continue
        start = data.ctypes.data - base.ctypes.data
        span = slice(start, start + data.size)
        if np.array_equal(first[span], second[span]):
            continue
        view[span] = ((1 - sharpness) * first[span].view(np.float32)
                      + sharpness * second[span].view(np.float32)).astype(np.float32).view(np.uint8)
    return bytes(mixed)


def generator(fidelity_path, sharp_path, sharpness):
    """The generator pair of two LiteRT files (one file twice: a single model) at `sharpness`,
    as a function: float32 [n, s, s, 3] in [0, 1] -> float32 [n, 4s, 4s, 3]."""
    fidelity = read_bytes(fidelity_path)
    sharp = fidelity if sharp_path == fidelity_path else read_bytes(sharp_path)
    try:
        network = Network(blended(fidelity, sharp, sharpness))
    except (ValueError, RuntimeError) as error:
        raise _unusable(sharp_path, error) from None
    knob = np.float32(sharpness)
    return lambda frames: network(images=frames, sharpness=knob)[0]
