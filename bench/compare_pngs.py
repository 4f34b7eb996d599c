#!/usr/bin/env python3
"""Whether the PNG files of two folders hold the same pixels, file by file (same names).

Heat maps encoded on the GPU (core/png_encode.h's segmented encoder) and on the CPU (igzip) are
different files of the same pixels, so scripts/gpu_check.sh compares them with this instead of
diff. Standard library only (the GPU host has nothing else): each IDAT stream is inflated by
zlib; rows whose filter and filtered bytes are equal in both files are equal, as is a first row
filtered None in one and Up in the other (Up adds the zero row above it); only other rows are
unfiltered here, slowly, in Python. 8-bit grey and RGB, non-interlaced: what heat maps are.

    bench/compare_pngs.py DIR_A DIR_B      exit 0 if every file of DIR_A has DIR_B's pixels
"""
import os
import struct
import sys
import zlib


def read_png(path):
    """(width, height, channels, inflated IDAT bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    at, idat, header = 8, [], None
    while at < len(data):
        (size,) = struct.unpack(">I", data[at:at + 4])
        kind = data[at + 4:at + 8]
        body = data[at + 8:at + 8 + size]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        at += 12 + size
    if header is None:
        raise ValueError(f"{path}: no IHDR")
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3}.get(colour)
    if depth != 8 or channels is None or interlace != 0:
        raise ValueError(f"{path}: only 8-bit grey or RGB without interlacing are compared")
    return width, height, channels, zlib.decompress(b"".join(idat))


def unfilter(rows, stride, bpp):
    """Every row's samples, from the filtered rows (PNG spec 9)."""
    out, prior = [], bytearray(stride)
    for filtered in rows:
        kind, row = filtered[0], bytearray(filtered[1:])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            if kind == 1:
                row[i] = (row[i] + a) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + b) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        out.append(bytes(row))
        prior = row
    return out


def same_pixels(path_a, path_b):
    wa, ha, ca, a = read_png(path_a)
    wb, hb, cb, b = read_png(path_b)
    if (wa, ha, ca) != (wb, hb, cb):
        return False
    stride = wa * ca + 1
    rows_a = [a[y * stride:(y + 1) * stride] for y in range(ha)]
    rows_b = [b[y * stride:(y + 1) * stride] for y in range(hb)]
    if all(ra == rb or (y == 0 and ra[0] in (0, 2) and rb[0] in (0, 2) and ra[1:] == rb[1:])
           for y, (ra, rb) in enumerate(zip(rows_a, rows_b))):
        return True
    return unfilter(rows_a, stride - 1, ca) == unfilter(rows_b, stride - 1, cb)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    dir_a, dir_b = sys.argv[1:]
    names = sorted(os.listdir(dir_a))
    differ = [n for n in names if not os.path.exists(os.path.join(dir_b, n))
              or not same_pixels(os.path.join(dir_a, n), os.path.join(dir_b, n))]
    differ += sorted(set(os.listdir(dir_b)) - set(names))
    if differ:
        print(f"{len(differ)} of {len(names)} files differ, e.g. {', '.join(differ[:5])}")
        return 1
    print(f"same pixels in all {len(names)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
