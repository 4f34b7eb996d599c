#!/usr/bin/env python3
"""Compares the kernels of two engine files, as `chexrt inspect E.engine` lists them: one row per
layer (layer, op, kernel, output shape). Layer names are left out, so that engines built from the
same network written in two formats (torchvision's names in ONNX, Keras's in a TensorFlow graph)
compare equal when every layer that runs a kernel in one has a layer of the other with the same
op, kernel per profile and output shape. Layers that run none ("(in place)", "(fused into ...)",
"(view)") are counted apart: the formats may differ there (torchvision's DenseNet ends each dense
block with one more Concat, which the engine does in place), at no cost. Exit 0 when the kernels
are the same, 1 when not (the differences printed).

    chexrt inspect a.engine > a.txt; chexrt inspect b.engine > b.txt
    python3 bench/compare_kernels.py a.txt b.txt
"""
import collections
import re
import sys


def layers(path):
    rows = collections.Counter()
    in_table = False
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("layer "):
            in_table = True
            continue
        if not in_table or not line.strip() or set(line) == {"-"}:
            continue
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != 4:
            continue
        _, op, kernel, output = cells
        # "(fused into conv0)" names another layer: keep what it is, not the name.
        kernel = re.sub(r"\((fused into|in place of|view of) [^)]*\)", r"(\1 ...)", kernel)
        rows[(op, kernel, output)] += 1
    return rows


def runs_a_kernel(row):
    return not row[1].startswith("(")


def main():
    a, b = layers(sys.argv[1]), layers(sys.argv[2])
    print(f"{sum(a.values())} layers in {sys.argv[1]}, {sum(b.values())} in {sys.argv[2]}")
    for label, rows in ((sys.argv[1], a - b), (sys.argv[2], b - a)):
        for (op, kernel, output), count in sorted(rows.items()):
            kind = "" if runs_a_kernel((op, kernel)) else " (no kernel)"
            print(f"only in {label}: {count} x {op} {kernel} -> {output}{kind}")
    ka = collections.Counter({k: v for k, v in a.items() if runs_a_kernel(k)})
    kb = collections.Counter({k: v for k, v in b.items() if runs_a_kernel(k)})
    print(f"layers that run a kernel: {sum(ka.values())} and {sum(kb.values())}")
    same = ka == kb and sum(ka.values()) > 0
    print("same kernels: " + ("yes" if same else "NO"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
