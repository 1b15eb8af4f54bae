#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of threads that run the iterations of `parallelFor` with the calling
/// thread. (Dispatch's concurrentPerform ran every iteration on one thread on this
/// platform.) A call made while the pool is busy — from a worker, or from a second
/// thread — runs its iterations itself, so nesting cannot deadlock.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: max(coreCount - 1, 0))

    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let finished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let busy = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    // The current job, guarded by `lock`.
    private var body: ((Int) -> Void)?
    private var count = 0
    private var next = 0
    private var running = 0
    private var generation = 0

    private init(workers: Int) {
        pthread_mutex_init(lock, nil)
        pthread_mutex_init(busy, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(finished, nil)
        for _ in 0..<workers {
            var thread = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            pthread_create(&thread, nil, { context in
                let pool = Unmanaged<WorkerPool>.fromOpaque(context!).takeRetainedValue()
                pool.workerLoop()
                return nil
            }, context)
            pthread_detach(thread)
        }
    }

    /// Runs body(0..<count) on the pool and the calling thread; returns when all are done.
    func run(_ iterations: Int, _ job: (Int) -> Void) {
        guard pthread_mutex_trylock(busy) == 0 else {
            for index in 0..<iterations { job(index) }
            return
        }
        defer { pthread_mutex_unlock(busy) }
        withoutActuallyEscaping(job) { job in
            pthread_mutex_lock(lock)
            body = job
            count = iterations
            next = 0
            running = 0
            generation &+= 1
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(lock)
            drain()
            pthread_mutex_lock(lock)
            while next < count || running > 0 { pthread_cond_wait(finished, lock) }
            body = nil
            pthread_mutex_unlock(lock)
        }
    }

    /// Takes iterations of the current job until none are left.
    private func drain() {
        pthread_mutex_lock(lock)
        while let job = body, next < count {
            let index = next
            next += 1
            running += 1
            pthread_mutex_unlock(lock)
            job(index)
            pthread_mutex_lock(lock)
            running -= 1
        }
        pthread_cond_broadcast(finished)
        pthread_mutex_unlock(lock)
    }

    private func workerLoop() {
        var seen = 0
        while true {
            pthread_mutex_lock(lock)
            while generation == seen || body == nil { pthread_cond_wait(wake, lock) }
            seen = generation
            pthread_mutex_unlock(lock)
            drain()
        }
    }
}
