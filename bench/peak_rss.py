#!/usr/bin/env python3
"""Runs a command and reports its wall time, CPU use and peak resident memory on stderr, in one
line; exits with the command's exit code. Used by the CLI tests and scripts/gpu_check.sh.

    peak_rss.py [--label NAME] [--mb-file FILE] COMMAND [ARG...]

--mb-file also writes the peak RSS in MB to FILE (for scripts that compare it with a bound).
"""
import resource
import subprocess
import sys
import time


def main(argv):
    label, mb_file = None, None
    while argv and argv[0] in ("--label", "--mb-file"):
        if argv[0] == "--label":
            label = argv[1]
        else:
            mb_file = argv[1]
        argv = argv[2:]
    if not argv:
        sys.exit(__doc__)
    start = time.time()
    rc = subprocess.call(argv)
    wall = time.time() - start
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = use.ru_maxrss // 1024
    if mb_file:
        with open(mb_file, "w") as f:
            f.write(f"{peak_mb}\n")
    print(f"{label or argv[0]}: {wall:.2f} s, {100 * (use.ru_utime + use.ru_stime) / max(wall, 1e-9):.0f}% CPU, "
          f"peak RSS {peak_mb} MB, exit {rc}", file=sys.stderr, flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
