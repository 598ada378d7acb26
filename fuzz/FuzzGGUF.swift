import SKEFormats
// libFuzzer entry point: parse arbitrary bytes as GGUF and, when they parse, as .bump metadata too;
// touch every tensor view. Any trap or sanitizer report is a bug. Built by scripts/fuzz.sh.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = UnsafeRawBufferPointer(start: data, count: size)
    if let f = try? GGUFFile(bytes: raw) {
        var sum: UInt8 = 0
        for t in f.tensors {
            let d = f.data(for: t)
            if let first = d.first, let last = d.last { sum = sum &+ first &+ last }
        }
        _ = ModelSummary(f)
        blackHole(sum)
    }
    return 0
}

@inline(never) func blackHole(_ x: UInt8) { if x == 0x5A && x != 0x5A { print(x) } }
