import Bytecode
import Foundation
import MPCRuntime
import Testing

/// Session resumption (Runtime/PROTOCOLS.md, "Session resumption"): a returning client
/// skips the weight masks while its ticket is fresh, computes what a full session
/// computes, and anything missing, stale or damaged falls back to a full setup.
@Suite struct SessionResumptionTests {
    let fixture = "tiny_resnet"

    /// One session with each role's cache (nil: none); the client's outputs, and each
    /// role's setup bytes and whether it resumed.
    func session(_ program: Program, _ weights: WeightFile, _ input: [Float], caches: [Role: SessionCache]) throws
        -> (output: [[Float]], bytes: [Role: Int], resumed: [Role: Bool]) {
        let session = MemorySession(program: program, weights: weights)
        let results = ResultList()
        try session.run { party in
            try party.setup(cache: caches[party.role])
            if let output = try party.infer(party.role == .client ? input : nil) { results.append(output) }
        }
        let bytes = Dictionary(uniqueKeysWithValues: Role.allCases.map { ($0, session.parties[$0]!.sessionBytes) })
        let resumed = Dictionary(uniqueKeysWithValues: Role.allCases.map { ($0, session.parties[$0]!.resumed) })
        return (results.values[0], bytes, resumed)
    }

    func caches(_ program: Program, lifetime: Double = 3600, directory: String) -> [Role: SessionCache] {
        let keys = (0..<3).map { [UInt8](repeating: UInt8($0 + 1), count: 32) }
        return Dictionary(uniqueKeysWithValues: Role.allCases.map {
            ($0, SessionCache(directory: "\(directory)/\($0.rawValue)", lifetime: lifetime, programHash: program.hash, publicKeys: keys))
        })
    }

    func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mpcr-resume-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aReturningClientSkipsTheWeightMasks() throws {
        let (program, weights, inputs) = try compiledFixture(fixture, exact: true)
        let expected = Emulator(program: program, weights: weights).run(inputs[0])
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cache = caches(program, directory: directory)
        let first = try session(program, weights, inputs[0], caches: cache)
        let masks = program.totalCost.session.server
        #expect(first.output == expected && first.resumed.values.allSatisfy { !$0 })
        let second = try session(program, weights, inputs[0], caches: cache)
        #expect(second.output == expected, "a resumed session computes what a full one does")
        #expect(second.resumed.values.allSatisfy { $0 })
        #expect(first.bytes[.server]! - second.bytes[.server]! == masks && second.bytes[.client] == first.bytes[.client])
        // The client's record holds M, which is no file of the others; the helper's the key.
        let files = try Role.allCases.map { try FileManager.default.contentsOfDirectory(atPath: "\(directory)/\($0.rawValue)") }
        #expect(files.map(\.count) == [1, 1, 1])
        let clientRecord = try FileManager.default.attributesOfItem(atPath: "\(directory)/client/\(files[0][0])")
        #expect((clientRecord[.posixPermissions] as? Int) == 0o600)
        #expect((clientRecord[.size] as? Int ?? 0) > masks)
    }

    @Test func expiredMissingOrDamagedRecordsFallBackToAFullSetup() throws {
        let (program, weights, inputs) = try compiledFixture(fixture, exact: true)
        let expected = Emulator(program: program, weights: weights).run(inputs[0])
        let damage: [(String, (String) throws -> Void)] = [
            ("expired", { _ in Thread.sleep(forTimeInterval: 1.1) }),
            ("the helper's record gone", { directory in
                for name in try FileManager.default.contentsOfDirectory(atPath: "\(directory)/helper") {
                    try FileManager.default.removeItem(atPath: "\(directory)/helper/\(name)")
                }
            }),
            ("the client's record cut short", { directory in
                let name = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/client")[0]
                let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/client/\(name)"))
                try data.prefix(data.count - 8).write(to: URL(fileURLWithPath: "\(directory)/client/\(name)"))
            }),
        ]
        for (name, harm) in damage {
            let directory = temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let cache = caches(program, lifetime: name == "expired" ? 1 : 3600, directory: directory)
            let first = try session(program, weights, inputs[0], caches: cache)
            try harm(directory)
            let second = try session(program, weights, inputs[0], caches: cache)
            #expect(second.output == expected, "\(name)")
            #expect(second.resumed.values.allSatisfy { !$0 } && second.bytes == first.bytes, "\(name): a full setup")
            let third = try session(program, weights, inputs[0], caches: cache)
            #expect(third.resumed.values.allSatisfy { $0 }, "\(name): the new record serves")
        }
    }

    @Test func recordsServeOnlyTheirProgramAndParties() throws {
        let (program, weights, inputs) = try compiledFixture(fixture, exact: true)
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try session(program, weights, inputs[0], caches: caches(program, directory: directory))
        // Other static keys for the same directories: another binding.
        let others = Dictionary(uniqueKeysWithValues: Role.allCases.map {
            ($0, SessionCache(directory: "\(directory)/\($0.rawValue)", lifetime: 3600, programHash: program.hash, publicKeys: [[9], [9], [9]]))
        })
        #expect(try session(program, weights, inputs[0], caches: others).resumed.values.allSatisfy { !$0 })
        // Only the client keeps a cache: nothing to resume with.
        #expect(try session(program, weights, inputs[0], caches: [.client: caches(program, directory: directory)[.client]!]).resumed.values.allSatisfy { !$0 })
    }
}

final class ResultList: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [[[Float]]] = []
    func append(_ value: [[Float]]) { lock.withLock { stored.append(value) } }
    var values: [[[Float]]] { lock.withLock { stored } }
}
