#!/usr/bin/env bash
# How far llama.cpp's own logits move when only its SIMD path changes: the same llama.cpp commit as
# ../shared/reference, built twice — AVX-512 (scripts/build-llamacpp.sh, the reference's kernels) and AVX2 only —
# each running the reference's prompts through tools/reference/llamacpp_first_logits.c. The AVX-512 run must
# reproduce shared/reference/generation (checked: first logits within 1e-5 — bit for bit for SmolLM2 and Gemma, 7e-7
# for the Qwen3-shaped model, whose reference came from a -march=native build — and 32/32 greedy tokens), which
# validates the tool; the AVX2 run's distance to it is llama.cpp's own cross-ISA spread, the yardstick the quantized-activation
# tests use next to the README's 1e-2 (which that spread does not meet either).
#
# Run from the repo root after scripts/fetch-models.sh and scripts/make-qwen3.sh (and the Qwen3 tests, which write
# ske's Q4_K_M of it, byte-identical to the reference's file). Needs cmake, gcc, python3 with numpy, ../shared.
# Writes Tests/EndToEndTests/Fixtures/llamacpp-avx2-spread.json. ~10 minutes on 2 cores (the AVX2 build, cached).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
REF=${SKE_SHARED:-$here/../shared}/reference/generation
CACHE=${SKE_CACHE:-$HOME/.cache/ske}
L=$CACHE/llama
"$here/scripts/build-llamacpp.sh" >/dev/null          # the AVX-512 build (and the source tree)
cmake --build "$L/build" --target llama -j "$(nproc)" >&2
if [ ! -f "$L/build-avx2/bin/libllama.so" ]; then
  cmake -S "$L/src" -B "$L/build-avx2" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
    -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF >&2
  cmake --build "$L/build-avx2" --target llama -j "$(nproc)" >&2
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for isa in avx512:build avx2:build-avx2; do
  gcc -O2 -Wall -o "$tmp/first_logits_${isa%%:*}" "$here/tools/reference/llamacpp_first_logits.c" \
    -I"$L/src/include" -I"$L/src/ggml/include" -L"$L/${isa#*:}/bin" -lllama -Wl,-rpath,"$L/${isa#*:}/bin"
done
python3 - "$here" "$REF" "$tmp" <<'PY'
import json, subprocess, sys
import numpy as np
here, ref, tmp = sys.argv[1:4]
models = [("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", f"{ref}/smollm2"),
          ("gemma3", "gemma-3-270m-q4_k_m.gguf", f"{ref}/gemma3"),
          ("qwen3", "qwen3-0.6b-shaped-RANDOM-Q4_K_M.gguf", f"{ref}/qwen3_random/qwen3")]
def run(isa, model, ids):
    out = subprocess.run([f"{tmp}/first_logits_{isa}", f"{here}/models/{model}", ",".join(map(str, ids)), f"{tmp}/l.bin"],
                         check=True, capture_output=True, text=True).stdout
    return np.fromfile(f"{tmp}/l.bin", dtype=np.float32), [int(t) for t in out.split(",")]
result = {"what": "llama.cpp (commit 0c1e57098, the reference's) built for AVX2 only vs its AVX-512 build: first-position "
                  "logits and greedy continuations of shared/reference/generation's prompts. Made by "
                  "tools/reference/make_llamacpp_isa_spread.sh; the AVX-512 build reproduced the reference (avx512_build_* columns).",
          "models": {}}
for name, model, prefix in models:
    cases = json.load(open(f"{prefix}.llamacpp.json"))["cases"]
    rows = []
    for i, c in enumerate(cases):
        reference = np.fromfile(f"{prefix}.p{i}.logits_first.f32.bin", dtype=np.float32)
        l512, ids512 = run("avx512", model, c["prompt_ids"])
        own = float(np.abs(l512 - reference).max())
        assert own <= 1e-5 and ids512 == c["generated_ids"], f"{name} prompt {i}: the AVX-512 build does not reproduce the reference ({own})"
        l2, ids2 = run("avx2", model, c["prompt_ids"])
        d = np.abs(l2 - reference)
        agree = next((k for k, (a, b) in enumerate(zip(ids2, c["generated_ids"])) if a != b), len(ids2))
        rows.append({"prompt": i, "avx512_build_first_logits_max_abs_diff": own, "first_logits_max_abs_diff": float(d.max()), "first_logits_rms_diff": float(np.sqrt((d ** 2).mean())),
                     "greedy_tokens_identical_before_first_difference": agree})
        print(name, rows[-1], file=sys.stderr)
    result["models"][name] = rows
with open(f"{here}/Tests/EndToEndTests/Fixtures/llamacpp-avx2-spread.json", "w") as f:
    json.dump(result, f, indent=1); f.write("\n")
PY
