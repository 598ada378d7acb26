import Foundation
import Testing
@testable import SKEKernels
import SKECore

/// The fixed-seed generator of every test input (SKECore's SplitMix64).
typealias SeededRandom = SplitMix64

extension SplitMix64 {
    /// Approximately N(0, 1) (sum of uniforms), enough for kernel inputs.
    mutating func normal() -> Float {
        var s: Float = 0
        for _ in 0..<6 { s += Float.random(in: -1...1, using: &self) }
        return s * 0.7071
    }
}

enum Fixture {
    static func data(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/dequant/" + name, withExtension: nil))
        return try Data(contentsOf: url)
    }
    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try data(name)) }
    static func floats(_ name: String) throws -> [Float] {
        let d = try data(name)
        return d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
    struct Dot: Decodable {
        let row: Int
        let dot_f64: Double
        let sum_abs_products_f64: Double
        let dot_dequant_w_x_dequant_qact_f64: Double
    }
    struct Info: Decodable {
        let type: String
        let n_rows: Int
        let ne0_row_length: Int
        let row_bytes: Int
        let vec_dot_type: String
        let dots: [Dot]
    }
    static func info(_ type: String) throws -> Info { try JSONDecoder().decode(Info.self, from: data(type + ".json")) }
}

/// Every ISA level this machine can run (the tests exercise each).
let isaLevels = CPUFeatures.host.supportedISALevels

/// Fills `blocks` rows of `type` with valid random blocks: quantize random floats (so scales are sane).
func randomRow(_ type: GGMLType, k: Int, rng: inout SeededRandom) -> (floats: [Float], bytes: [UInt8]) {
    let x = (0..<k).map { _ in rng.normal() }
    let kern = QuantTraits.kernels(type, level: .reference)!
    var b = [UInt8](repeating: 0, count: type.byteCount(elements: k)!)
    x.withUnsafeBufferPointer { xp in b.withUnsafeMutableBytes { kern.quantize(xp.baseAddress!, $0.baseAddress!, k) } }
    return (x, b)
}
