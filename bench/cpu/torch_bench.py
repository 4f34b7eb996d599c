#!/usr/bin/env python3
"""PyTorch on the CPU as a peer of chexrt's CPU engine, timed like cpu_bench and ort_bench.js.

The model is the architecture of the benchmarked ONNX file (torchvision DenseNet-121 with
CheXNet's head, built by scripts/convert_checkpoint.py), seeded: weights do not change the work of
a dense FP32/BF16 network. Configurations:
  eager_fp32   what a user gets by default: eval(), inference_mode, NCHW
  eager_bf16   the same under torch.autocast("cpu", torch.bfloat16) with channels_last, PyTorch's
               own oneDNN bfloat16 path (AMX where the CPU has it)
Prints one JSON object per (configuration, batch).

  /usr/bin/python3 torch_bench.py [--batches 1,8] [--threads 2] [--iterations 30] [--warmup 5]
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from convert_checkpoint import build_chexnet  # noqa: E402


def median_ms(fn, iterations, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--configs", default="eager_fp32,eager_bf16")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = build_chexnet().eval()
    for config in a.configs.split(","):
        bf16 = config == "eager_bf16"
        m = model.to(memory_format=torch.channels_last) if bf16 else model
        for batch in map(int, a.batches.split(",")):
            x = torch.randn(batch, 3, 224, 224)
            if bf16:
                x = x.to(memory_format=torch.channels_last)

            def run():
                with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    m(x)

            ms = median_ms(run, a.iterations, a.warmup)
            print(json.dumps({"runtime": "pytorch-" + config, "version": torch.__version__,
                              "precision": "bf16" if bf16 else "fp32", "threads": a.threads, "batch": batch,
                              "median_ms": ms, "images_per_s": batch * 1e3 / ms, "iterations": a.iterations}),
                  flush=True)


if __name__ == "__main__":
    main()
