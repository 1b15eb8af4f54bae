import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A link over one TCP connection: 4-byte little-endian length prefixes, TCP_NODELAY, a
/// writer thread so that sends never wait for the peer to read (both directions move at
/// once), a deadline on every frame (`receive`), and optionally ChaCha20-Poly1305 on every frame with
/// a key from the handshake (Handshake.swift), and optionally an emulated network
/// (LinkEmulation) on every frame it sends, the handshake's included. Counted bytes are
/// payload bytes.
public final class TCPLink: Link, @unchecked Sendable {
    static let maxFrame = 1 << 31
    /// The slowest rate a frame's body may arrive at once its first byte has: a frame of
    /// B bytes must be whole within `timeout` + B / this many seconds.
    static let slowestBytesPerSecond = 128.0 * 1024

    private let fd: Int32
    var peerName: String
    /// Seconds to wait for a frame to begin (the handshake shortens it to the connect
    /// deadline, then restores it).
    var timeout: Double
    private let outgoing = Mailbox()
    private let writerDone = DispatchSemaphore(value: 0)
    private var writeError: String?
    private var fdClosed = false
    /// When the writer last wrote to the socket (CLOCK_MONOTONIC), for `finish`.
    private var lastWrite = monotonicSeconds()
    private let lock = NSLock()
    /// The peer's address and port, for logs.
    let remoteAddress: String
    var sealing: FrameSealer?
    var opening: FrameSealer?
    /// This direction's emulated link, used by the writer thread only; nil writes at once.
    private var pacer: LinkPacer?
    private let paced: Bool

    init(fd: Int32, peerName: String, timeout: Double, emulation: LinkEmulation? = nil) {
        self.fd = fd
        self.peerName = peerName
        self.timeout = timeout
        self.pacer = emulation.map(LinkPacer.init)
        self.paced = emulation != nil
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        remoteAddress = Addresses.Address.peer(of: fd)?.text ?? "an unknown address"
        let thread = Thread { [self] in writerLoop() }
        thread.start()
    }

    deinit { close() }

    public func send(_ frame: [UInt8]) throws {
        if let failure = lock.withLock({ writeError }) { throw PeerError(failure) }
        guard frame.count + 16 < TCPLink.maxFrame else {
            throw PeerError("a frame of \(frame.count) bytes for the \(peerName) exceeds the transport's limit of 2 GiB")
        }
        // The queued item is the time of enqueueing (monotonic ns) and the frame: the
        // pacing starts from it, not from when the writer, maybe asleep for an earlier
        // frame, takes the frame. The sealed frame is written into it directly.
        let enqueued = paced ? monotonicSeconds() : 0
        let length = frame.count + (sealing == nil ? 0 : 16)
        var item: [UInt8] = []
        item.reserveCapacity(12 + length)
        withUnsafeBytes(of: UInt64(enqueued * 1e9).littleEndian) { item.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(length).littleEndian) { item.append(contentsOf: $0) }
        if let sealing { sealing.seal(frame, appendingTo: &item) } else { item.append(contentsOf: frame) }
        switch outgoing.put(item, timeout: timeout) {
        case .accepted: return
        case .closed: throw PeerError("the connection to the \(peerName) is closed")
        case .timedOut: throw PeerError("the \(peerName) read nothing for \(Int(timeout)) s")
        }
    }

    /// The next frame. Its first byte may take `timeout`; from then on the whole frame
    /// has a deadline (`timeout` + its length at the slowest rate), so a peer that trickles
    /// a byte at a time is cut off, and a length header above `limit` (plus the seal's
    /// tag) is refused before any of the body is read.
    public func receive(atMost limit: Int) throws -> [UInt8] {
        try awaitData(until: monotonicSeconds() + timeout)
        let started = monotonicSeconds()
        let header = try read(4, until: started + timeout)
        let length = Int(UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24)
        let tag = opening == nil ? 0 : 16
        guard length < TCPLink.maxFrame, length >= tag else { throw PeerError("the \(peerName) sent a malformed frame (length \(length))") }
        guard length - tag <= limit else { throw oversizedFrame(peerName, length: length - tag, limit: limit) }
        let payload = try read(length, until: started + timeout + Double(length) / TCPLink.slowestBytesPerSecond)
        guard let opening else { return payload }
        guard let plain = opening.open(payload) else {
            throw PeerError("a frame from the \(peerName) failed authentication (wrong key, or tampered with)")
        }
        return plain
    }

