#!/usr/bin/env bash
# sha256 of ggml-cpu's GELU table (tools/reference/ggml_gelu_table.c) from the llama.cpp build of
# scripts/build-llamacpp.sh (the reference's commit). Tests/SKEKernelsTests/GGMLOrderTests.swift holds the hash it printed.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
L=${SKE_CACHE:-$HOME/.cache/ske}/llama
"$here/scripts/build-llamacpp.sh" >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/gelu" "$here/tools/reference/ggml_gelu_table.c" -I"$L/src/ggml/include" -L"$L/build/bin" \
  -lggml-cpu -lggml-base -Wl,-rpath,"$L/build/bin"
"$tmp/gelu" | sha256sum | cut -d' ' -f1
