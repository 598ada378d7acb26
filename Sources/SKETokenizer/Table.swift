// Read-only tables for the tokenizer: either owned (copied once from the arrays a build produced) or borrowed
// in place from a mapped `.bump` file's tokenizer image, the file object kept alive as `owner`. Indexing is
// unchecked in release builds: every table is validated before use (see TokenizerImage.swift).

/// Elements that never change after construction.
struct Table<Element: BitwiseCopyable>: @unchecked Sendable {
    let buffer: UnsafeBufferPointer<Element>
    private let owner: AnyObject?

    /// A copy of `array`, freed with the last copy of this table.
    init(_ array: [Element]) {
        let memory = UnsafeMutableBufferPointer<Element>.allocate(capacity: max(array.count, 1))
        _ = memory.initialize(from: array)
        buffer = UnsafeBufferPointer(start: memory.baseAddress, count: array.count)
        owner = Allocation(memory)
    }

    /// Elements that live in memory `owner` keeps alive.
    init(borrowing buffer: UnsafeBufferPointer<Element>, owner: AnyObject) { self.buffer = buffer; self.owner = owner }

    var count: Int { buffer.count }
    var isEmpty: Bool { buffer.isEmpty }
    var base: UnsafePointer<Element> { buffer.baseAddress ?? UnsafePointer(bitPattern: MemoryLayout<Element>.alignment)! }
    @inline(__always) subscript(i: Int) -> Element { buffer[i] }
    /// The elements as an array. (Copy through this, not `buffer`, from a temporary table: a temporary's owner may be
    /// released right after `buffer` is read.)
    func elements() -> [Element] { Array(buffer) }
}

private final class Allocation<Element>: @unchecked Sendable {
    let memory: UnsafeMutableBufferPointer<Element>
    init(_ memory: UnsafeMutableBufferPointer<Element>) { self.memory = memory }
    deinit { memory.deallocate() }
}

/// String `i` of strings stored back to back (`offsets` holds count + 1 ascending positions in `bytes`).
@inline(__always) func span(_ bytes: Table<UInt8>, _ offsets: Table<Int>, _ i: Int) -> UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(start: bytes.base + offsets[i], count: offsets[i + 1] - offsets[i])
}
