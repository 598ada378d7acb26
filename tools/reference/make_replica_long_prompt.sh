#!/usr/bin/env bash
# llama.cpp's logits after a prompt longer than one ubatch (530 tokens of Fixtures/perplexity.text.txt: 512 + 18, so
# the second batch attends past Gemma 3's 512-position sliding window), n_ctx 1024, for ReplicaTests.
# Writes Tests/EndToEndTests/Fixtures/gemma3.long.llamacpp.json: the prompt ids, the top 40 (id, logit) of the last
# position and llama.cpp's next 4 greedy tokens. Uses tools/reference/llamacpp_first_logits.c on the llama.cpp build of
# scripts/build-llamacpp.sh (the reference's commit) and `ske tokenize` for the ids (any ids would do: they are the input).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
L=${SKE_CACHE:-$HOME/.cache/ske}/llama
model="$here/models/gemma-3-270m-q4_k_m.gguf"
"$here/scripts/build-llamacpp.sh" >/dev/null
cmake --build "$L/build" --target llama -j "$(nproc)" >&2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
gcc -O2 -Wall -o "$tmp/first_logits" "$here/tools/reference/llamacpp_first_logits.c" -I"$L/src/include" -I"$L/src/ggml/include" \
  -L"$L/build/bin" -lllama -Wl,-rpath,"$L/build/bin"
swift build -c release --package-path "$here" >&2
ids=$("$here/.build/release/ske" tokenize -m "$model" --file "$here/Tests/EndToEndTests/Fixtures/perplexity.text.txt" --ids --parse-special \
  | tr ' ' '\n' | awk 'NR <= 530' | paste -sd, -)
generated=$("$tmp/first_logits" "$model" "$ids" "$tmp/logits.bin" 1024)
python3 - "$ids" "$generated" "$tmp/logits.bin" > "$here/Tests/EndToEndTests/Fixtures/gemma3.long.llamacpp.json" <<'PY'
import json, sys
import numpy as np
ids = [int(t) for t in sys.argv[1].split(",")]
generated = [int(t) for t in sys.argv[2].split(",")][:4]
logits = np.fromfile(sys.argv[3], dtype=np.float32)
order = sorted(range(len(logits)), key=lambda i: (-logits[i], i))[:40]
print(json.dumps({"what": "llama.cpp (the reference's commit, AVX-512 build) after 530 prompt tokens fed as 512 + 18, n_ctx 1024, "
                  "f16 K/V, no flash attention, 2 threads; made by tools/reference/make_replica_long_prompt.sh",
                  "model": "gemma-3-270m-q4_k_m.gguf", "n_ctx": 1024, "prompt_ids": ids,
                  "top40": [[i, float(logits[i])] for i in order], "generated_ids": generated}))
PY
echo "wrote Tests/EndToEndTests/Fixtures/gemma3.long.llamacpp.json" >&2
