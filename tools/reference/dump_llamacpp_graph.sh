#!/usr/bin/env bash
# Every node of llama.cpp's graph for one prompt batch, to compare a replica of it op by op
# (tools/reference/llamacpp_dump_graph.c; the llama.cpp build of scripts/build-llamacpp.sh, the reference's commit).
# Usage: tools/reference/dump_llamacpp_graph.sh MODEL.gguf ID,ID,... OUTDIR
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 MODEL.gguf ID,ID,... OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")/../.." && pwd)
L=${SKE_CACHE:-$HOME/.cache/ske}/llama
"$here/scripts/build-llamacpp.sh" >/dev/null
cmake --build "$L/build" --target llama -j "$(nproc)" >&2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
gcc -O2 -Wall -o "$tmp/dump" "$here/tools/reference/llamacpp_dump_graph.c" -I"$L/src/include" -I"$L/src/ggml/include" \
  -L"$L/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$L/build/bin"
mkdir -p "$3"
"$tmp/dump" "$1" "$2" "$3"
echo "$(wc -l < "$3/index.txt") nodes in $3/index.txt" >&2
