#!/usr/bin/env python3
"""Writes CheXNet (DenseNet-121 with the 14-finding sigmoid head) as a TensorFlow frozen graph, in
Keras's conventions, from the seeded weights that scripts/make_reference_model.py made.

The graph is what `tf.keras.applications.DenseNet121` + `Dense(14, activation="sigmoid")` gives
once frozen: NHWC tensors, Keras's layer names (conv1/conv, conv2_block1_0_bn, pool2_conv,
avg_pool, predictions, ...), ZeroPadding2D as Pad, BatchNormalization as FusedBatchNormV3 in
inference mode, GlobalAveragePooling2D as Mean over height and width, Dense as MatMul + BiasAdd +
Sigmoid. Weights are torchvision's (features.conv0.weight, ...), reordered to Keras's layouts
(convolution kernels HWIO, dense kernels [in, out]). The batch norms keep the model's epsilon
(1e-5, PyTorch's; Keras's DenseNet uses 1.001e-5), so the graph computes the same function as the
ONNX model.

TensorFlow is not needed: the GraphDef is written with protobuf's Python runtime (Debian's
python3-protobuf) from chexrt's own schema, src/import/tensorflow/tf_graph.proto, compiled by
protoc into a temporary folder.

  /usr/bin/python3 scripts/make_tensorflow_chexnet.py [--weights W.safetensors|W.npz] [--out M.pb]

Defaults: models/generated/densenet121_chexnet_seeded.safetensors ->
models/generated/densenet121_chexnet_seeded.pb. Does nothing when the output is newer than the
weights and this script (--force to redo).
"""
import argparse
import importlib
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors  # noqa: E402

kRepo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
kProto = os.path.join(kRepo, "src", "import", "tensorflow", "tf_graph.proto")
kBlocks = (6, 12, 24, 16)  # DenseNet-121's layers per dense block
kEpsilon = 1e-5
kInputName = "input_1"
kImageSize = 224


def load_schema():
    """tf_graph_pb2, generated from the repository's tf_graph.proto."""
    out = tempfile.mkdtemp(prefix="chexrt_tf_proto_")
    subprocess.run(["protoc", "--proto_path=" + os.path.dirname(kProto), "--python_out=" + out, kProto], check=True)
    sys.path.insert(0, out)
    return importlib.import_module("tf_graph_pb2")


class GraphWriter:
    def __init__(self, pb, weights):
        self.pb = pb
        self.weights = weights
        self.graph = pb.GraphDef()
        self.graph.versions.producer = 1087  # TensorFlow 2.x's GraphDef version
        self.used = set()

    def node(self, name, op, inputs=(), **attrs):
        node = self.graph.node.add()
        node.name = name
        node.op = op
        node.input.extend(inputs)
        for key, value in attrs.items():
            node.attr[key].CopyFrom(value)
        return name

    def type_attr(self, dtype):
        return self.pb.AttrValue(type=dtype)

    def const(self, name, array, dtype=None):
        array = np.ascontiguousarray(array)
        dtype = dtype or (self.pb.DT_FLOAT if array.dtype == np.float32 else self.pb.DT_INT32)
        tensor = self.pb.TensorProto(dtype=dtype)
        tensor.tensor_shape.dim.extend([self.pb.TensorShapeProto.Dim(size=d) for d in array.shape])
        tensor.tensor_content = array.astype("<f4" if dtype == self.pb.DT_FLOAT else "<i4").tobytes()
        return self.node(name, "Const", value=self.pb.AttrValue(tensor=tensor), dtype=self.type_attr(dtype))

    def take(self, key):
        self.used.add(key)
        return self.weights[key]

    def ints(self, values):
        return self.pb.AttrValue(list=self.pb.AttrValue.ListValue(i=values))

    def float_op(self, name, op, inputs, **attrs):
        return self.node(name, op, inputs, T=self.type_attr(self.pb.DT_FLOAT), **attrs)

    def pad(self, layer, x, amount):
        paddings = self.const(f"{layer}/Pad/paddings", np.array([[0, 0], [amount, amount], [amount, amount], [0, 0]], np.int32))
        return self.node(f"{layer}/Pad", "Pad", [x, paddings], T=self.type_attr(self.pb.DT_FLOAT),
                         Tpaddings=self.type_attr(self.pb.DT_INT32))

    def conv(self, layer, x, torch_key, stride=1, padding="VALID"):
        # torchvision [out, in, h, w] -> Keras [h, w, in, out]
        kernel = self.const(f"{layer}/kernel", self.take(torch_key).transpose(2, 3, 1, 0))
        return self.float_op(f"{layer}/Conv2D", "Conv2D", [x, kernel], strides=self.ints([1, stride, stride, 1]),
                             padding=self.pb.AttrValue(s=padding.encode()), data_format=self.pb.AttrValue(s=b"NHWC"),
                             dilations=self.ints([1, 1, 1, 1]))

    def batch_norm(self, layer, x, torch_prefix):
        params = [self.const(f"{layer}/{keras}", self.take(f"{torch_prefix}.{torch}"))
                  for keras, torch in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                                       ("moving_variance", "running_var"))]
        return self.float_op(f"{layer}/FusedBatchNormV3", "FusedBatchNormV3", [x] + params,
                             U=self.type_attr(self.pb.DT_FLOAT), epsilon=self.pb.AttrValue(f=kEpsilon),
                             is_training=self.pb.AttrValue(b=False), data_format=self.pb.AttrValue(s=b"NHWC"))

    def relu(self, layer, x):
        return self.float_op(f"{layer}/Relu", "Relu", [x])

    def pool(self, layer, op, x, size, stride):
        return self.float_op(f"{layer}/{op}", op, [x], ksize=self.ints([1, size, size, 1]),
                             strides=self.ints([1, stride, stride, 1]), padding=self.pb.AttrValue(s=b"VALID"),
                             data_format=self.pb.AttrValue(s=b"NHWC"))

    def concat(self, layer, values):
        axis = self.const(f"{layer}/concat/axis", np.array(-1, np.int32))
        return self.float_op(f"{layer}/concat", "ConcatV2", values + [axis], N=self.pb.AttrValue(i=len(values)),
                             Tidx=self.type_attr(self.pb.DT_INT32))


