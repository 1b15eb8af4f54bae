#if canImport(Glibc)
import Glibc
#endif

/// Progress with an ETA on stderr: a redrawn line on a terminal, plain lines at most
/// every few seconds otherwise (logs, CI). Safe to advance from several threads.
final class ProgressReporter: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let title: String
    private let total: Int
    private var done = 0
    private let start = ContinuousClock.now
    private var lastPrint = ContinuousClock.now
    private let terminal = isatty(2) != 0
    private let enabled: Bool

    init(_ title: String, total: Int, enabled: Bool = true) {
        self.title = title
        self.total = max(total, 1)
        self.enabled = enabled
        pthread_mutex_init(lock, nil)
    }

    func advance(_ steps: Int = 1) {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        done += steps
        guard enabled else { return }
        let now = ContinuousClock.now
        guard now - lastPrint > (terminal ? .milliseconds(200) : .seconds(5)) || done >= total else { return }
        lastPrint = now
        let elapsed = seconds(now - start)
        let fraction = Double(done) / Double(total)
        let eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0
        let line = "\(title): \(Int(fraction * 100))% (\(done)/\(total)), \(format(elapsed)) elapsed, ETA \(format(eta))"
        write(terminal ? "\r\u{1B}[K" + line + (done >= total ? "\n" : "") : line + "\n")
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func format(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 60 ? "\(total / 60)m\(total % 60)s" : "\(total)s"
    }

    private func write(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.write(2, $0.baseAddress, $0.count - 1) }
    }
}