    public func close() {
        outgoing.close()
        // Once finished, the number may belong to another socket (deinit comes later).
        lock.withLock { if !fdClosed { _ = shutdown(fd, Int32(SHUT_RDWR)) } }
    }

    /// Waits until the queued frames are written, as long as the peer keeps reading (it
    /// gives up after `within` seconds, or the timeout, with nothing written), then
    /// closes. A party done early, like the helper, ends only once its peer has its last
    /// frames, however long the peer takes to get to them.
    public func finish(within: Double? = nil) {
        outgoing.close()
        let patience = min(within ?? timeout, timeout)
        lock.withLock { lastWrite = max(lastWrite, monotonicSeconds() - 0.001) }
        while writerDone.wait(timeout: .now() + min(0.2, patience)) == .timedOut {
            if monotonicSeconds() - lock.withLock({ lastWrite }) > patience { break }
        }
        lock.withLock {
            if !fdClosed { Glibc.close(fd) }
            fdClosed = true
        }
    }

    private func writerLoop() {
        defer { writerDone.signal() }
        while true {
            guard case .frame(let bytes) = outgoing.take(timeout: 1e9) else { return }
            if paced {
                let enqueued = bytes.withUnsafeBytes { Double(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) / 1e9 }
                sleepUntil(pacer!.release(bytes: bytes.count - 8, enqueued: enqueued))
            }
            let start = paced ? monotonicSeconds() : 0
            guard write(bytes) else { return }
            if paced { pacer!.wrote(bytes: bytes.count - 8, from: start, until: monotonicSeconds()) }
        }
    }

    /// Writes a queued item's frame (after its 8-byte time); false when the peer is gone.
    private func write(_ bytes: [UInt8]) -> Bool {
        var offset = 8
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if written <= 0 {
                if written < 0 && errno == EINTR { continue }
                lock.withLock { writeError = "the \(peerName) disconnected" }
                return false
            }
            offset += written
            lock.withLock { lastWrite = monotonicSeconds() }
        }
        return true
    }

    /// Waits until the socket has data (or is closed), at most until `deadline`.
    private func awaitData(until deadline: Double) throws {
        guard try TCPLink.poll(fd, until: deadline) else { throw PeerError("the \(peerName) sent nothing for \(Int(timeout)) s") }
    }

    /// Polls `fd` for input until `deadline` (CLOCK_MONOTONIC seconds), in slices that fit
    /// poll's milliseconds however long the wait; false when the deadline passed.
    static func poll(_ fd: Int32, until deadline: Double) throws -> Bool {
        while true {
            let left = deadline - monotonicSeconds()
            guard left > 0 else { return false }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = Glibc.poll(&descriptor, 1, Int32(min(left * 1000, 3_600_000).rounded(.up)))
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { throw PeerError("waiting for a connection failed: \(String(cString: strerror(errno)))") }
        }
    }

    /// Reads exactly `count` bytes by `deadline`, straight into the result. Its size
    /// grows with what arrives (64 MB at first, then doubling), so a bogus length from a
    /// broken peer costs little up front (lengths are checked against the protocol step
    /// before this).
    private func read(_ count: Int, until deadline: Double) throws -> [UInt8] {
        var buffer = [UInt8]()
        var filled = 0
        while filled < count {
            if buffer.count == filled { buffer += [UInt8](repeating: 0, count: min(count - filled, max(64 << 20, filled))) }
            guard try TCPLink.poll(fd, until: deadline) else {
                throw PeerError("the \(peerName) sent \(filled) of a frame's \(count) bytes and then too little too slowly")
            }
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, $0.count - filled, 0) }
            if received < 0 && errno == EINTR { continue }
            guard received > 0 else { throw PeerError("the \(peerName) closed the connection") }
            filled += received
        }
        return buffer
    }

    // MARK: - Connecting

    /// Connects to host:port (each address it resolves to in turn), retrying until
    /// `deadline` seconds pass (the peer may start later).
    static func connect(host: String, port: Int, peerName: String, deadline: Double, timeout: Double, emulation: LinkEmulation? = nil) throws -> TCPLink {
        let end = monotonicSeconds() + deadline
        var lastError = "no attempt"
        let addresses: [Addresses.Address]
        do { addresses = try Addresses.resolve(host, port: port) } catch let error as PeerError {
            throw PeerError(error.message.replacingOccurrences(of: "the host", with: "the \(peerName)'s host"))
        }
        while monotonicSeconds() < end {
            for address in addresses {
                let fd = socket(address.family, Int32(SOCK_STREAM.rawValue), 0)
                if fd >= 0 && address.withSockaddr({ Glibc.connect(fd, $0, $1) }) == 0 {
                    return TCPLink(fd: fd, peerName: peerName, timeout: timeout, emulation: emulation)
                }
                lastError = String(cString: strerror(errno))
                if fd >= 0 { Glibc.close(fd) }
            }
            usleep(50_000)
        }
        throw PeerError("cannot reach the \(peerName) at \(host):\(port) within \(Int(deadline)) s (\(lastError))")
    }
}

