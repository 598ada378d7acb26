#!/usr/bin/env python3
"""Makes the small reference fixtures of the format tests (run from the repo root):

  Tests/SKEFormatsTests/Fixtures/xxh64_vectors.json   XXH64 (seed 0 and 42) of a fixed byte pattern at many
                                                      lengths, computed by the `xxhash` package (the reference C
                                                      library's Python binding).
  Tests/SKEFormatsTests/Fixtures/ggml_types.json      block size and bytes per block of every ggml type, from
                                                      gguf-py's GGML_QUANT_SIZES.

Needs: pip install xxhash gguf
"""
import json, xxhash
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

def pattern(n):
    return bytes((i * 131 + 7) & 0xFF for i in range(n))

lengths = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 255, 256, 1000, 4096, 100003]
vectors = [{"length": n, "seed": s, "hash": "%016x" % xxhash.xxh64(pattern(n), seed=s).intdigest()}
           for n in lengths for s in (0, 42)]
with open("Tests/SKEFormatsTests/Fixtures/xxh64_vectors.json", "w") as f:
    json.dump({"pattern": "byte i = (i*131 + 7) mod 256", "source": "python xxhash %s" % xxhash.VERSION,
               "vectors": vectors}, f, indent=1)

types = [{"id": t.value, "name": t.name, "block_size": GGML_QUANT_SIZES[t][0], "block_bytes": GGML_QUANT_SIZES[t][1]}
         for t in GGMLQuantizationType if t in GGML_QUANT_SIZES]
with open("Tests/SKEFormatsTests/Fixtures/ggml_types.json", "w") as f:
    json.dump({"source": "gguf-py GGML_QUANT_SIZES", "types": types}, f, indent=1)
