#!/usr/bin/env python3
"""Writes CheXNet as a Caffe model (.prototxt + .caffemodel) from the seeded DenseNet-121 weights,
and PyTorch's outputs of the same weights, for chexrt's Caffe importer test
(tests/caffe/chexnet_caffe_test.cpp).

The definition is the DenseNet-121 Caffe definition most Caffe users take
(tests/data/caffe/densenet/DenseNet_121.prototxt, shicai/DenseNet-Caffe) with CheXNet's head: its
1000-way classifier fc6 (a 1x1 Convolution on the 1x1 pooled features) becomes InnerProduct fc6
with 14 outputs, followed by Sigmoid "prob". The layers are the same function as torchvision's
DenseNet-121: the stem pool1 is a 3x3 stride-2 MAX pool with padding 1 and `ceil_mode: false`
(OpenCV's caffe.proto extension), PyTorch's MaxPool2d(3, 2, 1) rounding down to 56x56 (Caffe's
default ceil rounding would make it 57x57); the transitions' 2x2 stride-2 AVE pools see even
sizes (56, 28, 14), where rounding up or down agree; pool5 (global AVE) is PyTorch's
adaptive_avg_pool2d to 1x1 on 7x7; BatchNorm + Scale hold PyTorch's BatchNorm2d (eps 1e-5).

Weights: --weights, torchvision state-dict names (scripts/make_reference_model.py writes the
seeded ones). Caffe's BatchNorm stores mean * s, var * s and s, the moving average's factor;
s = 999.982 here, as a Caffe model trained with moving_average_fraction 0.999 has, so that the
importer's division by it is exercised.

Writes under --out:
  chexnet.prototxt, chexnet.caffemodel   the Caffe model
  inputs.npy                              the first --count preprocessed X-rays of
                                          models/generated/reference (N x 3 x 224 x 224)
  outputs.npy                             torchvision DenseNet-121 + Linear(1024, 14) + Sigmoid with
                                          the same weights, float32, on those inputs (N x 14)

Caffe's Python classes come from src/import/caffe/caffe.proto (the importer's own schema),
compiled with protoc into a temporary folder.

  /usr/bin/python3 scripts/make_caffe_chexnet.py --out build/tests/caffe/chexnet [--count 2]
"""
import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_checkpoint import build_chexnet  # noqa: E402
from safetensors_io import read_safetensors  # noqa: E402

kRepo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
kProto = os.path.join(kRepo, "src", "import", "caffe", "caffe.proto")
kDefinition = os.path.join(kRepo, "tests", "data", "caffe", "densenet", "DenseNet_121.prototxt")
kGenerated = os.path.join(kRepo, "models", "generated")
kScaleFactor = 999.982
kNumClasses = 14


def load_caffe_pb2(tmp):
    """caffe_pb2 compiled from the importer's caffe.proto."""
    subprocess.run(["protoc", f"--proto_path={os.path.dirname(kProto)}", f"--python_out={tmp}", kProto], check=True)
    sys.path.insert(0, tmp)
    return importlib.import_module("caffe_pb2")


def torch_prefix(layer):
    """The torchvision state-dict prefix of a learned Caffe layer of DenseNet_121.prototxt."""
    if layer == "conv1":
        return "features.conv0"
    if layer in ("conv1/bn", "conv1/scale"):
        return "features.norm0"
    if layer == "fc6":
        return "classifier.0"
    m = re.fullmatch(r"conv(\d)_(\d+)/x([12])(/bn|/scale)?", layer)
    if m:
        block, index, which, norm = int(m[1]) - 1, int(m[2]), m[3], m[4]
        return f"features.denseblock{block}.denselayer{index}.{'norm' if norm else 'conv'}{which}"
    m = re.fullmatch(r"conv(\d)_blk(/bn|/scale)?", layer)
    if m:
        block, norm = int(m[1]), m[2]
        if block == 5 and norm:
            return "features.norm5"
        if 2 <= block <= 4:
            return f"features.transition{block - 1}.{'norm' if norm else 'conv'}"
    raise SystemExit(f"{kDefinition}: layer {layer} has no torchvision counterpart")


