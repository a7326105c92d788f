#!/usr/bin/env bash
# usage: scripts/format.sh [--check]   Formats the tree with .clang-format, or checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Tracked files and new ones not yet added (but not ignored ones such as build trees).
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.c' '*.h' '*.cpp' '*.hpp')
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run --Werror "${files[@]}"
  echo "[format] ${#files[@]} files match .clang-format"
else
  clang-format -i "${files[@]}"
fi
