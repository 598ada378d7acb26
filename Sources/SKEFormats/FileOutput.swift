// FileOutput — buffered POSIX writes to a temporary file that replaces the target only when complete
// (a crash or error never leaves a half-written model under the final name). Optionally hashes
// everything written while `hashing` is on.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The body checksum being computed while writing: one XXH64 stream (algorithm 1) or chunked (algorithm 2).
enum BodyHasher {
    case stream(XXH64), chunked(ChunkedXXH64)

    init(algorithm: UInt32) { self = algorithm == Bump.checksumXXH64 ? .stream(XXH64()) : .chunked(ChunkedXXH64()) }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .stream(var h): h.update(bytes); self = .stream(h)
        case .chunked(var h): h.update(bytes); self = .chunked(h)
        }
    }

    func digest() -> UInt64 {
        switch self {
        case .stream(let h): h.digest()
        case .chunked(let h): h.digest()
        }
    }
}

final class FileOutput {
    let path: String
    private let tmpPath: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    private(set) var position = 0
    var hasher: BodyHasher?

    init(path: String) throws {
        self.path = path
        tmpPath = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        fd = open(tmpPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FormatError.io(path: tmpPath, operation: "create", errno: errno) }
        buffer.reserveCapacity(bufferLimit)
    }

    deinit {
        if fd >= 0 { close(fd); unlink(tmpPath) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher?.update(bytes)
        position += bytes.count
        if buffer.count + bytes.count <= bufferLimit {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        try writeAll(bytes)
    }

    func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }

    func zeros(_ n: Int) throws {
        guard n > 0 else { return }
        try write([UInt8](repeating: 0, count: n))
    }

    func pad(to alignment: Int) throws {
        let rem = position % alignment
        if rem != 0 { try zeros(alignment - rem) }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Overwrites bytes already written (after flush), e.g. a header filled in last.
    func patch(_ bytes: [UInt8], at offset: Int) throws {
        try flush()
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard n == bytes.count else { throw FormatError.io(path: tmpPath, operation: "pwrite", errno: errno) }
    }

    /// Flushes, syncs and renames into place.
    func commit() throws {
        try flush()
        guard fsync(fd) == 0 || errno == EINVAL else { throw FormatError.io(path: tmpPath, operation: "fsync", errno: errno) }
        close(fd)
        fd = -1
        guard rename(tmpPath, path) == 0 else {
            let e = errno
            unlink(tmpPath)
            throw FormatError.io(path: path, operation: "rename", errno: e)
        }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw FormatError.io(path: tmpPath, operation: "write", errno: errno)
            }
            done += n
        }
    }
}
