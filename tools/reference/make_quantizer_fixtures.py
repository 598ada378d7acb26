#!/usr/bin/env python3
"""Quantizer fixtures: float rows and what llama.cpp's own quantizer (ggml_quantize_chunk, no importance
matrix = the *_ref algorithms) makes of them, for every weight quant type ske can write.

Run from the repo root after scripts/fetch-models.sh, with llama-cpp-python==0.3.36 installed (it ships
libggml-base.so; CMAKE_ARGS as in ../shared/models/README.md):

    python3 tools/reference/make_quantizer_fixtures.py

Writes Tests/SKEKernelsTests/Fixtures/quantize/:
    input.f32.bin       [24, 1024] float32: rows 0-7 N(0,1) (seed 1234), rows 8-15 Student-t(3) (seed 99),
                        rows 16-23 the first 8192 values of SmolLM2's token_embd (Q8_0, dequantized by gguf-py)
    <TYPE>.bin          llama.cpp's quantization of those 24 rows
    index.json          shapes, sources, llama.cpp's RMSE per type
"""
import ctypes, json, os
import numpy as np
import gguf, llama_cpp

OUT = "Tests/SKEKernelsTests/Fixtures/quantize"
ROWS, K = 24, 1024
TYPES = {"Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14}

x = np.empty((ROWS, K), dtype=np.float32)
x[0:8] = np.random.default_rng(1234).standard_normal((8, K)).astype(np.float32)
x[8:16] = np.random.default_rng(99).standard_t(3, (8, K)).astype(np.float32)
r = gguf.GGUFReader("models/SmolLM2-135M-Instruct.Q4_1.gguf")
emb = next(t for t in r.tensors if t.name == "token_embd.weight")
deq = gguf.quants.dequantize(emb.data, emb.tensor_type).reshape(-1)
x[16:24] = deq[: 8 * K].reshape(8, K)

lib = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so"))
lib.ggml_quantize_chunk.restype = ctypes.c_size_t
lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]

os.makedirs(OUT, exist_ok=True)
x.tofile(f"{OUT}/input.f32.bin")
index = {"rows": ROWS, "k": K, "producer": "ggml_quantize_chunk from llama-cpp-python 0.3.36 (llama.cpp 0c1e57098), imatrix NULL",
         "input": "rows 0-7 N(0,1) seed 1234; rows 8-15 Student-t(3) seed 99; rows 16-23 SmolLM2 token_embd[0:8192] dequantized",
         "types": {}}
for name, tid in TYPES.items():
    bs, bb = gguf.constants.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(tid)]
    dst = np.zeros(ROWS * K // bs * bb, dtype=np.uint8)
    n = lib.ggml_quantize_chunk(tid, x.ctypes.data, dst.ctypes.data, 0, ROWS, K, None)
    assert n == dst.nbytes, (name, n, dst.nbytes)
    dst.tofile(f"{OUT}/{name}.bin")
    back = gguf.quants.dequantize(dst, gguf.GGMLQuantizationType(tid)).reshape(ROWS, K)
    rmse = [float(np.sqrt(np.mean((back[i:i + 8] - x[i:i + 8]) ** 2))) for i in (0, 8, 16)]
    index["types"][name] = {"bytes": int(dst.nbytes), "rmse_normal": rmse[0], "rmse_student_t": rmse[1], "rmse_smollm2_embd": rmse[2]}
with open(f"{OUT}/index.json", "w") as f:
    json.dump(index, f, indent=1)
print(json.dumps(index["types"], indent=1))
