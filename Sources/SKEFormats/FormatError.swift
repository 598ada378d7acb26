// FormatError — every way a model file can be unusable, each naming the field and byte offset
// so a person can act on it. Readers throw these; they never trap on file contents.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum FormatError: Error, Equatable, CustomStringConvertible {
    case io(path: String, operation: String, errno: Int32)
    case notARegularFile(path: String)
    case unknownFormat(path: String, magic: [UInt8])
    case truncated(format: String, field: String, offset: Int, needed: Int, available: Int)
    case badMagic(format: String, found: [UInt8])
    case bigEndian(format: String)
    case unsupportedVersion(format: String, version: UInt32, supported: String)
    case invalid(format: String, field: String, offset: Int, reason: String)
    case unknownValueType(field: String, offset: Int, raw: UInt32)
    case unknownTensorType(tensor: String, offset: Int, raw: UInt32)
    case duplicate(kind: String, name: String, offset: Int)
    case tensorOutOfBounds(format: String, tensor: String, offset: Int, start: Int, bytes: Int, dataSize: Int)
    case checksumMismatch(path: String, region: String, expected: UInt64, actual: UInt64)
    case tensorNotFound(name: String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .io(let path, let op, let e):
            return "\(path): \(op) failed: \(String(cString: strerror(e)))"
        case .notARegularFile(let path):
            return "\(path): not a regular file"
        case .unknownFormat(let path, let magic):
            return "\(path): not a GGUF or .bump file (starts with \(hex(magic)))"
        case .truncated(let f, let field, let off, let need, let avail):
            return "\(f) file truncated: field '\(field)' at byte \(off) needs \(need) bytes but only \(avail) remain"
        case .badMagic(let f, let found):
            return "not a \(f) file: magic is \(hex(found))"
        case .bigEndian(let f):
            return "big-endian \(f) files are not supported (this is a little-endian engine); convert the file on a little-endian machine"
        case .unsupportedVersion(let f, let v, let ok):
            return "\(f) version \(v) is not supported (supported: \(ok))"
        case .invalid(let f, let field, let off, let reason):
            return "\(f): invalid '\(field)' at byte \(off): \(reason)"
        case .unknownValueType(let field, let off, let raw):
            return "GGUF: unknown metadata value type \(raw) for '\(field)' at byte \(off) (known: 0–12)"
        case .unknownTensorType(let t, let off, let raw):
            return "GGUF: tensor '\(t)' has unknown ggml type \(raw) at byte \(off)"
        case .duplicate(let kind, let name, let off):
            return "duplicate \(kind) '\(name)' at byte \(off)"
        case .tensorOutOfBounds(let f, let t, let off, let start, let bytes, let size):
            return "\(f): tensor '\(t)' (info at byte \(off)) spans data bytes \(start)..<\(start &+ bytes) but the data region holds \(size) bytes"
        case .checksumMismatch(let path, let region, let exp, let act):
            return "\(path): checksum mismatch in \(region) (stored \(hex64(exp)), computed \(hex64(act))): the file is corrupted; convert it again"
        case .tensorNotFound(let name):
            return "tensor '\(name)' not found"
        case .invalidArgument(let s):
            return s
        }
    }
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16).leftPad(2) }.joined(separator: " ") }
func hex64(_ v: UInt64) -> String { "0x" + String(v, radix: 16).leftPad(16) }

extension String {
    func leftPad(_ n: Int, with c: Character = "0") -> String {
        count >= n ? self : String(repeating: c, count: n - count) + self
    }
}
