"""NetworkDefinition layer by layer, checked against NumPy, and its errors."""
import numpy as np
import pytest

import chexrt
from conftest import ROOT


def small_classifier(rng):
    """conv 3x3 (pad 1) + bias -> relu -> global average pool -> flatten -> fully connected ->
    sigmoid, with its weights, for an input [N, 2, 6, 6]."""
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    fc_w = rng.standard_normal((3, 4)).astype(np.float32)
    fc_b = rng.standard_normal(3).astype(np.float32)
    net = chexrt.NetworkDefinition()
    x = net.add_input("x", (1, 2, 6, 6))
    y = net.add_convolution("conv", x, w, b, pads=[1, 1, 1, 1])
    y = net.add_activation("relu", y, "relu")
    y = net.add_global_average_pool("gap", y)
    y = net.add_flatten("flat", y)
    y = net.add_fully_connected("fc", y, fc_w, fc_b)
    y = net.add_activation("sig", y, chexrt.Activation.SIGMOID)
    net.mark_output(y, "p")
    return net, (w, b, fc_w, fc_b)


def numpy_classifier(x, w, b, fc_w, fc_b):
    n, c, h, wd = x.shape
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((n, w.shape[0], h, wd))
    for i in range(h):
        for j in range(wd):
            patch = padded[:, :, i:i + 3, j:j + 3]
            conv[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w) + b
    pooled = np.maximum(conv, 0).mean(axis=(2, 3))
    return 1 / (1 + np.exp(-(pooled @ fc_w.T + fc_b)))


@pytest.mark.parametrize("device", ["reference", "auto"])
def test_layer_by_layer_matches_numpy(device):
    rng = np.random.default_rng(1)
    net, weights = small_classifier(rng)
    assert net.num_layers == 6
    assert net.num_parameters == 4 * 2 * 9 + 4 + 12 + 3
    engine = chexrt.build_engine(net, device=device, max_batch=3)
    x = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
    (p,) = engine.infer(x)
    assert p.shape == (3, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p, numpy_classifier(x, *weights), rtol=1e-5, atol=1e-6)


def test_tensor_queries_and_names():
    net = chexrt.NetworkDefinition()
    x = net.add_input("x", [1, 3, 8, 8])
    y = net.add_pooling("pool", x, "max", kernel=[2, 2], strides=[2, 2])
    assert net.tensor_shape(y) == (1, 3, 4, 4)
    assert net.tensor_dtype(y) == np.float32
    net.set_tensor_name(y, "pooled")
    assert net.tensor_name(y) == "pooled"
    assert net.find_tensor("pooled").id == y.id
    assert net.find_tensor("nothing") is None
    z = net.add_pooling("avg", y, chexrt.PoolType.AVERAGE, kernel=[2, 2], strides=[2, 2])
    r = net.add_reshape("r", z, [0, -1])
    t = net.add_transpose("t", r, [1, 0])
    assert net.tensor_shape(t) == (12, 1)
    s = net.add_softmax("s", r, 1)
    c = net.add_concat("cat", [r, r], 1)
    assert net.tensor_shape(c) == (1, 24)
    e = net.add_elementwise("mul", s, s, "mul")
    k = net.add_constant(np.ones((12, 2), np.float32), "k")
    m = net.add_matmul("mm", e, k)
    assert net.tensor_shape(m) == (1, 2)
    (g,) = net.add_layer("Gemm", "gemm", [m, net.add_constant(np.eye(2, dtype=np.float32))],
                         {"alpha": 2.0, "transB": 1})
    net.mark_output(g, "out")
    engine = chexrt.build_engine(net, device="reference")
    x_value = np.arange(3 * 64, dtype=np.float32).reshape(1, 3, 8, 8) / 100
    (out,) = engine.infer(x_value)
    pooled = x_value.reshape(1, 3, 4, 2, 4, 2).max(axis=(3, 5)).reshape(1, 3, 2, 2, 2, 2).mean(axis=(3, 5))
    flat = pooled.reshape(1, 12).astype(np.float64)
    soft = np.exp(flat) / np.exp(flat).sum()
    expected = 2 * (soft * soft) @ np.ones((12, 2))
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_batch_norm_and_elementwise():
    rng = np.random.default_rng(3)
    scale, bias, mean = (rng.standard_normal(2).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.5, 2, 2).astype(np.float32)
    net = chexrt.NetworkDefinition()
    x = net.add_input("x", (1, 2, 3, 3))
    y = net.add_batch_norm("bn", x, scale, bias, mean, var, epsilon=1e-3)
    y = net.add_elementwise("sub", y, x, chexrt.ElementwiseOp.SUB)
    net.mark_output(y)
    (out,) = chexrt.build_engine(net, device="reference").infer(np.ones((1, 2, 3, 3), np.float32))
    c = (1 - mean) / np.sqrt(var + 1e-3) * scale + bias - 1
    np.testing.assert_allclose(out, np.broadcast_to(c[None, :, None, None], (1, 2, 3, 3)), rtol=1e-5)


