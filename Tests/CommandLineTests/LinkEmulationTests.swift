import Foundation
import NPY
import TestSupport
import Testing

@testable import MPCRuntime

#if canImport(Glibc)
import Glibc
#endif

/// `--emulate-link`: the pacing model, a TCPLink pair under it, and `mpcr local` over an
/// emulated WAN. Timings are checked only from below (or with bounds far too loose to
/// flake on a loaded machine): the emulation may only ever make frames later.
@Suite(.serialized) struct LinkEmulationTests {
    let wan = LinkEmulation(bitsPerSecond: 100e6, oneWayDelay: 0.02)

    @Test func pacingSerializesAtTheRateThenHoldsForTheDelay() {
        var pacer = LinkPacer(wan)
        // 1.25 MB take 0.1 s at 100 Mbit/s, then 20 ms in flight.
        #expect(abs(pacer.release(bytes: 1_250_000, enqueued: 10) - 10.12) < 1e-9)
        // Queued behind it: starts when the link is free, shares the delay.
        #expect(abs(pacer.release(bytes: 125, enqueued: 10.05) - (10.1 + 1e-5 + 0.02)) < 1e-9)
        // An idle link starts at once.
        #expect(abs(pacer.release(bytes: 0, enqueued: 20) - 20.02) < 1e-9)
        // Release times never decrease.
        var times: [Double] = []
        for index in 0..<100 { times.append(pacer.release(bytes: 1000 * (index % 7), enqueued: 30 + 0.001 * Double(index % 5))) }
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 })
        // A write the peer held up (1 s for 125 bytes: it did not read) keeps the link
        // busy until it ended; a quick one changes nothing.
        pacer.wrote(bytes: 125, from: 40, until: 41)
        #expect(abs(pacer.release(bytes: 0, enqueued: 40.5) - 41.02) < 1e-9)
        pacer.wrote(bytes: 125, from: 41, until: 41.001)
        #expect(abs(pacer.release(bytes: 0, enqueued: 42) - 42.02) < 1e-9)
    }

    /// A connected pair over loopback, both directions emulated.
    func pair(_ emulation: LinkEmulation) throws -> (TCPLink, TCPLink) {
        let listener = try Listener(host: "127.0.0.1", port: 0)
        let a = try TCPLink.connect(host: "127.0.0.1", port: listener.port, peerName: "b", deadline: 5, timeout: 20, emulation: emulation)
        let b = try #require(try listener.accept(within: 5, timeout: 20, emulation: emulation))
        return (a, b)
    }

    @Test func framesArriveNoEarlierThanTheLinkAllows() throws {
        let (a, b) = try pair(wan)
        defer { a.finish(); b.finish() }
        // 2 MB at 100 Mbit/s: 0.16 s on the wire, then the 20 ms one-way delay.
        var start = monotonicSeconds()
        try a.send([UInt8](repeating: 7, count: 2_000_000))
        #expect(try b.receive().count == 2_000_000)
        #expect(monotonicSeconds() - start >= 0.18)
        // A small frame waits for the delay; a round trip for twice it (each direction).
        start = monotonicSeconds()
        for _ in 0..<5 {
            try a.send([1])
            _ = try b.receive()
            try b.send([2])
            _ = try a.receive()
        }
        #expect(monotonicSeconds() - start >= 5 * 0.04)
        // Frames sent back to back share one delay: 50 of them would take 1 s if each
        // waited its own.
        start = monotonicSeconds()
        for index in 0..<50 { try a.send([UInt8(index)]) }
        for index in 0..<50 { #expect(try b.receive() == [UInt8(index)]) }
        let burst = monotonicSeconds() - start
        #expect(burst >= 0.02 && burst < 0.5, "50 small frames took \(burst) s")
    }

    /// A receiver that reads nothing for 1.5 s stalls the link (TCP flow control): what
    /// the kernel buffers cannot hold (36 MB here; 60 allowed) still takes its time on
    /// the link afterwards instead of arriving in a burst.
    @Test func aStalledReceiverHoldsTheLink() throws {
        let (a, b) = try pair(LinkEmulation(bitsPerSecond: 1e9, oneWayDelay: 0))
        defer { a.finish(); b.finish() }
        let start = monotonicSeconds()
        let sender = Thread { for _ in 0..<160 { try? a.send([UInt8](repeating: 1, count: 1 << 20)) } }
        sender.start()
        usleep(1_500_000)
        for _ in 0..<160 { #expect(try b.receive().count == 1 << 20) }
        let elapsed = monotonicSeconds() - start
        #expect(elapsed >= 1.5 + Double(100 << 23) / 1e9, "160 MiB after a 1.5 s stall took \(elapsed) s")
    }

    @Test func localOverAnEmulatedWANGivesTheSameResultNoSooner() throws {
        let directory = temporaryDirectory()
        let program = "\(directory)/tiny.mpcb", input = "\(repositoryRoot)/Models/tiny_resnet/input.npy"
        // Exact truncation: the parties' output is deterministic, so the runs must agree bit for bit.
        #expect(try run("mpcc", [model("tiny_resnet"), "--exact-truncation", "-o", program]).status == 0)
        let plain = try run("mpcr", ["local", program, "--input", input, "--output", "\(directory)/plain.npy"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let emulated = try run("mpcr", ["local", program, "--input", input, "--output", "\(directory)/wan.npy", "--emulate-link", "100,40", "--report", "\(directory)/r.json"])
        #expect(emulated.status == 0, "\(emulated.stderr)")
        #expect(emulated.stdout.contains("three parties on emulated link (100 Mbit/s, 40 ms RTT) over loopback"))
        #expect(try NPYArray.read(path: "\(directory)/plain.npy").floats == NPYArray.read(path: "\(directory)/wan.npy").floats)
        // The same messages: every result and byte count line is unchanged.
        let lines = { (text: String) in text.split(separator: "\n").filter { !$0.hasPrefix("three parties") }.map { $0.replacing(/peak RSS \d+ MB/, with: "") } }
        #expect(lines(plain.stdout) == lines(emulated.stdout))
        // A round is an exchange, both ends sending at once: each costs one one-way delay.
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/r.json"))) as? [String: Any])
        let client = try #require(json["client"] as? [String: Any])
        let rounds = try #require(client["rounds"] as? Int), inferences = try #require(client["inferences"] as? Int)
        let online = try #require(client["online_seconds"] as? Double)
        #expect(rounds > 10 && online >= Double(inferences * rounds) * 0.02 * 0.9, "\(inferences) x \(rounds) rounds in \(online) s")
    }

    @Test(arguments: ["0,40", "100", "100,-1", "200000,1", "100,20000", "fast", "lan,1", ""])
    func badLinksAreRefusedWithOneSentence(_ value: String) throws {
        for command in [["local", "p.mpcb", "--input", "x.npy"], ["party", "--role", "helper", "--config", "p.json", "--program", "p.mpcb"]] {
            let result = try run("mpcr", command + ["--emulate-link", value])
            #expect(result.status == 1)
            let first = result.stderr.split(separator: "\n").first.map(String.init) ?? ""
            #expect(first.hasPrefix("mpcr: error: --emulate-link takes lan, wan or MBIT,RTT_MS") && first.hasSuffix("got '\(value)'"), "\(first)")
        }
    }
}
