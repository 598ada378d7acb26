// GGUF byte-level codec: a bounds-checked little-endian reader and the matching encoder.
// Every read checks the remaining bytes first; counts are bounded by what the remaining bytes could
// possibly hold before anything is allocated, so a hostile count cannot exhaust memory.

import Synchronization

/// A bounds-checked reader over bytes (never traps on content; errors name the field and offset).
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let format: String

    init(_ bytes: UnsafeRawBufferPointer, at position: Int = 0, format: String = "GGUF") {
        self.bytes = bytes; self.position = position; self.format = format
    }

    var remaining: Int { bytes.count - position }

    mutating func need(_ n: Int, _ field: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw FormatError.truncated(format: format, field: field(), offset: position, needed: n, available: max(0, remaining))
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, field())
        let v = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += MemoryLayout<T>.size
        return v
    }

    mutating func readFloat(_ field: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, field()))
    }
    mutating func readDouble(_ field: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, field()))
    }

    /// A count stored as u64 that must fit in the remaining bytes at `minimumSize` bytes per element.
    mutating func readCount(_ field: @autoclosure () -> String, minimumSize: Int) throws -> Int {
        let at = position
        let raw = try read(UInt64.self, field())
        guard raw <= UInt64(Int.max), Int(raw) <= remaining / max(1, minimumSize) else {
            throw FormatError.invalid(format: format, field: field(), offset: at,
                                      reason: "count \(raw) cannot fit in the \(remaining) bytes left in the file")
        }
        return Int(raw)
    }

    mutating func readString(_ field: @autoclosure () -> String) throws -> String {
        let at = position
        let len = try read(UInt64.self, field() + ".length")
        guard len <= UInt64(remaining) else {
            throw FormatError.truncated(format: format, field: field(), offset: at, needed: len > UInt64(Int.max) ? Int.max : Int(len),
                                        available: remaining)
        }
        let n = Int(len)
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)]), as: UTF8.self)
        position += n
        return s
    }

    mutating func readValueType(_ field: @autoclosure () -> String) throws -> GGUFValueType {
        let at = position
        let raw = try read(UInt32.self, field())
        guard let t = GGUFValueType(rawValue: raw) else { throw FormatError.unknownValueType(field: field(), offset: at, raw: raw) }
        return t
    }

    mutating func readValue(_ type: GGUFValueType, _ field: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, field))
        case .int8: return .int8(try read(Int8.self, field))
        case .uint16: return .uint16(try read(UInt16.self, field))
        case .int16: return .int16(try read(Int16.self, field))
        case .uint32: return .uint32(try read(UInt32.self, field))
        case .int32: return .int32(try read(Int32.self, field))
        case .float32: return .float32(try readFloat(field))
        case .uint64: return .uint64(try read(UInt64.self, field))
        case .int64: return .int64(try read(Int64.self, field))
        case .float64: return .float64(try readDouble(field))
        case .string: return .string(try readString(field))
        case .bool:
            let at = position
            let b = try read(UInt8.self, field)
            guard b <= 1 else { throw FormatError.invalid(format: format, field: field, offset: at, reason: "bool byte is \(b), expected 0 or 1") }
            return .bool(b == 1)
        case .array: return .array(try readArray(field, depth: depth))
        }
    }

    static let maxArrayDepth = 8

    mutating func readArray(_ field: String, depth: Int) throws -> GGUFArray {
        let at = position
        guard depth < Self.maxArrayDepth else {
            throw FormatError.invalid(format: format, field: field, offset: at, reason: "arrays nested deeper than \(Self.maxArrayDepth)")
        }
        let elem = try readValueType(field + ".type")
        let n = try readCount(field + ".count", minimumSize: elem.minimumSize)
        func scalars<T: FixedWidthInteger>(_: T.Type) throws -> [T] {
            try need(n * MemoryLayout<T>.size, field)
            var out = [T](repeating: 0, count: n)
            out.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n * MemoryLayout<T>.size)])) }
            position += n * MemoryLayout<T>.size
            return out.map { T(littleEndian: $0) }
        }
        switch elem {
        case .uint8: return .uint8(try scalars(UInt8.self))
        case .int8: return .int8(try scalars(Int8.self))
        case .uint16: return .uint16(try scalars(UInt16.self))
        case .int16: return .int16(try scalars(Int16.self))
        case .uint32: return .uint32(try scalars(UInt32.self))
        case .int32: return .int32(try scalars(Int32.self))
        case .uint64: return .uint64(try scalars(UInt64.self))
        case .int64: return .int64(try scalars(Int64.self))
        case .float32: return .float32(try scalars(UInt32.self).map(Float.init(bitPattern:)))
        case .float64: return .float64(try scalars(UInt64.self).map(Double.init(bitPattern:)))
        case .bool:
            let raw = try scalars(UInt8.self)
            if let bad = raw.firstIndex(where: { $0 > 1 }) {
                throw FormatError.invalid(format: format, field: "\(field)[\(bad)]", offset: position - n + bad, reason: "bool byte is \(raw[bad])")
            }
            return .bool(raw.map { $0 == 1 })
        case .string:
            var out: [String] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try readString("\(field)[\(i)]")) }
            return .string(out)
        case .array:
            var out: [GGUFArray] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try readArray("\(field)[\(i)]", depth: depth + 1)) }
            return .array(out)
        }
    }

    /// Reads `count` key/value pairs (the metadata section of GGUF and of .bump). With an `owner` (the object that
    /// keeps `bytes` alive), arrays of strings or numbers of at least `deferBytes` bytes are only walked (every length
    /// checked) and kept as their bytes, decoded on first use: a .bump whose tokenizer comes prebuilt never decodes
    /// its 50k–260k vocabulary strings.
    mutating func readMetadata(count: Int, deferringArraysOwnedBy owner: AnyObject? = nil, deferBytes: Int = 1 << 16) throws -> GGUFMetadata {
        var md = GGUFMetadata()
        for i in 0..<count {
            let at = position
            let key = try readString("kv[\(i)].key")
            guard md[key] == nil else { throw FormatError.duplicate(kind: "metadata key", name: key, offset: at) }
            let type = try readValueType("kv[\(i)] '\(key)'.type")
            if let owner, type == .array, let deferred = try deferArray("kv[\(i)] '\(key)'", owner: owner, minimumBytes: deferBytes) {
                md.setDeferred(key, deferred)
            } else {
                md[key] = try readValue(type, "kv[\(i)] '\(key)'")
            }
        }
        return md
    }

    /// Walks an array of strings or fixed-size numbers at the cursor and returns it undecoded, if it is at least
    /// `minimumBytes` long; otherwise (or for bools and nested arrays, whose elements need checking) leaves the
    /// cursor where it was and returns nil.
    mutating func deferArray(_ field: String, owner: AnyObject, minimumBytes: Int) throws -> DeferredArray? {
        let start = position
        let elem = try readValueType(field + ".type")
        let n = try readCount(field + ".count", minimumSize: elem.minimumSize)
        if let size = elem.fixedSize, elem != .bool {
            try need(n * size, field)
            position += n * size
        } else if elem == .string {
            for i in 0..<n {
                let len = try read(UInt64.self, "\(field)[\(i)].length")
                guard len <= UInt64(remaining) else {
                    throw FormatError.truncated(format: format, field: "\(field)[\(i)]", offset: position - 8, needed: Int(clamping: len), available: remaining)
                }
                position += Int(len)
            }
        } else {
            position = start
            return nil
        }
        guard position - start >= minimumBytes else { position = start; return nil }
        return DeferredArray(owner: owner, bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), elementType: elem,
                             count: n, field: field, format: format)
    }
}

