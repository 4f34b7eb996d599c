#!/usr/bin/env python3
"""Writes a PNG of zeros, 16-bit RGB by default: a few hundred KB on disk however large the image
(8192 x 8192 is 402 MB of samples), for testing and measuring the bounds on decoded memory.

    write_large_png.py OUT.png WIDTH HEIGHT [--grey] [--depth 8|16]
"""
import argparse
import struct
import zlib


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("width", type=int)
    ap.add_argument("height", type=int)
    ap.add_argument("--grey", action="store_true")
    ap.add_argument("--depth", type=int, choices=(8, 16), default=16)
    a = ap.parse_args()
    channels, color_type = (1, 0) if a.grey else (3, 2)
    row = b"\0" * (1 + a.width * channels * a.depth // 8)  # filter byte 0, then the samples
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(a.height)) + z.flush()
    with open(a.out, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", a.width, a.height, a.depth, color_type, 0, 0, 0)))
        f.write(chunk(b"IDAT", idat) + chunk(b"IEND", b""))


if __name__ == "__main__":
    main()
