// GGUF metadata values: the 13 value types, arrays (typed, nestable) and an ordered key → value map
// with typed accessors. `.bump` files carry the same metadata in the same encoding.

/// GGUF metadata value type ids (gguf.h `enum gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Encoded size of one scalar of this type; nil for string/array (variable).
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }
    /// The fewest bytes one element of this type can take (used to bound counts before allocating).
    public var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 12) }
    public var name: String { "\(self)" }
}

public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    case array(GGUFArray)

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        case .array: .array
        }
    }

    /// Any integer value as Int (nil for non-integers or UInt64 values past Int.max).
    public var intValue: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }
    /// Any numeric value as Double.
    public var doubleValue: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: intValue.map(Double.init)
        }
    }
    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var arrayValue: GGUFArray? { if case .array(let a) = self { a } else { nil } }
}

/// A GGUF array: one element type, stored typed (a vocabulary of 262,144 strings is one [String]).
public indirect enum GGUFArray: Equatable, Sendable {
    case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16]), uint32([UInt32]), int32([Int32])
    case float32([Float]), bool([Bool]), string([String]), uint64([UInt64]), int64([Int64]), float64([Double])
    case array([GGUFArray])

    public var elementType: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        case .array: .array
        }
    }

    public var count: Int {
        switch self {
        case .uint8(let a): a.count
        case .int8(let a): a.count
        case .uint16(let a): a.count
        case .int16(let a): a.count
        case .uint32(let a): a.count
        case .int32(let a): a.count
        case .float32(let a): a.count
        case .bool(let a): a.count
        case .string(let a): a.count
        case .uint64(let a): a.count
        case .int64(let a): a.count
        case .float64(let a): a.count
        case .array(let a): a.count
        }
    }

    public var strings: [String]? { if case .string(let a) = self { a } else { nil } }
    public var floats: [Float]? { if case .float32(let a) = self { a } else { nil } }
    /// Integer elements of any integer type as [Int] (nil for other types).
    public var ints: [Int]? {
        switch self {
        case .uint8(let a): a.map(Int.init)
        case .int8(let a): a.map(Int.init)
        case .uint16(let a): a.map(Int.init)
        case .int16(let a): a.map(Int.init)
        case .uint32(let a): a.map(Int.init)
        case .int32(let a): a.map(Int.init)
        case .uint64(let a): a.map { Int(truncatingIfNeeded: $0) }
        case .int64(let a): a.map(Int.init)
        case .bool(let a): a.map { $0 ? 1 : 0 }
        default: nil
        }
    }
}

/// Ordered metadata (file order is kept, so a round trip writes the same bytes). A value read from a mapped
/// `.bump` may be a `DeferredArray`, decoded on first access; `arrayCount` answers without decoding it.
public struct GGUFMetadata: Equatable, Sendable {
    enum Slot: Sendable {
        case value(GGUFValue), deferred(DeferredArray)
        var value: GGUFValue {
            switch self {
            case .value(let v): return v
            // Only unreadable if the mapped file changed since it was checked at open: an empty array then.
            case .deferred(let d): return .array((try? d.value()) ?? .uint8([]))
            }
        }
    }
    private var keyList: [String] = []
    private var slots: [Slot] = []
    private var index: [String: Int] = [:]

    public init() {}
    public init(_ pairs: [(String, GGUFValue)]) { for (k, v) in pairs { self[k] = v } }

    public var count: Int { keyList.count }
    public var keys: [String] { keyList }
    /// Every pair, decoded.
    public var entries: [(key: String, value: GGUFValue)] { zip(keyList, slots).map { ($0, $1.value) } }

    public subscript(key: String) -> GGUFValue? {
        get { index[key].map { slots[$0].value } }
        set {
            if let i = index[key] {
                if let v = newValue { slots[i] = .value(v) } else { remove(key) }
            } else if let v = newValue {
                index[key] = keyList.count
                keyList.append(key); slots.append(.value(v))
            }
        }
    }

    mutating func setDeferred(_ key: String, _ d: DeferredArray) {
        if let i = index[key] { slots[i] = .deferred(d); return }
        index[key] = keyList.count
        keyList.append(key); slots.append(.deferred(d))
    }

    public mutating func remove(_ key: String) {
        guard let i = index[key] else { return }
        keyList.remove(at: i); slots.remove(at: i)
        index = Dictionary(uniqueKeysWithValues: keyList.enumerated().map { ($1, $0) })
    }

    public func string(_ key: String) -> String? { self[key]?.stringValue }
    public func int(_ key: String) -> Int? { self[key]?.intValue }
    public func double(_ key: String) -> Double? { self[key]?.doubleValue }
    public func bool(_ key: String) -> Bool? { self[key]?.boolValue }
    public func array(_ key: String) -> GGUFArray? { self[key]?.arrayValue }
    /// The element count of an array value, without decoding a deferred one.
    public func arrayCount(_ key: String) -> Int? {
        guard let i = index[key] else { return nil }
        if case .deferred(let d) = slots[i] { return d.count }
        return slots[i].value.arrayValue?.count
    }

    /// False while `key` holds a deferred array nobody has read yet (true for every other present key).
    public func isDecoded(_ key: String) -> Bool {
        guard let i = index[key] else { return false }
        if case .deferred(let d) = slots[i] { return d.isDecoded }
        return true
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.keyList == b.keyList && zip(a.slots, b.slots).allSatisfy { $0.value == $1.value }
    }
}

/// One tensor of a model file: name, type, shape (ggml order: dims[0] is the row length), and where
/// its bytes are, relative to the start of the file's data region.
public struct TensorInfo: Equatable, Sendable {
    public var name: String
    public var type: GGMLType
    public var dims: [Int]
    public var offset: Int
    public var byteCount: Int

    public init(name: String, type: GGMLType, dims: [Int], offset: Int, byteCount: Int) {
        self.name = name; self.type = type; self.dims = dims; self.offset = offset; self.byteCount = byteCount
    }
    public var elementCount: Int { dims.reduce(1, *) }
}

import SKECore
