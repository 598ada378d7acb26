// Lexer and parser for the Jinja subset chat templates use. Whitespace handling follows jinja2 with
// `trim_blocks` and `lstrip_blocks` on (how transformers and llama.cpp render chat templates):
// `{%-`/`-%}` strip all whitespace on that side, a block tag eats the newline after it, and a block tag
// alone on its line (after spaces/tabs only) eats that indentation.

/// An expression token.
enum JinjaToken: Equatable {
    case name(String), string(String), int(Int), double(Double), op(String)
}

/// One piece of the template between tags.
enum JinjaSegment {
    case text(String)
    case output([JinjaToken], line: Int)
    case statement([JinjaToken], line: Int)
}

indirect enum JinjaExpr {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case attribute(JinjaExpr, String)
    case index(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, JinjaExpr?, JinjaExpr?, JinjaExpr?)
    case call(JinjaExpr, [JinjaExpr], [(String, JinjaExpr)])
    case filter(JinjaExpr, String, [JinjaExpr], [(String, JinjaExpr)])
    case test(JinjaExpr, String, [JinjaExpr], negated: Bool)
    case unary(String, JinjaExpr)
    case binary(String, JinjaExpr, JinjaExpr)
    case conditional(JinjaExpr, then: JinjaExpr, else: JinjaExpr?)
}

