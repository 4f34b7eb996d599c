#!/usr/bin/env python3
"""The 14 findings for every X-ray in a folder, with a heat map per image (the streaming
pipeline of `chexrt predict`).

    PYTHONPATH=build/python /usr/bin/python3 examples/python/predict_folder.py data/demo --heatmaps /tmp/maps
"""
import argparse

import chexrt

parser = argparse.ArgumentParser()
parser.add_argument("paths", nargs="+", help="image files (PNG, JPEG, DICOM) and folders")
parser.add_argument("--model", help="ONNX CheXNet (default: the seeded demo model, not trained)")
parser.add_argument("--heatmaps", help="folder for the class activation maps")
parser.add_argument("--device", default="auto")
args = parser.parse_args()

results = chexrt.predict(args.paths, model=args.model, heatmaps=args.heatmaps, device=args.device)
for r in results:
    if not r.ok:
        print(f"{r.path}: {r.error}")
        continue
    top = sorted(r.findings.items(), key=lambda item: -item[1])[:3]
    print(f"{r.path}: " + ", ".join(f"{name} {p:.3f}" for name, p in top) + (f"  ({r.heatmap})" if r.heatmap else ""))
