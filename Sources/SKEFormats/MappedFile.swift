// MappedFile — a whole file mapped read-only; every tensor view points into it (llama2.c's way:
// weights are pointed into, never copied). Unmapped when the last reference goes.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SKECore

public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    public var count: Int { bytes.count }

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FormatError.io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FormatError.io(path: path, operation: "stat", errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw FormatError.notARegularFile(path: path) }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw FormatError.io(path: path, operation: "mmap", errno: errno)
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    /// Advises the kernel about a byte range (page-rounded); failures are ignored (advice only).
    public func advise(offset: Int, length: Int, hugePages: Bool = false, willNeed: Bool = false) {
        guard let base = bytes.baseAddress, length > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset / page * page
        let len = min(count, offset + length) - start
        let p = UnsafeMutableRawPointer(mutating: base + start)
        #if os(Linux)
        if hugePages { _ = madvise(p, len, 14 /* MADV_HUGEPAGE */) }
        #endif
        if willNeed { _ = madvise(p, len, Int32(MADV_WILLNEED)) }
    }

    deinit {
        if let p = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: p), bytes.count) }
    }
}