indirect enum JinjaNode {
    case text(String)
    case output(JinjaExpr)
    case branch([(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode])
    case loop(targets: [String], over: JinjaExpr, condition: JinjaExpr?, body: [JinjaNode], otherwise: [JinjaNode])
    case set(target: [String], value: JinjaExpr)   // ["x"] or ["ns", "attr"]
    case setBlock(name: String, body: [JinjaNode])
    case macro(name: String, parameters: [(String, JinjaExpr?)], body: [JinjaNode])
    case filterBlock(name: String, arguments: [JinjaExpr], body: [JinjaNode])
    case scope([JinjaNode])                         // {% generation %}: renders its body
    case breakLoop, continueLoop
}

enum JinjaLexer {
    static func segments(_ source: String) throws -> [JinjaSegment] {
        let b = Array(source.utf8)
        var out: [JinjaSegment] = []
        var pos = 0
        var line = 1
        var lineStarting = true
        func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 || c == 11 || c == 12 }
        while pos < b.count {
            // Next tag opening.
            var start = pos
            var kind: UInt8 = 0
            while start + 1 < b.count {
                if b[start] == UInt8(ascii: "{"), [UInt8(ascii: "{"), UInt8(ascii: "%"), UInt8(ascii: "#")].contains(b[start + 1]) {
                    kind = b[start + 1]; break
                }
                start += 1
            }
            if kind == 0 { out.append(.text(String(decoding: b[pos...], as: UTF8.self))); break }
            var text = b[pos..<start]
            var inner = start + 2
            let sign: UInt8? = inner < b.count && (b[inner] == UInt8(ascii: "-") || b[inner] == UInt8(ascii: "+")) ? b[inner] : nil
            if sign != nil { inner += 1 }
            if sign == UInt8(ascii: "-") {
                while let last = text.last, isSpace(last) { text = text.dropLast() }
            } else if sign != UInt8(ascii: "+"), kind != UInt8(ascii: "{") {
                // lstrip_blocks: only spaces/tabs between the line start and the tag.
                let lineStart = (text.lastIndex(of: 10).map { $0 + 1 }) ?? text.startIndex
                if lineStart > text.startIndex || lineStarting {
                    let tail = text[lineStart...]
                    if !tail.isEmpty, tail.allSatisfy({ isSpace($0) }) { text = text[..<lineStart] }
                }
            }
            if !text.isEmpty { out.append(.text(String(decoding: text, as: UTF8.self))) }
            line += b[pos..<start].reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
            let tagLine = line

            var end: Int   // index just past the closing delimiter
            var stripAfter = false
            if kind == UInt8(ascii: "#") {
                var i = inner
                while i + 1 < b.count, !(b[i] == UInt8(ascii: "#") && b[i + 1] == UInt8(ascii: "}")) { i += 1 }
                guard i + 1 < b.count else { throw JinjaError.syntax("unclosed comment", line: tagLine) }
                stripAfter = i > inner && b[i - 1] == UInt8(ascii: "-")
                end = i + 2
            } else {
                let close: UInt8 = kind == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "%")
                var tokens: [JinjaToken] = []
                var i = inner
                var depth = 0
                var closed = false
                while i < b.count {
                    let c = b[i]
                    if isSpace(c) { i += 1; continue }
                    if depth == 0 {
                        if c == UInt8(ascii: "-"), i + 2 < b.count, b[i + 1] == close, b[i + 2] == UInt8(ascii: "}") {
                            stripAfter = true; i += 3; closed = true; break
                        }
                        if c == close, i + 1 < b.count, b[i + 1] == UInt8(ascii: "}") { i += 2; closed = true; break }
                    }
                    let (token, next) = try lexToken(b, i, line: tagLine)
                    if case .op(let o) = token {
                        if o == "(" || o == "[" || o == "{" {
                            depth += 1
                            guard depth <= JinjaParser.maxNesting else { throw JinjaError.syntax("brackets nest too deep", line: tagLine) }
                        }
                        if o == ")" || o == "]" || o == "}" { depth -= 1 }
                    }
                    tokens.append(token)
                    i = next
                }
                guard closed else { throw JinjaError.syntax("unclosed tag", line: tagLine) }
                end = i
                out.append(kind == UInt8(ascii: "{") ? .output(tokens, line: tagLine) : .statement(tokens, line: tagLine))
            }
            line += b[start..<end].reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
            pos = end
            if stripAfter {
                while pos < b.count, isSpace(b[pos]) { if b[pos] == 10 { line += 1 }; pos += 1 }
            } else if kind != UInt8(ascii: "{"), pos < b.count, b[pos] == 10 {
                pos += 1; line += 1   // trim_blocks
            }
            lineStarting = pos > 0 && b[pos - 1] == 10
        }
        return out
    }

    private static let twoCharOps: Set<String> = ["//", "**", "==", "!=", "<=", ">="]
    private static let oneCharOps: Set<UInt8> = Set("+-*/%~<>=()[]{},.:|".utf8)

    static func lexToken(_ b: [UInt8], _ i: Int, line: Int) throws -> (JinjaToken, Int) {
        let c = b[i]
        func isIdent(_ c: UInt8) -> Bool { (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c == 95 || (c >= 48 && c <= 57) }
        if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
            var j = i + 1
            var bytes: [UInt8] = []
            while j < b.count, b[j] != c {
                if b[j] == UInt8(ascii: "\\"), j + 1 < b.count {
                    j += 1
                    switch b[j] {
                    case UInt8(ascii: "n"): bytes.append(10)
                    case UInt8(ascii: "t"): bytes.append(9)
                    case UInt8(ascii: "r"): bytes.append(13)
                    case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): bytes.append(b[j])
                    default: bytes.append(UInt8(ascii: "\\")); bytes.append(b[j])
                    }
                } else {
                    bytes.append(b[j])
                }
                j += 1
            }
            guard j < b.count else { throw JinjaError.syntax("unterminated string", line: line) }
            return (.string(String(decoding: bytes, as: UTF8.self)), j + 1)
        }
        if c >= 48 && c <= 57 {
            var j = i
            while j < b.count, (b[j] >= 48 && b[j] <= 57) || b[j] == UInt8(ascii: "_") { j += 1 }
            var isFloat = false
            if j + 1 < b.count, b[j] == UInt8(ascii: "."), b[j + 1] >= 48 && b[j + 1] <= 57 {
                isFloat = true; j += 1
                while j < b.count, b[j] >= 48 && b[j] <= 57 { j += 1 }
            }
            let s = String(decoding: b[i..<j], as: UTF8.self).replacingOccurrences(of: "_", with: "")
            if isFloat, let d = Double(s) { return (.double(d), j) }
            guard let i = Int(s) else { throw JinjaError.syntax("number \(s) is out of range", line: line) }
            return (.int(i), j)
        }
        if isIdent(c) {
            var j = i
            while j < b.count, isIdent(b[j]) { j += 1 }
            return (.name(String(decoding: b[i..<j], as: UTF8.self)), j)
        }
        if i + 1 < b.count {
            let two = String(decoding: b[i...(i + 1)], as: UTF8.self)
            if twoCharOps.contains(two) { return (.op(two), i + 2) }
        }
        if oneCharOps.contains(c) { return (.op(String(UnicodeScalar(c))), i + 1) }
        throw JinjaError.syntax("unexpected character '\(String(UnicodeScalar(c)))'", line: line)
    }
}

