// Perplexity with llama-perplexity's protocol: the token stream is cut into chunks of n_ctx tokens; each chunk
// is evaluated from an empty cache (its first token replaced by BOS when the model adds BOS); the second half
// is scored: positions n_ctx/2 … n_ctx−2 predict the next token. PPL = exp(mean NLL),
// ± = PPL·√((mean(nll²) − mean(nll)²)/(count − 1)).
import RealModule
import SKECore

public struct PerplexityResult: Sendable, Codable {
    public var tokens: Int
    public var chunks: Int
    public var contextLength: Int
    public var perplexity: Double
    public var uncertainty: Double
    /// PPL after each chunk (what llama-perplexity prints as it goes).
    public var running: [Double]
    public var seconds: Double
}

extension Engine {
    /// Engine options for scoring with chunks of `n` tokens.
    public static func perplexityOptions(context n: Int, base: EngineOptions = EngineOptions()) -> EngineOptions {
        var o = base
        o.contextLength = n; o.batchSize = n; o.maxOutputs = n / 2
        return o
    }

    public func perplexity(ids: [Int32], context n: Int, progress: (Int, Double) -> Void = { _, _ in }) throws -> PerplexityResult {
        guard n >= 4, n <= contextLength else { throw RuntimeError.invalidOption("perplexity context \(n) must be between 4 and the engine's context \(contextLength)") }
        let chunks = ids.count / n
        guard chunks >= 1 else { throw RuntimeError.invalidOption("the text has \(ids.count) tokens, fewer than one chunk of \(n)") }
        let first = n / 2
        let bos = tokenizer.settings.addBOS ? tokenizer.settings.bos : nil
        var sum = 0.0, sumSq = 0.0, count = 0
        var running: [Double] = []
        let start = monotonicNanoseconds()
        let rows = Array(first..<(n - 1))
        for c in 0..<chunks {
            var chunk = Array(ids[(c * n)..<((c + 1) * n)])
            if let bos { chunk[0] = bos }
            reset()
            try evaluate(chunk, outputs: rows) { j, logits in
                let target = Int(ids[c * n + j + 1])
                var m = logits[0]
                for v in logits where v > m { m = v }
                var s = 0.0
                for v in logits { s += Double(Float.exp(v - m)) }
                let nll = Double.log(s) - Double(logits[target] - m)
                sum += nll; sumSq += nll * nll; count += 1
            }
            running.append(Double.exp(sum / Double(count)))
            progress(c, running.last!)
        }
        let mean = sum / Double(count)
        let ppl = Double.exp(mean)
        let variance = max(sumSq / Double(count) - mean * mean, 0)
        return PerplexityResult(tokens: ids.count, chunks: chunks, contextLength: n, perplexity: ppl,
                                uncertainty: ppl * (variance / Double(count - 1)).squareRoot(), running: running,
                                seconds: Double(monotonicNanoseconds() - start) / 1e9)
    }
}
