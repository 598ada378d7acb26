import Foundation

// Filters, tests, methods and globals: tables keyed by name, each entry one small function.

struct JinjaArguments {
    var positional: [JinjaValue]
    var keyword: [(String, JinjaValue)]

    /// Argument `i` by position, else by keyword `name`.
    func get(_ i: Int, _ name: String) -> JinjaValue? {
        if i < positional.count { return positional[i] }
        return keyword.first { $0.0 == name }?.1
    }
}

private func string(_ v: JinjaValue, _ what: String) throws -> String {
    switch v {
    case .string(let s): return s
    case .undefined(let n): throw JinjaError.undefined("'\(n)' is undefined (used as a string in \(what))")
    default: throw JinjaError.type("\(what) needs a string, got '\(v.typeName)'")
    }
}

private func pythonStrip(_ s: String, _ chars: JinjaValue?, leading: Bool, trailing: Bool) -> String {
    let set: (Character) -> Bool
    if let chars, case .string(let c) = chars { set = { c.contains($0) } } else { set = { $0.isWhitespace } }
    var sub = Substring(s)
    if leading { sub = sub.drop(while: set) }
    if trailing { while let l = sub.last, set(l) { sub = sub.dropLast() } }
    return String(sub)
}

private func pythonSplit(_ s: String, _ sep: JinjaValue?, _ maxSplit: Int) throws -> [JinjaValue] {
    if let sep, case .string(let separator) = sep {
        guard !separator.isEmpty else { throw JinjaError.type("empty separator") }
        var parts: [String] = []
        var rest = Substring(s)
        while maxSplit < 0 || parts.count < maxSplit, let r = rest.range(of: separator) {
            parts.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        parts.append(String(rest))
        return parts.map { .string($0) }
    }
    // Whitespace split: runs of whitespace, no empty strings.
    var parts: [String] = []
    var rest = Substring(s).drop(while: \.isWhitespace)
    while !rest.isEmpty {
        if maxSplit >= 0, parts.count == maxSplit { parts.append(String(rest)); break }
        let word = rest.prefix { !$0.isWhitespace }
        parts.append(String(word))
        rest = rest[word.endIndex...].drop(while: \.isWhitespace)
    }
    return parts.map { .string($0) }
}

private func titleCase(_ s: String) -> String {
    var out = ""
    var previousIsLetter = false
    for c in s {
        out += previousIsLetter ? c.lowercased() : c.uppercased()
        previousIsLetter = c.isLetter
    }
    return out
}

/// Python's `str.format` for `{}`, `{0}` and `{name}` fields (no format specs).
private func pythonFormat(_ format: String, _ args: JinjaArguments) throws -> String {
    var out = ""
    var auto = 0
    var i = format.startIndex
    while i < format.endIndex {
        let c = format[i]
        if c == "{" {
            let n = format.index(after: i)
            if n < format.endIndex, format[n] == "{" { out += "{"; i = format.index(after: n); continue }
            guard let close = format[n...].firstIndex(of: "}") else { throw JinjaError.type("unmatched '{' in format string") }
            let field = String(format[n..<close])
            let value: JinjaValue?
            if field.isEmpty { value = args.positional.indices.contains(auto) ? args.positional[auto] : nil; auto += 1 }
            else if let k = Int(field) { value = args.positional.indices.contains(k) ? args.positional[k] : nil }
            else { value = args.keyword.first { $0.0 == field }?.1 }
            guard let value else { throw JinjaError.type("format field '{\(field)}' has no argument") }
            out += value.text
            i = format.index(after: close)
        } else if c == "}" {
            let n = format.index(after: i)
            if n < format.endIndex, format[n] == "}" { out += "}"; i = format.index(after: n); continue }
            throw JinjaError.type("single '}' in format string")
        } else {
            out.append(c); i = format.index(after: i)
        }
    }
    return out
}

private func arg(_ a: [JinjaValue]) throws -> JinjaValue {
    guard let x = a.first else { throw JinjaError.type("this test needs an argument") }
    return x
}
private func list(_ v: JinjaValue) throws -> [JinjaValue] { try iterate(v) }
private func key(_ v: JinjaValue, _ attribute: JinjaValue?) throws -> JinjaValue {
    guard let attribute else { return v }
    var x = v
    for part in attribute.text.split(separator: ".") {
        x = try JinjaInterpreter().item(x, Int(part).map { .int($0) } ?? .string(String(part)), describing: .name("item"))
    }
    return x
}
private func selectFilter(_ keep: Bool, byAttribute: Bool) -> JinjaInterpreter.Filter {
    { interpreter, v, a in
        var p = a.positional
        let attribute: JinjaValue? = byAttribute ? (p.isEmpty ? nil : p.removeFirst()) : nil
        let test: String? = p.isEmpty ? nil : p.removeFirst().text
        return .array(try (v.truthy ? list(v) : []).filter { item in   // jinja2: a false input selects nothing
            let x = try key(item, attribute)
            let passed = try test.map { try interpreter.applyTest($0, x, p) } ?? x.truthy
            return passed == keep
        })
    }
}
private func sorted(_ items: [JinjaValue], by: (JinjaValue) throws -> JinjaValue, reverse: Bool, caseSensitive: Bool) throws -> [JinjaValue] {
    func fold(_ v: JinjaValue) -> JinjaValue { if !caseSensitive, case .string(let s) = v { .string(s.lowercased()) } else { v } }
    let keyed = try items.map { (fold(try by($0)), $0) }
    // Stable, like Python's sort.
    let order = try keyed.indices.sorted { i, j in
        let (x, y) = (keyed[i].0, keyed[j].0)
        if try JinjaValue.less(x, y) { return !reverse }
        if try JinjaValue.less(y, x) { return reverse }
        return i < j
    }
    return order.map { keyed[$0].1 }
}

enum JinjaMethods {
    typealias Method = (JinjaArguments) throws -> JinjaValue

    /// The method `name` of `base`, bound, or nil if it has none.
    static func bind(_ base: JinjaValue, _ name: String) -> JinjaCallable? {
        let body: Method?
        switch base {
        case .string(let s): body = stringMethod(s, name)
        case .object(let o): body = objectMethod(o, name)
        default: body = nil
        }
        return body.map { m in JinjaCallable(name) { try m(JinjaArguments(positional: $0, keyword: $1)) } }
    }

    private static func stringMethod(_ s: String, _ name: String) -> Method? {
        switch name {
        case "strip": return { .string(pythonStrip(s, $0.get(0, "chars"), leading: true, trailing: true)) }
        case "lstrip": return { .string(pythonStrip(s, $0.get(0, "chars"), leading: true, trailing: false)) }
        case "rstrip": return { .string(pythonStrip(s, $0.get(0, "chars"), leading: false, trailing: true)) }
        case "split":
            return { a in
                var sep = a.get(0, "sep")
                if case .none? = sep { sep = nil }
                return .array(try pythonSplit(s, sep, a.get(1, "maxsplit")?.integer ?? -1))
            }
        case "splitlines": return { _ in .array(s.split(omittingEmptySubsequences: false) { $0.isNewline }.map { .string(String($0)) }.dropLastIfEmpty()) }
        case "startswith", "endswith":
            return { a in
                guard let p = a.get(0, "prefix") else { throw JinjaError.type("\(name)() takes one argument") }
                var candidates = [p]
                if case .array(let a) = p { candidates = a }
                for c in candidates {
                    let x = try string(c, name)
                    if name == "startswith" ? s.hasPrefix(x) : s.hasSuffix(x) { return .bool(true) }
                }
                return .bool(false)
            }
        case "upper": return { _ in .string(s.uppercased()) }
        case "lower": return { _ in .string(s.lowercased()) }
        case "title": return { _ in .string(titleCase(s)) }
        case "capitalize": return { _ in .string(s.prefix(1).uppercased() + s.dropFirst().lowercased()) }
        case "replace":
            return { a in
                guard let old = a.get(0, "old"), let new = a.get(1, "new") else { throw JinjaError.type("replace() takes two arguments") }
                return .string(try replace(s, try string(old, "replace"), try string(new, "replace"), a.get(2, "count")?.integer ?? -1))
            }
        case "find":
            return { a in
                let sub = try string(a.get(0, "sub") ?? .none, "find")
                guard let r = s.range(of: sub) else { return .int(-1) }
                return .int(s.distance(from: s.startIndex, to: r.lowerBound))
            }
        case "count": return { a in .int(s.components(separatedBy: try string(a.get(0, "x") ?? .none, "count")).count - 1) }
        case "format": return { a in .string(try pythonFormat(s, a)) }
        case "join": return { a in .string(try iterate(a.get(0, "iterable") ?? .none).map(\.text).joined(separator: s)) }
        case "isdigit": return { _ in .bool(!s.isEmpty && s.allSatisfy(\.isNumber)) }
        case "isspace": return { _ in .bool(!s.isEmpty && s.allSatisfy(\.isWhitespace)) }
        case "isalpha": return { _ in .bool(!s.isEmpty && s.allSatisfy(\.isLetter)) }
        default: return nil
        }
    }

    private static func objectMethod(_ o: JinjaObject, _ name: String) -> Method? {
        switch name {
        case "items": return { _ in .array(o.pairs.map { .array([$0.0, $0.1]) }) }
        case "keys": return { _ in .array(o.keys) }
        case "values": return { _ in .array(o.pairs.map(\.1)) }
        case "get": return { a in o[value: a.get(0, "key") ?? .none] ?? a.get(1, "default") ?? .none }
        default: return nil
        }
    }
}

func replace(_ s: String, _ old: String, _ new: String, _ count: Int) throws -> String {
    if count < 0 { return old.isEmpty ? s : s.replacingOccurrences(of: old, with: new) }
    var out = ""
    var rest = Substring(s)
    var n = 0
    while n < count, !old.isEmpty, let r = rest.range(of: old) {
        out += rest[..<r.lowerBound] + new
        rest = rest[r.upperBound...]
        n += 1
    }
    return out + rest
}

private extension Array where Element == JinjaValue {
    func dropLastIfEmpty() -> [JinjaValue] {
        if case .string("")? = last { return Array(dropLast()) }
        return self
    }
}

extension JinjaInterpreter {
    typealias Filter = @Sendable (inout JinjaInterpreter, JinjaValue, JinjaArguments) throws -> JinjaValue
    typealias Test = @Sendable (JinjaValue, [JinjaValue]) throws -> Bool

    mutating func applyFilter(_ name: String, _ value: JinjaValue, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)],
                              _ frame: JinjaFrame) throws -> JinjaValue {
        guard let filter = Self.filters[name] else { throw JinjaError.type("unknown filter '\(name)'") }
        return try filter(&self, value, JinjaArguments(positional: args, keyword: kwargs))
    }

    func applyTest(_ name: String, _ v: JinjaValue, _ args: [JinjaValue]) throws -> Bool {
        guard let test = Self.tests[name] else { throw JinjaError.type("unknown test '\(name)'") }
        return try test(v, args)
    }

    static let tests: [String: Test] = {
        var t: [String: Test] = [
            "defined": { v, _ in !v.isUndefined },
            "undefined": { v, _ in v.isUndefined },
            "none": { v, _ in if case .none = v { true } else { false } },
            "string": { v, _ in if case .string = v { true } else { false } },
            "number": { v, _ in switch v { case .int, .double: true; default: false } },
            "integer": { v, _ in if case .int = v { true } else { false } },
            "float": { v, _ in if case .double = v { true } else { false } },
            "boolean": { v, _ in if case .bool = v { true } else { false } },
            "true": { v, _ in if case .bool(true) = v { true } else { false } },
            "false": { v, _ in if case .bool(false) = v { true } else { false } },
            "mapping": { v, _ in switch v { case .object, .namespace: true; default: false } },
            "sequence": { v, _ in switch v { case .array, .string, .object: true; default: false } },
            "iterable": { v, _ in switch v { case .array, .string, .object, .namespace: true; default: false } },
            "callable": { v, _ in if case .callable = v { true } else { false } },
            "odd": { v, _ in (v.integer ?? 0) % 2 != 0 },
            "even": { v, _ in (v.integer ?? 1) % 2 == 0 },
            "divisibleby": { v, a in
                guard let d = try arg(a).integer, d != 0, let x = v.integer else { return false }
                return x % d == 0
            },
            "equalto": { v, a in JinjaValue.equal(v, try arg(a)) },
            "ne": { v, a in !JinjaValue.equal(v, try arg(a)) },
            "lt": { v, a in try JinjaValue.less(v, try arg(a)) },
            "gt": { v, a in try JinjaValue.less(try arg(a), v) },
            "le": { v, a in !(try JinjaValue.less(try arg(a), v)) },
            "ge": { v, a in !(try JinjaValue.less(v, try arg(a))) },
            "in": { v, a in try JinjaInterpreter().contains(try arg(a), v) },
            "lower": { v, _ in if case .string(let s) = v { s == s.lowercased() } else { false } },
            "upper": { v, _ in if case .string(let s) = v { s == s.uppercased() } else { false } },
        ]
        t["eq"] = t["equalto"]; t["=="] = t["equalto"]; t["sameas"] = t["equalto"]
        t["lessthan"] = t["lt"]; t["greaterthan"] = t["gt"]
        return t
    }()

    static let filters: [String: Filter] = {
        var f: [String: Filter] = [
            "trim": { _, v, a in .string(pythonStrip(v.text, a.get(0, "chars"), leading: true, trailing: true)) },
            "length": { _, v, _ in
                switch v {
                case .string(let s): .int(s.count)
                case .array(let x): .int(x.count)
                case .object(let o): .int(o.count)
                case .undefined: .int(0)
                default: throw JinjaError.type("object of type '\(v.typeName)' has no len()")
                }
            },
            "tojson": { _, v, a in
                let indent = a.get(0, "indent")?.integer
                var separators: (String, String)? = nil
                if case .array(let s)? = a.get(99, "separators"), s.count == 2 { separators = (s[0].text, s[1].text) }
                return .string(try v.json(indent: indent, separators: separators, sortKeys: a.get(99, "sort_keys")?.truthy ?? false,
                                          asciiOnly: a.get(99, "ensure_ascii")?.truthy ?? false))
            },
            "join": { _, v, a in
                let attribute = a.get(1, "attribute")
                return .string(try list(v).map { try key($0, attribute).text }.joined(separator: a.get(0, "d")?.text ?? ""))
            },
            "upper": { _, v, _ in .string(v.text.uppercased()) },
            "lower": { _, v, _ in .string(v.text.lowercased()) },
            "title": { _, v, _ in .string(titleCase(v.text)) },
            "capitalize": { _, v, _ in let s = v.text; return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased()) },
            "default": { _, v, a in
                let fallback = a.get(0, "default_value") ?? .string("")
                let boolean = a.get(1, "boolean")?.truthy ?? false
                return (v.isUndefined || (boolean && !v.truthy)) ? fallback : v
            },
            "first": { _, v, _ in try list(v).first ?? .undefined("first item of an empty sequence") },
            "last": { _, v, _ in try list(v).last ?? .undefined("last item of an empty sequence") },
            "list": { _, v, _ in .array(try list(v)) },
            "reverse": { _, v, _ in
                if case .string(let s) = v { return .string(String(s.reversed())) }
                return .array(try list(v).reversed())
            },
            "replace": { _, v, a in
                guard let old = a.get(0, "old"), let new = a.get(1, "new") else { throw JinjaError.type("replace needs two arguments") }
                return .string(try replace(v.text, old.text, new.text, a.get(2, "count")?.integer ?? -1))
            },
            "string": { _, v, _ in .string(v.text) },
            "safe": { _, v, _ in v },
            "int": { _, v, a in
                switch v {
                case .int: return v
                case .bool(let b): return .int(b ? 1 : 0)
                case .double(let d): return .int(Int(d))
                case .string(let s): return .int(Int(s.trimmingCharacters(in: .whitespaces)) ?? Double(s).map { Int($0) } ?? a.get(0, "default")?.integer ?? 0)
                default: return a.get(0, "default") ?? .int(0)
                }
            },
            "float": { _, v, a in
                if let n = v.number { return .double(n) }
                if case .string(let s) = v, let d = Double(s.trimmingCharacters(in: .whitespaces)) { return .double(d) }
                return a.get(0, "default") ?? .double(0)
            },
            "abs": { _, v, _ in
                switch v {
                case .int(let i): .int(abs(i))
                case .double(let d): .double(abs(d))
                default: throw JinjaError.type("bad operand type for abs(): '\(v.typeName)'")
                }
            },
            "round": { _, v, a in
                guard let x = v.number else { throw JinjaError.type("round needs a number") }
                let p = pow(10, Double(a.get(0, "precision")?.integer ?? 0))
                return .double((x * p).rounded(.toNearestOrEven) / p)
            },
            "items": { _, v, _ in
                switch v {
                case .object(let o): .array(o.pairs.map { .array([$0.0, $0.1]) })
                case .undefined: .array([])
                default: throw JinjaError.type("items needs a mapping, got '\(v.typeName)'")
                }
            },
            "dictsort": { _, v, a in
                guard case .object(let o) = v else { throw JinjaError.type("dictsort needs a mapping") }
                let byValue = a.get(1, "by")?.text == "value"
                let pairs = o.pairs.map { JinjaValue.array([$0.0, $0.1]) }
                return .array(try sorted(pairs, by: { p in
                    guard case .array(let kv) = p else { return p }
                    return byValue ? kv[1] : kv[0]
                }, reverse: a.get(2, "reverse")?.truthy ?? false, caseSensitive: a.get(0, "case_sensitive")?.truthy ?? false))
            },
            "sort": { _, v, a in
                let attribute = a.get(2, "attribute")
                return .array(try sorted(try list(v), by: { try key($0, attribute) }, reverse: a.get(0, "reverse")?.truthy ?? false,
                                         caseSensitive: a.get(1, "case_sensitive")?.truthy ?? false))
            },
            "unique": { _, v, a in
                var seen: [JinjaValue] = []
                let attribute = a.get(1, "attribute")
                for x in try list(v) where !(try seen.contains { JinjaValue.equal(try key($0, attribute), try key(x, attribute)) }) {
                    seen.append(x)
                }
                return .array(seen)
            },
            "select": selectFilter(true, byAttribute: false),
            "reject": selectFilter(false, byAttribute: false),
            "selectattr": selectFilter(true, byAttribute: true),
            "rejectattr": selectFilter(false, byAttribute: true),
            "map": { interpreter, v, a in
                if let attribute = a.keyword.first(where: { $0.0 == "attribute" })?.1 {
                    let fallback = a.keyword.first { $0.0 == "default" }?.1
                    return .array(try (v.truthy ? list(v) : []).map { x in
                        let y = try key(x, attribute)
                        return y.isUndefined ? (fallback ?? y) : y
                    })
                }
                guard let name = a.positional.first?.text else { throw JinjaError.type("map needs a filter name or attribute=") }
                let rest = JinjaArguments(positional: Array(a.positional.dropFirst()), keyword: a.keyword)
                guard let filter = JinjaInterpreter.filters[name] else { throw JinjaError.type("unknown filter '\(name)'") }
                return .array(try (v.truthy ? list(v) : []).map { try filter(&interpreter, $0, rest) })
            },
            "indent": { _, v, a in
                let width = a.get(0, "width")
                let pad = width.flatMap { if case .string(let s) = $0 { s } else { nil } } ?? String(repeating: " ", count: width?.integer ?? 4)
                let first = a.get(1, "first")?.truthy ?? false
                let blank = a.get(2, "blank")?.truthy ?? false
                var lines = v.text.components(separatedBy: "\n")
                for i in lines.indices where (i > 0 || first) && (blank || !lines[i].isEmpty) { lines[i] = pad + lines[i] }
                return .string(lines.joined(separator: "\n"))
            },
            "wordcount": { _, v, _ in .int(v.text.split { $0.isWhitespace }.count) },
            "sum": { _, v, a in
                let attribute = a.get(0, "attribute")
                var total = a.get(1, "start") ?? .int(0)
                for x in try list(v) { total = try JinjaInterpreter().sum(total, try key(x, attribute)) }
                return total
            },
            "min": { _, v, _ in try list(v).min { (try? JinjaValue.less($0, $1)) ?? false } ?? .undefined("min of an empty sequence") },
            "max": { _, v, _ in try list(v).max { (try? JinjaValue.less($0, $1)) ?? false } ?? .undefined("max of an empty sequence") },
            "escape": { _, v, _ in
                .string(v.text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                    .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&#34;")
                    .replacingOccurrences(of: "'", with: "&#39;"))
            },
        ]
        f["count"] = f["length"]; f["d"] = f["default"]; f["e"] = f["escape"]
        return f
    }()

    func sum(_ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        switch (a, b) {
        case (.int(let x), .int(let y)): return .int(x + y)
        default:
            guard let x = a.number, let y = b.number else { throw JinjaError.type("sum needs numbers") }
            return .double(x + y)
        }
    }
}

