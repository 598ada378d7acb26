// Adapter: the tokenizer.ggml.* metadata of a GGUF or .bump file ↔ TokenizerData.
import SKEFormats

extension TokenizerData {
    public init(metadata md: GGUFMetadata) throws {
        guard let modelName = md.string("tokenizer.ggml.model") else { throw TokenizerError.invalid("missing tokenizer.ggml.model") }
        guard let model = Model(rawValue: modelName) else { throw TokenizerError.unknownModel(modelName) }
        guard let tokens = md.array("tokenizer.ggml.tokens")?.strings else { throw TokenizerError.invalid("missing tokenizer.ggml.tokens") }
        let defaultBOS = model == .spm
        self.init(model: model, pre: md.string("tokenizer.ggml.pre"), tokens: tokens,
                  scores: md.array("tokenizer.ggml.scores")?.floats ?? [],
                  types: md.array("tokenizer.ggml.token_type")?.ints?.map { Int32(truncatingIfNeeded: $0) } ?? [],
                  merges: md.array("tokenizer.ggml.merges")?.strings ?? [],
                  bos: md.int("tokenizer.ggml.bos_token_id").map { Int32(truncatingIfNeeded: $0) },
                  eos: md.int("tokenizer.ggml.eos_token_id").map { Int32(truncatingIfNeeded: $0) },
                  unk: md.int("tokenizer.ggml.unknown_token_id").map { Int32(truncatingIfNeeded: $0) },
                  pad: md.int("tokenizer.ggml.padding_token_id").map { Int32(truncatingIfNeeded: $0) },
                  addBOS: md.bool("tokenizer.ggml.add_bos_token") ?? defaultBOS,
                  addEOS: md.bool("tokenizer.ggml.add_eos_token") ?? false,
                  addSpacePrefix: model == .spm ? (md.bool("tokenizer.ggml.add_space_prefix") ?? true) : false)
    }
}

extension TokenizerData {
    /// The tokenizer.ggml.* metadata llama.cpp reads (for writing a tokenizer-only GGUF or a model's GGUF).
    public var ggufMetadata: GGUFMetadata {
        var md = GGUFMetadata()
        md["tokenizer.ggml.model"] = .string(model.rawValue)
        if let pre { md["tokenizer.ggml.pre"] = .string(pre) }
        md["tokenizer.ggml.tokens"] = .array(.string(tokens))
        if !scores.isEmpty { md["tokenizer.ggml.scores"] = .array(.float32(scores)) }
        if !types.isEmpty { md["tokenizer.ggml.token_type"] = .array(.int32(types)) }
        if !merges.isEmpty { md["tokenizer.ggml.merges"] = .array(.string(merges)) }
        if let bos { md["tokenizer.ggml.bos_token_id"] = .uint32(UInt32(bos)) }
        if let eos { md["tokenizer.ggml.eos_token_id"] = .uint32(UInt32(eos)) }
        if let unk { md["tokenizer.ggml.unknown_token_id"] = .uint32(UInt32(unk)) }
        if let pad { md["tokenizer.ggml.padding_token_id"] = .uint32(UInt32(pad)) }
        md["tokenizer.ggml.add_bos_token"] = .bool(addBOS)
        md["tokenizer.ggml.add_eos_token"] = .bool(addEOS)
        if model == .spm { md["tokenizer.ggml.add_space_prefix"] = .bool(addSpacePrefix) }
        return md
    }
}

extension Tokenizer {
    /// A model file's tokenizer: read back from its prebuilt image when it has one of this version (`.bump` files),
    /// else built from its tokenizer.ggml.* metadata.
    public static func load(from file: any TensorFile) throws -> Tokenizer {
        if let image = file.tokenizerImage, let t = try Tokenizer(image: image, owner: file) { return t }
        return try Tokenizer(TokenizerData(metadata: file.metadata))
    }

    /// The image to store in a `.bump` converted from `file`: nil when its metadata holds no tokenizer this engine
    /// can build (the file is still converted; opening it reports the tokenizer's error as a GGUF would).
    public static func image(for file: any TensorFile) -> [UInt8]? {
        if let image = file.tokenizerImage, (try? Tokenizer(image: image)) != nil { return Array(image) }
        return (try? Tokenizer(TokenizerData(metadata: file.metadata)))?.image()
    }
}
