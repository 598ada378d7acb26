// ModelSummary — what `ske inspect` shows: architecture, hyperparameters, tokenizer, tensor table and
// bytes per type, read from the metadata and tensor table of any TensorFile. Codable for `--json`.
import SKECore

public struct ModelSummary: Codable, Sendable {
    public struct Hyperparameters: Codable, Sendable {
        public var layers: Int?
        public var contextLength: Int?
        public var embeddingLength: Int?
        public var feedForwardLength: Int?
        public var heads: Int?
        public var kvHeads: Int?
        public var headDim: Int?
        public var ropeFreqBase: Double?
        public var rmsNormEpsilon: Double?
        public var slidingWindow: Int?
    }
    public struct Tokenizer: Codable, Sendable {
        public var model: String?
        public var pre: String?
        public var vocabSize: Int?
        public var merges: Int?
        public var bosTokenID: Int?
        public var eosTokenID: Int?
        public var addBOS: Bool?
        public var addEOS: Bool?
        public var hasChatTemplate: Bool
        /// Bytes of the prebuilt tokenizer tables a .bump carries (nil: none, built from the metadata at open).
        public var imageBytes: Int?
    }
    public struct TypeUsage: Codable, Sendable {
        public var type: String
        public var tensors: Int
        public var bytes: Int
    }
    public struct Tensor: Codable, Sendable {
        public var name: String
        public var type: String
        public var dims: [Int]
        public var bytes: Int
    }

    public var path: String
    public var format: String
    public var fileSize: Int
    public var architecture: String?
    public var name: String?
    public var metadataKeys: Int
    public var hyperparameters: Hyperparameters
    public var tokenizer: Tokenizer
    public var tensorCount: Int
    public var parameterCount: Int
    public var tensorBytes: Int
    public var types: [TypeUsage]
    public var tensors: [Tensor]

    public init(_ file: any TensorFile) {
        let md = file.metadata
        path = file.path
        format = file.formatName
        fileSize = file.fileSize
        let arch = md.string("general.architecture")
        architecture = arch
        name = md.string("general.name")
        metadataKeys = md.count
        let a = arch ?? ""
        func int(_ k: String) -> Int? { md.int("\(a).\(k)") }
        var hp = Hyperparameters()
        hp.layers = int("block_count")
        hp.contextLength = int("context_length")
        hp.embeddingLength = int("embedding_length")
        hp.feedForwardLength = int("feed_forward_length") ?? md.array("\(a).feed_forward_length")?.ints?.first
        hp.heads = int("attention.head_count")
        hp.kvHeads = int("attention.head_count_kv") ?? hp.heads
        hp.headDim = int("attention.key_length") ?? {
            guard let e = hp.embeddingLength, let h = hp.heads, h > 0 else { return nil }
            return e / h
        }()
        hp.ropeFreqBase = md.double("\(a).rope.freq_base")
        hp.rmsNormEpsilon = md.double("\(a).attention.layer_norm_rms_epsilon")
        hp.slidingWindow = int("attention.sliding_window")
        hyperparameters = hp
        tokenizer = Tokenizer(
            model: md.string("tokenizer.ggml.model"), pre: md.string("tokenizer.ggml.pre"),
            vocabSize: md.arrayCount("tokenizer.ggml.tokens"), merges: md.arrayCount("tokenizer.ggml.merges"),
            bosTokenID: md.int("tokenizer.ggml.bos_token_id"), eosTokenID: md.int("tokenizer.ggml.eos_token_id"),
            addBOS: md.bool("tokenizer.ggml.add_bos_token"), addEOS: md.bool("tokenizer.ggml.add_eos_token"),
            hasChatTemplate: md.string("tokenizer.chat_template") != nil, imageBytes: file.tokenizerImage?.count)
        tensorCount = file.tensors.count
        parameterCount = file.tensors.reduce(0) { $0 + $1.elementCount }
        tensorBytes = file.tensors.reduce(0) { $0 + $1.byteCount }
        var usage: [GGMLType: TypeUsage] = [:]
        for t in file.tensors {
            usage[t.type, default: TypeUsage(type: t.type.name, tensors: 0, bytes: 0)].tensors += 1
            usage[t.type]!.bytes += t.byteCount
        }
        types = usage.values.sorted { $0.bytes > $1.bytes }
        tensors = file.tensors.map { Tensor(name: $0.name, type: $0.type.name, dims: $0.dims, bytes: $0.byteCount) }
    }

