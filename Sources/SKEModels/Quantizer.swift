// Model quantization (`ske quantize IN OUT TYPE`) with the kernels' quantizers (byte-identical to llama.cpp's
// ggml_quantize_chunk without an importance matrix). Which tensors get which type follows llama.cpp's
// llama_tensor_get_type for the mixes ske offers:
//   - 1-D tensors (norms, biases) stay F32; every 2-D `*.weight` is quantized.
//   - Q4_K_M: output.weight (or the tied token_embd.weight) → Q6_K; attn_v and ffn_down → Q6_K on the
//     layers where use_more_bits(i, n) (first and last eighth, every third between), Q4_K elsewhere.
//   - A k-quant whose row is not a multiple of 256 falls back as llama.cpp does: Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0.
import SKECore
import SKEFormats
import SKEKernels

public enum ModelQuantizer {
    /// Names `ske quantize` accepts: the plain types and the Q4_K_M mix.
    public static let targets = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "Q4_K_M"]

    /// llama.cpp's llama_ftype numbers (general.file_type) for each target.
    static let fileTypes: [String: UInt32] = [
        "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q4_K": 14, "Q4_K_M": 15, "Q5_K": 16, "Q6_K": 18, "BF16": 32,
    ]

    /// llama.cpp's use_more_bits.
    static func moreBits(_ i: Int, _ n: Int) -> Bool { i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2 }

    /// The type each tensor gets.
    public static func plan(_ file: any TensorFile, target: String) throws -> [String: GGMLType] {
        let mix = target.uppercased() == "Q4_K_M"
        guard let base = mix ? .q4_K : GGMLType(name: target), targets.contains(target.uppercased()) else {
            throw ModelError.invalidMetadata(key: "type", reason: "'\(target)' is not one of \(targets.joined(separator: ", "))")
        }
        let tied = file.tensor(named: "output.weight") == nil
        let layers = file.tensors.filter { $0.name.hasSuffix("attn_v.weight") }.count
        var vIndex = 0, downIndex = 0
        let downCount = file.tensors.filter { $0.name.hasSuffix("ffn_down.weight") }.count
        var out: [String: GGMLType] = [:]
        for t in file.tensors {
            guard t.dims.count == 2, t.name.hasSuffix(".weight") else { out[t.name] = .f32; continue }
            var type = base
            if mix {
                if t.name == "output.weight" || (tied && t.name == "token_embd.weight") { type = .q6_K }
                else if t.name.hasSuffix("attn_v.weight") { type = moreBits(vIndex, layers) ? .q6_K : .q4_K; vIndex += 1 }
                else if t.name.hasSuffix("ffn_down.weight") { type = moreBits(downIndex, downCount) ? .q6_K : .q4_K; downIndex += 1 }
            }
            if t.dims[0] % type.blockSize != 0 {
                switch type {
                case .q4_K: type = .q5_0
                case .q5_K: type = .q5_1
                case .q6_K: type = .q8_0
                default: break
                }
                if t.dims[0] % type.blockSize != 0 { type = .f16 }
            }
            out[t.name] = type
        }
        return out
    }

    /// llama.cpp's tensor order (its loader's weight map): by block number (tensors outside blocks first), then by name.
    static func llamaTensorOrder(_ a: TensorInfo, _ b: TensorInfo) -> Bool {
        func layer(_ n: String) -> Int {
            guard n.hasPrefix("blk.") else { return -1 }
            return Int(n.dropFirst(4).prefix { $0.isNumber }) ?? -1
        }
        let (la, lb) = (layer(a.name), layer(b.name))
        if la != lb { return la < lb }
        return Array(a.name.utf8).lexicographicallyPrecedes(Array(b.name.utf8))
    }

    /// Writes `file` requantized to `target` as GGUF at `path` (metadata copied; general.quantization_version and general.file_type set).
    public static func quantize(_ file: any TensorFile, to path: String, target: String, pool: ThreadPool = .shared,
                                progress: (String, GGMLType) -> Void = { _, _ in }) throws {
        let types = try plan(file, target: target)
        var w = GGUFWriter(metadata: file.metadata)
        // As llama-quantize: the quantization format version (GGML_QNT_VERSION 2) and the file type; with the same
        // quantizers and tensor choices the output is then byte-identical to llama-quantize's.
        // (llama-quantize removes general.file_type and appends it after the version: the key order follows that.)
        w.metadata["general.quantization_version"] = .uint32(2)
        if let ftype = fileTypes[target.uppercased()] {
            w.metadata.remove("general.file_type")
            w.metadata["general.file_type"] = .uint32(ftype)
        }
        for t in file.tensors.sorted(by: llamaTensorOrder) {
            let type = types[t.name]!
            guard let src = QuantTraits.kernels(t.type, level: .reference) else {
                throw ModelError.invalidMetadata(key: t.name, reason: "type \(t.type.name) cannot be read")
            }
            let k = t.dims[0], rows = t.dims.dropFirst().reduce(1, *)
            progress(t.name, type)
            if type == t.type {
                try w.addTensor(name: t.name, type: type, dims: t.dims, data: .bytes(Array(file.data(for: t))))
                continue
            }
            guard let dst = QuantTraits.kernels(type, level: .reference), let outRow = type.byteCount(elements: k),
                  let inRow = t.type.byteCount(elements: k) else {
                throw ModelError.invalidMetadata(key: t.name, reason: "cannot quantize to \(type.name)")
            }
            var bytes = [UInt8](repeating: 0, count: rows * outRow)
            let input = file.data(for: t).baseAddress!
            let threads = pool.threadCount
            var scratch = [Float](repeating: 0, count: threads * k)
            bytes.withUnsafeMutableBytes { o in
                scratch.withUnsafeMutableBufferPointer { sp in
                    let out = o.baseAddress!, s = sp.baseAddress!
                    pool.run { th, n in
                        let row = s + th * k
                        for r in ThreadPool.partition(rows, part: th, of: n) {
                            src.dequantize(input + r * inRow, row, k)
                            dst.quantize(row, out + r * outRow, k)
                        }
                    }
                }
            }
            try w.addTensor(name: t.name, type: type, dims: t.dims, data: .bytes(bytes))
        }
        try w.write(to: path)
    }
}
