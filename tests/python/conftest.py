"""Shared fixtures of the Python API tests. ctest runs them (tests/python/CMakeLists.txt) with
the build folder's python/ on PYTHONPATH and CHEXRT_CLI naming the `chexrt` command."""
import os
import pathlib
import subprocess

import numpy as np
import pytest

chexrt = pytest.importorskip(
    "chexrt", reason="the chexrt module is not built or not on PYTHONPATH (needs pybind11-dev; see docs/python.md)")

ROOT = pathlib.Path(__file__).resolve().parents[2]
CXR = ROOT / "data" / "cxr"


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("CHEXRT_CLI", str(ROOT / "build" / "tools" / "cli" / "chexrt"))
    if not os.path.exists(path):
        pytest.skip(f"the chexrt command is not built ({path})")
    return path


@pytest.fixture(scope="session")
def demo_model():
    path = chexrt.default_model_path()
    if not os.path.exists(path):
        pytest.skip(f"the demo model is missing ({path}): scripts/make_reference_model.py makes it")
    return path


@pytest.fixture(scope="session")
def demo_engine(demo_model):
    """The demo model on the default device, batches 1 to 4."""
    return chexrt.build_engine(chexrt.parse_onnx(demo_model), max_batch=4)


@pytest.fixture(scope="session")
def host_device():
    """The oneDNN CPU backend, where the same model built twice gives the same kernels (a GPU
    engine's are chosen by timing), so that separate builds can be compared bit for bit."""
    net = chexrt.NetworkDefinition()
    net.mark_output(net.add_activation("r", net.add_input("x", (1, 4)), "relu"))
    try:
        chexrt.build_engine(net, device="cpu")
    except chexrt.UnsupportedError as error:
        pytest.skip(f"the CPU backend is not available: {error}")
    return "cpu"


@pytest.fixture
def xray_batch():
    return np.random.default_rng(7).standard_normal((2, 3, 224, 224), dtype=np.float32)


def run_cli(cli, *args):
    result = subprocess.run([cli, *args], capture_output=True, text=True)
    assert result.returncode == 0, f"chexrt {' '.join(args)} failed ({result.returncode}): {result.stderr}"
    return result
