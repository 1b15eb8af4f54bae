#if canImport(Glibc)
import Glibc
#endif

/// A peer failed: disconnected, timed out, or sent a frame that does not fit the
/// protocol. Commands exit with status 3 on it.
public struct PeerError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One direction-agnostic, ordered, reliable channel to one peer. Frames keep their
/// boundaries; `send` does not wait for the peer to read.
public protocol Link: AnyObject, Sendable {
    func send(_ frame: [UInt8]) throws
    /// The next frame, of at most `limit` bytes: a longer one is refused from its length
    /// header, before its body is read. Throws PeerError when the peer is gone, the
    /// timeout passes or the frame is too long.
    func receive(atMost limit: Int) throws -> [UInt8]
    func close()
}

extension Link {
    /// The next frame of any length the transport carries.
    public func receive() throws -> [UInt8] { try receive(atMost: Int.max) }

    /// The next frame, which must be `count` bytes long (`what` names it in the error).
    public func receive(exactly count: Int, _ what: String) throws -> [UInt8] {
        let frame = try receive(atMost: count)
        guard frame.count == count else { throw PeerError("\(what) (\(frame.count) bytes where the protocol expects \(count))") }
        return frame
    }
}

/// The error for a frame whose length header exceeds what the receiver expects.
func oversizedFrame(_ peerName: String, length: Int, limit: Int) -> PeerError {
    PeerError("the \(peerName) sent a malformed frame (\(length) bytes where the protocol expects at most \(limit))")
}

/// An in-memory link between two threads of one process (tests, `mpcr bench`).
public final class MemoryLink: Link, @unchecked Sendable {
    private let inbox: Mailbox
    private let outbox: Mailbox
    private let peerName: String
    private let timeout: Double

    private init(inbox: Mailbox, outbox: Mailbox, peerName: String, timeout: Double) {
        self.inbox = inbox
        self.outbox = outbox
        self.peerName = peerName
        self.timeout = timeout
    }

    /// Two connected ends; each names the other in its errors.
    public static func pair(_ first: String, _ second: String, timeout: Double = 60) -> (MemoryLink, MemoryLink) {
        let a = Mailbox(), b = Mailbox()
        return (MemoryLink(inbox: a, outbox: b, peerName: second, timeout: timeout), MemoryLink(inbox: b, outbox: a, peerName: first, timeout: timeout))
    }

    public func send(_ frame: [UInt8]) throws {
        switch outbox.put(frame, timeout: timeout) {
        case .accepted: return
        case .closed: throw PeerError("the \(peerName) closed the connection")
        case .timedOut: throw PeerError("the \(peerName) read nothing for \(Int(timeout)) s")
        }
    }

    public func receive(atMost limit: Int) throws -> [UInt8] {
        switch inbox.take(timeout: timeout) {
        case .frame(let frame):
            guard frame.count <= limit else { throw oversizedFrame(peerName, length: frame.count, limit: limit) }
            return frame
        case .closed: throw PeerError("the \(peerName) closed the connection")
        case .timedOut: throw PeerError("the \(peerName) sent nothing for \(Int(timeout)) s")
        }
    }

    public func close() {
        inbox.close()
        outbox.close()
    }
}

/// A closable queue of frames with timed waits. It holds at most `capacity` bytes (a
/// frame is always accepted into an empty queue), so a party that runs ahead, like the
/// helper, waits for its peer instead of buffering a whole session.
final class Mailbox: @unchecked Sendable {
    enum Taken { case frame([UInt8]), closed, timedOut }
    enum Put { case accepted, closed, timedOut }

    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var frames: [[UInt8]] = []
    private var head = 0
    private var queuedBytes = 0
    private var closed = false
    private let capacity: Int

    init(capacity: Int = 64 << 20) {
        self.capacity = capacity
        pthread_mutex_init(&mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&condition, &attributes)
    }

    private func deadline(after timeout: Double) -> timespec {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int(deadline.tv_nsec) + Int((timeout - timeout.rounded(.down)) * 1e9)
        deadline.tv_sec += Int(timeout) + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        return deadline
    }

    func put(_ frame: [UInt8], timeout: Double = 1e9) -> Put {
        var until = deadline(after: timeout)
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while !closed && queuedBytes > 0 && queuedBytes + frame.count > capacity {
            if pthread_cond_timedwait(&condition, &mutex, &until) == ETIMEDOUT && queuedBytes > 0 && queuedBytes + frame.count > capacity {
                return .timedOut
            }
        }
        guard !closed else { return .closed }
        frames.append(frame)
        queuedBytes += frame.count
        pthread_cond_broadcast(&condition)
        return .accepted
    }

    func take(timeout: Double) -> Taken {
        var until = deadline(after: timeout)
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while head == frames.count && !closed {
            if pthread_cond_timedwait(&condition, &mutex, &until) == ETIMEDOUT && head == frames.count { return .timedOut }
        }
        guard head < frames.count else { return .closed }
        let frame = frames[head]
        frames[head] = []
        head += 1
        queuedBytes -= frame.count
        pthread_cond_broadcast(&condition)
        if head > 64 && head * 2 > frames.count {
            frames.removeFirst(head)
            head = 0
        }
        return .frame(frame)
    }

    func close() {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
    }
}
