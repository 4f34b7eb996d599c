"""What chexrt.predict() returns for each file."""
from typing import Dict, NamedTuple, Optional


class PredictResult(NamedTuple):
    """One file's outcome, in input order.

    findings: the 14 probabilities by finding name, or None when the file failed (error says
    why, with chexrt's status code first: "ParseError: ..."). heatmap: the heat map file written,
    if heat maps were asked for; heatmap_error: why none was written for an image that did get
    findings."""

    path: str
    findings: Optional[Dict[str, float]]
    error: Optional[str]
    heatmap: Optional[str] = None
    heatmap_error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None
