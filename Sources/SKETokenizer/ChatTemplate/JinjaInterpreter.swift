import Foundation

/// Variables visible at one level: the template, a loop iteration, a macro call.
final class JinjaFrame {
    var variables: [String: JinjaValue] = [:]
    let parent: JinjaFrame?
    init(parent: JinjaFrame?) { self.parent = parent }
    func lookup(_ name: String) -> JinjaValue? {
        var frame: JinjaFrame? = self
        while let f = frame {
            if let v = f.variables[name] { return v }
            frame = f.parent
        }
        return nil
    }
}

/// Tree-walking interpreter. Scoping is jinja2's: a loop body and a macro get their own frame (a `set`
/// inside a loop does not leak out; `namespace` is how templates carry state), `if` does not.
struct JinjaInterpreter: @unchecked Sendable {
    enum Flow { case normal, breakLoop, continueLoop }

    /// Loops nest at most this deep and macro calls at most this deep (a hostile template ends in an error).
    static let maxDepth = 64
    /// `'ab' * n` and `[x] * n` make at most this many bytes / items.
    static let maxRepeat = 1 << 24
    /// Shared by every interpreter of one render (a macro call runs in its own).
    final class Depth { var loops = 0; var calls = 0 }
    let depth: Depth
    init(depth: Depth = Depth()) { self.depth = depth }

    mutating func run(_ nodes: [JinjaNode], _ frame: JinjaFrame, _ out: inout String) throws -> Flow {
        for node in nodes {
            switch node {
            case .text(let s): out += s
            case .output(let e): out += try eval(e, frame).text
            case .branch(let branches, let otherwise):
                var taken = false
                for (condition, body) in branches where try eval(condition, frame).truthy {
                    taken = true
                    let flow = try run(body, frame, &out)
                    if flow != .normal { return flow }
                    break
                }
                if !taken {
                    let flow = try run(otherwise, frame, &out)
                    if flow != .normal { return flow }
                }
            case .loop(let targets, let over, let condition, let body, let otherwise):
                try loop(targets, over, condition, body, otherwise, frame, &out)
            case .set(let target, let value):
                let v = try eval(value, frame)
                if target.count == 1 {
                    frame.variables[target[0]] = v
                } else {
                    guard case .namespace(let ns)? = frame.lookup(target[0]) else {
                        throw JinjaError.type("cannot set '\(target[1])' on '\(target[0])': only a namespace() can be changed")
                    }
                    ns.object[target[1]] = v
                }
            case .setBlock(let name, let body):
                var s = ""
                _ = try run(body, frame, &s)
                frame.variables[name] = .string(s)
            case .macro(let name, let parameters, let body):
                frame.variables[name] = .callable(macro(name, parameters, body, frame))
            case .filterBlock(let name, let arguments, let body):
                var s = ""
                _ = try run(body, frame, &s)
                out += try applyFilter(name, .string(s), try arguments.map { try eval($0, frame) }, [], frame).text
            case .scope(let body):
                let flow = try run(body, frame, &out)
                if flow != .normal { return flow }
            case .breakLoop: return .breakLoop
            case .continueLoop: return .continueLoop
            }
        }
        return .normal
    }

    private mutating func loop(_ targets: [String], _ over: JinjaExpr, _ condition: JinjaExpr?, _ body: [JinjaNode],
                               _ otherwise: [JinjaNode], _ frame: JinjaFrame, _ out: inout String) throws {
        depth.loops += 1
        defer { depth.loops -= 1 }
        guard depth.loops <= Self.maxDepth else { throw JinjaError.type("loops nest deeper than \(Self.maxDepth)") }
        var items = try iterate(try eval(over, frame))
        if let condition {
            items = try items.filter { item in
                let f = JinjaFrame(parent: frame)
                try bind(targets, item, f)
                return try eval(condition, f).truthy
            }
        }
        if items.isEmpty { _ = try run(otherwise, frame, &out); return }
        for (i, item) in items.enumerated() {
            let f = JinjaFrame(parent: frame)
            try bind(targets, item, f)
            let n = items.count
            var info = JinjaObject([
                ("index", .int(i + 1)), ("index0", .int(i)), ("revindex", .int(n - i)), ("revindex0", .int(n - i - 1)),
                ("first", .bool(i == 0)), ("last", .bool(i == n - 1)), ("length", .int(n)), ("depth", .int(depth.loops)),
                ("depth0", .int(depth.loops - 1)),
            ])
            info["previtem"] = i > 0 ? items[i - 1] : .undefined("loop.previtem")
            info["nextitem"] = i + 1 < n ? items[i + 1] : .undefined("loop.nextitem")
            info["cycle"] = .callable(JinjaCallable("loop.cycle") { args, _ in
                guard !args.isEmpty else { throw JinjaError.type("loop.cycle() needs at least one value") }
                return args[i % args.count]
            })
            f.variables["loop"] = .object(info)
            if try run(body, f, &out) == .breakLoop { break }
        }
    }