/// Recursive-descent parser over the segments; expression precedence is jinja2's.
struct JinjaParser {
    /// Brackets and blocks nest at most this deep (the parser recurses; a hostile template gets an error, not a crash).
    static let maxNesting = 200
    private var blockDepth = 0
    private let segments: [JinjaSegment]
    private var at = 0
    // Current expression tokens.
    private var tokens: [JinjaToken] = []
    private var t = 0
    private var line = 0

    init(_ source: String) throws { segments = try JinjaLexer.segments(source) }

    mutating func parseTemplate() throws -> [JinjaNode] {
        let (body, end) = try parseBody(until: [])
        if let end { throw JinjaError.syntax("unexpected '\(end)'", line: line) }
        return body
    }

    /// Parses nodes until a statement whose keyword is in `until` (returned, its tokens left in `tokens`).
    private mutating func parseBody(until: Set<String>) throws -> ([JinjaNode], String?) {
        blockDepth += 1
        defer { blockDepth -= 1 }
        guard blockDepth <= Self.maxNesting else { throw JinjaError.syntax("blocks nest too deep", line: line) }
        var nodes: [JinjaNode] = []
        while at < segments.count {
            let segment = segments[at]
            at += 1
            switch segment {
            case .text(let s): nodes.append(.text(s))
            case .output(let toks, let l):
                begin(toks, l)
                nodes.append(.output(try expression()))
                try expectEnd()
            case .statement(let toks, let l):
                begin(toks, l)
                guard case .name(let keyword)? = peek else { throw JinjaError.syntax("expected a statement", line: l) }
                if until.contains(keyword) { t += 1; return (nodes, keyword) }
                t += 1
                nodes.append(try statement(keyword))
            }
        }
        if !until.isEmpty { throw JinjaError.syntax("missing {% \(until.sorted().joined(separator: " or ")) %}", line: line) }
        return (nodes, nil)
    }

