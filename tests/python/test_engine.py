"""build_engine / load_engine / Engine: infer on NumPy (zero-copy where claimed, the GIL
released), save and load, errors; outputs equal to the C++ command's."""
import threading
import time

import numpy as np
import pytest

import chexrt
from conftest import run_cli


def test_inputs_outputs(demo_engine):
    (i,) = demo_engine.inputs
    (o,) = demo_engine.outputs
    assert (i.name, i.shape, i.dtype) == ("image", (-1, 3, 224, 224), np.float32)
    assert (o.name, o.shape, o.dtype) == ("probabilities", (-1, 14), np.float32)
    assert isinstance(i, chexrt.TensorInfo)
    assert demo_engine.max_batch == 4


def test_infer_equals_the_cli(demo_model, cli, host_device, tmp_path, xray_batch):
    np.save(tmp_path / "x.npy", xray_batch)
    run_cli(cli, "run", "--model", demo_model, "--input", str(tmp_path / "x.npy"), "--output",
            str(tmp_path / "y.npy"), "--device", host_device)
    expected = np.load(tmp_path / "y.npy")
    engine = chexrt.build_engine(chexrt.parse_onnx(demo_model), device=host_device, max_batch=2)
    assert (engine.device, engine.precision) == (host_device, "fp32")
    (p,) = engine.infer(xray_batch)
    assert p.shape == (2, 14)
    np.testing.assert_array_equal(p, expected)


def test_input_forms_agree(demo_engine, xray_batch):
    (single,) = demo_engine.infer(xray_batch)
    (listed,) = demo_engine.infer([xray_batch])
    (named,) = demo_engine.infer({"image": xray_batch})
    np.testing.assert_array_equal(single, listed)
    np.testing.assert_array_equal(single, named)
    # A non-contiguous view is copied once, with the same result.
    strided = np.empty((2, 3, 224, 448), np.float32)
    strided[..., ::2] = xray_batch
    (from_view,) = demo_engine.infer(strided[..., ::2])
    np.testing.assert_array_equal(single, from_view)
    # Batch 1 and the batch of 2 agree row by row.
    (first,) = demo_engine.infer(xray_batch[:1])
    np.testing.assert_allclose(first[0], single[0], rtol=1e-5, atol=1e-6)


def test_zero_copy_input_and_output(demo_engine, xray_batch):
    assert chexrt._chexrt._input_tensor_address(xray_batch) == xray_batch.ctypes.data
    view = xray_batch[:, :, ::2, ::2]
    assert chexrt._chexrt._input_tensor_address(view) != view.ctypes.data
    (p,) = demo_engine.infer(xray_batch)
    # The array is a view of the engine's output tensor, kept alive by a capsule: no copy.
    assert not p.flags.owndata
    assert type(p.base).__name__ == "PyCapsule"
    assert p.flags.c_contiguous and p.flags.writeable


def test_input_errors(demo_engine, xray_batch):
    with pytest.raises(chexrt.InvalidArgumentError, match="expected float32, got float64"):
        demo_engine.infer(xray_batch.astype(np.float64))
    with pytest.raises(chexrt.InvalidArgumentError, match=r"expected shape \[N, 3, 224, 224\] with N from 1 to 4"):
        demo_engine.infer(np.zeros((5, 3, 224, 224), np.float32))
    with pytest.raises(ValueError, match=r"got \[2, 3, 224\]"):
        demo_engine.infer(np.zeros((2, 3, 224), np.float32))
    with pytest.raises(chexrt.InvalidArgumentError, match="input 'image' is missing"):
        demo_engine.infer({"img": xray_batch})
    with pytest.raises(chexrt.InvalidArgumentError, match="1 input"):
        demo_engine.infer([xray_batch, xray_batch])
    with pytest.raises(chexrt.InvalidArgumentError, match="expected an array"):
        demo_engine.infer(object())


