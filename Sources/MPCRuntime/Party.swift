import Bytecode

/// The three roles. The client owns the input and alone learns the output; the server
/// owns the weights; the helper deals correlated randomness and sees no data.
public enum Role: String, CaseIterable, Sendable {
    case client, server, helper
}

extension RoleBytes {
    /// The bytes `role` sends.
    public func of(_ role: Role) -> Int {
        switch role {
        case .client: client
        case .server: server
        case .helper: helper
        }
    }
}

/// What one party measured for one instruction.
public struct Measured: Sendable, Equatable {
    public var bytesSent = 0
    public var rounds = 0
    public var seconds = 0.0
    public init() {}
}

/// One party of a session: its links to the two others, the pairwise PRGs agreed at
/// setup, and (server) the weights. `setup` runs once per session; `infer` once per
/// input. Runtime/PROTOCOLS.md describes every message.
public final class Party {
    public let role: Role
    public let program: Program
    public let links: [Role: Link]
    /// PRG shared with each other role, as agreed at setup (its stream 0 is setup's).
    var sessionPRGs: [Role: PRG] = [:]
    /// The same PRGs positioned at the running instruction's own stream.
    var shared: [Role: PRG] = [:]
    /// Server: the weights. Client: W - B (masked once per session). Helper: B.
    var weights: [Int: [UInt64]] = [:]
    /// Bytes this party sent during setup (keys, hashes, masked weights).
    public private(set) var sessionBytes = 0
    /// Per instruction of the last inference (the helper's: of the last it prepared).
    public internal(set) var measured: [Measured] = []
    /// Time and bytes since setup, offline (preprocessing) and online.
    public internal(set) var phases = PhaseTotals()
    /// Inferences numbered so far (the next gets the next number), the prepared ones not
    /// yet run, and the one running.
    var numbered: UInt64 = 0
    var prepared: [Preprocessed] = []
    var active: Preprocessed?
    /// The index of the running instruction.
    var running = 0
    /// Bytes of one prepared inference's material (the server's copy of the helper's and
    /// the client's offline frames, the client's of the helper's keys) kept in memory;
    /// the rest waits in a temporary file (FrameStore.swift).
    public var materialMemory = 128 << 20

    var current = Measured()
    /// The client's input during `infer`.
    var input: [Float]?
    let interpreter: Interpreter
    private var instructionStart = ContinuousClock.now

    /// `weights` only for the server.
    public convenience init(role: Role, program: Program, weights: WeightFile?, links: [Role: Link]) {
        self.init(role: role, program: program, ringWeights: weights.map(Party.ringWeights) ?? [:], links: links)
    }

    /// The server's weights already in ring words (`ringWeights`), shared by sessions.
    init(role: Role, program: Program, ringWeights: [Int: [UInt64]], links: [Role: Link]) {
        self.role = role
        self.program = program
        self.links = links
        self.interpreter = Interpreter(program)
        weights = ringWeights
    }

    // MARK: - Messages

    /// `offline`: an input-independent message (its bytes count for the offline phase).
    func send(_ peer: Role, _ words: [UInt64], ring: Ring = .z64, offline: Bool = false) throws {
        try sendFrame(peer, Party.pack([(words, ring)]), offline: offline)
    }

    /// Sends one frame of several parts, each packed at its ring's width (bit planes and
    /// other 64-bit words as Z_2^64).
    func send(_ peer: Role, parts: [([UInt64], Ring)]) throws {
        try sendFrame(peer, Party.pack(parts))
    }

    /// Sends and counts a frame (for this instruction, or for the session during setup).
    func sendFrame(_ peer: Role, _ bytes: [UInt8], offline: Bool = false) throws {
        try links[peer]!.send(bytes)
        current.bytesSent += bytes.count
        if inSetup {
            sessionBytes += bytes.count
        } else if offline || role == .helper || active?.offline == true {
            phases.offlineBytes += bytes.count
        } else {
            phases.onlineBytes += bytes.count
        }
    }

    /// Receives a frame of exactly `count` elements of `ring` from `peer`.
    func receive(_ peer: Role, count: Int, ring: Ring = .z64, offline: Bool = false) throws -> [UInt64] {
        try receive(peer, parts: [(count, ring)], offline: offline)[0]
    }

    /// Receives one frame of parts of the given sizes and rings; Z_2^32 words arrive
    /// canonical (sign-extended). Offline frames (all the helper's) come from what
    /// `preprocess` read ahead, if it did.
    func receive(_ peer: Role, parts: [(count: Int, ring: Ring)], offline: Bool = false) throws -> [[UInt64]] {
        let expected = parts.reduce(0) { $0 + $1.count * $1.ring.bytes }
        let ahead = offline || peer == .helper ? try active?.nextFrame(from: peer) : nil
        let frame = try ahead ?? links[peer]!.receive(atMost: expected)
        guard frame.count == expected else {
            throw PeerError("the \(peer.rawValue) sent a malformed frame (\(frame.count) bytes where the protocol expects \(expected))")
        }
        var offset = 0
        return parts.map { part in
            defer { offset += part.count * part.ring.bytes }
            return Party.unpack(frame[offset..<(offset + part.count * part.ring.bytes)], count: part.count, ring: part.ring)
        }
    }

    /// Client and server: send `words` to the other and receive theirs (one round).
    func exchange(_ words: [UInt64], ring: Ring = .z64) throws -> [UInt64] {
        try exchange(parts: [(words, ring)])[0]
    }

    /// Client and server: one frame of parts each way (one round).
    func exchange(parts: [([UInt64], Ring)]) throws -> [[UInt64]] {
        let peer: Role = role == .client ? .server : .client
        try send(peer, parts: parts)
        current.rounds += 1
        return try receive(peer, parts: parts.map { ($0.0.count, $0.1) })
    }

