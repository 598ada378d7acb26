// Values of the Jinja subset that chat templates use, with Python's semantics where templates can see them
// (truthiness, `str()`, `repr()`, equality, ordering, `json.dumps`).

/// An error from parsing or rendering a template. `line` is 1-based in the template source (0: unknown).
public enum JinjaError: Error, CustomStringConvertible, Equatable {
    case syntax(String, line: Int)
    case undefined(String)
    case type(String)
    /// The template called `raise_exception(message)`.
    case raised(String)

    public var description: String {
        switch self {
        case .syntax(let m, let line): "chat template syntax error at line \(line): \(m)"
        case .undefined(let m): "chat template: \(m)"
        case .type(let m): "chat template: \(m)"
        case .raised(let m): "chat template refused the conversation: \(m)"
        }
    }
}

/// An insertion-ordered dictionary (Python's dict as templates see it). Keys are usually strings; other keys
/// (`{0: 128}`) keep their value, stored under a name no string can have.
public struct JinjaObject: Sendable {
    private var order: [String] = []
    private var storage: [String: (key: JinjaValue, value: JinjaValue)] = [:]
    public init() {}
    public init(_ pairs: [(String, JinjaValue)]) { for (k, v) in pairs { self[k] = v } }

    private static func slot(_ key: JinjaValue) -> String {
        if case .string(let s) = key { return s }
        if let n = key.number, n == n.rounded() { return "\u{0}" + String(Int(n)) }   // 1 == 1.0 == True, as in Python
        return "\u{0}" + key.repr
    }
    public subscript(key: String) -> JinjaValue? {
        get { storage[key]?.value }
        set { self[value: .string(key)] = newValue }
    }
    public subscript(value key: JinjaValue) -> JinjaValue? {
        get { storage[Self.slot(key)]?.value }
        set {
            let slot = Self.slot(key)
            if let newValue {
                if storage.updateValue((key, newValue), forKey: slot) == nil { order.append(slot) }
            } else if storage.removeValue(forKey: slot) != nil {
                order.removeAll { $0 == slot }
            }
        }
    }
    public var keys: [JinjaValue] { order.map { storage[$0]!.key } }
    public var pairs: [(JinjaValue, JinjaValue)] { order.map { storage[$0]! } }
    public var count: Int { order.count }
}

/// `namespace(...)`: the one mutable object templates have (`{% set ns.x = … %}`).
public final class JinjaNamespace: @unchecked Sendable {
    var object: JinjaObject
    init(_ object: JinjaObject) { self.object = object }
}

/// A function value: globals (`range`, `namespace`, …), bound methods (`'a'.split`) and macros.
public struct JinjaCallable: @unchecked Sendable {
    public let name: String
    let body: ([JinjaValue], [(String, JinjaValue)]) throws -> JinjaValue
    public init(_ name: String, _ body: @escaping ([JinjaValue], [(String, JinjaValue)]) throws -> JinjaValue) {
        self.name = name; self.body = body
    }
}

public enum JinjaValue: Sendable {
    /// A name or key that does not exist: renders as "", is false, iterates as empty; using it otherwise is an error.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    case object(JinjaObject)
    case namespace(JinjaNamespace)
    case callable(JinjaCallable)

    /// Builds a value from JSON-like Swift values (String, Bool, Int, Double, arrays, `[String: Any]` or
    /// `[(String, Any)]` for ordered objects, nil/NSNull-free). Unknown types become `none`.
    public init(_ any: Any?) {
        switch any {
        case nil: self = .none
        case let v as JinjaValue: self = v
        case let v as String: self = .string(v)
        case let v as Bool: self = .bool(v)
        case let v as Int: self = .int(v)
        case let v as Double: self = .double(v)
        case let v as [(String, Any?)]: self = .object(JinjaObject(v.map { ($0.0, JinjaValue($0.1)) }))
        case let v as [Any?]: self = .array(v.map { JinjaValue($0) })
        case let v as [String: Any?]: self = .object(JinjaObject(v.keys.sorted().map { ($0, JinjaValue(v[$0]!)) }))
        default: self = .none
        }
    }

    public var isUndefined: Bool { if case .undefined = self { true } else { false } }

