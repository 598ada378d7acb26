// ske run / perplexity / compile: thin wrappers over SKERuntime and SKEGraph.
import ArgumentParser
import Foundation
import SKECore
import SKEFormats
import SKEGraph
import SKEModels
import SKERuntime

extension ActivationPrecision {
    /// The value of an `--activations` flag.
    init(flag: String) throws {
        guard let p = ActivationPrecision(rawValue: flag) else {
            throw RuntimeError.invalidOption("--activations must be mixed, quantized or float, not '\(flag)'")
        }
        self = p
    }
}

/// Engine flags shared by the commands that run a model (names follow llama.cpp's where they overlap).
struct EngineFlags: ParsableArguments {
    @Option(name: [.short, .customLong("ctx-size")], help: "Context length (KV cache positions); 0 = min(model's, 4096).") var c: Int = 0
    @Option(name: [.short, .customLong("ubatch-size")], help: "Tokens per forward batch.") var ub: Int = 256
    @Option(name: [.short, .customLong("threads")], help: "Threads (default: SKE_THREADS or the usable cores).") var t: Int?
    @Option(help: "Matmul activations: mixed (float SGEMM for batches of ≥ 16 tokens, quantized for decode: fastest), quantized (llama.cpp's arithmetic) or float (the float32 reference's).")
    var activations: String = "mixed"
    @Flag(name: .customLong("no-mmap"), help: "Read the weights into memory instead of mapping the file (slower start, faster decode).") var noMmap = false

    func options() throws -> EngineOptions {
        var o = EngineOptions()
        o.contextLength = c; o.batchSize = ub; o.threads = t; o.mmap = !noMmap
        o.precision = try ActivationPrecision(flag: activations)
        if let t, t < 1 || t > 1024 { throw RuntimeError.invalidOption("-t must be between 1 and 1024") }
        return o
    }
}

struct SamplingFlags: ParsableArguments {
    @Option(name: .customLong("temp"), help: "Temperature (0 = greedy).") var temperature: Float = 0.8
    @Option(name: .customLong("top-k"), help: "Top-k (0 = off).") var topK: Int = 40
    @Option(name: .customLong("top-p"), help: "Top-p (1 = off).") var topP: Float = 0.95
    @Option(name: .customLong("min-p"), help: "Min-p (0 = off).") var minP: Float = 0.05
    @Option(name: .customLong("repeat-penalty"), help: "Repetition penalty (1 = off).") var repeatPenalty: Float = 1
    @Option(name: .customLong("presence-penalty"), help: "Presence penalty (0 = off).") var presencePenalty: Float = 0
    @Option(name: .customLong("frequency-penalty"), help: "Frequency penalty (0 = off).") var frequencyPenalty: Float = 0
    @Option(name: .customLong("repeat-last-n"), help: "Tokens the penalties look back over (-1 = all).") var repeatLastN: Int = 64
    @Option(name: .customLong("seed"), help: "Random seed.") var seed: UInt64 = 0