    private mutating func statement(_ keyword: String) throws -> JinjaNode {
        switch keyword {
        case "if":
            var branches: [(JinjaExpr, [JinjaNode])] = []
            var condition = try expression()
            try expectEnd()
            while true {
                let (body, end) = try parseBody(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                switch end {
                case "elif": condition = try expression(); try expectEnd()
                case "else":
                    try expectEnd()
                    let (otherwise, _) = try parseBody(until: ["endif"])
                    try expectEnd()
                    return .branch(branches, otherwise: otherwise)
                default: try expectEnd(); return .branch(branches, otherwise: [])
                }
            }
        case "for":
            var targets = [try identifier()]
            while accept(.op(",")) { targets.append(try identifier()) }
            try expectName("in")
            let over = try expression(conditional: false)
            let condition = acceptName("if") ? try expression(conditional: false) : nil
            _ = acceptName("recursive")
            try expectEnd()
            let (body, end) = try parseBody(until: ["else", "endfor"])
            var otherwise: [JinjaNode] = []
            try expectEnd()
            if end == "else" { (otherwise, _) = try parseBody(until: ["endfor"]); try expectEnd() }
            return .loop(targets: targets, over: over, condition: condition, body: body, otherwise: otherwise)
        case "set":
            var target = [try identifier()]
            if accept(.op(".")) { target.append(try identifier()) }
            if accept(.op("=")) {
                let value = try expression()
                try expectEnd()
                return .set(target: target, value: value)
            }
            try expectEnd()
            guard target.count == 1 else { throw JinjaError.syntax("a block set needs a plain name", line: line) }
            let (body, _) = try parseBody(until: ["endset"])
            try expectEnd()
            return .setBlock(name: target[0], body: body)
        case "macro":
            let name = try identifier()
            var parameters: [(String, JinjaExpr?)] = []
            try expect(.op("("))
            while !accept(.op(")")) {
                let p = try identifier()
                parameters.append((p, accept(.op("=")) ? try expression() : nil))
                if !accept(.op(",")) { try expect(.op(")")); break }
            }
            try expectEnd()
            let (body, _) = try parseBody(until: ["endmacro"])
            try expectEnd()
            return .macro(name: name, parameters: parameters, body: body)
        case "filter":
            let name = try identifier()
            var arguments: [JinjaExpr] = []
            if accept(.op("(")) { arguments = try callArguments().0 }
            try expectEnd()
            let (body, _) = try parseBody(until: ["endfilter"])
            try expectEnd()
            return .filterBlock(name: name, arguments: arguments, body: body)
        case "generation":
            try expectEnd()
            let (body, _) = try parseBody(until: ["endgeneration"])
            try expectEnd()
            return .scope(body)
        case "break": try expectEnd(); return .breakLoop
        case "continue": try expectEnd(); return .continueLoop
        default:
            throw JinjaError.syntax("unsupported tag '\(keyword)'", line: line)
        }
    }

    // MARK: tokens

    private mutating func begin(_ toks: [JinjaToken], _ l: Int) { tokens = toks; t = 0; line = l }
    private var peek: JinjaToken? { t < tokens.count ? tokens[t] : nil }
    private mutating func accept(_ token: JinjaToken) -> Bool {
        if peek == token { t += 1; return true }
        return false
    }
    private mutating func acceptName(_ n: String) -> Bool { accept(.name(n)) }
    private mutating func expect(_ token: JinjaToken) throws {
        guard accept(token) else { throw JinjaError.syntax("expected \(show(token)), found \(peek.map(show) ?? "end of tag")", line: line) }
    }
    private mutating func expectName(_ n: String) throws { try expect(.name(n)) }
    private func expectEnd() throws {
        if let p = peek { throw JinjaError.syntax("unexpected \(show(p))", line: line) }
    }
    private mutating func identifier() throws -> String {
        guard case .name(let n)? = peek else { throw JinjaError.syntax("expected a name, found \(peek.map(show) ?? "end of tag")", line: line) }
        t += 1
        return n
    }
    private func show(_ token: JinjaToken) -> String {
        switch token {
        case .name(let n): "'\(n)'"
        case .string(let s): JinjaValue.pythonQuote(s)
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .op(let o): "'\(o)'"
        }
    }

    // MARK: expressions (jinja2's precedence: ?: < or < and < not < compare < +- < ~ < */ //% < ** < unary < postfix/filters)

    private mutating func expression(conditional: Bool = true) throws -> JinjaExpr {
        let value = try or()
        guard conditional, acceptName("if") else { return value }
        let condition = try or()
        let otherwise = acceptName("else") ? try expression() : nil
        return .conditional(condition, then: value, else: otherwise)
    }

    private mutating func or() throws -> JinjaExpr {
        var l = try and()
        while acceptName("or") { l = .binary("or", l, try and()) }
        return l
    }

    private mutating func and() throws -> JinjaExpr {
        var l = try not()
        while acceptName("and") { l = .binary("and", l, try not()) }
        return l
    }

    private mutating func not() throws -> JinjaExpr {
        if acceptName("not") { return .unary("not", try nested { try $0.not() }) }
        return try compare()
    }

    /// Recursion that does not pass through brackets (`not not …`, `- - …`) counts against the same nesting limit.
    private var expressionDepth = 0
    private mutating func nested(_ body: (inout JinjaParser) throws -> JinjaExpr) throws -> JinjaExpr {
        expressionDepth += 1
        defer { expressionDepth -= 1 }
        guard expressionDepth <= Self.maxNesting else { throw JinjaError.syntax("expression nests too deep", line: line) }
        return try body(&self)
    }

    private mutating func compare() throws -> JinjaExpr {
        var l = try additive()
        while true {
            if case .op(let o)? = peek, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                t += 1; l = .binary(o, l, try additive())
            } else if acceptName("in") {
                l = .binary("in", l, try additive())
            } else if peek == .name("not"), t + 1 < tokens.count, tokens[t + 1] == .name("in") {
                t += 2; l = .unary("not", .binary("in", l, try additive()))
            } else {
                return l
            }
        }
    }

    private mutating func additive() throws -> JinjaExpr {
        var l = try concat()
        while case .op(let o)? = peek, o == "+" || o == "-" { t += 1; l = .binary(o, l, try concat()) }
        return l
    }

    private mutating func concat() throws -> JinjaExpr {
        var l = try multiplicative()
        while accept(.op("~")) { l = .binary("~", l, try multiplicative()) }
        return l
    }

    private mutating func multiplicative() throws -> JinjaExpr {
        var l = try power()
        while case .op(let o)? = peek, ["*", "/", "//", "%"].contains(o) { t += 1; l = .binary(o, l, try power()) }
        return l
    }

    private mutating func power() throws -> JinjaExpr {
        var l = try unary()
        while accept(.op("**")) { l = .binary("**", l, try unary()) }
        return l
    }

    private mutating func unary(filters: Bool = true) throws -> JinjaExpr {
        var node: JinjaExpr
        if accept(.op("-")) { node = .unary("-", try nested { try $0.unary(filters: false) }) }
        else if accept(.op("+")) { node = .unary("+", try nested { try $0.unary(filters: false) }) }
        else { node = try primary() }
        node = try postfix(node)
        return filters ? try filterExpression(node) : node
    }

