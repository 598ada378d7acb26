#!/usr/bin/env bash
# Fetch llama.cpp's tokenizer test vocabularies (vocab-only GGUFs with .inp/.out test vectors) from the
# llama-cpp-python==0.3.36 sdist on PyPI (vendor/llama.cpp/models/ggml-vocab-*), into models/vocab/.
# The sdist (77 MB) is cached in ${SKE_CACHE:-$HOME/.cache/ske}/sdist and checked by sha256.
# (`pip download` of this sdist builds CMake from source just to read its metadata, so the file is taken
#  from PyPI's simple index — the same index pip uses — with Python's urllib.)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$here/models/vocab}
CACHE=${SKE_CACHE:-$HOME/.cache/ske}/sdist
NAME=llama_cpp_python-0.3.36.tar.gz
SHA=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
mkdir -p "$DEST" "$CACHE"
if [ -f "$DEST/ggml-vocab-gpt-2.gguf.out" ] && [ -f "$DEST/ggml-vocab-qwen2.gguf" ]; then exit 0; fi
if ! echo "$SHA  $CACHE/$NAME" | sha256sum -c --status - 2>/dev/null; then
  echo "fetching $NAME from PyPI ..." >&2
  python3 - "$CACHE/$NAME" <<'PY'
import re, sys, urllib.request, os
index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
with urllib.request.urlopen(f"{index}/llama-cpp-python/", timeout=60) as r:
    links = re.findall(r'href="([^"]+)"', r.read().decode())
url = next(l for l in links if "llama_cpp_python-0.3.36.tar.gz" in l).split("#")[0]
tmp = sys.argv[1] + ".part"
with urllib.request.urlopen(url, timeout=600) as r, open(tmp, "wb") as f:
    while chunk := r.read(1 << 20):
        f.write(chunk)
os.replace(tmp, sys.argv[1])
PY
  echo "$SHA  $CACHE/$NAME" | sha256sum -c --status - || { echo "error: sha256 mismatch for $NAME" >&2; exit 1; }
fi
tmp=$(mktemp -d)
tar xzf "$CACHE/$NAME" -C "$tmp" --wildcards 'llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-*'
cp "$tmp"/llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-* "$DEST/"
rm -rf "$tmp"
echo "vocabularies ready in $DEST" >&2
