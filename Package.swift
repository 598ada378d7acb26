// swift-tools-version:6.0
// ske — Swift Kernel Engine. One package; modules as in docs/DESIGN.md. Arrows point down:
//   CSKESystem (C shim: cpuid/xgetbv, mbind) → SKECore → SKEFormats → ske (CLI)
import PackageDescription

// `-target-cpu` decides whether Swift SIMD compiles to vector instructions at all (without it,
// `addingProduct` and Float16 conversions become a library call per lane). The promised x86-64
// baseline is AVX2+FMA+F16C (`haswell`); faster ISA levels get their own modules later, each with
// its own `-target-cpu`, chosen at run time from CPUFeatures.
#if arch(x86_64)
let baselineCPU: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
/// The AVX-512 level: F/CD/BW/DQ/VL + VNNI (Cascade Lake's set, which every later Xeon has).
/// `fast-dpwssd` is an LLVM tuning flag, not an ISA feature: without it LLVM splits every vpdpwssd into
/// vpmaddwd + vpaddd (one more uop on the two 512-bit ports per use; the K-quant kernels use it per 64 codes).
let avx512CPU: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "cascadelake",
                                               "-Xcc", "-Xclang", "-Xcc", "-target-feature", "-Xcc", "-Xclang", "-Xcc", "+fast-dpwssd"]),
                                 .define("SKE_VNNI")]
#else
let baselineCPU: [SwiftSetting] = []
let avx512CPU: [SwiftSetting] = []
#endif

let package = Package(
    name: "ske",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ske", targets: ["ske"]),
        .library(name: "SKECore", targets: ["SKECore"]),
        .library(name: "SKEFormats", targets: ["SKEFormats"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `Real` (exp, tanh, … on a generic float) so each reference op is written once and runs in
        // Float for the engine and in Double for the finite-difference tests.
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.0"),
    ],
    targets: [
        // The only C: system calls Swift cannot reach (cpuid/xgetbv instructions, the variadic syscall for mbind).
        .target(name: "CSKESystem"),
        // AMX tile kernels (C: Swift cannot emit tile instructions); used by SKEKernels' AMX path when the CPU has it.
        .target(name: "CSKEAMX"),
        .target(name: "SKECore", dependencies: ["CSKESystem"], swiftSettings: baselineCPU),
        .target(name: "SKEFormats", dependencies: ["SKECore"], swiftSettings: baselineCPU),
        // Kernels: the reference path and the dispatch table; one module per ISA level for the SIMD paths
        // (the same source, Sources/SKEKernelsShared, symlinked into each and built with its own -target-cpu).
        .target(name: "SKEKernelsAVX2", dependencies: ["SKECore"], swiftSettings: baselineCPU),
        .target(name: "SKEKernelsAVX512", dependencies: ["SKECore"], swiftSettings: avx512CPU),
        .target(
            name: "SKEKernels",
            dependencies: ["SKECore", "SKEKernelsAVX2", "SKEKernelsAVX512", "CSKEAMX", .product(name: "RealModule", package: "swift-numerics")],
            swiftSettings: baselineCPU),
        // Tokenizer: standalone BPE/SPM; the GGUF metadata adapter is its only use of SKEFormats.
        .target(name: "SKETokenizer", dependencies: ["SKECore", "SKEFormats"], swiftSettings: baselineCPU),
        // The compiler: IR, verifier, fusion, memory planner, lowering to a Plan.
        .target(name: "SKEGraph", dependencies: ["SKECore", "SKEKernels", .product(name: "RealModule", package: "swift-numerics")], swiftSettings: baselineCPU),
        // Architectures (one file each) building IR from GGUF metadata.
        .target(name: "SKEModels", dependencies: ["SKEGraph", "SKEFormats", "SKEKernels"], swiftSettings: baselineCPU),
        // Executes Plans: engine, KV cache, sampling, generation, perplexity, chat templates.
        .target(
            name: "SKERuntime",
            dependencies: ["SKECore", "SKEFormats", "SKEKernels", "SKEGraph", "SKEModels", "SKETokenizer",
                           .product(name: "RealModule", package: "swift-numerics")],
            swiftSettings: baselineCPU),
        .executableTarget(
            name: "ske",
            dependencies: [
                "SKECore", "SKEFormats", "SKEKernels", "SKETokenizer", "SKEGraph", "SKEModels", "SKERuntime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: baselineCPU),
        .testTarget(
            name: "SKEKernelsTests", dependencies: ["SKECore", "SKEKernels", "SKEKernelsAVX512", "SKEFormats"],
            resources: [.copy("Fixtures")], swiftSettings: baselineCPU),
        .testTarget(
            name: "SKETokenizerTests", dependencies: ["SKETokenizer", "SKEFormats", "SKECore"],
            resources: [.copy("Fixtures")], swiftSettings: baselineCPU),
        // Test-only C: interposes malloc & co. to count the allocations of threads that opt in.
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["SKECore", "SKEFormats", "SKEKernels", "SKETokenizer", "SKEGraph", "SKEModels", "SKERuntime", "CAllocationCounter"],
            resources: [.copy("Fixtures")], swiftSettings: baselineCPU),
        .testTarget(name: "SKECoreTests", dependencies: ["SKECore"], swiftSettings: baselineCPU),
        .testTarget(
            name: "SKEFormatsTests", dependencies: ["SKECore", "SKEFormats"],
            resources: [.copy("Fixtures")], swiftSettings: baselineCPU),
    ],
    swiftLanguageModes: [.v6]
)
