// Shared helpers of the format tests: seeded randomness, paths to models and fixtures, temp files.
import Foundation
import Testing
@testable import SKEFormats
import SKECore

/// The fixed-seed generator of every test input (SKECore's SplitMix64).
typealias SeededRandom = SplitMix64

extension SplitMix64 {
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &self) } }
}

enum Paths {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Where the real models live: $SKE_MODELS_DIR, else <repo>/models (filled by scripts/fetch-models.sh).
    static let modelsDir = ProcessInfo.processInfo.environment["SKE_MODELS_DIR"].map { URL(fileURLWithPath: $0) }
        ?? repoRoot.appendingPathComponent("models")
    static let smollm2 = modelsDir.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let gemma3 = modelsDir.appendingPathComponent("gemma-3-270m-q4_k_m.gguf").path

    static func fixture(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil))
        return try Data(contentsOf: url)
    }

    static func tempFile(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ske-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }
}

/// Real-model tests run when the models are present; `scripts/test.sh` (the README's test command) fetches
/// them and sets SKE_REQUIRE_MODELS=1, so there a missing model is a failure, not a skip.
enum Models {
    static let required = ProcessInfo.processInfo.environment["SKE_REQUIRE_MODELS"] == "1"
    static var available: Bool {
        FileManager.default.fileExists(atPath: Paths.smollm2) && FileManager.default.fileExists(atPath: Paths.gemma3)
    }
    static var enabled: Bool { required || available }
}

/// A small GGUF with every metadata type, nested arrays and tensors of several types (fixed seed).
func makeSampleGGUF(seed: UInt64 = 1) throws -> GGUFWriter {
    var rng = SeededRandom(seed: seed)
    var md = GGUFMetadata()
    md["general.architecture"] = .string("llama")
    md["general.name"] = .string("tiny ünïcode ✓ 模型")
    md["u8"] = .uint8(250); md["i8"] = .int8(-100); md["u16"] = .uint16(65000); md["i16"] = .int16(-32000)
    md["u32"] = .uint32(4_000_000_000); md["i32"] = .int32(-2_000_000_000); md["f32"] = .float32(-1.5e-7)
    md["bool.t"] = .bool(true); md["bool.f"] = .bool(false)
    md["u64"] = .uint64(UInt64.max); md["i64"] = .int64(Int64.min); md["f64"] = .float64(3.141592653589793)
    md["empty.string"] = .string("")
    md["arr.u8"] = .array(.uint8([0, 1, 255])); md["arr.i8"] = .array(.int8([-128, 127]))
    md["arr.u16"] = .array(.uint16([1, 65535])); md["arr.i16"] = .array(.int16([-1, 2]))
    md["arr.u32"] = .array(.uint32([7])); md["arr.i32"] = .array(.int32([-7, 8, 9]))
    md["arr.f32"] = .array(.float32([0.5, -0.25, 1e30])); md["arr.bool"] = .array(.bool([true, false, true]))
    md["arr.str"] = .array(.string(["a", "", "▁hello", "<0x0A>"])); md["arr.u64"] = .array(.uint64([1, UInt64.max]))
    md["arr.i64"] = .array(.int64([Int64.min, 0])); md["arr.f64"] = .array(.float64([1e-300, -2]))
    md["arr.empty"] = .array(.int32([]))
    md["arr.nested"] = .array(.array([.int32([1, 2]), .string(["x", "y"]), .array([.float32([3])])]))
    md["llama.block_count"] = .uint32(2)
    var w = GGUFWriter(metadata: md)
    let shapes: [(String, GGMLType, [Int])] = [
        ("token_embd.weight", .q8_0, [64, 7]), ("blk.0.attn_norm.weight", .f32, [64]),
        ("blk.0.ffn_up.weight", .q4_K, [256, 3]), ("blk.0.ffn_down.weight", .f16, [5, 3, 2]),
        ("blk.0.attn_q.weight", .q5_0, [32, 1]), ("output.weight", .q6_K, [256, 2, 1, 1]),
    ]
    for (name, type, dims) in shapes {
        let n = type.byteCount(elements: dims.reduce(1, *))!
        try w.addTensor(name: name, type: type, dims: dims, data: .bytes(rng.bytes(n)))
    }
    return w
}
