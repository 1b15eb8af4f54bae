import Bytecode
import Foundation

/// Time and bytes of a party's inferences since setup, split into the offline phase
/// (work that does not depend on the client's input, done by `preprocess`) and the
/// online phase (`infer`).
public struct PhaseTotals: Sendable, Equatable {
    public var offlineSeconds = 0.0, onlineSeconds = 0.0
    public var offlineBytes = 0, onlineBytes = 0
    public init() {}
}

/// One inference's input-independent part, done ahead (Runtime/PROTOCOLS.md, "Offline
/// and online"): the helper's whole run, the server's copy of what the helper and the
/// client sent offline, the client's shares L_M(A) - R of every linear layer (and its
/// messages for the truncations after them). Every instruction of an inference
/// draws from its own PRG stream, so this work can run before, and in another order
/// than, the online phase.
final class Preprocessed {
    let inference: UInt64
    /// Whether `preprocess` is running it (its bytes count as offline).
    var offline = false
    /// Whether `preprocess` did its offline part (the helper: the whole inference).
    var prepared = false
    /// Server: the offline frames of the helper and of the client; client: the helper's.
    /// Read in order online.
    var frames: [Role: FrameStore] = [:]
    /// Client: L_M(A) - R per linear instruction.
    var linearShares: [Int: RingTensor] = [:]

    init(inference: UInt64) { self.inference = inference }

    /// The PRG stream of one instruction of one inference; stream 0 is the session's
    /// setup. Inferences number from 1 (at most 2^20 per session), instructions from 0.
    static func stream(inference: UInt64, instruction: Int) -> UInt64 { inference << 32 | UInt64(instruction) }

    /// The next offline frame from `peer`, when this inference's were read ahead.
    func nextFrame(from peer: Role) throws -> [UInt8]? {
        guard let store = frames[peer] else { return nil }
        guard let frame = try store.next() else { throw PeerError("the \(peer.rawValue)'s offline material for this inference ended early") }
        return frame
    }
}

extension Party {
    /// Prepares the next inference that has not started: the helper runs it (all its
    /// messages are input-independent), the client computes L_M(A) - R of every linear
    /// layer and sends its offline messages, the server reads all the helper and the
    /// client send offline for it. `infer` then uses it.
    public func preprocess() throws {
        try preprocess(helperFrames: nil)
    }

    /// `helperFrames`: the server's copy of the helper's material for this inference,
    /// when a reader thread took it during the previous online phase (`run`).
    private func preprocess(helperFrames: HelperReader?) throws {
        let start = ContinuousClock.now
        defer { phases.offlineSeconds += seconds(since: start) }
        let inference = Preprocessed(inference: nextNumber())
        inference.offline = true
        switch role {
        case .helper:
            measured = []
            active = inference
            defer { active = nil }
            _ = try interpreter.run(self)
        case .server:
            inference.frames = [.helper: try helperFrames?.frames() ?? readOfflineFrames(from: .helper, bytes: helperMaterial(for: .server)),
                                .client: try readOfflineFrames(from: .client, bytes: program.totalCost.offline.client)]
        case .client:
            try prepareClient(inference)
        }
        inference.offline = false
        inference.prepared = true
        prepared.append(inference)
    }

    /// The bytes the helper sends `recipient` per inference (all of them offline).
    func helperMaterial(for recipient: Role) -> Int {
        let total = program.totalCost
        return recipient == .client ? total.helperToClient : total.offline.helper - total.helperToClient
    }

    /// The client's offline part: L_M(A) - R of every linear layer, and the masked value
    /// of each truncation of one (`Trunc.followsLinearLayer`), sent to the server now;
    /// then it reads the helper's keys for the selections.
    private func prepareClient(_ inference: Preprocessed) throws {
        for (index, instruction) in program.instructions.enumerated() {
            let stream = Preprocessed.stream(inference: inference.inference, instruction: index)
            if let layer = interpreter.linearLayer(instruction) {
                var share = clientLinearShare(instruction, x: layer.x, weight: layer.weight, prg: sessionPRGs[.helper]!.stream(stream), apply: layer.kernel).share
                share.canonicalize(instruction.domain.ring!)
                inference.linearShares[index] = share
            } else if case .trunc(let op) = instruction.operation, op.followsLinearLayer(in: program) {
                let from = program.instructions[op.x].domain.ring!, to = instruction.domain.ring!
                try sendTruncationShare(inference.linearShares[op.x]!.values, op, from: from, to: to, prg: sessionPRGs[.helper]!.stream(stream))
            }
        }
        inference.frames[.helper] = try readOfflineFrames(from: .helper, bytes: helperMaterial(for: .client))
    }

