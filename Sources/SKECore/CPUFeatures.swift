// CPUFeatures — what the processor can do AND the OS has enabled, read once from cpuid/xgetbv.
// Kernels dispatch on `isaLevel`; `SKE_ISA=reference|avx2|avx512` forces a (lower) level.
import CSKESystem

public struct CPUFeatures: Sendable, Codable, Equatable {
    public var vendor: String = ""
    public var brand: String = ""
    public var sse42 = false, avx = false, fma = false, f16c = false, avx2 = false
    public var avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false
    public var avx512vnni = false, avx512bf16 = false, avx512fp16 = false, avxVNNI = false
    /// AMX tiles present and their state enabled in XCR0. Linux still requires a per-process permission
    /// request (arch_prctl ARCH_REQ_XCOMP_PERM) before use; ske never uses AMX (this sandbox traps on it).
    public var amxTile = false
    /// XCR0: the register state the OS saves on context switch (bit 1 SSE, 2 AVX, 5–7 AVX-512).
    public var xcr0: UInt64 = 0

    /// Features of the machine running this process (computed once).
    public static let host = CPUFeatures.detect()

    public static func detect() -> CPUFeatures {
        var f = CPUFeatures()
        var r: [UInt32] = [0, 0, 0, 0]
        func cpuid(_ leaf: UInt32, _ sub: UInt32 = 0) -> (UInt32, UInt32, UInt32, UInt32)? {
            guard ske_cpuid(leaf, sub, &r) == 1 else { return nil }
            return (r[0], r[1], r[2], r[3])
        }
        guard let (maxLeaf, vb, vc, vd) = cpuid(0) else { return f }
        f.vendor = String(decoding: [vb, vd, vc].flatMap(bytes), as: UTF8.self)
        if let (maxExt, _, _, _) = cpuid(0x8000_0000), maxExt >= 0x8000_0004 {
            var raw: [UInt8] = []
            for leaf in UInt32(0x8000_0002)...0x8000_0004 {
                if let (a, b, c, d) = cpuid(leaf) { raw += [a, b, c, d].flatMap(bytes) }
            }
            f.brand = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self).trimmingSpaces()
        }
        func bit(_ v: UInt32, _ i: UInt32) -> Bool { (v >> i) & 1 == 1 }
        guard maxLeaf >= 1, let (_, _, c1, _) = cpuid(1) else { return f }
        let osxsave = bit(c1, 27)
        f.xcr0 = osxsave ? ske_xgetbv(0) : 0
        let osAVX = (f.xcr0 & 0b110) == 0b110                 // XMM and YMM state
        let osAVX512 = osAVX && (f.xcr0 & 0b1110_0000) == 0b1110_0000  // opmask, ZMM_Hi256, Hi16_ZMM
        f.sse42 = bit(c1, 20)
        f.avx = bit(c1, 28) && osAVX
        f.fma = bit(c1, 12) && osAVX
        f.f16c = bit(c1, 29) && osAVX
        if maxLeaf >= 7, let (_, b7, c7, d7) = cpuid(7, 0) {
            f.avx2 = bit(b7, 5) && osAVX
            f.avx512f = bit(b7, 16) && osAVX512
            f.avx512dq = bit(b7, 17) && osAVX512
            f.avx512bw = bit(b7, 30) && osAVX512
            f.avx512vl = bit(b7, 31) && osAVX512
            f.avx512vnni = bit(c7, 11) && osAVX512
            f.avx512fp16 = bit(d7, 23) && osAVX512
            f.amxTile = bit(d7, 24) && (f.xcr0 & (0b11 << 17)) == (0b11 << 17)
            if let (a71, _, _, _) = cpuid(7, 1) {
                f.avx512bf16 = bit(a71, 5) && osAVX512
                f.avxVNNI = bit(a71, 4) && osAVX
            }
        }
        return f
    }

    /// The SIMD levels ske ships kernels for, lowest first.
    public enum ISALevel: String, Sendable, Codable, CaseIterable, Comparable {
        case reference, avx2, avx512
        public static func < (a: Self, b: Self) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// The highest level this CPU and OS support: avx2 needs AVX2+FMA+F16C; avx512 needs F/DQ/BW/VL/VNNI.
    public var bestISALevel: ISALevel {
        if avx2 && fma && f16c && avx512f && avx512dq && avx512bw && avx512vl && avx512vnni { return .avx512 }
        if avx2 && fma && f16c { return .avx2 }
        return .reference
    }

    /// Every level this machine can run (the tests run each of them).
    public var supportedISALevels: [ISALevel] { ISALevel.allCases.filter { $0 <= bestISALevel } }

    /// The level kernels use: `SKE_ISA` when set (clamped to what the CPU supports), else the best.
    public func selectedISALevel(environment: [String: String] = ProcessEnvironment.all) throws -> ISALevel {
        guard let forced = environment["SKE_ISA"], !forced.isEmpty else { return bestISALevel }
        guard let level = ISALevel(rawValue: forced.lowercased()) else {
            throw SKEError.invalidSetting("SKE_ISA=\(forced): expected one of reference, avx2, avx512")
        }
        guard level <= bestISALevel else {
            throw SKEError.invalidSetting("SKE_ISA=\(forced): this CPU supports at most \(bestISALevel.rawValue)")
        }
        return level
    }

    /// Names of the detected features, for printing.
    public var flagNames: [String] {
        let all: [(String, Bool)] = [
            ("sse4.2", sse42), ("avx", avx), ("fma", fma), ("f16c", f16c), ("avx2", avx2),
            ("avx512f", avx512f), ("avx512dq", avx512dq), ("avx512bw", avx512bw), ("avx512vl", avx512vl),
            ("avx512vnni", avx512vnni), ("avx512bf16", avx512bf16), ("avx512fp16", avx512fp16),
            ("avxvnni", avxVNNI), ("amx-tile", amxTile),
        ]
        return all.filter(\.1).map(\.0)
    }
}

private func bytes(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)] }

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
