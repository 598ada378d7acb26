// An inference engine for one model file: config → IR → fusion → plan → executor, and the KV cache state.
// `evaluate` feeds tokens (splitting them into batches of at most maxTokens) and returns logits for the rows
// asked for; the cache keeps every position fed since the last `reset`.
import SKECore
import SKEFormats
import SKEGraph
import SKEKernels
import SKEModels
import SKETokenizer

public enum RuntimeError: Error, CustomStringConvertible, Equatable {
    case contextFull(needed: Int, context: Int)
    case emptyInput
    case invalidToken(Int32, vocabulary: Int)
    case invalidOption(String)

    public var description: String {
        switch self {
        case .contextFull(let n, let c):
            "the sequence needs \(n) positions but the context holds \(c); use a larger -c (the model allows more) or a shorter prompt"
        case .emptyInput: "nothing to evaluate: the prompt has no tokens"
        case .invalidToken(let t, let v): "token id \(t) is outside the vocabulary (0..<\(v))"
        case .invalidOption(let s): s
        }
    }
}

public struct EngineOptions: Sendable {
    /// Positions the KV cache holds (llama.cpp's -c). 0 = min(model's training context, 4096).
    public var contextLength: Int = 0
    /// Tokens per forward batch (llama.cpp's -ub).
    public var batchSize: Int = 256
    /// Rows of logits one batch can return (1 for generation; perplexity asks for more).
    public var maxOutputs: Int = 1
    public var precision: ActivationPrecision = .quantized
    /// Fusion patterns to apply (default: what SKE_NO_FUSION leaves on).
    public var fusion: [String]? = nil
    public var threads: Int? = nil
    /// Kernel ISA level (default: SKE_ISA or the best the CPU has).
    public var level: CPUFeatures.ISALevel? = nil
    /// Weights pointed into the file's mapping (true, the default: instant open, shared page cache) or read into
    /// anonymous huge-page memory (false: llama.cpp's --no-mmap; slower open, private copy, fewer TLB misses
    /// while decoding). Applies to `Engine(path:options:)`; an engine built from an open file uses that file.
    public var mmap = true
    /// Weights with a four-row interleaved decode kernel (Q4_1, Q5_0 and Q4_K on AVX-512) copied into that layout at
    /// the first decode step (default: true unless SKE_REPACK=0). Decode and quantized batches read the copy with the
    /// interleaved kernel, SGEMM/AMX dequantizes rows from it in place.
    /// From a mapped file, the other linear weights are copied too, as they are, onto the copy's huge pages, and the
    /// copied pages of the mapping are dropped (the weights are held once); with --no-mmap the in-memory originals
    /// stay (other readers of the file may still use them). Copies are made only within 3/4 of the memory available.
    public var repack: Bool = RowSource.Store.enabled
    public init() {}
}

public final class Engine: @unchecked Sendable {
    public let file: any TensorFile
    public let config: ModelConfig
    public let graph: Graph
    public let plan: Plan
    public let executor: Executor
    public let tokenizer: Tokenizer
    public let pool: ThreadPool
    /// Tokens that end a turn: EOS plus the end-of-turn specials chat models use (control or user-defined tokens
    /// named <|im_end|>, <|eot_id|>, <end_of_turn>, …).
    public let endOfGeneration: Set<Int32>
    /// The ids whose keys and values the cache holds, in order.
    public private(set) var cachedIDs: [Int32] = []
    /// Positions held in the KV cache.
    public var position: Int { cachedIDs.count }
    var idBuffer: [Int32]
    var rowBuffer: [Int32]

