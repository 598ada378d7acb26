#!/usr/bin/env bash
# The Qwen3-0.6B-shaped model with random weights (no Qwen weights are on PyPI): its F16 GGUF made by
# scripts/make-qwen3-random.py from llama.cpp's Qwen2 vocabulary (scripts/fetch-vocabs.sh), byte for byte the
# file shared/reference used (sha256 checked). The tests quantize it to Q4_K_M with ske's quantizer and check
# the result is byte-identical to llama-quantize's (sha256 0d877a36…), then run it against llama.cpp's logits.
# Needs python3 with gguf and numpy. Cached in ${SKE_CACHE:-$HOME/.cache/ske}/models. ~1 minute the first time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$here/models}
CACHE=${SKE_CACHE:-$HOME/.cache/ske}/models
NAME=qwen3-0.6b-shaped-random-F16.gguf
SHA=861f217bda2c753dca6085bce4c15fe0f0bc08a298f4f5764ecdcb38079c59c3
ok() { [ -f "$1" ] && echo "$SHA  $1" | sha256sum -c --status -; }
mkdir -p "$DEST" "$CACHE"
ok "$DEST/$NAME" && exit 0
if ! ok "$CACHE/$NAME"; then
  "$here/scripts/fetch-vocabs.sh"
  echo "making $NAME (random weights, real Qwen2 vocabulary) ..." >&2
  python3 "$here/scripts/make-qwen3-random.py" "$here/models/vocab/ggml-vocab-qwen2.gguf" "$CACHE/$NAME.part" >&2
  mv "$CACHE/$NAME.part" "$CACHE/$NAME"
  ok "$CACHE/$NAME" || { echo "error: sha256 mismatch for $NAME (gguf/numpy versions differ from the reference's?)" >&2; exit 1; }
fi
cp "$CACHE/$NAME" "$DEST/$NAME.tmp" && mv "$DEST/$NAME.tmp" "$DEST/$NAME"
