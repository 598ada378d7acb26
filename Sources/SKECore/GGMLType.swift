// GGMLType — the tensor element types GGUF files name, with their block layout as a table.
// The table is the single source of truth for "how many bytes does a row of N elements take";
// kernels (SKEKernels.QuantTraits) add their own per-type rows (dequantize, dot, activation format); a type
// without such a row can be read, inspected and converted but not computed with.

/// A ggml tensor type, by the numeric id GGUF stores (ggml.h `enum ggml_type`).
public enum GGMLType: UInt32, Sendable, CaseIterable, Codable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// Block layout: `blockSize` elements are stored in `blockBytes` bytes.
    public struct Traits: Sendable {
        public let name: String
        public let blockSize: Int
        public let blockBytes: Int
    }

    /// One row per type (ggml's `type_traits`: block size and bytes per block).
    private static let table: [GGMLType: Traits] = [
        .f32: .init(name: "F32", blockSize: 1, blockBytes: 4),
        .f16: .init(name: "F16", blockSize: 1, blockBytes: 2),
        .bf16: .init(name: "BF16", blockSize: 1, blockBytes: 2),
        .q4_0: .init(name: "Q4_0", blockSize: 32, blockBytes: 18),
        .q4_1: .init(name: "Q4_1", blockSize: 32, blockBytes: 20),
        .q5_0: .init(name: "Q5_0", blockSize: 32, blockBytes: 22),
        .q5_1: .init(name: "Q5_1", blockSize: 32, blockBytes: 24),
        .q8_0: .init(name: "Q8_0", blockSize: 32, blockBytes: 34),
        .q8_1: .init(name: "Q8_1", blockSize: 32, blockBytes: 36),  // f16 d, f16 s, 32×i8
        .q2_K: .init(name: "Q2_K", blockSize: 256, blockBytes: 84),
        .q3_K: .init(name: "Q3_K", blockSize: 256, blockBytes: 110),
        .q4_K: .init(name: "Q4_K", blockSize: 256, blockBytes: 144),
        .q5_K: .init(name: "Q5_K", blockSize: 256, blockBytes: 176),
        .q6_K: .init(name: "Q6_K", blockSize: 256, blockBytes: 210),
        .q8_K: .init(name: "Q8_K", blockSize: 256, blockBytes: 292),
        .iq2_xxs: .init(name: "IQ2_XXS", blockSize: 256, blockBytes: 66),
        .iq2_xs: .init(name: "IQ2_XS", blockSize: 256, blockBytes: 74),
        .iq3_xxs: .init(name: "IQ3_XXS", blockSize: 256, blockBytes: 98),
        .iq1_s: .init(name: "IQ1_S", blockSize: 256, blockBytes: 50),
        .iq4_nl: .init(name: "IQ4_NL", blockSize: 32, blockBytes: 18),
        .iq3_s: .init(name: "IQ3_S", blockSize: 256, blockBytes: 110),
        .iq2_s: .init(name: "IQ2_S", blockSize: 256, blockBytes: 82),
        .iq4_xs: .init(name: "IQ4_XS", blockSize: 256, blockBytes: 136),
        .i8: .init(name: "I8", blockSize: 1, blockBytes: 1),
        .i16: .init(name: "I16", blockSize: 1, blockBytes: 2),
        .i32: .init(name: "I32", blockSize: 1, blockBytes: 4),
        .i64: .init(name: "I64", blockSize: 1, blockBytes: 8),
        .f64: .init(name: "F64", blockSize: 1, blockBytes: 8),
        .iq1_m: .init(name: "IQ1_M", blockSize: 256, blockBytes: 56),
        .tq1_0: .init(name: "TQ1_0", blockSize: 256, blockBytes: 54),
        .tq2_0: .init(name: "TQ2_0", blockSize: 256, blockBytes: 66),
        .mxfp4: .init(name: "MXFP4", blockSize: 32, blockBytes: 17),
    ]

    public var traits: Traits { Self.table[self]! }
    public var name: String { traits.name }
    public var blockSize: Int { traits.blockSize }
    public var blockBytes: Int { traits.blockBytes }

    /// Looks a type up by its printed name ("Q4_K", case-insensitive).
    public init?(name: String) {
        let upper = name.uppercased()
        guard let hit = Self.allCases.first(where: { $0.name == upper }) else { return nil }
        self = hit
    }

    /// Bytes taken by `elements` values of this type, or nil when `elements` is not a whole number of
    /// blocks or the product overflows.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }
}

/// Element count of a shape (ggml order: dims[0] is the contiguous row length), or nil on overflow.
public func elementCount(_ dims: [Int]) -> Int? {
    var n = 1
    for d in dims {
        guard d >= 0 else { return nil }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        if o { return nil }
        n = p
    }
    return n
}