    private func bind(_ targets: [String], _ item: JinjaValue, _ frame: JinjaFrame) throws {
        if targets.count == 1 { frame.variables[targets[0]] = item; return }
        let parts = try iterate(item)
        guard parts.count == targets.count else {
            throw JinjaError.type("cannot unpack \(parts.count) values into \(targets.count) names")
        }
        for (name, v) in zip(targets, parts) { frame.variables[name] = v }
    }

    private func macro(_ name: String, _ parameters: [(String, JinjaExpr?)], _ body: [JinjaNode], _ frame: JinjaFrame) -> JinjaCallable {
        let depth = self.depth
        return JinjaCallable(name) { args, kwargs in
            depth.calls += 1
            defer { depth.calls -= 1 }
            guard depth.calls <= Self.maxDepth else { throw JinjaError.type("macro '\(name)' recurses deeper than \(Self.maxDepth)") }
            var interpreter = JinjaInterpreter(depth: depth)
            let f = JinjaFrame(parent: frame)
            for (i, (p, fallback)) in parameters.enumerated() {
                if i < args.count { f.variables[p] = args[i] }
                else if let kw = kwargs.first(where: { $0.0 == p }) { f.variables[p] = kw.1 }
                else if let fallback { f.variables[p] = try interpreter.eval(fallback, f) }
                else { f.variables[p] = .undefined(p) }
            }
            var s = ""
            _ = try interpreter.run(body, f, &s)
            return .string(s)
        }
    }

    // MARK: expressions

