import Testing
@testable import SKECore

@Suite("CPU features")
struct CPUFeaturesTests {
    /// The kernel's own view of the CPU (it also checks OS support for AVX state before listing the flags).
    static let procFlags: Set<String>? = {
        guard let text = readSmallFile("/proc/cpuinfo", limit: 1 << 20),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return nil }
        return Set(line.split(separator: ":")[1].split(separator: " ").map(String.init))
    }()

    @Test("cpuid agrees with /proc/cpuinfo", .enabled(if: procFlags != nil))
    func matchesProc() throws {
        let f = CPUFeatures.host
        let p = try #require(Self.procFlags)
        let pairs: [(String, Bool)] = [
            ("avx", f.avx), ("fma", f.fma), ("f16c", f.f16c), ("avx2", f.avx2), ("avx512f", f.avx512f),
            ("avx512bw", f.avx512bw), ("avx512vl", f.avx512vl), ("avx512dq", f.avx512dq),
            ("avx512_vnni", f.avx512vnni), ("avx512_bf16", f.avx512bf16), ("avx512_fp16", f.avx512fp16), ("sse4_2", f.sse42),
        ]
        for (name, ours) in pairs { #expect(ours == p.contains(name), "\(name)") }
        #expect(!f.vendor.isEmpty)
    }

    @Test("ISA levels are consistent with the flags")
    func levels() throws {
        let f = CPUFeatures.host
        if f.bestISALevel >= .avx2 { #expect(f.avx2 && f.fma && f.f16c) }
        if f.bestISALevel == .avx512 { #expect(f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni) }
        #expect(f.supportedISALevels.first == .reference)
        #expect(f.supportedISALevels.last == f.bestISALevel)
        if f.avx512f { #expect(f.xcr0 & 0xE6 == 0xE6, "AVX-512 reported only when the OS saves ZMM state") }
    }

    @Test("SKE_ISA forces a level; unknown or unsupported levels are errors")
    func override() throws {
        let f = CPUFeatures.host
        #expect(try f.selectedISALevel(environment: [:]) == f.bestISALevel)
        #expect(try f.selectedISALevel(environment: ["SKE_ISA": "reference"]) == .reference)
        #expect(throws: SKEError.self) { try f.selectedISALevel(environment: ["SKE_ISA": "sse9"]) }
        var none = CPUFeatures()
        none.avx2 = false
        #expect(throws: SKEError.self) { try none.selectedISALevel(environment: ["SKE_ISA": "avx2"]) }
    }

    @Test("ggml type table: byte counts and refusals")
    func typeTable() {
        #expect(GGMLType.q4_K.byteCount(elements: 512) == 288)
        #expect(GGMLType.q8_0.byteCount(elements: 33) == nil)
        #expect(GGMLType.f32.byteCount(elements: Int.max) == nil)
        #expect(GGMLType(name: "q6_k") == .q6_K)
        #expect(elementCount([Int.max, 2]) == nil)
        #expect(elementCount([]) == 1)
    }
}
