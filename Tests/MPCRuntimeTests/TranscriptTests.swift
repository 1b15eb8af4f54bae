import Bytecode
import Foundation
import MPCRuntime
import TestSupport
import Testing

/// Records every frame one party receives on one link.
final class RecordingLink: Link, @unchecked Sendable {
    let inner: Link
    private let lock = NSLock()
    private var frames: [[UInt8]] = []

    init(_ inner: Link) { self.inner = inner }
    func send(_ frame: [UInt8]) throws { try inner.send(frame) }
    func receive(atMost limit: Int) throws -> [UInt8] {
        let frame = try inner.receive(atMost: limit)
        lock.withLock { frames.append(frame) }
        return frame
    }
    func close() { inner.close() }
    var received: [[UInt8]] { lock.withLock { frames } }
}

/// What the server and the helper receive looks uniformly random and never contains the
/// client's input or the output in clear.
@Suite struct TranscriptTests {
    @Test func serverAndHelperSeeOnlyMaskedValues() throws {
        let (program, weights, inputs) = try compiledFixture("tiny_resnet", blocks: true)
        var recorders: [String: RecordingLink] = [:]
        let session = MemorySession(program: program, weights: weights) { role, peer, link in
            let recorder = RecordingLink(link)
            recorders["\(role.rawValue)<-\(peer.rawValue)"] = recorder
            return recorder
        }
        // A structured input: constant rows make any leak of it easy to spot.
        let input = [Float](repeating: 0.5, count: inputs[0].count)
        let outputs = try session.infer([input, input])
        let encodedInput = FixedPoint.encode([0.5], fracBits: program.fracBits)[0]
        let output = FixedPoint.encode(outputs[0][0], fracBits: program.fracBits)
        for name in ["server<-client", "server<-helper", "client<-helper", "helper<-client", "helper<-server"] {
            // Skip the session setup (hash, keys, masked weights): per-inference frames only.
            let frames = recorders[name]!.received
            let bytes = frames.filter { $0.count > 64 }.flatMap { $0 }
            guard !bytes.isEmpty else { continue }
            // Bit balance: within 5 standard deviations of one half.
            let ones = bytes.reduce(0) { $0 + $1.nonzeroBitCount }
            let total = Double(bytes.count * 8)
            let deviation = abs(Double(ones) - total / 2) / (total / 4).squareRoot()
            #expect(deviation < 5, "\(name): \(ones) of \(Int(total)) bits set (\(deviation) sigma)")
            // Byte histogram: chi-square with 255 degrees of freedom below a p ~ 1e-6 bound.
            var counts = [Int](repeating: 0, count: 256)
            for byte in bytes { counts[Int(byte)] += 1 }
            let expected = Double(bytes.count) / 256
            let chi = counts.reduce(0.0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
            #expect(chi < 400, "\(name): chi-square \(chi) over \(bytes.count) bytes")
            // Neither the input's fixed-point words nor the output appear in clear.
            let words = bytes.count / 8
            let values = (0..<words).map { index in bytes[(index * 8)..<(index * 8 + 8)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << UInt64(8 * $1.offset) } }
            let inputHits = values.filter { $0 == encodedInput }.count
            #expect(inputHits <= 1, "\(name): the input's encoding appears \(inputHits) times")
            let outputSet = Set(output)
            #expect(values.filter { outputSet.contains($0) }.count <= 1, "\(name): output values appear in clear")
        }
        // The helper receives nothing after the setup (the program hash, a key, and the
        // client's tickets or the server's resumption verdict).
        #expect(recorders["helper<-client"]!.received.count == 3 && recorders["helper<-server"]!.received.count == 3)
    }
}