    static func pack(_ parts: [([UInt64], Ring)]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(parts.reduce(0) { $0 + $1.0.count * $1.1.bytes })
        for (words, ring) in parts {
            switch ring {
            case .z64: words.withUnsafeBytes { bytes.append(contentsOf: $0) }
            case .z32: words.map { UInt32(truncatingIfNeeded: $0) }.withUnsafeBytes { bytes.append(contentsOf: $0) }
            }
        }
        return bytes
    }

    static func unpack(_ bytes: ArraySlice<UInt8>, count: Int, ring: Ring) -> [UInt64] {
        switch ring {
        case .z64:
            var words = [UInt64](repeating: 0, count: count)
            words.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
            return words
        case .z32:
            var narrow = [UInt32](repeating: 0, count: count)
            narrow.withUnsafeMutableBytes { $0.copyBytes(from: bytes) }
            return narrow.map { ring.canonical(UInt64($0)) }
        }
    }

    /// Whether `setup` is running (its bytes count for the session).
    private var inSetup = false
    /// Whether the last setup resumed an earlier session (no weight masks sent).
    public private(set) var resumed = false

    // MARK: - Setup

    /// Checks that all three run the same program, agrees fresh pairwise PRG keys (drawn
    /// from the OS CSPRNG by the first of each pair), and masks the weights of every
    /// linear layer once: the server sends W - B to the client, B drawn from the PRG it
    /// shares with the helper. With a `cache` a returning client's session resumes
    /// instead (SessionCache.swift): the masks of its earlier session serve again.
    public func setup(cache: SessionCache? = nil) throws {
        sessionBytes = 0
        inSetup = true
        defer { inSetup = false }
        let hash = program.hash
        let others = Role.allCases.filter { $0 != role }
        for peer in others { try sendFrame(peer, hash) }
        for peer in others {
            let theirs = try links[peer]!.receive(exactly: hash.count, "the \(peer.rawValue) sent a malformed program hash")
            guard theirs == hash else {
                throw PeerError("the \(peer.rawValue) runs a different program (its hash differs from this program's); give all three parties the same .mpcb")
            }
        }
        var keys: [Role: [UInt8]] = [:]
        for peer in others {
            // The earlier role of each pair (client < server < helper) draws the key.
            if Role.allCases.firstIndex(of: role)! < Role.allCases.firstIndex(of: peer)! {
                keys[peer] = PRG.freshKey()
                try sendFrame(peer, keys[peer]!)
            } else {
                keys[peer] = try links[peer]!.receive(exactly: 32, "the \(peer.rawValue) sent a malformed key")
            }
            sessionPRGs[peer] = PRG(key: keys[peer]!)
        }
        let resumption = try negotiateResumption(cache)
        resumed = resumption.resumed
        if !resumed {
            try maskWeights()
            try storeSession(cache, ticket: resumption.newTicket, helperKey: keys[.server])
        }
    }

    /// The server sends W - B for every masked weight; B comes from the setup stream of
    /// the PRG the server shares with the helper.
    private func maskWeights() throws {
        for index in Party.maskedWeights(program) {
            let count = program.weights[index].elementCount
            switch role {
            case .server:
                let mask = sessionPRGs[.helper]!.words(count)
                try send(.client, zip(weights[index]!, mask).map { $0 &- $1 })
            case .helper:
                weights[index] = sessionPRGs[.server]!.words(count)
            case .client:
                weights[index] = try receive(.server, count: count)
            }
        }
    }

    /// Setup bytes beside the masked weights: the program hash to both peers, a key to
    /// each later role, and the resumption frames (the client's two tickets to each
    /// peer; one verdict byte from the server and from the helper to each other role).
    public var handshakeBytes: Int {
        2 * 32 + 32 * (Role.allCases.count - 1 - Role.allCases.firstIndex(of: role)!) + (role == .client ? 2 * 64 : 2)
    }

    /// The weights that instructions' protocols mask (`maskedWeight`), in first-use order.
    static func maskedWeights(_ program: Program) -> [Int] {
        var seen = Set<Int>(), order: [Int] = []
        for instruction in program.instructions {
            if let weight = instruction.operation.definition.maskedWeight, seen.insert(weight).inserted { order.append(weight) }
        }
        return order
    }

    // MARK: - Inference

    /// Runs the program once, on the oldest prepared inference if there is one
    /// (`preprocess`). The client passes its input and receives the outputs; the server
    /// and the helper pass nil and receive nil. The helper's whole inference is offline:
    /// when it was prepared, nothing is left to do.
    public func infer(_ input: [Float]?) throws -> [[Float]]? {
        let inference = prepared.isEmpty ? Preprocessed(inference: nextNumber()) : prepared.removeFirst()
        if role == .helper && inference.prepared { return nil }
        let start = ContinuousClock.now
        defer { phases.onlineSeconds += seconds(since: start) }
        measured = []
        self.input = input
        active = inference
        defer { self.input = nil; active = nil }
        return try interpreter.run(self)
    }

    func nextNumber() -> UInt64 {
        numbered += 1
        return numbered
    }

    func willRun(_ index: Int) {
        current = Measured()
        instructionStart = ContinuousClock.now
        running = index
        let stream = Preprocessed.stream(inference: active!.inference, instruction: index)
        for (peer, prg) in sessionPRGs { shared[peer] = prg.stream(stream) }
    }

    func didRun(_ index: Int) {
        current.seconds = seconds(since: instructionStart)
        measured.append(current)
    }

    func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}
