"""Makes models/mtcnn_pnet.tflite, mtcnn_rnet.tflite and mtcnn_onet.tflite: the three networks of
the mtcnn face detector (MIT licence, https://github.com/ipazc/mtcnn), as LiteRT files that
srez_detect runs without TensorFlow.

    pip install mtcnn==1.0.0 && python tools/convert_mtcnn.py

Each file is checked against the Keras network it came from before it is written: the same
outputs, in the order srez_detect reads them.
"""
import os

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from mtcnn.stages import StageONet, StagePNet, StageRNet
from tensorflow.python.framework import convert_to_constants

MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'models')
# name: (stage, input shape, the outputs in srez_detect's order)
NETWORKS = {'pnet': (StagePNet, [1, None, None, 3], ('boxes', 'scores')),
            'rnet': (StageRNet, [None, 24, 24, 3], ('boxes', 'scores')),
            'onet': (StageONet, [None, 48, 48, 3], ('boxes', 'landmarks', 'scores'))}


def convert(name):
    stage, shape, _ = NETWORKS[name]
    network = stage()._model
    function = tf.function(lambda images: tuple(network(images)), autograph=False,
                           input_signature=[tf.TensorSpec(shape, tf.float32, name='images')])
    # Keras 3 keeps its weights as resource variables, which LiteRT would leave unset: freeze.
    frozen = convert_to_constants.convert_variables_to_constants_v2(function.get_concrete_function())
    content = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()
    images = np.random.default_rng(0).uniform(-1, 1, [2 if dim is None and index == 0 else
                                                       dim or 37 for index, dim
                                                       in enumerate(shape)]).astype(np.float32)
    interpreter = Interpreter(model_content=content)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]['index'], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]['index'], images)
    interpreter.invoke()
    lite = [interpreter.get_tensor(d['index']) for d in interpreter.get_output_details()]
    for got, expected in zip(lite, network(images)):
        np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)
    with open(os.path.join(MODELS, f'mtcnn_{name}.tflite'), 'wb') as file:
        file.write(content)


if __name__ == '__main__':
    for name in NETWORKS:
        convert(name)
        print(f'Wrote models/mtcnn_{name}.tflite.')