    var parameters: SamplingParameters {
        var p = SamplingParameters()
        p.temperature = temperature; p.topK = topK; p.topP = topP; p.minP = minP
        p.repeatPenalty = repeatPenalty; p.presencePenalty = presencePenalty; p.frequencyPenalty = frequencyPenalty
        p.penaltyLastN = repeatLastN; p.seed = seed
        return p
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a prompt, streaming it; prints prefill and decode speed at the end.")
    @OptionGroup var model: ModelOption
    @Option(name: [.short, .customLong("prompt")], help: "The prompt.") var p: String = "Once upon a time"
    @Option(name: [.short, .customLong("n-predict")], help: "Tokens to generate.") var n: Int = 64
    @OptionGroup var engine: EngineFlags
    @OptionGroup var sampling: SamplingFlags
    @Option(name: .customLong("stop"), help: "Stop when this text appears (repeatable).") var stop: [String] = []
    @Flag(name: .customLong("ignore-eos"), help: "Do not stop at end-of-generation tokens.") var ignoreEOS = false
    @Flag(name: .customLong("no-special"), help: "Treat special-token text in the prompt as plain text.") var noSpecial = false
    @Flag(help: "Print prompt ids, generated ids, text and timings as JSON (no streaming).") var json = false
    @Option(name: .customLong("logits-out"), help: "Write the logits after the prompt (the first generated position) to this file as raw little-endian f32, the layout of the reference's *.logits_first.f32.bin.") var logitsOut: String?

    struct Report: Codable {
        var model: String, prompt: String, promptIDs: [Int32], generatedIDs: [Int32], text: String, stopReason: String
        var prefillSeconds: Double, decodeSeconds: Double, prefillTokensPerSecond: Double, decodeTokensPerSecond: Double
        var threads: Int, activations: String, fusion: [String]
        /// Bytes of weights decode read from the copy repacked four rows at a time (0: none; SKE_REPACK=0).
        var repackedBytes: Int
        /// Bytes of weights decode read from a copy in file order on huge pages (a file mapping's weights with no
        /// repacked layout; 0: none, --no-mmap or SKE_REPACK=0).
        var copiedBytes: Int
    }

    func run() throws {
        try reportingErrors {
            guard n >= 1 else { throw RuntimeError.invalidOption("-n must be at least 1") }
            let o = try engine.options()
            let e = try Engine(path: model.path, options: o)
            let ids = e.tokenizer.encode(p, addSpecial: true, parseSpecial: !noSpecial)
            if let logitsOut {
                let first = try e.logits(after: ids)
                try first.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: logitsOut)) }
                e.reset()
            }
            var g = GenerationOptions()
            g.maxTokens = n; g.sampling = sampling.parameters; g.stopStrings = stop; g.ignoreEOS = ignoreEOS
            let out = FileHandle.standardOutput
            if !json { out.write(Data(p.utf8)) }
            let r = try e.generate(promptIDs: ids, g) { text in if !json { out.write(Data(text.utf8)) } }
            if json {
                try printJSON(Report(model: model.path, prompt: p, promptIDs: r.promptIDs, generatedIDs: r.generatedIDs, text: r.text,
                                     stopReason: r.stopReason.rawValue, prefillSeconds: r.prefillSeconds, decodeSeconds: r.decodeSeconds,
                                     prefillTokensPerSecond: r.prefillTokensPerSecond, decodeTokensPerSecond: r.decodeTokensPerSecond,
                                     threads: e.pool.threadCount, activations: e.plan.precision.rawValue, fusion: e.plan.fusion,
                                     repackedBytes: e.executor.repacked?.bytes ?? 0, copiedBytes: e.executor.repacked?.copiedBytes ?? 0))
            } else {
                print("")
                FileHandle.standardError.write(Data((
                    "\nprefill: \(r.promptIDs.count) tokens in \(formatFixed(r.prefillSeconds * 1000, 1)) ms (\(formatFixed(r.prefillTokensPerSecond, 1)) tok/s)\n" +
                    "decode:  \(r.generatedIDs.count) tokens, \(formatFixed(r.decodeTokensPerSecond, 1)) tok/s (\(e.pool.threadCount) threads, \(e.plan.precision.rawValue) activations)\n" +
                    (e.executor.repacked.map {
                        "         \(formatBytes($0.bytes)) of weights read repacked four rows at a time, \(formatBytes($0.copiedBytes)) copied in file order "
                            + "onto huge pages (copied at the first decode step; SKE_REPACK=0: the file's rows)\n" } ?? "")).utf8))
            }
        }
    }
}

struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Perplexity of a text file, with llama-perplexity's protocol (chunks of -c tokens, second half scored).")
    @OptionGroup var model: ModelOption
    @Option(name: [.short, .customLong("file")], help: "UTF-8 text file.") var f: String
    @Option(name: [.short, .customLong("ctx-size")], help: "Chunk length.") var c: Int = 512
    @Option(name: [.short, .customLong("threads")], help: "Threads.") var t: Int?
    @Option(help: "quantized (llama.cpp's arithmetic), float (the float32 reference's) or mixed.") var activations: String = "quantized"
    @Flag(name: .customLong("no-mmap"), help: "Read the weights into memory instead of mapping the file.") var noMmap = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try reportingErrors {
            var base = EngineOptions()
            base.threads = t; base.mmap = !noMmap
            base.precision = try ActivationPrecision(flag: activations)
            let e = try Engine(path: model.path, options: Engine.perplexityOptions(context: c, base: base))
            guard let data = FileManager.default.contents(atPath: f) else { throw RuntimeError.invalidOption("cannot read '\(f)'") }
            var text = String(decoding: data, as: UTF8.self)
            if text.hasSuffix("\n") { text.removeLast() }   // llama-perplexity's reader drops one trailing newline
            let ids = e.tokenizer.encode(text, addSpecial: true, parseSpecial: false)
            if !json { print("\(ids.count) tokens, \(ids.count / c) chunks of \(c)") }
            let r = try e.perplexity(ids: ids, context: c) { i, ppl in
                if !json { FileHandle.standardError.write(Data("[\(i + 1)]\(formatFixed(ppl, 4)) ".utf8)) }
            }
            if json { try printJSON(r) } else {
                print("\nFinal estimate: PPL = \(formatFixed(r.perplexity, 4)) +/- \(formatFixed(r.uncertainty, 5))  (\(formatFixed(r.seconds, 1)) s)")
            }
        }
    }
}

struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what the compiler makes of a model: IR, fused IR, memory plan, steps.")
    @OptionGroup var model: ModelOption
    @Option(name: .shortAndLong, help: "Context length.") var c: Int = 512
    @Option(name: .long, help: "Batch size.") var ub: Int = 256
    @Option(help: "What to print: summary, ir, plan, swift (the Plan as straight-line Swift source).") var emit: String = "summary"
    @Option(help: "Matmul activations of the plan: quantized, float or mixed.") var activations: String = "quantized"
    @Option(name: .customLong("type-name"), help: "Name of the enum that --emit swift writes.") var typeName: String = "EmittedPlan"

    func run() throws {
        try reportingErrors {
            let file = try ModelFile.open(model.path)
            let limits = GraphLimits(maxTokens: ub, maxOutputs: 1, contextLength: c)
            let g = try ModelRegistry.graph(for: file, limits: limits)
            let fusion = try Fusion.enabled()
            let fused = try Fusion.run(g, patterns: fusion)
            let plan = try Lowering.lower(fused, weights: { n in file.tensor(named: n).map { file.data(for: $0).baseAddress! } },
                                          precision: try ActivationPrecision(flag: activations), fusion: fusion)
            switch emit {
            case "ir": print(fused.dump())
            case "swift":
                let name = URL(fileURLWithPath: model.path).lastPathComponent
                print(Emitter.swift(plan, typeName: typeName, header: ["\(name): \(g.nodes.count) nodes → \(fused.nodes.count) fused → \(plan.steps.count) steps, batch \(ub), context \(c)."]), terminator: "")
            case "plan": for (i, s) in plan.steps.enumerated() { print("\(i): \(s.name)") }
            case "summary":
                print("nodes: \(g.nodes.count) → \(fused.nodes.count) after fusion (\(fusion.joined(separator: ", ")))")
                print("steps: \(plan.steps.count)")
                print(plan.memorySummary)
            default: throw RuntimeError.invalidOption("--emit must be summary, ir, plan or swift")
            }
        }
    }
}

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Requantize a model with ske's quantizers (llama.cpp's type choices for Q4_K_M).")
    @Argument(help: "Input .gguf or .bump.") var input: String
    @Argument(help: "Output .gguf.") var output: String
    @Argument(help: "Target: \(ModelQuantizer.targets.joined(separator: ", ")).") var type: String
    @Option(name: .short, help: "Threads.") var t: Int?

    func run() throws {
        try reportingErrors {
            let f = try ModelFile.open(input)
            let pool = t.map { ThreadPool(threadCount: $0) } ?? .shared
            var counts: [String: Int] = [:]
            let t0 = monotonicNanoseconds()
            try ModelQuantizer.quantize(f, to: output, target: type, pool: pool) { _, ty in counts[ty.name, default: 0] += 1 }
            print("wrote \(output) in \(formatFixed(Double(monotonicNanoseconds() - t0) / 1e9, 1)) s: " + counts.sorted { $0.key < $1.key }.map { "\($0.value)× \($0.key)" }.joined(separator: ", "))
        }
    }
}
