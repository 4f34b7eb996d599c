"""chexrt.predict / Predictor: the same findings and heat maps as `chexrt predict` on the
bundled X-rays, per-file errors, and argument errors before any work."""
import json

import numpy as np
import pytest

import chexrt
from conftest import CXR, run_cli

IMAGES = [CXR / "nih", CXR / "formats", CXR / "dicom"]


def cli_predict(cli, images, *args):
    out = run_cli(cli, "predict", *map(str, images), "--format", "json", *args).stdout
    return json.loads(out)


# Every bundled X-ray (PNG, JPEG, RGBA, 16-bit, DICOM) with a centre crop; ten-crop (ten times
# the work) on the formats folder.
@pytest.mark.parametrize("mode,batch,images,count", [("crop", 8, IMAGES, 22), ("tencrop", 2, [CXR / "formats"], 5)])
def test_equals_the_cli(cli, demo_model, mode, batch, images, count, tmp_path):
    with pytest.warns(UserWarning, match="SEEDED"):
        predictor = chexrt.Predictor(mode=mode, batch=batch)
    results = predictor.predict(images)
    # The command runs the same engine (its kernels too, whatever the device), from its file.
    predictor.engine.save(tmp_path / "demo.engine")
    expected = cli_predict(cli, images, "--engine", str(tmp_path / "demo.engine"), "--mode", mode)
    ok = [r for r in results if r.ok]
    assert len(ok) == len(expected["results"]) == len(results) == count
    assert [e["image"] for e in expected["results"]] == [r.path for r in ok]
    for e, r in zip(expected["results"], ok):
        assert list(r.findings) == list(chexrt.FINDINGS)
        # The same engine and pipeline: the same float32 values, bit for bit.
        assert np.array_equal(np.float32(list(e["probabilities"].values())),
                              np.float32(list(r.findings.values()))), r.path


def test_heatmaps_equal_the_cli(cli, demo_model, host_device, tmp_path):
    image = CXR / "nih" / "00000284_000.png"
    run_cli(cli, "predict", str(image), "--heatmap-dir", str(tmp_path / "cli"), "--no-engine-cache", "--device",
            host_device)
    (r,) = chexrt.predict(str(image), model=demo_model, heatmaps=tmp_path / "py", device=host_device)
    assert r.heatmap and r.heatmap_error is None
    cli_maps = list((tmp_path / "cli").iterdir())
    assert len(cli_maps) == 1
    assert (tmp_path / "py" / cli_maps[0].name).read_bytes() == cli_maps[0].read_bytes()


def test_bad_file_reported_others_complete(demo_model, tmp_path):
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    good = CXR / "nih" / "00001021_000.png"
    predictor = chexrt.Predictor(demo_model, batch=2)
    first, second = predictor.predict([bad, good])
    assert not first.ok and first.findings is None and "ParseError" in first.error and "not_an_image" in first.error
    assert second.ok and second.error is None and len(second.findings) == 14
    # The predictor's engine serves more calls, and an engine can be handed over.
    (again,) = predictor.predict(good)
    assert again.findings == second.findings
    (from_engine,) = chexrt.predict(good, engine=predictor.engine)
    assert from_engine.findings == second.findings


def test_argument_errors(demo_model, tmp_path):
    with pytest.raises(chexrt.InvalidArgumentError, match="--mode|mode"):
        chexrt.predict(CXR / "nih", model=demo_model, mode="zoom")
    with pytest.raises(chexrt.NotFoundError, match="finding|Atelectasis"):
        chexrt.predict(CXR / "nih", model=demo_model, heatmap_finding="broken leg")
    with pytest.raises(chexrt.InvalidArgumentError, match="batch"):
        chexrt.predict(CXR / "nih", model=demo_model, batch=0)
    with pytest.raises(chexrt.NotFoundError, match="nothing_here"):
        chexrt.predict(tmp_path / "nothing_here", model=demo_model)
    with pytest.raises(chexrt.IoError, match="missing.onnx"):
        chexrt.predict(CXR / "nih", model=tmp_path / "missing.onnx")
    engine = chexrt.build_engine(chexrt.parse_onnx(demo_model))
    with pytest.raises(chexrt.InvalidArgumentError, match="heatmaps need a model"):
        chexrt.predict(CXR / "nih", engine=engine, heatmaps=tmp_path / "maps")
