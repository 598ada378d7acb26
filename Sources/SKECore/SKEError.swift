// Errors shared by every module below the CLI. Formats have their own typed errors (GGUFError, BumpError).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum SKEError: Error, CustomStringConvertible, Equatable {
    /// An environment variable or option holds a value ske cannot use.
    case invalidSetting(String)
    /// A system call failed; `errno` is kept so the message can say why.
    case system(call: String, errno: Int32, detail: String)
    /// The arena has no room for a request.
    case arenaFull(requested: Int, available: Int)
    /// A canary byte between arena blocks was overwritten.
    case arenaCorrupted(block: Int, offset: Int, label: String)

    public var description: String {
        switch self {
        case .invalidSetting(let s): return "invalid setting: \(s)"
        case .system(let call, let e, let detail):
            return "\(call) failed for \(detail): \(String(cString: strerror(e))) (errno \(e))"
        case .arenaFull(let req, let avail):
            return "arena full: requested \(req) bytes, \(avail) bytes left; plan a larger arena"
        case .arenaCorrupted(let block, let offset, let label):
            return "arena canary overwritten after block \(block) ('\(label)') at arena offset \(offset): a kernel wrote past its buffer"
        }
    }
}

/// The process environment as a dictionary (a seam so tests can pass their own).
public enum ProcessEnvironment {
    public static var all: [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }
}
