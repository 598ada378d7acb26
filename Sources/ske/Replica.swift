// `ske replica`: a prompt through LlamaCppReplica, llama.cpp's forward pass in llama.cpp's own arithmetic (bit for bit
// its logits on the reference models): greedy tokens, the first position's top 10, optionally its logits as raw f32.
// For checking a model or a result against llama.cpp, not for speed (scalar: seconds per token).
import ArgumentParser
import Foundation
import SKEFormats
import SKERuntime
import SKETokenizer

struct Replica: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a prompt in llama.cpp's arithmetic, op for op (slow; logits equal llama.cpp's bit for bit).",
        discussion: "Replicates llama.cpp as the reference ran it: n_ctx = 512 (-c), n_batch = n_ubatch = 512, flash attention off, f16 K/V, the prompt in 512-token batches, greedy argmax (ties to the lowest id), x86 AVX-512 kernels. Architectures llama, qwen3, gemma3; Q4_1, Q5_0, Q8_0, Q4_K and Q6_K weights.")

    @OptionGroup var model: ModelOption
    @Option(name: [.short, .customLong("prompt")], help: "Prompt text (special tokens parsed, BOS as the model says).") var prompt: String
    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Greedy tokens to generate.") var count = 32
    @Option(name: .customLong("logits-out"), help: "Write the first generated position's logits here (raw little-endian f32).") var logitsOut: String?
    @Option(name: [.customShort("c"), .customLong("ctx-size")], help: "KV cells (llama.cpp's -c; a multiple of 256).") var context = 512
    @Option(name: [.short, .customLong("threads")], help: "Threads.") var threads: Int?
    @Flag(help: "Print prompt ids, generated ids, text and the first top 10 as JSON.") var json = false

    struct Output: Encodable { let promptIDs: [Int32]; let generatedIDs: [Int32]; let text: String; let top10: [[Float]] }

    func run() throws {
        try reportingErrors {
            guard count >= 0 else { throw ValidationError("-n must be at least 0") }
            let file = try ModelFile.open(model.path)
            let tokenizer = try Tokenizer.load(from: file)
            let replica = try LlamaCppReplica(file: file, cells: context, threads: threads)
            let ids = tokenizer.encode(prompt, addSpecial: true, parseSpecial: true)
            var logits = try replica.logits(after: ids)
            if let logitsOut {
                let data = logits.withUnsafeBytes { Data($0) }
                guard FileManager.default.createFile(atPath: logitsOut, contents: data) else { throw FormatError.io(path: logitsOut, operation: "write", errno: errno) }
            }
            let first = logits
            let top = first.indices.sorted { first[$0] > first[$1] || (first[$0] == first[$1] && $0 < $1) }.prefix(10)
            var generated: [Int32] = []
            for step in 0..<count {
                let best = Int32(logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!)
                generated.append(best)
                if !json { FileHandle.standardOutput.write(Data(tokenizer.pieceBytes(best))) }
                if step + 1 < count { logits = try replica.logits(after: [best]) }
            }
            if json {
                try printJSON(Output(promptIDs: ids, generatedIDs: generated, text: tokenizer.decode(generated),
                                     top10: top.map { [Float($0), first[$0]] }))
            } else {
                print("\n\nfirst position, top 10 (id: logit):")
                print(top.map { "\($0): \(first[$0])" }.joined(separator: "  "))
            }
        }
    }
}