def write_densenet(pb, weights):
    g = GraphWriter(pb, weights)
    shape = pb.TensorShapeProto(dim=[pb.TensorShapeProto.Dim(size=s) for s in (-1, kImageSize, kImageSize, 3)])
    x = g.node(kInputName, "Placeholder", dtype=g.type_attr(pb.DT_FLOAT), shape=pb.AttrValue(shape=shape))
    x = g.pad("zero_padding2d", x, 3)
    x = g.conv("conv1/conv", x, "features.conv0.weight", stride=2)
    x = g.batch_norm("conv1/bn", x, "features.norm0")
    x = g.relu("conv1/relu", x)
    x = g.pad("zero_padding2d_1", x, 1)
    x = g.pool("pool1", "MaxPool", x, 3, 2)
    for b, layers in enumerate(kBlocks):
        stage = b + 2
        for i in range(1, layers + 1):
            name, torch = f"conv{stage}_block{i}", f"features.denseblock{b + 1}.denselayer{i}"
            y = g.batch_norm(f"{name}_0_bn", x, f"{torch}.norm1")
            y = g.relu(f"{name}_0_relu", y)
            y = g.conv(f"{name}_1_conv", y, f"{torch}.conv1.weight")
            y = g.batch_norm(f"{name}_1_bn", y, f"{torch}.norm2")
            y = g.relu(f"{name}_1_relu", y)
            y = g.conv(f"{name}_2_conv", y, f"{torch}.conv2.weight", padding="SAME")
            x = g.concat(f"{name}_concat", [x, y])
        if b < len(kBlocks) - 1:
            name, torch = f"pool{stage}", f"features.transition{b + 1}"
            x = g.batch_norm(f"{name}_bn", x, f"{torch}.norm")
            x = g.relu(f"{name}_relu", x)
            x = g.conv(f"{name}_conv", x, f"{torch}.conv.weight")
            x = g.pool(f"{name}_pool", "AvgPool", x, 2, 2)
    x = g.batch_norm("bn", x, "features.norm5")
    x = g.relu("relu", x)
    axes = g.const("avg_pool/Mean/reduction_indices", np.array([1, 2], np.int32))
    x = g.float_op("avg_pool/Mean", "Mean", [x, axes], keep_dims=pb.AttrValue(b=False),
                   Tidx=g.type_attr(pb.DT_INT32))
    kernel = g.const("predictions/kernel", g.take("classifier.0.weight").T)  # [out, in] -> [in, out]
    bias = g.const("predictions/bias", g.take("classifier.0.bias"))
    x = g.float_op("predictions/MatMul", "MatMul", [x, kernel], transpose_a=pb.AttrValue(b=False),
                   transpose_b=pb.AttrValue(b=False))
    x = g.float_op("predictions/BiasAdd", "BiasAdd", [x, bias], data_format=pb.AttrValue(s=b"NHWC"))
    g.float_op("predictions/Sigmoid", "Sigmoid", [x])
    unused = sorted(set(weights) - g.used)
    if unused:
        raise SystemExit(f"weights not used by the graph: {unused[:5]}")
    return g.graph


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    generated = os.path.join(kRepo, "models", "generated")
    parser.add_argument("--weights", default=os.path.join(generated, "densenet121_chexnet_seeded.safetensors"))
    parser.add_argument("--out", default=os.path.join(generated, "densenet121_chexnet_seeded.pb"))
    parser.add_argument("--force", action="store_true", help="rewrite the output even when it is up to date")
    args = parser.parse_args()
    if not os.path.exists(args.weights):
        raise SystemExit(f"{args.weights}: not found (scripts/make_reference_model.py makes it)")
    sources = [args.weights, os.path.abspath(__file__), kProto]
    if (not args.force and os.path.exists(args.out)
            and os.path.getmtime(args.out) >= max(os.path.getmtime(p) for p in sources)):
        print(f"{args.out} is up to date")
        return
    if args.weights.endswith(".npz"):  # any float dtype, widened (scripts/gpu_bundle.sh --weights)
        with np.load(args.weights) as npz:
            weights = {name: npz[name].astype(np.float32) for name in npz.files}
    else:
        weights = read_safetensors(args.weights)
    graph = write_densenet(load_schema(), weights)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(graph.SerializeToString())
    os.replace(tmp, args.out)  # atomic: a reader never sees half a graph
    print(f"wrote {args.out} ({len(graph.node)} nodes)")


if __name__ == "__main__":
    main()
