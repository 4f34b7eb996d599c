#!/usr/bin/env python3
"""ONNX Runtime's idiom (InferenceSession), and a network built layer by layer.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/session_and_layers.py
"""
import numpy as np

import chexrt

# An ONNX model as onnxruntime runs it.
session = chexrt.InferenceSession(chexrt.default_model_path(), device="auto", max_batch=2)
print("inputs:", session.get_inputs(), "outputs:", session.get_outputs())
x = np.random.default_rng(0).standard_normal((2, 3, 224, 224), dtype=np.float32)
(probabilities,) = session.run(None, {"image": x})
print("probabilities", probabilities.shape, probabilities[:, :3])

# A small classifier added layer by layer (include/chexrt/network.h's API).
rng = np.random.default_rng(1)
net = chexrt.NetworkDefinition()
image = net.add_input("image", (1, 3, 32, 32))
y = net.add_convolution("conv", image, rng.standard_normal((8, 3, 3, 3)).astype(np.float32), pads=[1, 1, 1, 1])
y = net.add_activation("relu", y, "relu")
y = net.add_pooling("pool", y, "max", kernel=[2, 2], strides=[2, 2])
y = net.add_global_average_pool("gap", y)
y = net.add_fully_connected("fc", net.add_flatten("flat", y), rng.standard_normal((14, 8)).astype(np.float32))
net.mark_output(net.add_activation("sigmoid", y, "sigmoid"), "p")
engine = chexrt.build_engine(net, device="auto", max_batch=8)
(p,) = engine.infer(rng.standard_normal((8, 3, 32, 32), dtype=np.float32))
print("layer by layer:", engine.backend, p.shape)

try:
    net = chexrt.NetworkDefinition()
    net.add_convolution("bad", net.add_input("x", (1, 3, 8, 8)), np.zeros((4, 5, 3, 3), np.float32))
except chexrt.InvalidArgumentError as error:  # also a ValueError
    print(f"error ({error.code}): {error}")
