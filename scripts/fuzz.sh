#!/usr/bin/env bash
# Fuzz the GGUF reader and the tokenizer-image reader with libFuzzer (+ AddressSanitizer) for a given number of
# executions each.
#   scripts/fuzz.sh [RUNS=1000000] [extra libFuzzer flags…]      (FUZZ_TARGETS="gguf tokenizer-image" by default)
# GGUF seeds: a few valid GGUF files written by gguf-py plus the first 64 KiB of the real models when present.
# Tokenizer-image seeds: images of a small BPE and a small SPM tokenizer, written by the harness itself.
# Crashes land in fuzz/out/.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1000000}; shift || true
B=.build-fuzz
mkdir -p "$B" fuzz/corpus fuzz/out

# SKECore and SKEFormats compiled as modules with the fuzzer's coverage and ASan, then the entry point.
clang -c -O1 -fsanitize=fuzzer-no-link,address -I Sources/CSKESystem/include Sources/CSKESystem/system.c -o "$B/system.o"
FLAGS=(-O -wmo -parse-as-library -sanitize=fuzzer,address -target-cpu haswell
       -I "$B" -I Sources/CSKESystem/include -Xcc -fmodule-map-file=fuzz/module.modulemap)
swiftc "${FLAGS[@]}" -module-name SKECore -emit-module -emit-module-path "$B/SKECore.swiftmodule" \
  -c Sources/SKECore/*.swift -o "$B/SKECore.o"
swiftc "${FLAGS[@]}" -module-name SKEFormats -emit-module -emit-module-path "$B/SKEFormats.swiftmodule" \
  -c Sources/SKEFormats/*.swift -o "$B/SKEFormats.o"
swiftc "${FLAGS[@]}" -module-name SKETokenizer -emit-module -emit-module-path "$B/SKETokenizer.swiftmodule" \
  -c Sources/SKETokenizer/*.swift Sources/SKETokenizer/ChatTemplate/*.swift -o "$B/SKETokenizer.o"
swiftc "${FLAGS[@]}" -module-name FuzzGGUF fuzz/FuzzGGUF.swift "$B/SKECore.o" "$B/SKEFormats.o" "$B/system.o" -o "$B/fuzz-gguf" 2>&1 | grep -v "Cannot export local symbol" || true
swiftc "${FLAGS[@]}" -module-name FuzzTokenizerImage fuzz/FuzzTokenizerImage.swift "$B/SKECore.o" "$B/SKEFormats.o" "$B/SKETokenizer.o" \
  "$B/system.o" -o "$B/fuzz-tokenizer-image" 2>&1 | grep -v "Cannot export local symbol" || true
test -x "$B/fuzz-gguf" && test -x "$B/fuzz-tokenizer-image"
TARGETS=${FUZZ_TARGETS:-gguf tokenizer-image}

if [[ " $TARGETS " == *" tokenizer-image "* ]]; then
  mkdir -p fuzz/corpus-tokenizer-image
  if [ -z "$(ls -A fuzz/corpus-tokenizer-image)" ]; then
    SKE_FUZZ_WRITE_SEEDS=fuzz/corpus-tokenizer-image "$B/fuzz-tokenizer-image" -runs=1 >/dev/null 2>&1 || true
  fi
  "$B/fuzz-tokenizer-image" -runs="$RUNS" -max_len=32768 -artifact_prefix=fuzz/out/ "$@" fuzz/corpus-tokenizer-image 2>&1 \
    | grep -E "INITED|DONE|ERROR|SUMMARY|crash|Done [0-9]+ runs|Test unit written"
fi
[[ " $TARGETS " == *" gguf "* ]] || exit 0

# Seeds: a tiny GGUF written by `ske` itself when built, and heads of the real models.
if [ -z "$(ls -A fuzz/corpus)" ]; then
  for m in models/*.gguf; do [ -f "$m" ] && head -c 65536 "$m" > "fuzz/corpus/$(basename "$m").head"; done
  python3 - <<'PY' || true
import gguf, numpy as np, os
for i, (t, shape) in enumerate([(np.float32, (4, 8)), (np.float16, (2, 32))]):
    w = gguf.GGUFWriter(f"fuzz/corpus/seed{i}.gguf", "llama")
    w.add_uint32("llama.block_count", 2); w.add_string("general.name", "seed")
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "c"]); w.add_array("arr.f", [1.0, 2.0])
    w.add_tensor("w", np.arange(np.prod(shape), dtype=t).reshape(shape))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
PY
fi
"$B/fuzz-gguf" -runs="$RUNS" -max_len=65536 -artifact_prefix=fuzz/out/ "$@" fuzz/corpus 2>&1 | grep -E "INITED|DONE|ERROR|SUMMARY|crash|Done [0-9]+ runs|Test unit written"