def chexnet_definition(pb2, text_format):
    """DenseNet_121.prototxt with fc6 as InnerProduct(14) and a Sigmoid after it."""
    net = pb2.NetParameter()
    with open(kDefinition) as f:
        text_format.Parse(f.read(), net)
    net.name = "CHEXNET_DENSENET_121"
    fc = [layer for layer in net.layer if layer.name == "fc6"]
    if len(fc) != 1:
        raise SystemExit(f"{kDefinition}: expected one layer fc6")
    fc = fc[0]
    fc.type = "InnerProduct"
    fc.ClearField("convolution_param")
    fc.inner_product_param.num_output = kNumClasses
    prob = net.layer.add()
    prob.name, prob.type = "prob", "Sigmoid"
    prob.bottom.append("fc6")
    prob.top.append("prob")
    return net


def add_blob(layer, array):
    blob = layer.blobs.add()
    blob.shape.dim.extend(array.shape)
    blob.data.extend(np.ascontiguousarray(array, dtype=np.float32).ravel().tolist())


def caffemodel(pb2, definition, weights):
    """A NetParameter holding every learned layer's blobs, named as in the definition."""
    model = pb2.NetParameter(name=definition.name)
    used = set()
    for layer in definition.layer:
        if layer.type not in ("Convolution", "BatchNorm", "Scale", "InnerProduct"):
            continue
        prefix = torch_prefix(layer.name)
        out = model.layer.add()
        out.name, out.type = layer.name, layer.type
        if layer.type == "BatchNorm":
            names = [f"{prefix}.running_mean", f"{prefix}.running_var"]
            add_blob(out, weights[names[0]].astype(np.float32) * np.float32(kScaleFactor))
            add_blob(out, weights[names[1]].astype(np.float32) * np.float32(kScaleFactor))
            add_blob(out, np.array([kScaleFactor], dtype=np.float32))
        else:
            names = [f"{prefix}.weight"]
            if layer.type == "Scale" or layer.type == "InnerProduct":
                names.append(f"{prefix}.bias")
            for name in names:
                add_blob(out, weights[name])
        used.update(names)
    unused = sorted(set(weights) - used)
    if unused:
        raise SystemExit(f"weights not placed in the Caffe model: {', '.join(unused[:5])}")
    return model


def reference_inputs(count):
    manifest_path = os.path.join(kGenerated, "reference", "manifest.json")
    if not os.path.exists(manifest_path):
        raise SystemExit(f"{manifest_path} is missing: run scripts/make_reference_model.py first")
    with open(manifest_path) as f:
        entries = json.load(f)["entries"][:count]
    return np.concatenate([np.load(os.path.join(kGenerated, "reference", e["input"])) for e in entries])


def write_atomically(path, data):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def save_npy(path, array):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".npy")
    with os.fdopen(fd, "wb") as f:
        np.save(f, array)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights", default=os.path.join(kGenerated, "densenet121_chexnet_seeded.safetensors"))
    ap.add_argument("--count", type=int, default=2, help="reference images (default: %(default)s)")
    args = ap.parse_args(argv)
    if not os.path.exists(args.weights):
        raise SystemExit(f"{args.weights} is missing: run scripts/make_reference_model.py first")
    os.makedirs(args.out, exist_ok=True)
    from google.protobuf import text_format

    with tempfile.TemporaryDirectory() as tmp:
        pb2 = load_caffe_pb2(tmp)
        weights = read_safetensors(args.weights)
        definition = chexnet_definition(pb2, text_format)
        model = caffemodel(pb2, definition, weights)
        write_atomically(os.path.join(args.out, "chexnet.prototxt"), text_format.MessageToString(definition).encode())
        write_atomically(os.path.join(args.out, "chexnet.caffemodel"), model.SerializeToString())

    torch_model = build_chexnet()
    missing, unexpected = torch_model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()},
                                                      strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise SystemExit(f"{args.weights}: does not fit DenseNet-121 + CheXNet's head ({missing[:3]}, {unexpected[:3]})")
    torch_model.eval()
    x = reference_inputs(args.count)
    with torch.no_grad():
        y = torch_model(torch.from_numpy(x)).numpy()
    save_npy(os.path.join(args.out, "inputs.npy"), x.astype(np.float32))
    save_npy(os.path.join(args.out, "outputs.npy"), y.astype(np.float32))
    print(f"wrote {args.out}/chexnet.prototxt, chexnet.caffemodel ({len(model.layer)} layers with blobs), "
          f"inputs.npy {x.shape}, outputs.npy {y.shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
