#!/usr/bin/env python3
"""Cut a GGUF model to its first N blocks (metadata and tokenizer kept, block_count rewritten), e.g. to fit the
16-core device's 64 MiB file limit for scaling benchmarks (BENCHMARKS.md). Requantize it afterwards with
`ske quantize OUT OUT-q4_0.gguf Q4_0` to shrink it further.

Usage: make-slice.py IN.gguf OUT.gguf N
"""
import sys
import numpy as np
from gguf import GGUFReader, GGUFWriter, GGUFValueType

src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = GGUFReader(src)
arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
w = GGUFWriter(dst, arch)
adders = {GGUFValueType.BOOL: lambda k, f: w.add_bool(k, bool(f.parts[f.data[0]][0])),
          GGUFValueType.UINT32: lambda k, f: w.add_uint32(k, int(f.parts[f.data[0]][0])),
          GGUFValueType.INT32: lambda k, f: w.add_int32(k, int(f.parts[f.data[0]][0])),
          GGUFValueType.FLOAT32: lambda k, f: w.add_float32(k, float(f.parts[f.data[0]][0])),
          GGUFValueType.STRING: lambda k, f: w.add_string(k, bytes(f.parts[f.data[0]]).decode("utf-8"))}
for name, f in r.fields.items():
    if name.startswith("GGUF.") or name == "general.architecture":
        continue
    if name == f"{arch}.block_count":
        w.add_uint32(name, n)
    elif f.types[0] == GGUFValueType.ARRAY:
        if f.types[-1] == GGUFValueType.STRING:
            w.add_array(name, [bytes(f.parts[i]).decode("utf-8", errors="surrogateescape") for i in f.data])
        else:
            w.add_array(name, [f.parts[i].tolist()[0] for i in f.data])
    elif f.types[0] in adders:
        adders[f.types[0]](name, f)
    else:
        raise SystemExit(f"unhandled metadata type {f.types[0]} for {name}")
for t in r.tensors:
    if t.name.startswith("blk.") and int(t.name.split(".")[1]) >= n:
        continue
    if t.tensor_type in (0, 1):  # F32, F16: numpy arrays
        w.add_tensor(t.name, np.asarray(t.data))
    else:                        # quantized: raw block bytes
        w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
