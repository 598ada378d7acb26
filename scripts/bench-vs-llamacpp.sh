#!/usr/bin/env bash
# Speed vs llama.cpp, same files, same machine, same run: llama-bench (built from the llama-cpp-python 0.3.36
# sdist by scripts/build-llamacpp.sh, cached) and `ske bench model` back to back, pp128 and tg64 at 1 and 2
# threads, then the ratios. Usage: scripts/bench-vs-llamacpp.sh [MODEL.gguf ...]  (default: SmolLM2, Gemma 3 and the
# Qwen3-shaped model as Q4_K_M and Q8_0 made by `ske quantize`). Environment: THREADS (default 1,2), ACTIVATIONS
# (mixed or quantized, default mixed), MMAP (1: both map the file, the default; 0: both read the weights into memory,
# llama-bench -lm none and ske --no-mmap), DEPTH (tokens already in the KV cache when each test starts, both
# engines' -d; default 0).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
LB=$(scripts/build-llamacpp.sh)
[ -x .build/release/ske ] || swift build -c release >&2
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  models=(models/SmolLM2-135M-Instruct.Q4_1.gguf models/gemma-3-270m-q4_k_m.gguf)
  # The Qwen3-0.6B-shaped model, quantized by ske to Q4_K_M and Q8_0 (made once from scripts/make-qwen3.sh's F16).
  if scripts/make-qwen3.sh >&2; then
    for t in Q4_K_M Q8_0; do
      q=models/qwen3-0.6b-shaped-RANDOM-$t.gguf
      [ -f "$q" ] || .build/release/ske quantize models/qwen3-0.6b-shaped-random-F16.gguf "$q" "$t" >&2
      models+=("$q")
    done
  fi
fi
THREADS=${THREADS:-1,2}
# ske's arithmetic: mixed (float activations for prefill batches, quantized for decode; the default) or quantized
# (llama.cpp's: activations quantized everywhere).
ACTIVATIONS=${ACTIVATIONS:-mixed}
MMAP=${MMAP:-1}
DEPTH=${DEPTH:-0}
ske_mmap=(); llama_load=auto
if [ "$MMAP" = 0 ]; then ske_mmap=(--no-mmap); llama_load=none; fi
out=$(mktemp -d)
# CPU time the hypervisor gave to other guests while each model ran (/proc/stat "steal"), as a share of this VM's
# CPU time: on a shared host the two engines' ratios are only comparable while it stays low.
stolen() { awk '/^cpu /{print $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat 2>/dev/null || echo "0 0"; }
for m in "${models[@]}"; do
  name=$(basename "$m" .gguf)
  read -r s0 t0 < <(stolen)
  "$LB" -m "$m" -p 128 -n 64 -d "$DEPTH" -t "$THREADS" -r 3 -lm "$llama_load" -o json > "$out/$name.llama.json" 2>/dev/null
  .build/release/ske bench model -m "$m" -p 128 -n 64 -d "$DEPTH" -t "$THREADS" -r 3 --activations "$ACTIVATIONS" "${ske_mmap[@]}" --json > "$out/$name.ske.json"
  read -r s1 t1 < <(stolen)
  echo "== $name: CPU time stolen by the host during the run: $(( t1 > t0 ? 100 * (s1 - s0) / (t1 - t0) : 0 ))%" >&2
done
python3 - "$out" <<'PY'
import json, os, sys
d = sys.argv[1]
print("| model | test | threads | llama.cpp t/s | ske t/s | ske / llama.cpp | ske of roofline |")
print("|---|---|---|---|---|---|---|")
paths = []
for f in sorted(os.listdir(d)):
    if not f.endswith(".llama.json"): continue
    name = f[:-len(".llama.json")]
    llama = json.load(open(os.path.join(d, f)))
    ske = json.load(open(os.path.join(d, name + ".ske.json")))
    for row in ske["rows"]:
        test, _, at = row["test"].partition(" @ d")
        kind, n, depth = test[:2], int(test[2:]), int(at or 0)
        peer = [r for r in llama if r["n_threads"] == row["threads"] and r.get("n_depth", 0) == depth and
                ((kind == "pp" and r["n_prompt"] == n and r["n_gen"] == 0) or (kind == "tg" and r["n_gen"] == n and r["n_prompt"] == 0))]
        if not peer: continue
        lt = peer[0]["avg_ts"]
        roof = f'{100 * row["rooflineFraction"]:.0f}%' if row.get("rooflineFraction") else ""
        print(f'| {name} | {row["test"]} | {row["threads"]} | {lt:.1f} | {row["tokensPerSecond"]:.1f} | {row["tokensPerSecond"] / lt:.2f} | {roof} |')
    paths.append(f'{name} {ske.get("prefillPath", "?")}')
print('\nske prefill (pp128) arithmetic: ' + '; '.join(paths))
print('(mixed precision: amx-bf16 where the CPU and kernel have AMX; else int8-panels for linears whose weights all have a panel GEMM: Q4_K, Q6_K, Q4_1, Q5_0, Q8_0; f32-sgemm for the others)')
PY
rm -rf "$out"
