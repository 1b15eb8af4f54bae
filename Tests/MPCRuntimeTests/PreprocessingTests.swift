import Bytecode
import MPCRuntime
import Testing

/// A helper-to-server link that sends its first frame after setup (the program hash)
/// twice: more material than an inference has.
final class DuplicatingLink: Link, @unchecked Sendable {
    let inner: Link
    private var sent = 0
    init(_ inner: Link) { self.inner = inner }
    func send(_ frame: [UInt8]) throws {
        if sent == 1 { try inner.send(frame) }
        sent += 1
        try inner.send(frame)
    }
    func receive(atMost limit: Int) throws -> [UInt8] { try inner.receive(atMost: limit) }
    func close() { inner.close() }
}

/// The offline/online split (Runtime/PROTOCOLS.md, "Offline and online"): inferences
/// prepared ahead compute what on-demand ones compute, bit for bit, whatever the client
/// and the server keep ahead and whenever the helper runs, with the predicted bytes in
/// each phase.
@Suite struct PreprocessingTests {
    @Test(arguments: ["tiny_resnet", "tiny_mobilenetv2", "tiny_segnet"])
    func preparedInferencesMatchTheEmulatorBitForBit(_ fixture: String) throws {
        let (program, weights, rows) = try compiledFixture(fixture, blocks: true, exact: true)
        let inputs = Array((rows + rows + rows).prefix(3))
        let emulator = Emulator(program: program, weights: weights)
        let expected = inputs.map { emulator.run($0) }
        let schedules: [[Role: Int]] = [[:], [.client: 1, .server: 1, .helper: 1], [.client: 3, .server: 3, .helper: 2], [.client: 2, .server: 2, .helper: 0], [.helper: 3]]
        for (number, ahead) in schedules.enumerated() {
            let session = MemorySession(program: program, weights: weights)
            // Every other schedule keeps only 1 KB of each prepared inference in memory
            // and reads the rest back from its temporary file.
            if number % 2 == 1 { for party in session.parties.values { party.materialMemory = 1024 } }
            let outputs = try session.infer(inputs, preprocess: ahead)
            #expect(outputs == expected, "\(fixture) ahead \(ahead)")
            let cost = program.totalCost
            for role in Role.allCases {
                let phases = session.parties[role]!.phases
                #expect(phases.offlineBytes == 3 * cost.offline.of(role) && phases.onlineBytes == 3 * cost.online.of(role),
                        "\(fixture) \(role) ahead \(ahead): \(phases)")
            }
        }
    }

    /// Prepared inferences hold the online phase to the client's and the server's
    /// messages: the helper sends nothing once the inference starts.
    @Test func theHelperIsDoneBeforeTheInputArrives() throws {
        let (program, weights, rows) = try compiledFixture("tiny_resnet")
        let session = MemorySession(program: program, weights: weights)
        let helperBytesAtStart = LockedValue()
        try session.run { party in
            try party.setup()
            try party.preprocess()
            if party.role == .helper { helperBytesAtStart.set(party.phases.offlineBytes) }
            _ = try party.infer(party.role == .client ? rows[0] : nil)
        }
        let helper = session.parties[.helper]!
        #expect(helperBytesAtStart.value == program.totalCost.offline.helper)
        #expect(helper.phases.onlineBytes == 0 && helper.phases.onlineSeconds == 0)
        // The client's offline messages: its masked values of the truncations after linear layers.
        #expect(session.parties[.server]!.phases.offlineBytes == 0)
        #expect(session.parties[.client]!.phases.offlineBytes == program.totalCost.offline.client && program.totalCost.offline.client > 0)
    }

    @Test func streamsAreIndependentAndRepeatable() {
        let prg = PRG(key: PRG.freshKey())
        let first = prg.stream(1 << 32 | 7).words(5), again = prg.stream(1 << 32 | 7).words(5)
        let other = prg.stream(1 << 32 | 8).words(5), nextInference = prg.stream(2 << 32 | 7).words(5)
        #expect(first == again)
        #expect(first != other && first != nextInference && other != nextInference)
        #expect(prg.stream(0).words(5) == prg.words(5), "stream 0 is the setup's")
        let split = prg.stream(9)
        // Each draw takes whole 16-byte blocks.
        #expect(split.words(2) + split.words(4) == prg.stream(9).words(6), "a stream continues across draws")
    }

    /// The AES-NI keystream equals swift-crypto's AES-256-CTR for the same counters,
    /// across streams (the counter's high half) and draws of odd sizes.
    @Test func hardwareKeystreamEqualsSwiftCrypto() {
        for _ in 0..<4 {
            let prg = PRG(key: PRG.freshKey())
            for stream: UInt64 in [0, 1, 5 << 32 | 17, UInt64.max] {
                let hardware = prg.stream(stream), software = prg.softwareStream(stream)
                for count in [1, 2, 3, 15, 16, 17, 1000, 4097] {
                    #expect(hardware.words(count) == software.words(count), "stream \(stream), \(count) words")
                }
            }
        }
    }

    /// Seeds stretched with AES-NI (AES-128 key schedule and counter mode) equal
    /// swift-crypto's AES-128-CTR from counter 0; each seed's words start its keystream.
    @Test func seedExpansionEqualsSwiftCrypto() {
        let seeds = PRG(key: PRG.freshKey()).words(2 * 7)
        let lengths: [Int32] = [1, 2, 3, 0, 16, 35, 64]
        let hardware = PRG.expand(seeds: seeds, lengths: lengths, hardware: PRG.hardwareAES)
        #expect(hardware == PRG.expand(seeds: seeds, lengths: lengths, hardware: false))
        #expect(hardware.count == 121)
        let alone = PRG.expand(seeds: Array(seeds[8..<10]), lengths: [16])
        #expect(Array(hardware[6..<22]) == alone && alone[0] != alone[1])
    }

    @Test func tooMuchHelperMaterialStopsTheServer() throws {
        let (program, weights, rows) = try compiledFixture("tiny_resnet")
        let session = MemorySession(program: program, weights: weights, timeout: 5) { from, to, link in
            from == .helper && to == .server ? DuplicatingLink(link) : link
        }
        #expect {
            _ = try session.infer([rows[0]], preprocess: [.client: 1, .server: 1])
        } throws: { error in
            // The frame that would overrun the inference's material is refused from its length.
            (error as? PeerError)?.message.contains("bytes where the protocol expects at most") == true
        }
    }

}

final class LockedValue: @unchecked Sendable {
    private(set) var value = 0
    func set(_ newValue: Int) { value = newValue }
}
