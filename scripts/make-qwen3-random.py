#!/usr/bin/env python3
# Copied unchanged (but for these two comment lines) from the task's shared/scripts/make_qwen3_random_gguf.py: the recipe that made the
# reference Qwen3-shaped model, so the same F16 bytes (sha256 861f217b…) can be made from a fresh clone.
"""Write a Qwen3-0.6B-shaped GGUF (arch 'qwen3') with RANDOM weights and the REAL Qwen2/Qwen3 BPE vocab
(tokenizer.* fields copied from llama.cpp's models/ggml-vocab-qwen2.gguf). F16 output; quantize it afterwards with
llama-quantize (e.g. Q4_K_M). Synthetic weights: good for layout/perf/cross-implementation checks, not for quality.

Usage: python make_qwen3_random_gguf.py vocab-qwen2.gguf out-f16.gguf [n_layer]
"""
import sys
import numpy as np
import gguf
from gguf import GGUFReader, GGUFWriter, GGUFValueType

vocab_path, out_path = sys.argv[1], sys.argv[2]
n_layer = int(sys.argv[3]) if len(sys.argv) > 3 else 28
# Qwen3-0.6B config.json values
n_embd, n_ff, n_head, n_head_kv, head_dim = 1024, 3072, 16, 8, 128
rope_theta, eps, n_ctx = 1_000_000.0, 1e-6, 40960

vr = GGUFReader(vocab_path)
w = GGUFWriter(out_path, "qwen3")
w.add_name("Qwen3-0.6B-shaped random init (synthetic)")
w.add_block_count(n_layer)
w.add_context_length(n_ctx)
w.add_embedding_length(n_embd)
w.add_feed_forward_length(n_ff)
w.add_head_count(n_head)
w.add_head_count_kv(n_head_kv)
w.add_key_length(head_dim)
w.add_value_length(head_dim)
w.add_rope_freq_base(rope_theta)
w.add_layer_norm_rms_eps(eps)
w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

# copy tokenizer.* fields verbatim
for name, f in vr.fields.items():
    if not name.startswith("tokenizer."):
        continue
    t = f.types[0]
    if t == GGUFValueType.STRING:
        w.add_string(name, bytes(f.parts[f.data[0]]).decode("utf-8"))
    elif t == GGUFValueType.ARRAY:
        sub = f.types[-1]
        if sub == GGUFValueType.STRING:
            w.add_array(name, [bytes(f.parts[i]).decode("utf-8", errors="surrogateescape") for i in f.data])
        else:
            w.add_array(name, [f.parts[i].tolist()[0] for i in f.data])
    elif t == GGUFValueType.BOOL:
        w.add_bool(name, bool(f.parts[f.data[0]][0]))
    elif t == GGUFValueType.UINT32:
        w.add_uint32(name, int(f.parts[f.data[0]][0]))
    elif t == GGUFValueType.INT32:
        w.add_int32(name, int(f.parts[f.data[0]][0]))
    else:
        raise SystemExit("unhandled tokenizer field type %s for %s" % (t, name))
n_vocab = len(vr.fields["tokenizer.ggml.tokens"].data)

rng = np.random.default_rng(1234)
def rnd(*shape, std=0.02):
    return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float16)
ones = lambda n: np.ones(n, dtype=np.float32)

# numpy shapes are (rows, cols) = reverse of ggml ne
w.add_tensor("token_embd.weight", rnd(n_vocab, n_embd))
w.add_tensor("output_norm.weight", ones(n_embd))
for i in range(n_layer):
    p = "blk.%d." % i
    w.add_tensor(p + "attn_norm.weight", ones(n_embd))
    w.add_tensor(p + "attn_q.weight", rnd(n_head * head_dim, n_embd))
    w.add_tensor(p + "attn_k.weight", rnd(n_head_kv * head_dim, n_embd))
    w.add_tensor(p + "attn_v.weight", rnd(n_head_kv * head_dim, n_embd))
    w.add_tensor(p + "attn_output.weight", rnd(n_embd, n_head * head_dim))
    w.add_tensor(p + "attn_q_norm.weight", ones(head_dim))
    w.add_tensor(p + "attn_k_norm.weight", ones(head_dim))
    w.add_tensor(p + "ffn_norm.weight", ones(n_embd))
    w.add_tensor(p + "ffn_gate.weight", rnd(n_ff, n_embd))
    w.add_tensor(p + "ffn_up.weight", rnd(n_ff, n_embd))
    w.add_tensor(p + "ffn_down.weight", rnd(n_embd, n_ff))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file(progress=False)
w.close()
print("wrote", out_path, "vocab", n_vocab, "layers", n_layer)