/// The listening sockets of the server or the helper: one per address its configured
/// host resolves to (so `localhost` listens on 127.0.0.1 and ::1 alike), not every
/// interface.
final class Listener {
    let fds: [Int32]
    /// The port bound: the configured one, or the kernel's choice for 0.
    let port: Int

    init(host: String, port: Int) throws {
        var fds: [Int32] = [], bound = port
        do {
            for address in try Addresses.resolve(host, port: port, passive: true) {
                var address = address
                address.setPort(bound)
                fds.append(try Listener.listen(on: address, host: host))
                if bound == 0 { bound = address.localPort(of: fds.last!) }
            }
        } catch {
            for fd in fds { Glibc.close(fd) }
            throw error
        }
        self.fds = fds
        self.port = bound
    }

    private static func listen(on address: Addresses.Address, host: String) throws -> Int32 {
        let fd = socket(Int32(address.family), Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PeerError("cannot open a socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if address.family == AF_INET6 { setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) }
        guard address.withSockaddr({ bind(fd, $0, $1) }) == 0, Glibc.listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw PeerError("cannot listen on port \(address.port) of \(host) (\(address.text)): \(reason)")
        }
        return fd
    }

    /// The next connection within `seconds`, or nil.
    func accept(within seconds: Double, timeout: Double, emulation: LinkEmulation? = nil) throws -> TCPLink? {
        let deadline = monotonicSeconds() + seconds
        while true {
            var descriptors = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let left = deadline - monotonicSeconds()
            guard left > 0 else { return nil }
            let ready = poll(&descriptors, nfds_t(descriptors.count), Int32(min(left * 1000, 3_600_000).rounded(.up)))
            if ready < 0 && errno != EINTR { throw PeerError("waiting for a connection failed: \(String(cString: strerror(errno)))") }
            for descriptor in descriptors where descriptor.revents & Int16(POLLIN) != 0 {
                let connection = Glibc.accept(descriptor.fd, nil, nil)
                if connection >= 0 { return TCPLink(fd: connection, peerName: "peer", timeout: timeout, emulation: emulation) }
                // Out of descriptors (EMFILE) leaves the connection pending: wait a little
                // instead of spinning on it.
                if errno != EINTR && errno != EAGAIN && errno != ECONNABORTED { usleep(10_000) }
            }
        }
    }

    private var closed = false

    /// Stops listening: new connections are refused by the kernel from now on.
    func close() {
        guard !closed else { return }
        closed = true
        for fd in fds { Glibc.close(fd) }
    }

    deinit { close() }
}

/// An emulated network link for benchmarks (`mpcr --emulate-link`): each direction
/// carries `bitsPerSecond` and holds every frame for `oneWayDelay` seconds. It only
/// delays frames; what is sent does not change.
public struct LinkEmulation: Sendable, Equatable {
    public var bitsPerSecond: Double
    public var oneWayDelay: Double

