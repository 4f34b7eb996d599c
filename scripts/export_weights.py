#!/usr/bin/env python3
"""Writes a CheXNet checkpoint's weights as a safetensors file with torchvision's state-dict
names, for building DenseNet-121 layer by layer through chexrt's C++ API without any ONNX file
(examples/densenet121_from_weights.cpp).

  /usr/bin/python3 scripts/export_weights.py CHECKPOINT -o weights.safetensors

CHECKPOINT is any form scripts/convert_checkpoint.py reads (a state dict, CheXNet's
{'state_dict': ...} with `module.densenet121.` prefixes and old key names, or a pickled model).
Format: https://github.com/huggingface/safetensors ("Format"): an 8-byte little-endian header
length, a JSON header of {name: {dtype, shape, data_offsets}}, then the raw data.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_checkpoint import CheckpointError, load_checkpoint, load_into_chexnet, normalize_keys  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--trust-pickle", action="store_true", help="allow checkpoints that pickle a whole model")
    a = ap.parse_args(argv)
    try:
        model = load_into_chexnet(normalize_keys(load_checkpoint(a.checkpoint, a.trust_pickle)))
    except CheckpointError as e:
        print(f"export_weights: {a.checkpoint}: {e}", file=sys.stderr)
        return 1
    tensors = {k: v.detach().float().numpy() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    write_safetensors(a.output, tensors)
    print(f"wrote {a.output}: {len(tensors)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
