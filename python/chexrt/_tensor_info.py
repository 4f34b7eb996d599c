"""Descriptions of an engine's inputs and outputs."""
from typing import NamedTuple, Tuple

import numpy


class TensorInfo(NamedTuple):
    """An engine input or output: its name, shape (-1 for the batch, which may be 1 to the
    engine's max_batch) and NumPy dtype."""

    name: str
    shape: Tuple[int, ...]
    dtype: numpy.dtype
