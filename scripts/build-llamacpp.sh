#!/usr/bin/env bash
# Build llama.cpp's llama-bench (the peer for `scripts/bench-vs-llamacpp.sh`) from the llama-cpp-python==0.3.36
# sdist — the same llama.cpp commit as ../shared/reference — with the flags in shared/models/README.md
# (AVX-512 on, AMX off: AMX tiles trap here). The build is cached in ${SKE_CACHE:-~/.cache/ske}/llama.
# Prints the path of llama-bench. Never a test or run-time dependency of ske.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${SKE_CACHE:-$HOME/.cache/ske}
OUT=$CACHE/llama/build
if [ -x "$OUT/bin/llama-bench" ]; then echo "$OUT/bin/llama-bench"; exit 0; fi
"$here/scripts/fetch-vocabs.sh" >/dev/null   # makes sure the sdist is cached (and checked)
command -v cmake >/dev/null || python3 -m pip install --quiet cmake >&2
SRC=$CACHE/llama/src
if [ ! -f "$SRC/CMakeLists.txt" ]; then
  mkdir -p "$CACHE/llama"; tmp=$(mktemp -d)
  tar xzf "$CACHE/sdist/llama_cpp_python-0.3.36.tar.gz" -C "$tmp" 'llama_cpp_python-0.3.36/vendor/llama.cpp'
  rm -rf "$SRC"; mv "$tmp/llama_cpp_python-0.3.36/vendor/llama.cpp" "$SRC"; rm -rf "$tmp"
fi
cmake -S "$SRC" -B "$OUT" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
  -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >&2
cmake --build "$OUT" --target llama-bench -j "$(nproc)" >&2
echo "$OUT/bin/llama-bench"
