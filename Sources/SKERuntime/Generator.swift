// Text generation: prompt → batched prefill → one token at a time, streaming text as it decodes, stopping on
// an end-of-generation token, a stop string or the token limit. Timings separate prefill from decode.
import Foundation
import SKECore
import SKETokenizer

public struct GenerationOptions: Sendable {
    public var maxTokens = 128
    public var sampling = SamplingParameters()
    public var stopStrings: [String] = []
    /// Keep going past end-of-generation tokens (as llama.cpp's --ignore-eos).
    public var ignoreEOS = false
    public init() {}
}

public struct GenerationResult: Sendable {
    public enum StopReason: String, Sendable { case endOfGeneration = "eog", stopString = "stop", length }
    public var promptIDs: [Int32]
    public var generatedIDs: [Int32] = []
    public var text = ""
    public var stopReason = StopReason.length
    /// Prompt tokens whose cache entries were kept from the previous call (`reuseCache`), not recomputed.
    public var reusedTokens = 0
    public var prefillSeconds = 0.0
    public var decodeSeconds = 0.0
    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptIDs.count - reusedTokens) / prefillSeconds : 0 }
    /// Decode rate: tokens after the first (the first comes from the prefill's logits).
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(max(generatedIDs.count - 1, 0)) / decodeSeconds : 0 }
}

extension Engine {
    static func endOfGenerationTokens(_ tokenizer: Tokenizer) -> Set<Int32> {
        var s = Set<Int32>()
        if let e = tokenizer.settings.eos { s.insert(e) }
        let names = ["<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>", "<|end|>", "<|eom_id|>", "<|end_of_text|>"]
        for name in names {
            guard let id = tokenizer.tokenID(name) else { continue }
            let type = tokenizer.type(of: id)
            if type == .control || type == .userDefined { s.insert(id) }
        }
        return s
    }

    /// Generates after `promptIDs`. `onText` receives text as soon as it is final. With `reuseCache` the cached
    /// positions that already hold a prefix of `promptIDs` are kept (a chat's earlier turns are not recomputed);
    /// otherwise the cache is reset first.
    public func generate(promptIDs: [Int32], _ options: GenerationOptions, reuseCache: Bool = false,
                         onText: (String) -> Void = { _ in }) throws -> GenerationResult {
        var result = GenerationResult(promptIDs: promptIDs)
        guard !promptIDs.isEmpty else { throw RuntimeError.emptyInput }
        let needed = promptIDs.count + max(options.maxTokens - 1, 0)
        if needed > contextLength { throw RuntimeError.contextFull(needed: needed, context: contextLength) }
        var kept = 0
        if reuseCache {
            // At least one token is evaluated: its logits give the first generated token.
            let limit = min(cachedIDs.count, promptIDs.count - 1)
            while kept < limit, cachedIDs[kept] == promptIDs[kept] { kept += 1 }
        }
        rewind(to: kept)
        result.reusedTokens = kept
        var sampler = Sampler(options.sampling)
        let eog = options.ignoreEOS ? [] : endOfGeneration
        var decoder = StreamingDecoder(tokenizer)
        var history = promptIDs
        history.reserveCapacity(promptIDs.count + options.maxTokens)
        var pending = ""   // decoded text held back while it could still be the start of a stop string
        let holdBack = options.stopStrings.map(\.count).max().map { $0 - 1 } ?? 0

        var t0 = monotonicNanoseconds()
        var next: Int32 = 0
        try evaluate(Array(promptIDs[kept...])) { _, logits in next = sampler.sample(logits, history: history[...]) }
        result.prefillSeconds = Double(monotonicNanoseconds() - t0) / 1e9
        t0 = monotonicNanoseconds()
        var single: [Int32] = [0]
        while result.generatedIDs.count < options.maxTokens {
            if eog.contains(next) { result.stopReason = .endOfGeneration; break }
            result.generatedIDs.append(next)
            history.append(next)
            pending += decoder.push(next)
            if let stop = options.stopStrings.first(where: { pending.contains($0) }) {
                let cut = pending.range(of: stop)!.lowerBound
                let head = String(pending[..<cut])
                result.text += head; onText(head)
                pending = ""
                result.stopReason = .stopString
                break
            }
            if pending.count > holdBack {
                let emit = String(pending.prefix(pending.count - holdBack))
                pending.removeFirst(emit.count)
                result.text += emit; onText(emit)
            }
            if result.generatedIDs.count == options.maxTokens { break }
            single[0] = next
            try evaluate(single) { _, logits in next = sampler.sample(logits, history: history[...]) }
        }
        if result.stopReason != .stopString {
            let tail = pending + decoder.flush()
            result.text += tail; onText(tail)
        }
        result.decodeSeconds = Double(monotonicNanoseconds() - t0) / 1e9
        return result
    }
}
