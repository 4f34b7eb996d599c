#!/usr/bin/env python3
"""PyTorch peers for chexrt benchmarks: run beside `chexrt bench` on the same GPU (needs torch with CUDA).

Measures torchvision DenseNet-121 with CheXNet's head (Linear(1024,14) + Sigmoid), 224x224, in
the configurations a user would pick instead of chexrt, with CUDA events (median of N runs after
warm-up). Prints one line per (config, batch) and, with --json, writes the table to a file.

  python3 pytorch_peers.py --batches 1,32,256 --configs eager_fp16,graph_fp16,compile_fp16 --json out.json
"""
import argparse, json, statistics, sys, time
import torch, torchvision

CONFIGS = ["eager_fp32", "eager_tf32", "eager_fp16", "graph_fp16", "compile_fp16"]


def chexnet(seed=0):
    torch.manual_seed(seed)
    m = torchvision.models.densenet121(weights=None)
    m.classifier = torch.nn.Sequential(torch.nn.Linear(1024, 14), torch.nn.Sigmoid())
    return m.eval().cuda()


def time_ms(fn, iters, warm):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(iters):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize()
        ts.append(s.elapsed_time(e))
    return statistics.median(ts)


def runner(cfg, bs):
    fp16 = cfg.endswith("fp16")
    torch.backends.cuda.matmul.allow_tf32 = cfg != "eager_fp32"
    torch.backends.cudnn.allow_tf32 = cfg != "eager_fp32"
    torch.backends.cudnn.benchmark = True
    m = chexnet()
    dtype = torch.float16 if fp16 else torch.float32
    m = m.to(dtype)
    x = torch.randn(bs, 3, 224, 224, device="cuda", dtype=dtype)
    if fp16:
        m = m.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    if cfg == "graph_fp16":
        s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                m(x)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            m(x)
        return g.replay
    if cfg == "compile_fp16":
        cm = torch.compile(m, mode="reduce-overhead")
        for _ in range(3):
            cm(x)
        return lambda: cm(x)
    return lambda: m(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,8,32,128,256")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__} cudnn {torch.backends.cudnn.version()}")
    with torch.inference_mode():
        for cfg in a.configs.split(","):
            for bs in map(int, a.batches.split(",")):
                t0 = time.time()
                fn = runner(cfg, bs)
                ms = time_ms(fn, a.iters, a.warmup)
                rows.append({"config": cfg, "batch": bs, "ms_per_batch": ms, "img_per_s": bs * 1000 / ms})
                print(f"{cfg:14s} batch {bs:4d}: {ms:8.3f} ms/batch {bs * 1000 / ms:9.0f} img/s  (setup {time.time() - t0:.0f}s)", flush=True)
    if a.json:
        json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
