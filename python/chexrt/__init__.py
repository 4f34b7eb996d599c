"""chexrt: CheXNet inference from Python.

TensorRT's idiom (networks, engines, engine files):

    network = chexrt.parse_onnx("chexnet.onnx")             # or built layer by layer
    engine = chexrt.build_engine(network, device="cpu", max_batch=8)
    engine.save("chexnet.engine")                           # chexrt.load_engine() reads it back
    probabilities, = engine.infer(batch)                    # float32 [N, 3, 224, 224] -> [N, 14]

ONNX Runtime's idiom:

    session = chexrt.InferenceSession("chexnet.onnx", device="cpu")
    probabilities, = session.run(None, {"image": batch})

Files to findings (the streaming pipeline of `chexrt predict`):

    for r in chexrt.predict(["xrays/"], heatmaps="maps/"):
        print(r.path, r.findings or r.error)

Errors are chexrt.Error subclasses carrying chexrt's message (InvalidArgumentError is also a
ValueError, NotFoundError a LookupError, IoError an OSError, ...). docs/python.md has the rest.
"""
import warnings
from typing import List, Optional

from ._chexrt import (  # noqa: F401  (the public API)
    FINDINGS,
    Activation,
    DataType,
    DeadlineExceededError,
    ElementwiseOp,
    Engine,
    Error,
    ExecutionError,
    InvalidArgumentError,
    IoError,
    NetworkDefinition,
    NotFoundError,
    ParseError,
    PoolType,
    Tensor,
    UnavailableError,
    UnsupportedError,
    VersionMismatchError,
    build_engine,
    default_model_path,
    has_caffe_parser,
    has_tensorflow_parser,
    load_engine,
    parse_caffe,
    parse_onnx,
    parse_tensorflow,
)
from . import _chexrt
from ._results import PredictResult
from ._tensor_info import TensorInfo
from .session import InferenceSession, NodeArg

UNTRAINED_MODEL_NOTICE = (
    "default demo model: DenseNet-121 with SEEDED (random) weights, NOT trained. Its predictions "
    "mean nothing for diagnosis. Pass model= with trained CheXNet weights.")


class Predictor:
    """Files to the 14 findings, with the engine built once for many predict() calls.

    model: an ONNX CheXNet (None: the seeded demo model, with a warning); or engine: a
    chexrt.Engine whose first output is [N, 14] (no heat maps then). mode: crop, exact or
    tencrop; heatmaps: a folder for one class activation map per image (heatmap_finding: that
    finding's map, default each image's top one); batch: images per engine call.
    """

    def __init__(self, model=None, *, engine: Optional[Engine] = None, mode: str = "crop",
                 resize_size: int = 256, heatmaps=None, heatmap_finding: Optional[str] = None,
                 heatmap_format: str = "png", heatmap_size: int = 1024, device: str = "auto",
                 precision: str = "fp32", batch: int = 8, threads: int = 0, decode_threads: int = 0):
        if model is None and engine is None:
            warnings.warn(UNTRAINED_MODEL_NOTICE, stacklevel=3)
        self._predictor = _chexrt._Predictor(
            model, engine, mode, resize_size, heatmaps, heatmap_finding, heatmap_format, heatmap_size,
            device, precision, batch, threads, decode_threads)

    @property
    def engine(self) -> Engine:
        return self._predictor.engine

    def predict(self, paths) -> List[PredictResult]:
        """One PredictResult per image file, in input order; folders are searched for PNG, JPEG
        and DICOM files. A file that cannot be read has its error in its result."""
        return self._predictor.predict(paths)


def predict(paths, model=None, *, mode: str = "crop", heatmaps=None, device: str = "auto",
            batch: int = 8, **options) -> List[PredictResult]:
    """The 14 findings for chest X-ray files and folders, as `chexrt predict` (same pipeline,
    same numbers). The other options are Predictor's."""
    return Predictor(model, mode=mode, heatmaps=heatmaps, device=device, batch=batch,
                     **options).predict(paths)