    private mutating func primary() throws -> JinjaExpr {
        guard let token = peek else { throw JinjaError.syntax("expected an expression", line: line) }
        t += 1
        switch token {
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .string(var s):
            while case .string(let more)? = peek { s += more; t += 1 }
            return .literal(.string(s))
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .op("("):
            if accept(.op(")")) { return .list([]) }
            let first = try expression()
            if accept(.op(")")) { return first }
            var items = [first]
            while accept(.op(",")) {
                if peek == .op(")") { break }
                items.append(try expression())
            }
            try expect(.op(")"))
            return .list(items)
        case .op("["):
            var items: [JinjaExpr] = []
            while !accept(.op("]")) {
                items.append(try expression())
                if !accept(.op(",")) { try expect(.op("]")); break }
            }
            return .list(items)
        case .op("{"):
            var pairs: [(JinjaExpr, JinjaExpr)] = []
            while !accept(.op("}")) {
                let k = try expression()
                try expect(.op(":"))
                pairs.append((k, try expression()))
                if !accept(.op(",")) { try expect(.op("}")); break }
            }
            return .dict(pairs)
        default:
            throw JinjaError.syntax("unexpected \(show(token))", line: line)
        }
    }

    private mutating func postfix(_ start: JinjaExpr) throws -> JinjaExpr {
        var node = start
        while true {
            if accept(.op(".")) {
                switch peek {
                case .name(let n)?: t += 1; node = .attribute(node, n)
                case .int(let i)?: t += 1; node = .index(node, .literal(.int(i)))
                default: throw JinjaError.syntax("expected an attribute name after '.'", line: line)
                }
            } else if accept(.op("[")) {
                node = try subscriptExpression(node)
            } else if accept(.op("(")) {
                let (args, kwargs) = try callArguments()
                node = .call(node, args, kwargs)
            } else {
                return node
            }
        }
    }

    private mutating func subscriptExpression(_ base: JinjaExpr) throws -> JinjaExpr {
        var parts: [JinjaExpr?] = [nil]
        var colons = 0
        while !accept(.op("]")) {
            if accept(.op(":")) { colons += 1; parts.append(nil); continue }
            guard parts[parts.count - 1] == nil else { throw JinjaError.syntax("expected ']'", line: line) }
            parts[parts.count - 1] = try expression()
        }
        if colons == 0 {
            guard let index = parts[0] else { throw JinjaError.syntax("empty subscript", line: line) }
            return .index(base, index)
        }
        guard colons <= 2 else { throw JinjaError.syntax("too many ':' in a slice", line: line) }
        return .slice(base, parts[0], parts.count > 1 ? parts[1] : nil, parts.count > 2 ? parts[2] : nil)
    }

    /// After '(' : positional and keyword arguments up to ')'.
    private mutating func callArguments() throws -> ([JinjaExpr], [(String, JinjaExpr)]) {
        var args: [JinjaExpr] = []
        var kwargs: [(String, JinjaExpr)] = []
        while !accept(.op(")")) {
            if case .name(let n)? = peek, t + 1 < tokens.count, tokens[t + 1] == .op("=") {
                t += 2
                kwargs.append((n, try expression()))
            } else {
                args.append(try expression())
            }
            if !accept(.op(",")) { try expect(.op(")")); break }
        }
        return (args, kwargs)
    }

    private mutating func filterExpression(_ start: JinjaExpr) throws -> JinjaExpr {
        var node = start
        while true {
            if accept(.op("|")) {
                var name = try identifier()
                while accept(.op(".")) { name += "." + (try identifier()) }
                var args: [JinjaExpr] = [], kwargs: [(String, JinjaExpr)] = []
                if accept(.op("(")) { (args, kwargs) = try callArguments() }
                node = .filter(node, name, args, kwargs)
            } else if acceptName("is") {
                let negated = acceptName("not")
                let name = try identifier()
                var args: [JinjaExpr] = []
                if accept(.op("(")) {
                    args = try callArguments().0
                } else if let p = peek, ![.name("else"), .name("or"), .name("and"), .name("if")].contains(p) {
                    switch p {
                    case .name, .string, .int, .double, .op("("), .op("["), .op("{"):
                        args = [try postfix(try primary())]
                    default: break
                    }
                }
                node = .test(node, name, args, negated: negated)
            } else if accept(.op("(")) {
                let (args, kwargs) = try callArguments()
                node = .call(node, args, kwargs)
            } else {
                return node
            }
        }
    }
}
