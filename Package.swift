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
#else
let baselineCPU: [SwiftSetting] = []
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
    ],
    targets: [
        // The only C: system calls Swift cannot reach (cpuid/xgetbv instructions, the variadic syscall for mbind).
        .target(name: "CSKESystem"),
        .target(name: "SKECore", dependencies: ["CSKESystem"], swiftSettings: baselineCPU),
        .target(name: "SKEFormats", dependencies: ["SKECore"], swiftSettings: baselineCPU),
        .executableTarget(
            name: "ske",
            dependencies: [
                "SKECore", "SKEFormats",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: baselineCPU),
        .testTarget(name: "SKECoreTests", dependencies: ["SKECore"], swiftSettings: baselineCPU),
        .testTarget(
            name: "SKEFormatsTests", dependencies: ["SKECore", "SKEFormats"],
            resources: [.copy("Fixtures")], swiftSettings: baselineCPU),
    ],
    swiftLanguageModes: [.v6]
)