    var truthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .array(let a): !a.isEmpty
        case .object(let o): o.count > 0
        case .namespace, .callable: true
        }
    }

    var typeName: String {
        switch self {
        case .undefined: "undefined"
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .double: "float"
        case .string: "str"
        case .array: "list"
        case .object: "dict"
        case .namespace: "Namespace"
        case .callable: "function"
        }
    }

    /// Python's `str()` (what `{{ x }}` prints).
    var text: String {
        switch self {
        case .undefined: ""
        case .string(let s): s
        default: repr
        }
    }

    /// Python's `repr()`.
    var repr: String {
        switch self {
        case .undefined: ""
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .double(let d): Self.pythonFloat(d)
        case .string(let s): Self.pythonQuote(s)
        case .array(let a): "[" + a.map(\.repr).joined(separator: ", ") + "]"
        case .object(let o): "{" + o.pairs.map { $0.0.repr + ": " + $0.1.repr }.joined(separator: ", ") + "}"
        case .namespace(let n): "<Namespace " + JinjaValue.object(n.object).repr + ">"
        case .callable(let c): "<function \(c.name)>"
        }
    }

    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        if d == d.rounded(), abs(d) < 1e16 { return String(Int(d)) + ".0" }
        return "\(d)"
    }

    static func pythonQuote(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for ch in s.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(ch) == quote { out += "\\" + String(ch) }
                else if ch.value < 0x20 || ch.value == 0x7f { out += "\\x" + hex(ch.value, 2) }
                else { out.unicodeScalars.append(ch) }
            }
        }
        out.append(quote)
        return out
    }

    static func hex(_ v: UInt32, _ digits: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }

    /// Python's `json.dumps(x, ensure_ascii=False, indent=indent, separators=…, sort_keys=…)`.
    func json(indent: Int?, separators: (String, String)? = nil, sortKeys: Bool = false, asciiOnly: Bool = false, depth: Int = 0) throws -> String {
        let (item, key) = separators ?? (indent == nil ? (", ", ": ") : (",", ": "))
        func open(_ d: Int) -> String { indent.map { "\n" + String(repeating: " ", count: $0 * d) } ?? "" }
        switch self {
        case .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "NaN" }
            if d.isInfinite { return d > 0 ? "Infinity" : "-Infinity" }
            return Self.pythonFloat(d)
        case .string(let s): return Self.jsonQuote(s, asciiOnly: asciiOnly)
        case .array(let a):
            if a.isEmpty { return "[]" }
            let inner = try a.map { try open(depth + 1) + $0.json(indent: indent, separators: separators, sortKeys: sortKeys, depth: depth + 1) }
            return "[" + inner.joined(separator: item) + open(depth) + "]"
        case .object(let o):
            if o.count == 0 { return "{}" }
            let pairs = sortKeys ? o.pairs.sorted { $0.0.text < $1.0.text } : o.pairs
            let inner = try pairs.map {
                try open(depth + 1) + Self.jsonQuote($0.0.jsonKey, asciiOnly: asciiOnly) + key + $0.1.json(indent: indent, separators: separators, sortKeys: sortKeys, asciiOnly: asciiOnly, depth: depth + 1)
            }
            return "{" + inner.joined(separator: item) + open(depth) + "}"
        case .namespace(let n): return try JinjaValue.object(n.object).json(indent: indent, separators: separators, sortKeys: sortKeys, asciiOnly: asciiOnly, depth: depth)
        case .undefined(let name): throw JinjaError.undefined("'\(name)' is undefined and cannot be written as JSON")
        case .callable(let c): throw JinjaError.type("a function (\(c.name)) cannot be written as JSON")
        }
    }

    /// json.dumps writes non-string keys as strings: true → "true", None → "null", 1 → "1".
    var jsonKey: String {
        switch self {
        case .string(let s): s
        case .bool(let b): b ? "true" : "false"
        case .none: "null"
        default: repr
        }
    }

    static func jsonQuote(_ s: String, asciiOnly: Bool = false) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if ch.value < 0x20 || (asciiOnly && ch.value > 0x7f) {
                    for unit in String(ch).utf16 { out += "\\u" + hex(UInt32(unit), 4) }   // surrogate pairs past the BMP
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        return out + "\""
    }

    /// Python's `==` (1 == 1.0 == True).
    static func equal(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.pairs.allSatisfy { k, v in y[value: k].map { equal(v, $0) } ?? false }
        case (.namespace(let x), .namespace(let y)): return x === y
        default:
            if let x = a.number, let y = b.number { return x == y }
            return false
        }
    }

    /// Numeric view (bools count as 0/1, as in Python).
    var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    static func less(_ a: JinjaValue, _ b: JinjaValue) throws -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x < y
        case (.array(let x), .array(let y)):
            for (p, q) in zip(x, y) where !equal(p, q) { return try less(p, q) }
            return x.count < y.count
        default:
            if let x = a.number, let y = b.number { return x < y }
            throw JinjaError.type("'<' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }
}
