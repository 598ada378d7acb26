// Arena — one region from mmap, handed out as 64-byte aligned blocks by bumping an offset.
//
// Layout:  [128-byte header][block 0][canary gap][block 1][canary gap] … [free]
//   header   : magic "SKEARENA", capacity, used, block count (readable in a core dump)
//   block    : starts 64-byte aligned; its size is what was asked for
//   gap      : from the end of a block to the next 64-byte boundary, plus a full 64-byte guard,
//              filled with the canary byte 0xA5; `verify()` checks every gap byte, so even a
//              one-byte overrun of any block is caught
// Huge pages are requested (MADV_HUGEPAGE); on a machine with several NUMA nodes the region can be
// bound to one node with mbind(2) (on one node that is a no-op and `numaBinding` says so).
// Allocation is for planning time: hot paths receive offsets/pointers and never allocate.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSKESystem

public final class Arena: @unchecked Sendable {
    /// Bytes the kernel says could be handed out now without swapping (`MemAvailable` in /proc/meminfo: free memory
    /// plus reclaimable page cache), or nil where that is unknown. Read when asked (it changes).
    public static var availableMemory: Int? {
        #if os(Linux)
        guard let f = fopen("/proc/meminfo", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix("MemAvailable:") else { continue }
            let kib = text.dropFirst("MemAvailable:".count).split(separator: " ").first.flatMap { Int($0) }
            return kib.map { $0 * 1024 }
        }
        #endif
        return nil
    }

    public static let headerBytes = 128
    public static let alignment = 64
    public static let guardBytes = 64
    public static let canary: UInt8 = 0xA5

    /// What happened to the request to place the region on a NUMA node.
    public enum NUMABinding: Equatable, Sendable, CustomStringConvertible {
        case notRequested
        case singleNode              // the machine has one node: nothing to bind
        case bound(node: Int)
        case failed(node: Int, errno: Int32)
        public var description: String {
            switch self {
            case .notRequested: return "not requested"
            case .singleNode: return "single NUMA node (no binding needed)"
            case .bound(let n): return "bound to node \(n)"
            case .failed(let n, let e): return "binding to node \(n) failed (errno \(e))"
            }
        }
    }

    public struct Block: Sendable { public let offset: Int; public let size: Int; public let label: String }

    public let base: UnsafeMutableRawPointer
    public let capacity: Int
    public private(set) var used: Int
    public private(set) var blocks: [Block] = []
    public let numaBinding: NUMABinding
    public let hugePagesRequested: Bool

