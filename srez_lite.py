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
import numpy as np

THREADS = 2


def _interpreter(content):
    from ai_edge_litert.interpreter import Interpreter  # The light install's one heavy import.
    return Interpreter(model_content=content, num_threads=THREADS)


class Network:
    """A LiteRT model as a function of numpy arrays: network(images=..., sharpness=...) -> its
    outputs, a list in the model's order. Inputs are found by name, and may change shape
    between calls as far as the model allows (a fully convolutional network takes any size)."""

    def __init__(self, content):
        self._interpreter = _interpreter(content)
        self._inputs = {details['name'].split(':')[0]: details['index']
                        for details in self._interpreter.get_input_details()}
        self._outputs = [details['index'] for details in self._interpreter.get_output_details()]
        self._shapes = {}

    def __call__(self, **inputs):
        inputs = {name: np.ascontiguousarray(value, np.float32) for name, value in inputs.items()}
        shapes = {name: value.shape for name, value in inputs.items()}
        if shapes != self._shapes:
            for name, shape in shapes.items():
                self._interpreter.resize_tensor_input(self._inputs[name], shape)
            self._interpreter.allocate_tensors()
            self._shapes = shapes
        for name, value in inputs.items():
            self._interpreter.set_tensor(self._inputs[name], value)
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(index) for index in self._outputs]


def read(path):
    with open(path, 'rb') as file:
        return file.read()


def blended(fidelity, sharp, sharpness):
    """The LiteRT model whose convolution weights are (1 - sharpness) * fidelity's + sharpness *
    sharp's: two models (bytes) of one graph, which differ only in those weights."""
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