/// An array left undecoded in a mapped file (see `ByteCursor.readMetadata`): decoded once, on first use.
public final class DeferredArray: @unchecked Sendable {
    let owner: AnyObject
    let bytes: UnsafeRawBufferPointer
    public let elementType: GGUFValueType
    public let count: Int
    let field: String, format: String
    private let decoded = Mutex<GGUFArray?>(nil)

    init(owner: AnyObject, bytes: UnsafeRawBufferPointer, elementType: GGUFValueType, count: Int, field: String, format: String) {
        self.owner = owner; self.bytes = bytes; self.elementType = elementType; self.count = count; self.field = field; self.format = format
    }

    public var isDecoded: Bool { decoded.withLock { $0 != nil } }

    /// The decoded array. The walk at open checked every length, so decoding the same bytes cannot fail; if the
    /// mapped file was changed underneath since, the error is raised here rather than trapping.
    public func value() throws -> GGUFArray {
        try decoded.withLock { cached in
            if let cached { return cached }
            var c = ByteCursor(bytes, format: format)
            let a = try c.readArray(field, depth: 0)
            cached = a
            return a
        }
    }
}

/// Little-endian encoder for GGUF headers and metadata.
struct ByteEncoder {
    var bytes: [UInt8] = []

    mutating func write<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
    mutating func write(_ s: String) {
        let u = Array(s.utf8)
        write(UInt64(u.count))
        bytes.append(contentsOf: u)
    }
    mutating func pad(to alignment: Int, base: Int = 0) {
        let total = base + bytes.count
        let rem = total % alignment
        if rem != 0 { bytes.append(contentsOf: repeatElement(0, count: alignment - rem)) }
    }

    mutating func write(_ v: GGUFValue) {
        switch v {
        case .uint8(let x): write(x)
        case .int8(let x): write(x)
        case .uint16(let x): write(x)
        case .int16(let x): write(x)
        case .uint32(let x): write(x)
        case .int32(let x): write(x)
        case .float32(let x): write(x.bitPattern)
        case .bool(let x): write(UInt8(x ? 1 : 0))
        case .string(let s): write(s)
        case .uint64(let x): write(x)
        case .int64(let x): write(x)
        case .float64(let x): write(x.bitPattern)
        case .array(let a): write(a)
        }
    }

    mutating func write(_ a: GGUFArray) {
        write(a.elementType.rawValue)
        write(UInt64(a.count))
        switch a {
        case .uint8(let xs): bytes.append(contentsOf: xs)
        case .int8(let xs): for x in xs { write(x) }
        case .uint16(let xs): for x in xs { write(x) }
        case .int16(let xs): for x in xs { write(x) }
        case .uint32(let xs): for x in xs { write(x) }
        case .int32(let xs): for x in xs { write(x) }
        case .float32(let xs): for x in xs { write(x.bitPattern) }
        case .bool(let xs): for x in xs { write(UInt8(x ? 1 : 0)) }
        case .string(let xs): for x in xs { write(x) }
        case .uint64(let xs): for x in xs { write(x) }
        case .int64(let xs): for x in xs { write(x) }
        case .float64(let xs): for x in xs { write(x.bitPattern) }
        case .array(let xs): for x in xs { write(x) }
        }
    }

    mutating func write(_ md: GGUFMetadata) {
        for (k, v) in md.entries {
            write(k)
            write(v.type.rawValue)
            write(v)
        }
    }
}

import SKECore
