"""examples/python/ run and print what they promise."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT


def run_example(name, *args):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "python" / name), *args],
                            capture_output=True, text=True, env=dict(os.environ), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_predict_folder(demo_model, tmp_path):
    out = run_example("predict_folder.py", "data/demo", "--heatmaps", str(tmp_path))
    assert out.count("data/demo/") == len([f for f in os.listdir(ROOT / "data" / "demo") if f != "README.md"])
    assert len(list(tmp_path.iterdir())) == out.count("data/demo/")


def test_engine_file(demo_model):
    out = run_example("engine_file.py", "data/cxr/nih/00000284_000.png")
    assert "Pleural_Thickening" in out and "shape=(-1, 3, 224, 224)" in out


def test_session_and_layers(demo_model):
    out = run_example("session_and_layers.py")
    assert "probabilities (2, 14)" in out and "(8, 14)" in out
    assert "error (InvalidArgument): node 'bad'" in out