/// Globals every chat template may call.
enum JinjaGlobals {
    static func install(_ frame: JinjaFrame, now: @escaping @Sendable () -> Date) {
        frame.variables["raise_exception"] = .callable(JinjaCallable("raise_exception") { args, _ in
            throw JinjaError.raised(args.first?.text ?? "error")
        })
        frame.variables["namespace"] = .callable(JinjaCallable("namespace") { args, kwargs in
            var o = JinjaObject()
            if case .object(let initial)? = args.first { o = initial }
            for (k, v) in kwargs { o[k] = v }
            return .namespace(JinjaNamespace(o))
        })
        frame.variables["dict"] = .callable(JinjaCallable("dict") { args, kwargs in
            var o = JinjaObject()
            if case .object(let initial)? = args.first { o = initial }
            for (k, v) in kwargs { o[k] = v }
            return .object(o)
        })
        frame.variables["range"] = .callable(JinjaCallable("range") { args, _ in
            let n = args.compactMap(\.integer)
            guard n.count == args.count, (1...3).contains(n.count) else { throw JinjaError.type("range() takes 1 to 3 integers") }
            let (lo, hi, step) = n.count == 1 ? (0, n[0], 1) : (n[0], n[1], n.count == 3 ? n[2] : 1)
            guard step != 0 else { throw JinjaError.type("range() step must not be zero") }
            let count = step > 0 ? max(0, (hi - lo + step - 1) / step) : max(0, (lo - hi - step - 1) / -step)
            guard count <= 1_000_000 else { throw JinjaError.type("range() of \(count) items is too long for a template") }
            return .array((0..<count).map { .int(lo + $0 * step) })
        })
        frame.variables["strftime_now"] = .callable(JinjaCallable("strftime_now") { args, _ in
            .string(strftime(args.first?.text ?? "%Y-%m-%d", now()))
        })
    }

    /// C's strftime over UTC (what Python's datetime.strftime gives for the codes templates use).
    static func strftime(_ format: String, _ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 256)
        let n = Foundation.strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
