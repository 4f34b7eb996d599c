#!/usr/bin/env python3
"""Compares two `chexrt predict --format csv` outputs of the same files: same images in the same
order with the same status, and the largest difference of any finding's probability.

    bench/compare_csv.py A.csv B.csv [--tolerance 1e-5]

Exit status 1 when the files list different images or statuses, or a difference exceeds the
tolerance."""
import argparse
import csv
import sys


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()
    a, b = rows(args.a), rows(args.b)
    if len(a) != len(b):
        print(f"compare_csv: {args.a} has {len(a)} rows, {args.b} {len(b)}")
        return 1
    worst, where = 0.0, ""
    for ra, rb in zip(a, b):
        if ra["image"] != rb["image"] or ra["status"] != rb["status"]:
            print(f"compare_csv: {ra['image']} ({ra['status']}) against {rb['image']} ({rb['status']})")
            return 1
        for key in ra:
            if key in ("image", "status") or ra[key] == "":
                continue
            d = abs(float(ra[key]) - float(rb[key]))
            if d > worst:
                worst, where = d, f"{ra['image']} {key}"
    print(f"compare_csv: {len(a)} images, largest difference {worst:.3g} ({where or 'none'})")
    return 0 if worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