    public init(file: any TensorFile, options: EngineOptions = EngineOptions()) throws {
        self.file = file
        config = try ModelRegistry.config(of: file)
        let ctx = options.contextLength > 0 ? options.contextLength : min(config.contextLength, 4096)
        guard ctx >= 1, options.batchSize >= 1, options.maxOutputs >= 1 else {
            throw RuntimeError.invalidOption("context, batch size and outputs must be at least 1")
        }
        let limits = GraphLimits(maxTokens: min(options.batchSize, ctx), maxOutputs: min(options.maxOutputs, min(options.batchSize, ctx)), contextLength: ctx)
        let fusion = try options.fusion ?? Fusion.enabled()
        graph = try Fusion.run(try ModelRegistry.graph(for: file, limits: limits), patterns: fusion)
        plan = try Lowering.lower(graph, weights: { name in file.tensor(named: name).map { file.data(for: $0).baseAddress! } },
                                  precision: options.precision, fusion: fusion, level: options.level ?? QuantTraits.activeLevel)
        pool = options.threads.map { ThreadPool(threadCount: $0) } ?? ThreadPool.shared
        executor = try Executor(plan: plan, pool: pool, repack: options.repack, releaseOriginals: file.tensorsAreFileMapped)
        tokenizer = try Tokenizer.load(from: file)
        endOfGeneration = Self.endOfGenerationTokens(tokenizer)
        idBuffer = [Int32](repeating: 0, count: limits.maxTokens)
        rowBuffer = [Int32](repeating: 0, count: limits.maxOutputs)
        cachedIDs.reserveCapacity(ctx)
    }

    public convenience init(path: String, options: EngineOptions = EngineOptions()) throws {
        try self.init(file: try ModelFile.open(path, mmap: options.mmap), options: options)
    }

    public var contextLength: Int { plan.limits.contextLength }
    public var vocabulary: Int { plan.vocabulary }

    /// Forgets the cache.
    public func reset() { rewind(to: 0) }

    /// Keeps the first `count` cached positions and forgets the rest (the next `evaluate` continues there).
    public func rewind(to count: Int) {
        precondition(count >= 0 && count <= position, "rewind(to:) past the cached positions")
        cachedIDs.removeLast(cachedIDs.count - count)
    }

    /// Feeds `ids` after the cached positions. `outputs` are indices into `ids` whose logits the caller wants
    /// (at most maxOutputs per batch; default the last). `body` gets (index in ids, logits [V]) for each, in order.
    public func evaluate(_ ids: [Int32], outputs: [Int]? = nil, _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void) throws {
        guard !ids.isEmpty else { throw RuntimeError.emptyInput }
        guard position + ids.count <= contextLength else { throw RuntimeError.contextFull(needed: position + ids.count, context: contextLength) }
        let v = Int32(config.vocabulary)
        if let bad = ids.first(where: { $0 < 0 || $0 >= v }) { throw RuntimeError.invalidToken(bad, vocabulary: Int(v)) }
        // The rows asked for (no array is made for the default, the last row: this runs once per decoded token).
        let wantedCount = outputs?.count ?? 1
        func wanted(_ i: Int) -> Int { outputs?[i] ?? ids.count - 1 }
        var next = 0
        var begin = 0
        let batch = plan.limits.maxTokens
        while begin < ids.count {
            var end = min(ids.count, begin + batch)
            // Keep each batch's outputs within maxOutputs.
            var rows = 0
            var j = next
            while j < wantedCount && wanted(j) < end {
                if rows == plan.limits.maxOutputs { end = wanted(j); break }
                rows += 1; j += 1
            }
            for i in begin..<end { idBuffer[i - begin] = ids[i] }
            for r in 0..<rows { rowBuffer[r] = Int32(wanted(next + r) - begin) }
            idBuffer.withUnsafeBufferPointer { idp in
                rowBuffer.withUnsafeBufferPointer { rp in
                    executor.run(ids: UnsafeBufferPointer(rebasing: idp[0..<(end - begin)]), start: position, outputRows: UnsafeBufferPointer(rebasing: rp[0..<rows]))
                }
            }
            cachedIDs.append(contentsOf: ids[begin..<end])
            let logits = executor.logits
            for r in 0..<rows {
                try body(wanted(next + r), UnsafeBufferPointer(rebasing: logits[(r * plan.vocabulary)..<((r + 1) * plan.vocabulary)]))
            }
            next += rows
            begin = end
        }
    }

    /// Feeds `ids` and returns the logits after the last one.
    public func logits(after ids: [Int32]) throws -> [Float] {
        var out: [Float] = []
        try evaluate(ids) { _, l in out = Array(l) }
        return out
    }
}
