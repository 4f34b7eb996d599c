#!/usr/bin/env bash
# Checks that every C++ and CUDA source follows .clang-format (clang-format 14, Debian 12's);
# with --fix, reformats them in place. Part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find include src tools tests bench examples python -type f \
  \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) | sort)
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/chexrt_format.$$; then
  grep -E '^[^ ].*: (error|warning):' /tmp/chexrt_format.$$ | cut -d: -f1 | sort -u | sed 's/^/  /'
  rm -f /tmp/chexrt_format.$$
  echo "check_format: the files above differ from .clang-format; scripts/check_format.sh --fix reformats them" >&2
  exit 1
fi
rm -f /tmp/chexrt_format.$$
echo "check_format: ${#files[@]} files follow .clang-format"