    /// Tensor count per type name, e.g. ["Q4_1": 210, "F32": 61, "Q8_0": 1].
    public var tensorsPerType: [String: Int] {
        Dictionary(uniqueKeysWithValues: types.map { ($0.type, $0.tensors) })
    }

    /// Human-readable report. `showTensors` adds the full tensor table.
    public func render(showTensors: Bool = false) -> String {
        var out: [String] = []
        func row(_ k: String, _ v: Any?) {
            guard let v else { return }
            out.append("  " + k.padding(22) + "\(v)")
        }
        out.append("\(path)")
        row("format", format)
        row("file size", "\(fileSize) bytes (\(formatBytes(fileSize)))")
        row("architecture", architecture ?? "(missing)")
        row("name", name)
        row("metadata keys", metadataKeys)
        out.append("hyperparameters")
        let h = hyperparameters
        row("layers", h.layers); row("context length", h.contextLength); row("embedding length", h.embeddingLength)
        row("feed-forward length", h.feedForwardLength); row("heads", h.heads); row("kv heads", h.kvHeads)
        row("head dim", h.headDim); row("rope freq base", h.ropeFreqBase.map { formatNumber($0) })
        row("rms norm eps", h.rmsNormEpsilon.map { "\(Float($0))" }); row("sliding window", h.slidingWindow)
        out.append("tokenizer")
        let t = tokenizer
        row("model", t.model); row("pre-tokenizer", t.pre); row("vocab size", t.vocabSize); row("merges", t.merges)
        row("bos / eos", "\(t.bosTokenID.map(String.init) ?? "-") / \(t.eosTokenID.map(String.init) ?? "-")")
        row("add bos / eos", "\(t.addBOS.map(String.init) ?? "-") / \(t.addEOS.map(String.init) ?? "-")")
        row("chat template", t.hasChatTemplate ? "yes" : "no")
        if let n = t.imageBytes { row("prebuilt tables", formatBytes(n)) }
        out.append("tensors: \(tensorCount), \(parameterCount) parameters, \(formatBytes(tensorBytes))")
        for u in types {
            out.append("  " + u.type.padding(8) + "\(u.tensors)".leftPad(5, with: " ") + " tensors  " + formatBytes(u.bytes).leftPad(10, with: " "))
        }
        if showTensors {
            out.append("tensor table")
            for t in tensors {
                out.append("  " + t.name.padding(40) + t.type.padding(6) + ("[" + t.dims.map(String.init).joined(separator: ", ") + "]").padding(20) + "\(t.bytes)")
            }
        }
        return out.joined(separator: "\n")
    }
}

public func formatBytes(_ n: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n), u = 0
    while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(n) B" : formatFixed(v, 2) + " " + units[u]
}

public func formatFixed(_ v: Double, _ digits: Int) -> String {
    let scale = (0..<digits).reduce(1.0) { r, _ in r * 10 }
    let r = (v * scale).rounded() / scale
    var s = "\(r)"
    if let dot = s.firstIndex(of: ".") {
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
    } else if digits > 0 { s += "." + String(repeating: "0", count: digits) }
    return s
}

func formatNumber(_ v: Double) -> String {
    v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : "\(v)"
}

extension String {
    func padding(_ n: Int) -> String { count >= n ? self + " " : self + String(repeating: " ", count: n - count) }
}
