#!/usr/bin/env python3
"""What the vendor libraries do on DenseNet-121's dense-layer shapes, for comparison with
chexrt's per-layer profile (gpu_bench --per-layer). Runs on the GPU machine (python3 with torch).

For every dense layer of the four blocks, at one batch size, FP16:
  1x1: Y[M, 128] = A[M, K] W[128, K]^T through torch.mm (cuBLAS/cuBLASLt), A a strided view of
       the block's buffer (row stride = the block's final channel count), as chexrt reads it;
       no batch-norm prologue (cuBLAS has none), so this is a lower bound for the fused layer.
  3x3: conv2d 128 -> 32, padding 1, channels_last (cuDNN, benchmark mode).
Times are CUDA-event medians of back-to-back launches (inputs stay on the GPU; the per-layer
buffers of one block are several times the L2 at batch 256). Prints one line per layer and the
per-block sums; --json writes them.

  python3 bench/library_layers.py --batch 256 [--json out.json]
"""
import argparse, json, os, sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from pytorch_peers import time_ms  # CUDA-event median after warm-up, as the peers are timed

BLOCKS = [(56, 6, 64), (28, 12, 128), (14, 24, 256), (7, 16, 512)]  # (H = W, layers, input channels)
GROWTH, BOTTLENECK = 32, 128


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    dev, dt = "cuda", torch.float16
    rows = []
    print(f"# {torch.cuda.get_device_name()}, batch {args.batch}, torch {torch.__version__}, "
          f"cuDNN {torch.backends.cudnn.version()}")
    print(f"{'block':>5} {'layer':>5} {'K':>5} {'1x1 ms':>8} {'1x1 GB/s':>9} {'3x3 ms':>8} {'3x3 TFLOP/s':>11}")
    for b, (hw, layers, c0) in enumerate(BLOCKS, 1):
        m = args.batch * hw * hw
        c_total = c0 + GROWTH * layers
        buf = torch.randn(m, c_total, device=dev, dtype=dt)
        mid = torch.randn(args.batch, BOTTLENECK, hw, hw, device=dev, dtype=dt).to(memory_format=torch.channels_last)
        w3 = torch.randn(GROWTH, BOTTLENECK, 3, 3, device=dev, dtype=dt).to(memory_format=torch.channels_last) * 0.05
        y1 = torch.empty(m, BOTTLENECK, device=dev, dtype=dt)
        for layer in range(layers):
            k = c0 + GROWTH * layer
            a = buf[:, :k]
            w1 = torch.randn(BOTTLENECK, k, device=dev, dtype=dt) * 0.05
            t1 = time_ms(lambda: torch.mm(a, w1.t(), out=y1), 30, 5)
            t3 = time_ms(lambda: F.conv2d(mid, w3, padding=1), 30, 5)
            bytes1 = m * (k + BOTTLENECK) * 2
            flop3 = 2.0 * m * GROWTH * BOTTLENECK * 9
            rows.append({"block": b, "layer": layer + 1, "k": k, "pixels": m, "mm_ms": t1, "conv3x3_ms": t3,
                         "mm_gb_per_s": bytes1 / t1 / 1e6, "conv3x3_tflops": flop3 / t3 / 1e9})
            print(f"{b:5d} {layer + 1:5d} {k:5d} {t1:8.4f} {bytes1 / t1 / 1e6:9.0f} {t3:8.4f} {flop3 / t3 / 1e9:11.1f}")
    print("# per block: 1x1 via torch.mm, 3x3 via cuDNN conv2d, ms")
    for b in range(1, 5):
        r = [x for x in rows if x["block"] == b]
        print(f"block {b}: 1x1 {sum(x['mm_ms'] for x in r):.3f}  3x3 {sum(x['conv3x3_ms'] for x in r):.3f}")
    print(f"all: 1x1 {sum(x['mm_ms'] for x in rows):.3f}  3x3 {sum(x['conv3x3_ms'] for x in rows):.3f}")
    if args.json:
        json.dump({"device": torch.cuda.get_device_name(), "batch": args.batch, "rows": rows}, open(args.json, "w"),
                  indent=1)


if __name__ == "__main__":
    main()
