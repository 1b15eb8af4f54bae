import Bytecode

/// Time and bytes of a party's inferences since setup, split into the offline phase
/// (work that does not depend on the client's input, done by `preprocess`) and the
/// online phase (`infer`).
public struct PhaseTotals: Sendable, Equatable {
    public var offlineSeconds = 0.0, onlineSeconds = 0.0
    public var offlineBytes = 0, onlineBytes = 0
    public init() {}
}

/// One inference's input-independent part, done ahead (Runtime/PROTOCOLS.md, "Offline
/// and online"): the helper's whole run, the server's copy of what the helper sent, the
/// client's shares L_M(A) - R of every linear layer. Every instruction of an inference
/// draws from its own PRG stream, so this work can run before, and in another order
/// than, the online phase.
final class Preprocessed {
    let inference: UInt64
    /// Whether this is `preprocess`'s (its bytes count as offline).
    var offline = false
    /// Helper: the whole inference ran.
    var ran = false
    /// Server: the helper's frames of this inference, read in order online.
    var helperFrames: [[UInt8]]?
    private var nextFrame = 0
    /// Client: L_M(A) - R per linear instruction.
    var linearShares: [Int: RingTensor] = [:]

    init(inference: UInt64) { self.inference = inference }

    /// The PRG stream of one instruction of one inference; stream 0 is the session's
    /// setup. Inferences number from 1 (at most 2^20 per session), instructions from 0.
    static func stream(inference: UInt64, instruction: Int) -> UInt64 { inference << 32 | UInt64(instruction) }

    func nextHelperFrame() throws -> [UInt8] {
        guard let helperFrames, nextFrame < helperFrames.count else {
            throw PeerError("the helper's material for this inference ended early")
        }
        defer { self.helperFrames![nextFrame] = []; nextFrame += 1 }
        return helperFrames[nextFrame]
    }
}

extension Party {
    /// Prepares the next inference that has not started: the helper runs it (all its
    /// messages are input-independent), the server reads all the helper sends for it,
    /// the client computes L_M(A) - R of every linear layer. `infer` then uses it.
    public func preprocess() throws {
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
            inference.ran = true
        case .server:
            inference.helperFrames = try readHelperMaterial()
        case .client:
            for (index, instruction) in program.instructions.enumerated() {
                guard let layer = interpreter.linearLayer(instruction) else { continue }
                let prg = sessionPRGs[.helper]!.stream(Preprocessed.stream(inference: inference.inference, instruction: index))
                inference.linearShares[index] = clientLinearShare(instruction, x: layer.x, weight: layer.weight, prg: prg, apply: layer.kernel).share
            }
        }
        inference.offline = false
        prepared.append(inference)
    }

    /// The frames the helper sends for one inference: as many as make the program's
    /// predicted offline bytes.
    private func readHelperMaterial() throws -> [[UInt8]] {
        let expected = program.totalCost.offline.helper
        var frames: [[UInt8]] = [], total = 0
        while total < expected {
            let frame = try links[.helper]!.receive()
            total += frame.count
            frames.append(frame)
        }
        guard total == expected else {
            throw PeerError("the helper sent \(total) bytes for an inference whose material is \(expected) bytes")
        }
        return frames
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
        guard count > 0 else { return }
        for _ in 0..<count { try preprocess() }
        guard role != .helper else { return }
        let peer: Role = role == .client ? .server : .client
        try links[peer]!.send([1])
        guard try links[peer]!.receive() == [1] else { throw PeerError("the \(peer.rawValue) sent a malformed ready frame") }
    }

    /// Runs `count` inferences, each prepared before its input is used and up to `ahead`
    /// of them prepared at once (0: none ahead; each runs offline and online parts
    /// interleaved). `input(i)` is the client's i-th input (nil for the others).
    public func run(inferences count: Int, preprocess ahead: Int, input: (Int) -> [Float]?, output: ([[Float]]) -> Void) throws {
        var preparedCount = 0
        for index in 0..<count {
            preparedCount = max(preparedCount, index)  // the earlier ones ran
            let target = min(count, index + ahead)
            try preprocess(count: target - preparedCount)
            preparedCount = target
            if let result = try infer(input(index)) { output(result) }
        }
    }
}
