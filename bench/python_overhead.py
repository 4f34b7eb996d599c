#!/usr/bin/env python3
"""What the Python API adds to an inference: engine.infer() from Python against the same
engine's Engine::infer() timed in C++ (a loop inside the module, no Python in it), on the same
input, median of many calls each. Two engines: a tiny network, where the engine's own time is a
few microseconds and the difference is the binding's cost alone, and the demo CheXNet at
batch 1 (the issue's goal: within 20 us of the C++ call).

    PYTHONPATH=build/python /usr/bin/python3 bench/python_overhead.py [--device cpu]
"""
import argparse
import statistics
import time

import numpy as np

import chexrt


def measure(label, engine, x, warmup, iterations):
    """Each Python-timed call sits between two C++-timed ones: its overhead is its time less
    the mean of its neighbours', which cancels drift (other load on the machine, clocks). The
    median of the two neighbours' own difference is the noise floor of that estimate."""
    for _ in range(warmup):
        engine.infer(x)
    before, py, after = [], [], []
    for _ in range(iterations):
        before.append(engine._time_infer_in_cpp(x, warmup=0, iterations=1))
        start = time.perf_counter()
        engine.infer(x)
        py.append(time.perf_counter() - start)
        after.append(engine._time_infer_in_cpp(x, warmup=0, iterations=1))
    median = statistics.median
    overhead = median(p - (a + b) / 2 for a, b, p in zip(before, after, py))
    floor = median(abs(b - a) for a, b in zip(before, after))
    print(f"{label:<34} C++ {median(before + after) * 1e6:10.1f} us   Python {median(py) * 1e6:10.1f} us   "
          f"overhead {overhead * 1e6:7.1f} us (C++ vs C++ noise {floor * 1e6:.1f} us)")
    return overhead


def tiny_engine(device):
    net = chexrt.NetworkDefinition()
    x = net.add_input("x", (1, 16))
    w = np.random.default_rng(0).standard_normal((14, 16)).astype(np.float32)
    net.mark_output(net.add_activation("sig", net.add_fully_connected("fc", x, w), "sigmoid"), "p")
    return chexrt.build_engine(net, device=device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default=None, help="ONNX model (default: the demo CheXNet)")
    parser.add_argument("--threads", type=int, default=0, help="CPU engine threads (0: all cores)")
    parser.add_argument("--iterations", type=int, default=20000, help="calls, tiny network")
    parser.add_argument("--model-iterations", type=int, default=300, help="calls, CheXNet")
    args = parser.parse_args()

    engine = tiny_engine(args.device)
    print(f"device {args.device}: tiny network on {engine.backend}")
    measure("tiny network [1, 16] -> [1, 14]", engine, np.ones((1, 16), np.float32), 100, args.iterations)
    model = args.model or chexrt.default_model_path()
    engine = chexrt.build_engine(chexrt.parse_onnx(model), device=args.device, max_batch=1, threads=args.threads)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224), dtype=np.float32)
    print(f"CheXNet on {engine.backend}")
    measure("CheXNet, batch 1", engine, x, 10, args.model_iterations)


if __name__ == "__main__":
    main()
