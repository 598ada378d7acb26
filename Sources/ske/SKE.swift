// ske — the command line. Holds no model logic: it parses flags and calls the libraries.
import ArgumentParser
import Foundation
import SKECore
import SKEFormats
import SKETokenizer

@main
struct SKE: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ske",
        abstract: "Swift Kernel Engine: run and train transformer models on CPUs.",
        subcommands: [Run.self, Chat.self, Replica.self, Perplexity.self, Quantize.self, Compile.self, Inspect.self, Convert.self, Tokenize.self, TokenizerCommand.self, Bench.self])
}

/// The model the README's first command fetches, used when `-m` is not given.
enum DefaultModel {
    static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"
    static var path: String {
        if let p = ProcessInfo.processInfo.environment["SKE_MODEL"], !p.isEmpty { return p }
        return "models/" + fileName
    }
}

struct ModelOption: ParsableArguments {
    @Option(name: [.short, .customLong("model")], help: "Model file (.gguf or .bump). Default: $SKE_MODEL or models/\(DefaultModel.fileName).")
    var model: String?

    var path: String { model ?? DefaultModel.path }
}

/// Runs `body`, printing a FormatError/SKEError as one clear line and exiting non-zero. Checks the
/// environment settings first (SKE_THREADS, SKE_ISA), so a bad value is an error, not a silent default.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        _ = try ThreadPool.defaultThreadCount()
        _ = try CPUFeatures.host.selectedISALevel()
        return try body()
    } catch let e as FormatError {
        FileHandle.standardError.write(Data("error: \(e)\n".utf8))
        throw ExitCode(1)
    } catch let e as SKEError {
        FileHandle.standardError.write(Data("error: \(e)\n".utf8))
        throw ExitCode(1)
    } catch let e as ExitCode {
        throw e
    } catch let e as any Error & CustomStringConvertible {
        // GraphError, ModelError, RuntimeError, TokenizerError, TemplateError: each says what to do.
        FileHandle.standardError.write(Data("error: \(e)\n".utf8))
        throw ExitCode(1)
    }
}

func printJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model file's architecture, hyperparameters, tokenizer and tensors; or this machine (--system).")

    @Argument(help: "A .gguf or .bump file (default: the default model).") var file: String?
    @Flag(help: "Print JSON instead of text.") var json = false
    @Flag(help: "Print the whole tensor table.") var tensors = false
    @Flag(help: "Describe this machine: CPU features, cores, NUMA nodes, read bandwidth.") var system = false
    @Flag(name: .customLong("no-verify"), help: "Skip the .bump checksum.") var noVerify = false

    func run() throws {
        if system { return try inspectSystem() }
        let path = file ?? DefaultModel.path
        try reportingErrors {
            let t0 = monotonicNanoseconds()
            let f = try ModelFile.open(path, verify: !noVerify)
            let ms = Double(monotonicNanoseconds() - t0) / 1e6
            let s = ModelSummary(f)
            if json { try printJSON(s) } else {
                print(s.render(showTensors: tensors))
                print("opened in \(formatFixed(ms, 2)) ms" + ((f as? BumpFile).map { $0.verified ? " (checksum verified in \(formatFixed(Double($0.verifyNanoseconds) / 1e6, 2)) ms)" : " (checksum not verified)" } ?? ""))
            }
        }
    }

    struct SystemReport: Codable {
        var cpu: CPUFeatures
        var isaLevel: String
        var usableCores: Int
        var threads: Int
        var numaNodes: Int
        var readBandwidth1Thread: Double
        var readBandwidthAllThreads: Double
    }

    func inspectSystem() throws {
        try reportingErrors {
            let cpu = CPUFeatures.host
            let pool = ThreadPool.shared
            let one = try MemoryProbe.readBandwidth(pool: ThreadPool(threadCount: 1))
            let all = try MemoryProbe.readBandwidth(pool: pool)
            let r = SystemReport(cpu: cpu, isaLevel: try cpu.selectedISALevel().rawValue, usableCores: ThreadPool.usableCores,
                                 threads: pool.threadCount, numaNodes: NUMA.nodeCount,
                                 readBandwidth1Thread: one.gigabytesPerSecond, readBandwidthAllThreads: all.gigabytesPerSecond)
            if json { return try printJSON(r) }
            print("cpu            \(cpu.brand) (\(cpu.vendor))")
            print("features       \(cpu.flagNames.joined(separator: " "))")
            print("xcr0           0x\(String(cpu.xcr0, radix: 16))")
            print("isa level      \(r.isaLevel) (best \(cpu.bestISALevel.rawValue); SKE_ISA overrides)")
            print("cores          \(r.usableCores) usable, pool of \(r.threads) threads (SKE_THREADS overrides)")
            print("numa nodes     \(r.numaNodes)")
            print("read bandwidth \(formatFixed(r.readBandwidth1Thread, 1)) GB/s (1 thread), \(formatFixed(r.readBandwidthAllThreads, 1)) GB/s (\(r.threads) threads), \(formatBytes(all.bytes)) buffer")
        }
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Convert a GGUF (or .bump) model to ske's .bump format.")

    @Argument(help: "Input model (.gguf).") var input: String
    @Argument(help: "Output file (.bump).") var output: String

    func run() throws {
        try reportingErrors {
            let t0 = monotonicNanoseconds()
            let f = try ModelFile.open(input)
            let bar = ProgressBar(label: "converting")
            try Bump.convert(f, tokenizerImage: Tokenizer.image(for: f), to: output, progress: bar.update)
            bar.finish()
            let s = Double(monotonicNanoseconds() - t0) / 1e9
            FileHandle.standardError.write(Data("wrote \(output): \(f.tensors.count) tensors, \(f.metadata.count) metadata keys in \(formatFixed(s, 2)) s\n".utf8))
        }
    }
}

/// A one-line progress bar on a terminal; silent when stderr is not a TTY.
final class ProgressBar {
    let label: String
    let enabled = isatty(STDERR_FILENO) == 1
    var lastPercent = -1
    init(label: String) { self.label = label }
    func update(_ done: Int, _ total: Int) {
        guard enabled, total > 0 else { return }
        let pct = done * 100 / total
        guard pct != lastPercent else { return }
        lastPercent = pct
        let width = 30, filled = pct * width / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(pct)% \(formatBytes(done))".utf8))
    }
    func finish() { if enabled && lastPercent >= 0 { FileHandle.standardError.write(Data("\n".utf8)) } }
}