    mutating func eval(_ e: JinjaExpr, _ frame: JinjaFrame) throws -> JinjaValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return frame.lookup(n) ?? .undefined(n)
        case .list(let items): return .array(try items.map { try eval($0, frame) })
        case .dict(let pairs):
            var o = JinjaObject()
            for (k, v) in pairs { o[value: try eval(k, frame)] = try eval(v, frame) }
            return .object(o)
        case .attribute(let base, let name): return try attribute(try eval(base, frame), name, describing: base)
        case .index(let base, let index): return try item(try eval(base, frame), try eval(index, frame), describing: base)
        case .slice(let base, let lo, let hi, let step):
            return try slice(try eval(base, frame), try lo.map { try eval($0, frame) }, try hi.map { try eval($0, frame) },
                             try step.map { try eval($0, frame) })
        case .call(let callee, let args, let kwargs):
            let f = try eval(callee, frame)
            guard case .callable(let c) = f else {
                if case .undefined(let n) = f { throw JinjaError.undefined("'\(n)' is undefined") }
                throw JinjaError.type("'\(f.typeName)' object is not callable")
            }
            return try c.body(try args.map { try eval($0, frame) }, try kwargs.map { ($0.0, try eval($0.1, frame)) })
        case .filter(let base, let name, let args, let kwargs):
            return try applyFilter(name, try eval(base, frame), try args.map { try eval($0, frame) },
                                   try kwargs.map { ($0.0, try eval($0.1, frame)) }, frame)
        case .test(let base, let name, let args, let negated):
            let r = try applyTest(name, try eval(base, frame), try args.map { try eval($0, frame) })
            return .bool(r != negated)
        case .unary(let op, let operand):
            let v = try eval(operand, frame)
            switch op {
            case "not": return .bool(!v.truthy)
            case "-":
                switch v {
                case .int(let i): return .int(-i)
                case .double(let d): return .double(-d)
                default: throw JinjaError.type("bad operand type for unary -: '\(v.typeName)'")
                }
            default: return v
            }
        case .binary(let op, let l, let r):
            if op == "and" { let a = try eval(l, frame); return a.truthy ? try eval(r, frame) : a }
            if op == "or" { let a = try eval(l, frame); return a.truthy ? a : try eval(r, frame) }
            return try binary(op, try eval(l, frame), try eval(r, frame))
        case .conditional(let condition, let then, let otherwise):
            if try eval(condition, frame).truthy { return try eval(then, frame) }
            return try otherwise.map { try eval($0, frame) } ?? .undefined("conditional expression")
        }
    }

    private func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        switch op {
        case "==": return .bool(JinjaValue.equal(a, b))
        case "!=": return .bool(!JinjaValue.equal(a, b))
        case "<": return .bool(try JinjaValue.less(a, b))
        case ">": return .bool(try JinjaValue.less(b, a))
        case "<=": return .bool(!(try JinjaValue.less(b, a)))
        case ">=": return .bool(!(try JinjaValue.less(a, b)))
        case "in": return .bool(try contains(b, a))
        case "~": return .string(a.text + b.text)
        default: break
        }
        for v in [a, b] { if case .undefined(let n) = v { throw JinjaError.undefined("'\(n)' is undefined") } }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)): return .string(x + y)
        case ("+", .array(let x), .array(let y)): return .array(x + y)
        case ("*", .string(let s), .int(let n)), ("*", .int(let n), .string(let s)):
            guard n <= 0 || s.utf8.count <= Self.maxRepeat / n else { throw JinjaError.type("'*' would make a string of more than \(Self.maxRepeat) bytes") }
            return .string(String(repeating: s, count: max(n, 0)))
        case ("*", .array(let s), .int(let n)):
            guard n <= 0 || s.count <= Self.maxRepeat / n else { throw JinjaError.type("'*' would make a list of more than \(Self.maxRepeat) items") }
            return .array(Array([[JinjaValue]](repeating: s, count: max(n, 0)).joined()))
        case ("%", .string(let format), _): return .string(try percentFormat(format, b))
        default: break
        }
        // Numbers (bools count as ints, as in Python).
        func int(_ v: JinjaValue) -> Int? {
            switch v { case .int(let i): i; case .bool(let b): b ? 1 : 0; default: nil }
        }
        if let x = int(a), let y = int(b) {
            func exact(_ r: (partialValue: Int, overflow: Bool)) throws -> JinjaValue {
                guard !r.overflow else { throw JinjaError.type("integer overflow in \(x) \(op) \(y)") }
                return .int(r.partialValue)
            }
            switch op {
            case "+": return try exact(x.addingReportingOverflow(y))
            case "-": return try exact(x.subtractingReportingOverflow(y))
            case "*": return try exact(x.multipliedReportingOverflow(by: y))
            case "/": guard y != 0 else { throw JinjaError.type("division by zero") }; return .double(Double(x) / Double(y))
            case "//", "%":
                guard y != 0 else { throw JinjaError.type("integer division or modulo by zero") }
                guard !(x == Int.min && y == -1) else { throw JinjaError.type("integer overflow in \(x) \(op) \(y)") }
                let (q, m) = x.quotientAndRemainder(dividingBy: y)
                let floors = m != 0 && (m < 0) != (y < 0)   // Python rounds the quotient down
                return op == "//" ? .int(floors ? q - 1 : q) : .int(floors ? m + y : m)
            case "**":
                let p = pow(Double(x), Double(y))
                guard y >= 0 else { return .double(p) }
                guard p.magnitude < 9.0e15 else { throw JinjaError.type("\(x) ** \(y) is too large for a template") }
                return .int(Int(p))
            default: break
            }
        }
        if let x = a.number, let y = b.number {
            switch op {
            case "+": return .double(x + y)
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/": guard y != 0 else { throw JinjaError.type("division by zero") }; return .double(x / y)
            case "//": guard y != 0 else { throw JinjaError.type("division by zero") }; return .double((x / y).rounded(.down))
            case "%": guard y != 0 else { throw JinjaError.type("modulo by zero") }; return .double(x - y * (x / y).rounded(.down))
            case "**": return .double(pow(x, y))
            default: break
            }
        }
        throw JinjaError.type("unsupported operand types for \(op): '\(a.typeName)' and '\(b.typeName)'")
    }

    /// Python's `'%s … %d' % value` for the conversions templates use (%s %d %i %r %%).
    private func percentFormat(_ format: String, _ arguments: JinjaValue) throws -> String {
        var values: [JinjaValue]
        if case .array(let a) = arguments { values = a } else { values = [arguments] }
        var out = ""
        var it = format.makeIterator()
        while let c = it.next() {
            guard c == "%" else { out.append(c); continue }
            guard let spec = it.next() else { throw JinjaError.type("incomplete format") }
            if spec == "%" { out += "%"; continue }
            guard !values.isEmpty else { throw JinjaError.type("not enough arguments for format string") }
            let v = values.removeFirst()
            switch spec {
            case "s": out += v.text
            case "r": out += v.repr
            case "d", "i": guard let n = v.number else { throw JinjaError.type("%d format: a number is required") }; out += String(Int(n))
            default: throw JinjaError.type("unsupported format character '\(spec)'")
            }
        }
        return out
    }

    func contains(_ container: JinjaValue, _ v: JinjaValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let sub) = v else { throw JinjaError.type("'in <string>' requires string as left operand, not \(v.typeName)") }
            return sub.isEmpty || s.contains(sub)
        case .array(let a): return a.contains { JinjaValue.equal($0, v) }
        case .object(let o): return o[value: v] != nil
        case .namespace(let n): return n.object[value: v] != nil
        case .undefined: return false   // jinja2's Undefined iterates as empty
        default: throw JinjaError.type("argument of type '\(container.typeName)' is not iterable")
        }
    }

    /// `x.name`: a method if `x` has one by that name, else the item.
    func attribute(_ base: JinjaValue, _ name: String, describing: JinjaExpr) throws -> JinjaValue {
        if let method = JinjaMethods.bind(base, name) { return .callable(method) }
        switch base {
        case .object(let o): return o[name] ?? .undefined("\(Self.describe(describing)).\(name)")
        case .namespace(let n): return n.object[name] ?? .undefined("\(Self.describe(describing)).\(name)")
        case .undefined(let n): throw JinjaError.undefined("'\(n)' is undefined (reading .\(name))")
        default: return .undefined("\(Self.describe(describing)).\(name)")
        }
    }

    /// `x[key]`: the item if it exists, else a method by that name (jinja2's order for subscripts).
    func item(_ base: JinjaValue, _ key: JinjaValue, describing: JinjaExpr) throws -> JinjaValue {
        switch (base, key) {
        case (.array(let a), _):
            guard let i = key.integer else { throw JinjaError.type("list indices must be integers, not \(key.typeName)") }
            let j = i < 0 ? a.count + i : i
            return a.indices.contains(j) ? a[j] : .undefined("\(Self.describe(describing))[\(i)]")
        case (.string(let s), _):
            guard let i = key.integer else { throw JinjaError.type("string indices must be integers") }
            let chars = Array(s)
            let j = i < 0 ? chars.count + i : i
            return chars.indices.contains(j) ? .string(String(chars[j])) : .undefined("\(Self.describe(describing))[\(i)]")
        case (.object(let o), .string(let k)):
            return o[k] ?? JinjaMethods.bind(base, k).map { .callable($0) } ?? .undefined("\(Self.describe(describing))['\(k)']")
        case (.object(let o), _): return o[value: key] ?? .undefined("\(Self.describe(describing))[\(key.repr)]")
        case (.namespace(let n), .string(let k)): return n.object[k] ?? .undefined(k)
        case (.undefined(let n), _): throw JinjaError.undefined("'\(n)' is undefined (reading [\(key.repr)])")
        default: return .undefined("\(Self.describe(describing))[\(key.repr)]")
        }
    }

    func slice(_ base: JinjaValue, _ lo: JinjaValue?, _ hi: JinjaValue?, _ step: JinjaValue?) throws -> JinjaValue {
        func pick<T>(_ a: [T]) throws -> [T] {
            let n = a.count
            let s = step?.integer ?? 1
            guard s != 0 else { throw JinjaError.type("slice step cannot be zero") }
            func clamp(_ v: Int?, _ def: Int) -> Int {
                guard var v else { return def }
                if v < 0 { v += n }
                return s > 0 ? min(max(v, 0), n) : min(max(v, -1), n - 1)
            }
            var out: [T] = []
            var i = clamp(lo?.integer, s > 0 ? 0 : n - 1)
            let end = clamp(hi?.integer, s > 0 ? n : -1)
            while s > 0 ? i < end : i > end { out.append(a[i]); i += s }
            return out
        }
        switch base {
        case .array(let a): return .array(try pick(a))
        case .string(let s): return .string(String(try pick(Array(s))))
        case .undefined(let n): throw JinjaError.undefined("'\(n)' is undefined")
        default: throw JinjaError.type("'\(base.typeName)' object is not subscriptable")
        }
    }

    static func describe(_ e: JinjaExpr) -> String {
        switch e {
        case .name(let n): n
        case .attribute(let b, let n): describe(b) + "." + n
        case .index(let b, .literal(let k)): describe(b) + "[" + k.repr + "]"
        default: "value"
        }
    }
}

extension JinjaValue {
    var integer: Int? {
        switch self {
        case .int(let i): i
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }
}

/// Iteration as Python does it: lists by item, dicts by key, strings by character, undefined as empty.
func iterate(_ v: JinjaValue) throws -> [JinjaValue] {
    switch v {
    case .array(let a): return a
    case .object(let o): return o.keys
    case .string(let s): return s.map { .string(String($0)) }
    case .undefined, .none: if case .none = v { throw JinjaError.type("'NoneType' object is not iterable") }; return []
    case .namespace(let n): return n.object.keys
    default: throw JinjaError.type("'\(v.typeName)' object is not iterable")
    }
}
