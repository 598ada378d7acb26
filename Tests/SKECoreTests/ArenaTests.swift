import Testing
@testable import SKECore

@Suite("Bump arena")
struct ArenaTests {
    @Test("blocks are 64-byte aligned, disjoint and inside the region", arguments: [1, 7, 31, 63, 64, 65, 257, 4096, 100_003])
    func alignment(_ size: Int) throws {
        let a = try Arena(capacity: 1 << 20)
        var last = a.base
        for i in 0..<5 {
            let p = try a.allocate(size, label: "b\(i)")
            #expect(Int(bitPattern: p) % 64 == 0)
            #expect(p >= last + (i == 0 ? Arena.headerBytes : size + Arena.guardBytes))
            #expect(p + size <= a.base + a.capacity)
            p.initializeMemory(as: UInt8.self, repeating: 0xFF, count: size)  // writing a whole block is fine
            last = p
        }
        try a.verify()
    }

    @Test("verify() catches a one-byte overrun of any block", arguments: [1, 7, 31, 63, 64, 65, 257])
    func overrun(_ size: Int) throws {
        for victim in 0..<3 {
            let a = try Arena(capacity: 1 << 16)
            let blocks = try (0..<3).map { try a.allocate(size, label: "t\($0)") }
            try a.verify()
            (blocks[victim] + size).storeBytes(of: 0, as: UInt8.self)  // one byte past the end
            #expect(throws: SKEError.arenaCorrupted(block: victim, offset: blocks[victim] - a.base + size, label: "t\(victim)")) {
                try a.verify()
            }
        }
    }

    @Test("an overrun far into the guard is caught too")
    func guardOverrun() throws {
        let a = try Arena(capacity: 1 << 16)
        let p = try a.allocate(64)
        _ = try a.allocate(64)
        (p + 64 + 63).storeBytes(of: 1, as: UInt8.self)
        #expect(throws: SKEError.self) { try a.verify() }
    }

    @Test("a full arena throws instead of overlapping; reset reuses the memory")
    func fullAndReset() throws {
        let a = try Arena(capacity: 4096)
        let avail = a.available
        #expect(throws: SKEError.arenaFull(requested: avail, available: avail)) { _ = try a.allocate(avail) }
        #expect(throws: SKEError.self) { _ = try a.allocate(Int.max) }
        let p = try a.allocate(100)
        a.reset()
        #expect(a.blocks.isEmpty)
        #expect(try a.allocate(100) == p)
        try a.verify()
    }

    @Test("typed allocation")
    func typed() throws {
        let a = try Arena(capacity: 1 << 16)
        let f = try a.allocate(Float.self, count: 33)
        for i in 0..<33 { f[i] = Float(i) }
        #expect(f[32] == 32)
        try a.verify()
    }

    @Test("NUMA binding: a clear no-op on a single-node machine")
    func numa() throws {
        let a = try Arena(capacity: 1 << 16, numaNode: 0)
        if NUMA.nodeCount == 1 { #expect(a.numaBinding == .singleNode) } else { #expect(a.numaBinding == .bound(node: 0)) }
        #expect(try Arena(capacity: 64).numaBinding == .notRequested)
    }

    @Test("cpu/node list parsing", arguments: [("0", [0]), ("0-3", [0, 1, 2, 3]), ("0-1,4,6-7\n", [0, 1, 4, 6, 7]), ("", [])])
    func cpuList(_ c: (String, [Int])) {
        #expect(parseCPUList(c.0) == c.1)
    }
}