    /// Maps `capacity` usable bytes (plus the header), rounded up to whole pages.
    public init(capacity: Int, numaNode: Int? = nil) throws {
        guard capacity >= 0 else { throw SKEError.invalidSetting("arena capacity \(capacity) < 0") }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let total = (Self.headerBytes + capacity + page - 1) / page * page
        guard let p = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            throw SKEError.system(call: "mmap", errno: errno, detail: "an arena of \(total) bytes")
        }
        #if os(Linux)
        hugePagesRequested = madvise(p, total, 14 /* MADV_HUGEPAGE */) == 0
        #else
        hugePagesRequested = false
        #endif
        base = p
        self.capacity = total
        used = Self.headerBytes
        if let node = numaNode {
            if NUMA.nodeCount <= 1 {
                numaBinding = .singleNode
            } else {
                let rc = ske_mbind_node(p, total, Int32(node))
                numaBinding = rc == 0 ? .bound(node: node) : .failed(node: node, errno: rc)
            }
        } else {
            numaBinding = .notRequested
        }
        writeHeader()
    }

    deinit { munmap(base, capacity) }

    /// The `capacity` that holds blocks of these byte sizes allocated in order (alignment and canary gaps included).
    public static func capacity(forBlocks sizes: [Int]) -> Int {
        sizes.reduce(0) { $0 + ($1 + alignment - 1) / alignment * alignment + guardBytes }
    }

    public var available: Int { capacity - used }

    /// Returns a 64-byte aligned block of `bytes` bytes, followed by a canary gap.
    public func allocate(_ bytes: Int, label: String = "") throws -> UnsafeMutableRawPointer {
        guard bytes >= 0 else { throw SKEError.invalidSetting("arena allocation of \(bytes) bytes") }
        let start = used  // always 64-aligned
        let dataEnd = start.addingReportingOverflow(bytes)
        guard !dataEnd.overflow else { throw SKEError.arenaFull(requested: bytes, available: available) }
        let next = (dataEnd.partialValue + Self.alignment - 1) / Self.alignment * Self.alignment + Self.guardBytes
        guard next <= capacity else { throw SKEError.arenaFull(requested: bytes, available: available) }
        (base + dataEnd.partialValue).initializeMemory(as: UInt8.self, repeating: Self.canary, count: next - dataEnd.partialValue)
        blocks.append(Block(offset: start, size: bytes, label: label))
        used = next
        writeHeader()
        return base + start
    }

    /// Typed convenience: a block of `count` elements of `T`.
    public func allocate<T>(_ type: T.Type, count: Int, label: String = "") throws -> UnsafeMutablePointer<T> {
        let (bytes, o) = count.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
        guard !o else { throw SKEError.arenaFull(requested: Int.max, available: available) }
        return try allocate(bytes, label: label).bindMemory(to: T.self, capacity: count)
    }

    /// Forgets every block (the memory stays mapped and is reused).
    public func reset() {
        blocks.removeAll(keepingCapacity: true)
        used = Self.headerBytes
        writeHeader()
    }

    /// Checks every canary byte; throws naming the first block whose gap was written.
    public func verify() throws {
        for (i, b) in blocks.enumerated() {
            let gapStart = b.offset + b.size
            let gapEnd = i + 1 < blocks.count ? blocks[i + 1].offset : used
            let p = (base + gapStart).assumingMemoryBound(to: UInt8.self)
            for j in 0..<(gapEnd - gapStart) where p[j] != Self.canary {
                throw SKEError.arenaCorrupted(block: i, offset: gapStart + j, label: b.label)
            }
        }
        guard base.load(as: UInt64.self) == Self.magic else {
            throw SKEError.arenaCorrupted(block: -1, offset: 0, label: "header")
        }
    }

    static let magic: UInt64 = 0x414E_4552_4145_4B53  // "SKEARENA" little-endian

    private func writeHeader() {
        base.storeBytes(of: Self.magic, toByteOffset: 0, as: UInt64.self)
        base.storeBytes(of: UInt64(capacity), toByteOffset: 8, as: UInt64.self)
        base.storeBytes(of: UInt64(used), toByteOffset: 16, as: UInt64.self)
        base.storeBytes(of: UInt64(blocks.count), toByteOffset: 24, as: UInt64.self)
    }
}

/// NUMA topology as Linux reports it in sysfs.
public enum NUMA {
    /// Number of online nodes (1 when sysfs says nothing, e.g. not Linux).
    public static let nodeCount: Int = {
        guard let text = readSmallFile("/sys/devices/system/node/online") else { return 1 }
        return parseCPUList(text).count.clamped(min: 1)
    }()
}

extension Int {
    func clamped(min lo: Int) -> Int { Swift.max(self, lo) }
}

/// Parses a Linux cpu/node list such as "0-3,8,10-11".
public func parseCPUList(_ text: String) -> [Int] {
    var out: [Int] = []
    for part in text.split(whereSeparator: { $0 == "," || $0 == "\n" || $0 == " " }) {
        let ends = part.split(separator: "-")
        if ends.count == 1, let a = Int(ends[0]) { out.append(a) }
        else if ends.count == 2, let a = Int(ends[0]), let b = Int(ends[1]), a <= b { out += Array(a...b) }
    }
    return out
}

/// Reads a small text file with POSIX calls (sysfs/procfs), nil when unreadable.
public func readSmallFile(_ path: String, limit: Int = 1 << 16) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: limit)
    let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, limit) }
    guard n >= 0 else { return nil }
    return String(decoding: buf[0..<n], as: UTF8.self)
}