def two_input_engine():
    net = chexrt.NetworkDefinition()
    a = net.add_input("a", (2, 3))
    b = net.add_input("b", (2, 3))
    net.mark_output(net.add_elementwise("sum", a, b, "add"), "sum")
    net.mark_output(net.add_elementwise("prod", a, b, "mul"), "prod")
    return chexrt.build_engine(net, device="reference", max_batch=2)


def test_several_inputs_and_outputs():
    engine = two_input_engine()
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 2, np.float32)
    for given in ([a, b], (a, b), {"b": b, "a": a}):
        s, p = engine.infer(given)
        np.testing.assert_array_equal(s, a + b)
        np.testing.assert_array_equal(p, a * b)
    with pytest.raises(chexrt.InvalidArgumentError, match="no input named 'c'"):
        engine.infer({"a": a, "b": b, "c": b})
    with pytest.raises(chexrt.InvalidArgumentError, match="batch 1, the first input 2"):
        engine.infer([a, b[:1]])


def test_save_and_load(demo_engine, tmp_path, xray_batch, cli):
    path = tmp_path / "demo.engine"
    demo_engine.save(path)
    loaded = chexrt.load_engine(path)
    assert loaded.max_batch == 4 and loaded.backend == demo_engine.backend
    np.testing.assert_array_equal(loaded.infer(xray_batch)[0], demo_engine.infer(xray_batch)[0])
    # The file is the command line's engine file; a loaded engine saves again.
    assert "batch 1..4" in run_cli(cli, "inspect", str(path)).stdout
    loaded.save(tmp_path / "again.engine")
    np.testing.assert_array_equal(chexrt.load_engine(tmp_path / "again.engine").infer(xray_batch)[0],
                                  demo_engine.infer(xray_batch)[0])


def test_load_errors(tmp_path):
    with pytest.raises(chexrt.Error, match="missing.engine"):
        chexrt.load_engine(tmp_path / "missing.engine")
    bad = tmp_path / "bad.engine"
    bad.write_bytes(b"CHXRTENG" + b"\0" * 100)
    with pytest.raises(chexrt.ParseError, match="bad.engine"):
        chexrt.load_engine(bad)
    with pytest.raises(chexrt.IoError):
        two_input_engine().save(tmp_path / "no" / "such" / "dir" / "x.engine")


def test_build_errors(demo_model):
    with pytest.raises(chexrt.InvalidArgumentError, match="device"):
        chexrt.build_engine(chexrt.parse_onnx(demo_model), device="tpu")
    with pytest.raises(chexrt.InvalidArgumentError, match="1 <= min <= opt <= max"):
        chexrt.build_engine(chexrt.parse_onnx(demo_model), min_batch=4, max_batch=2)


def slow_reference_engine():
    # A 3x3 convolution of 64 channels on 96x96 on the naive reference kernels: about a second.
    net = chexrt.NetworkDefinition()
    x = net.add_input("x", (1, 64, 96, 96))
    w = np.full((64, 64, 3, 3), 1e-3, np.float32)
    net.mark_output(net.add_convolution("conv", x, w, pads=[1, 1, 1, 1]))
    return chexrt.build_engine(net, device="reference", optimize=False)


def test_gil_released_during_infer():
    engine = slow_reference_engine()
    x = np.ones((1, 64, 96, 96), np.float32)
    ticks = []
    stop = threading.Event()

    def count():
        # A tick a millisecond (sleeping lets go of the GIL too, and keeps the list short).
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    worker = threading.Thread(target=count)
    worker.start()
    try:
        start = time.perf_counter()
        (y,) = engine.infer(x)
        end = time.perf_counter()
    finally:
        stop.set()
        worker.join()
    assert end - start > 0.1, "the inference was too short to tell"
    # With the GIL held by infer(), the other thread could not run in the middle of the call.
    inner = [t for t in ticks if start + 0.25 * (end - start) < t < end - 0.25 * (end - start)]
    assert len(inner) >= 10, f"only {len(inner)} ticks of the other thread during {end - start:.2f} s"
    np.testing.assert_allclose(y[0, :, 1:-1, 1:-1], 64 * 9 * 1e-3, rtol=1e-5)
