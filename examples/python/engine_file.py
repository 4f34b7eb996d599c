#!/usr/bin/env python3
"""TensorRT's idiom: parse an ONNX model, build an engine, save it, load it back and run a
chest X-ray preprocessed in NumPy (resize the shorter side to 256, centre crop 224, ImageNet
normalization: CheXNet's torchvision pipeline, here with PIL).

    PYTHONPATH=build/python /usr/bin/python3 examples/python/engine_file.py data/cxr/nih/00000284_000.png
"""
import argparse
import os
import tempfile

import numpy as np
from PIL import Image

import chexrt

parser = argparse.ArgumentParser()
parser.add_argument("image")
parser.add_argument("--model", default=chexrt.default_model_path(), help="ONNX CheXNet (default: the demo model)")
parser.add_argument("--device", default="auto")
args = parser.parse_args()

network = chexrt.parse_onnx(args.model)
engine = chexrt.build_engine(network, device=args.device, max_batch=4)
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "chexnet.engine")
    engine.save(path)
    engine = chexrt.load_engine(path)  # no import, passes or kernel timing
print(f"engine: {engine.backend}, inputs {engine.inputs}, outputs {engine.outputs}")

image = Image.open(args.image).convert("RGB")
scale = 256 / min(image.size)
image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
left, top = (image.width - 224) // 2, (image.height - 224) // 2
pixels = np.asarray(image.crop((left, top, left + 224, top + 224)), np.float32) / 255
pixels = (pixels - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
batch = np.ascontiguousarray(pixels.transpose(2, 0, 1)[None], np.float32)  # [1, 3, 224, 224], read in place

(probabilities,) = engine.infer(batch)
for name, p in zip(chexrt.FINDINGS, probabilities[0]):
    print(f"{name:<20} {p:.4f}")
