"""chexrt.InferenceSession: ONNX Runtime's idiom over a chexrt engine.

    session = chexrt.InferenceSession("model.onnx", device="cpu")
    probabilities, = session.run(None, {"image": batch})

The model (an ONNX file, or an engine file made by `chexrt build` or Engine.save) is built
(or loaded) once, for batches from 1 to max_batch.
"""
import os
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from . import _chexrt


class NodeArg(NamedTuple):
    """As onnxruntime.NodeArg: name, shape ('batch' for the dynamic batch) and type."""

    name: str
    shape: List[Any]
    type: str


_ORT_TYPES = {
    "float32": "tensor(float)",
    "float16": "tensor(float16)",
    "float64": "tensor(double)",
    "int64": "tensor(int64)",
    "int32": "tensor(int32)",
    "int8": "tensor(int8)",
    "uint8": "tensor(uint8)",
    "bool": "tensor(bool)",
}


def _node_args(infos) -> List[NodeArg]:
    return [
        NodeArg(i.name, ["batch"] + list(i.shape[1:]), _ORT_TYPES.get(str(i.dtype), str(i.dtype)))
        for i in infos
    ]


def _is_engine_file(path: str) -> bool:
    # Engine files start with chexrt's magic; anything else is taken as ONNX.
    with open(path, "rb") as f:
        return f.read(8) == b"CHXRTENG"  # docs/engine_format.md


class InferenceSession:
    """Runs an ONNX model (or a chexrt engine file) as onnxruntime.InferenceSession does.

    device: auto, cuda, cpu or reference; precision: fp32, fp16 (cuda) or bf16 (cpu);
    max_batch: the largest batch run() accepts (ONNX models only; an engine file has its own).
    providers is accepted for ONNX Runtime compatibility and ignored: device chooses.
    """

    def __init__(self, path, device: str = "auto", precision: str = "fp32", max_batch: int = 1,
                 providers: Optional[Sequence[str]] = None, threads: int = 0):
        path = os.fspath(path)
        if not os.path.exists(path):
            raise _chexrt.NotFoundError(f"{path}: no such file")
        if _is_engine_file(path):
            self._engine = _chexrt.load_engine(path)
        else:
            network = _chexrt.parse_onnx(path)
            self._engine = _chexrt.build_engine(network, device=device, precision=precision,
                                                max_batch=max_batch, threads=threads)
        self._path = path
        self._output_names = [o.name for o in self._engine.outputs]

    @property
    def engine(self):
        """The chexrt.Engine behind the session."""
        return self._engine

    def get_inputs(self) -> List[NodeArg]:
        return _node_args(self._engine.inputs)

    def get_outputs(self) -> List[NodeArg]:
        return _node_args(self._engine.outputs)

    def get_providers(self) -> List[str]:
        return [f"chexrt:{self._engine.backend}"]

    def run(self, output_names: Optional[Sequence[str]], input_feed: Dict[str, Any], run_options=None) -> list:
        """The outputs named in output_names (None: all), in that order, as NumPy arrays.
        input_feed maps each input name to a float32 array [N, ...]."""
        if not isinstance(input_feed, dict):
            raise _chexrt.InvalidArgumentError("input_feed must be a dict of input name -> array")
        outputs = self._engine.infer(input_feed)
        if output_names is None:
            return outputs
        chosen = []
        for name in output_names:
            if name not in self._output_names:
                raise _chexrt.InvalidArgumentError(
                    f"no output named '{name}' (outputs: {', '.join(self._output_names)})")
            chosen.append(outputs[self._output_names.index(name)])
        return chosen