    public init(bitsPerSecond: Double, oneWayDelay: Double) {
        self.bitsPerSecond = bitsPerSecond
        self.oneWayDelay = oneWayDelay
    }
}

/// One direction of an emulated link: a frame enqueued at t with B bytes is serialized
/// from s = max(t, the end of the previous frame) until e = s + 8B / rate, then held
/// until e + delay and written. Release times never decrease, so frames sent back to
/// back share one delay instead of adding theirs (a pipe, not a queue of sleeps).
public struct LinkPacer: Sendable {
    public let emulation: LinkEmulation
    private var linkFree = 0.0

    public init(_ emulation: LinkEmulation) { self.emulation = emulation }

    /// When the frame reaches the peer (seconds on the clock `enqueued` is read from).
    public mutating func release(bytes: Int, enqueued: Double) -> Double {
        let start = max(enqueued, linkFree)
        linkFree = start + Double(8 * bytes) / emulation.bitsPerSecond
        return linkFree + emulation.oneWayDelay
    }

    /// A write that took longer than half the frame's time on the link (and 2 ms) was
    /// held up by the peer, which did not read (TCP flow control): a real link would
    /// have carried nothing meanwhile, so it is busy until the write ended. Otherwise
    /// the frames queued behind would be released at once, in a burst.
    public mutating func wrote(bytes: Int, from start: Double, until end: Double) {
        if end - start > 0.002 + Double(4 * bytes) / emulation.bitsPerSecond { linkFree = max(linkFree, end) }
    }
}

/// CLOCK_MONOTONIC in seconds: pacing must not follow wall-clock jumps.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Sleeps (no spinning) until CLOCK_MONOTONIC reaches `seconds`; signals resume it.
func sleepUntil(_ seconds: Double) {
    let whole = seconds.rounded(.down)
    var until = timespec(tv_sec: Int(whole), tv_nsec: min(Int((seconds - whole) * 1e9), 999_999_999))
    while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nil) == EINTR {}
}

/// ChaCha20-Poly1305 for one direction of a link, with a frame counter as the nonce.
final class FrameSealer: @unchecked Sendable {
    private let key: SymmetricKey
    private var counter: UInt64 = 0
    private let lock = NSLock()

    init(key: SymmetricKey) { self.key = key }

    private func nextNonce() -> ChaChaPoly.Nonce {
        lock.withLock {
            var bytes = [UInt8](repeating: 0, count: 12)
            withUnsafeBytes(of: counter.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
            counter += 1
            return try! ChaChaPoly.Nonce(data: bytes)
        }
    }

    /// Appends the ciphertext and the 16-byte tag of `plain` to `output`.
    func seal(_ plain: [UInt8], appendingTo output: inout [UInt8]) {
        let box = try! ChaChaPoly.seal(plain, using: key, nonce: nextNonce())
        output.append(contentsOf: box.ciphertext)
        output.append(contentsOf: box.tag)
    }

    func open(_ sealed: [UInt8]) -> [UInt8]? {
        guard sealed.count >= 16 else { return nil }
        guard let box = try? ChaChaPoly.SealedBox(nonce: nextNonce(), ciphertext: sealed.dropLast(16), tag: sealed.suffix(16)) else { return nil }
        return (try? ChaChaPoly.open(box, using: key)).map { Array($0) }
    }
}