def test_bad_layer_raises_naming_it_and_poisons_the_network():
    net = chexrt.NetworkDefinition()
    x = net.add_input("x", (1, 3, 8, 8))
    with pytest.raises(chexrt.InvalidArgumentError, match="bad_conv") as error:
        net.add_convolution("bad_conv", x, np.zeros((4, 5, 3, 3), np.float32))
    assert isinstance(error.value, ValueError)
    assert error.value.code == "InvalidArgument"
    # The first error stands: later layers are refused with it.
    with pytest.raises(chexrt.Error, match="bad_conv"):
        net.add_activation("relu", x, "relu")
    with pytest.raises(chexrt.Error, match="bad_conv"):
        chexrt.build_engine(net, device="reference")


def test_bad_words_and_types():
    net = chexrt.NetworkDefinition()
    x = net.add_input("x", (1, 4))
    with pytest.raises(chexrt.InvalidArgumentError, match="relu, sigmoid"):
        net.add_activation("a", x, "tanh")
    with pytest.raises(chexrt.InvalidArgumentError, match="complex"):
        net.add_input("z", (1,), np.complex64)
    with pytest.raises(chexrt.InvalidArgumentError, match="attribute 'bad'"):
        net.add_layer("Relu", "r", [x], {"bad": {"a": 1}})


def test_build_consumes_the_network():
    net = chexrt.NetworkDefinition()
    x = net.add_input("x", (1, 4))
    net.mark_output(net.add_activation("r", x, "relu"))
    chexrt.build_engine(net, device="reference")
    assert "consumed" in repr(net)
    with pytest.raises(chexrt.InvalidArgumentError, match="consumed by build_engine"):
        net.add_input("y", (1, 4))


def test_parse_onnx_errors(tmp_path):
    with pytest.raises(chexrt.IoError, match="nothing.onnx") as error:
        chexrt.parse_onnx(tmp_path / "nothing.onnx")
    assert isinstance(error.value, OSError)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(chexrt.ParseError, match="bad.onnx"):
        chexrt.parse_onnx(bad)


def test_parse_onnx_demo_model(demo_model):
    net = chexrt.parse_onnx(demo_model, batch_size=2)
    image = net.find_tensor("image")
    assert net.tensor_shape(image) == (2, 3, 224, 224)
    assert net.num_parameters > 6_000_000


@pytest.mark.skipif(chexrt.has_tensorflow_parser, reason="the TensorFlow importer is built")
def test_parse_tensorflow_without_the_importer(tmp_path):
    with pytest.raises(chexrt.UnsupportedError, match="TensorFlow importer"):
        chexrt.parse_tensorflow(tmp_path / "graph.pb")


@pytest.mark.skipif(not chexrt.has_tensorflow_parser,
                    reason="chexrt/tensorflow_parser.h is not in this tree: parse_tensorflow lights up with it")
def test_parse_tensorflow_missing_file(tmp_path):
    with pytest.raises(chexrt.Error, match="graph.pb"):
        chexrt.parse_tensorflow(tmp_path / "graph.pb")


@pytest.mark.skipif(chexrt.has_caffe_parser, reason="the Caffe importer is built")
def test_parse_caffe_without_the_importer(tmp_path):
    with pytest.raises(chexrt.UnsupportedError, match="Caffe importer"):
        chexrt.parse_caffe(tmp_path / "net.prototxt", tmp_path / "net.caffemodel")


CAFFE = ROOT / "tests" / "data" / "caffe"


@pytest.mark.skipif(not chexrt.has_caffe_parser,
                    reason="chexrt/caffe_parser.h is not in this tree: parse_caffe lights up with it")
def test_parse_caffe_matches_caffe():
    # OpenCV's Caffe test layer (tests/data/caffe/README.md): Caffe's own output for blob.npy.
    layers = CAFFE / "opencv_extra"
    x = np.load(layers / "blob.npy")
    expected = np.load(layers / "layer_convolution.npy")
    net = chexrt.parse_caffe(layers / "layer_convolution.prototxt", layers / "layer_convolution.caffemodel",
                             input_shapes={"input": list(x.shape)})
    (y,) = chexrt.build_engine(net, device="reference", max_batch=x.shape[0]).infer(x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not chexrt.has_caffe_parser,
                    reason="chexrt/caffe_parser.h is not in this tree: parse_caffe lights up with it")
def test_parse_caffe_seeded_and_errors(tmp_path):
    densenet = CAFFE / "densenet" / "DenseNet_121.prototxt"
    with pytest.raises(chexrt.Error, match="DenseNet_121|weights|caffemodel"):
        chexrt.parse_caffe(densenet)
    net = chexrt.parse_caffe(densenet, seeded_weights=True, seed=1, batch_size=2)
    assert net.num_parameters > 7_000_000
    with pytest.raises(chexrt.Error, match="net.prototxt"):
        chexrt.parse_caffe(tmp_path / "net.prototxt", tmp_path / "net.caffemodel")
