"""InferenceSession: ONNX Runtime's idiom."""
import numpy as np
import pytest

import chexrt


def test_run_like_onnxruntime(demo_model, demo_engine, xray_batch, tmp_path):
    session = chexrt.InferenceSession(demo_model, max_batch=2)
    (i,) = session.get_inputs()
    (o,) = session.get_outputs()
    assert (i.name, i.shape, i.type) == ("image", ["batch", 3, 224, 224], "tensor(float)")
    assert (o.name, o.shape, o.type) == ("probabilities", ["batch", 14], "tensor(float)")
    (p,) = session.run(None, {"image": xray_batch})
    (named,) = session.run(["probabilities"], {"image": xray_batch})
    np.testing.assert_array_equal(p, named)
    np.testing.assert_array_equal(p, demo_engine.infer(xray_batch)[0])
    assert session.get_providers() == [f"chexrt:{session.engine.backend}"]
    # An engine file opens the same way.
    session.engine.save(tmp_path / "demo.engine")
    from_file = chexrt.InferenceSession(tmp_path / "demo.engine")
    np.testing.assert_array_equal(from_file.run(None, {"image": xray_batch})[0], p)


def test_session_errors(demo_model, tmp_path, xray_batch):
    with pytest.raises(chexrt.NotFoundError, match="nothing.onnx"):
        chexrt.InferenceSession(tmp_path / "nothing.onnx")
    session = chexrt.InferenceSession(demo_model)
    with pytest.raises(chexrt.InvalidArgumentError, match="no output named 'logits'"):
        session.run(["logits"], {"image": xray_batch[:1]})
    with pytest.raises(chexrt.InvalidArgumentError, match="with N from 1 to 1"):
        session.run(None, {"image": xray_batch})
    with pytest.raises(chexrt.InvalidArgumentError, match="dict"):
        session.run(None, [xray_batch[:1]])
