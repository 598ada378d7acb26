// `ske tokenizer train`: learn a byte-level BPE vocabulary from a corpus and write it as GGUF tokenizer metadata.
import ArgumentParser
import Foundation
import SKECore
import SKEFormats
import SKETokenizer

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenizer", abstract: "Tokenizer tools.", subcommands: [Train.self])

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Train a byte-level BPE tokenizer on a corpus; write it as a tokenizer-only GGUF.")
        @Argument(help: "Corpus text file.") var corpus: String
        @Option(help: "Vocabulary size (256 bytes + merges + special tokens).") var vocabSize: Int
        @Option(name: [.short, .customLong("output")], help: "Output .gguf file.") var output: String
        @Option(help: "Pre-tokenizer (a tokenizer.ggml.pre name, e.g. gpt-2, llama-bpe, qwen2, smollm).") var pre: String = "gpt-2"
        @Option(help: "Special tokens (comma-separated).") var special: String = "<|endoftext|>"

        func run() throws {
            try reportingErrors {
                guard let d = FileManager.default.contents(atPath: corpus) else { throw FormatError.io(path: corpus, operation: "read", errno: ENOENT) }
                let t0 = monotonicNanoseconds()
                let data: TokenizerData
                do {
                    data = try BPETrainer.train(text: String(decoding: d, as: UTF8.self), vocabSize: vocabSize, pre: pre,
                                                specialTokens: special.split(separator: ",").map(String.init))
                } catch let e as TokenizerError {
                    FileHandle.standardError.write(Data("error: \(e)\n".utf8)); throw ExitCode(1)
                }
                var md = data.ggufMetadata
                md["general.architecture"] = .string("tokenizer")
                md["general.name"] = .string("ske BPE \(vocabSize) on \(URL(fileURLWithPath: corpus).lastPathComponent)")
                try GGUFWriter(metadata: md).write(to: output)
                let s = Double(monotonicNanoseconds() - t0) / 1e9
                FileHandle.standardError.write(Data("wrote \(output): \(data.tokens.count) tokens, \(data.merges.count) merges in \(formatFixed(s, 2)) s\n".utf8))
            }
        }
    }
}