    /// The frames `peer` sends offline for one inference: as many as make the program's
    /// predicted offline bytes for it, kept in memory up to `materialMemory` bytes. A
    /// frame longer than what is left is refused from its length header; an empty one
    /// (no protocol step sends one) too, so the loop always advances.
    func readOfflineFrames(from peer: Role, bytes expected: Int) throws -> FrameStore {
        let store = FrameStore(memoryLimit: materialMemory)
        while store.bytes < expected {
            let frame = try links[peer]!.receive(atMost: expected - store.bytes)
            guard !frame.isEmpty else { throw PeerError("the \(peer.rawValue) sent an empty frame of offline material") }
            try store.append(frame)
        }
        return store
    }

    /// The client's part of a linear layer that needs no input: A and R from the
    /// instruction's stream shared with the helper, and its share L_M(A) - R.
    func clientLinearShare(_ instruction: Instruction, x: Int, weight: Int, prg: PRG,
                           apply: Interpreter.LinearKernel) -> (a: [UInt64], share: RingTensor) {
        let inputShape = program.instructions[x].shape
        let a = prg.words(inputShape.reduce(1, *)), r = prg.words(instruction.elementCount)
        let masked = apply(RingTensor(shape: inputShape, values: a), weights[weight]!, nil)
        return (a, RingTensor(shape: instruction.shape, values: zip(masked.values, r).map { $0 &- $1 }))
    }

    /// Prepares `count` inferences, then waits until the client and the server both
    /// have (a one-byte control frame each way, outside the protocol's bytes), so the
    /// online phase that follows is timed without either waiting for the other's
    /// offline work.
    public func preprocess(count: Int) throws {
        try preprocess(count: count, reader: nil)
    }

    private func preprocess(count: Int, reader: HelperReader?) throws {
        guard count > 0 else { return }
        for number in 0..<count { try preprocess(helperFrames: number == 0 ? reader : nil) }
        guard role != .helper else { return }
        let peer: Role = role == .client ? .server : .client
        try links[peer]!.send([1])
        guard try links[peer]!.receive(atMost: 1) == [1] else { throw PeerError("the \(peer.rawValue) sent a malformed ready frame") }
    }

    /// Runs `count` inferences, each prepared before its input is used and up to `ahead`
    /// of them prepared at once (0: none ahead; each runs offline and online parts
    /// interleaved). `input(i)` is the client's i-th input (nil for the others).
    /// The server reads the next inference's helper material on a thread of its own
    /// while the current one runs online (which reads the helper's frames from memory),
    /// so the helper's transfer overlaps the online phase.
    public func run(inferences count: Int, preprocess ahead: Int, input: (Int) -> [Float]?, output: ([[Float]]) -> Void) throws {
        var preparedCount = 0
        var reader: HelperReader?
        for index in 0..<count {
            preparedCount = max(preparedCount, index)  // the earlier ones ran
            let target = min(count, index + ahead)
            try preprocess(count: target - preparedCount, reader: target > preparedCount ? reader : nil)
            if target > preparedCount { reader = nil }
            preparedCount = target
            if role == .server && ahead > 0 && preparedCount < count && reader == nil {
                reader = HelperReader(self, bytes: helperMaterial(for: .server))
            }
            if let result = try infer(input(index)) { output(result) }
        }
    }
}

/// A thread that reads one inference of the helper's material for the server.
final class HelperReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<FrameStore, any Error> = .failure(PeerError("the helper's material was not read"))

    /// The party's helper link is this thread's alone until `frames` returns: the online
    /// phase of a prepared inference reads the helper's frames from memory.
    init(_ party: Party, bytes: Int) {
        let box = UncheckedParty(party: party)
        let thread = Thread { [self] in
            result = Result { try box.party.readOfflineFrames(from: .helper, bytes: bytes) }
            done.signal()
        }
        thread.start()
    }

    func frames() throws -> FrameStore {
        done.wait()
        return try result.get()
    }
}
