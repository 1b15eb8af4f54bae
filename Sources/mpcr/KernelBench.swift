import CRingKernels
import Foundation

/// `mpcr bench --kernels`: the ring GEMM kernels (one thread and both cores) against a
/// plain triple loop and against the machine's peak, each ring's multiply-add rate with
/// every operand in registers. Shapes are convolutions as im2col GEMMs: M output
/// channels, N output pixels, K = input channels x kernel area. Depthwise convolutions
/// are timed apart: their own kernel against im2col and a GEMM per channel.
struct KernelBench {
    let repeats: Int

    /// (name, M, N, K).
    static let shapes: [(String, Int, Int, Int)] = [
        ("CIFAR ResNet18 layer1 3x3 (64x32x32)", 64, 1024, 576),
        ("ResNet50 layer3 3x3 (256x14x14)", 256, 196, 2304),
        ("ResNet50 layer4 1x1 (2048x7x7)", 2048, 49, 512),
    ]

    /// Multiply-adds per second (1e9) of `work` over the fastest of `repeats` runs.
    func rate(_ multiplyAdds: Double, _ work: () -> Void) -> Double {
        work()  // warm up
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            work()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return multiplyAdds / best / 1e9
    }

    func json() throws -> [String: Any] {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let peaks: [String: Double] = [
            "z64": peak(UInt64.self, threads: 1), "z32": peak(UInt32.self, threads: 1),
            "z64_all_cores": peak(UInt64.self, threads: cores), "z32_all_cores": peak(UInt32.self, threads: cores),
        ]
        var rows: [[String: Any]] = []
        for (name, m, n, k) in KernelBench.shapes {
            rows.append(gemmRow(name, m, n, k, ring: "z64", peaks: peaks, word: UInt64.self))
            rows.append(gemmRow(name, m, n, k, ring: "z32", peaks: peaks, word: UInt32.self))
        }
        let depthwise = [depthwiseRow(ring: "z64", peaks: peaks, word: UInt64.self), depthwiseRow(ring: "z32", peaks: peaks, word: UInt32.self)]
        return ["cores": cores, "peak_gmacs": peaks, "gemm": rows, "depthwise": depthwise, "repeat": repeats, "unit": "1e9 multiply-adds per second"]
    }

    /// The peak of one ring on `threads` threads.
    func peak<Word: RingWord>(_ word: Word.Type, threads: Int) -> Double {
        let iterations = 320_000_000 / Word.peakLanes
        return rate(Double(iterations * Word.peakLanes * threads)) {
            DispatchQueue.concurrentPerform(iterations: threads) { _ in _ = Word.peak(iterations) }
        }
    }

    func gemmRow<Word: RingWord>(_ name: String, _ m: Int, _ n: Int, _ k: Int, ring: String, peaks: [String: Double], word: Word.Type) -> [String: Any] {
        var generator = SystemRandomNumberGenerator()
        let a = (0..<(m * k)).map { _ in UInt64.random(in: 0...UInt64.max, using: &generator) }
        let b = (0..<(k * n)).map { _ in Word.random(in: 0...Word.max, using: &generator) }
        var c = [Word](repeating: 0, count: m * n)
        func call(_ kind: GEMMKind) { c.withUnsafeMutableBufferPointer { Word.gemm(kind, m, n, k, a, b, $0.baseAddress!) } }
        let work = Double(m * n * k)
        let one = rate(work) { call(.blocked) }, both = rate(work) { call(.parallel) }, loop = rate(work) { call(.plain) }
        return [
            "shape": name, "m": m, "n": n, "k": k, "ring": ring, "gemm": one, "gemm_parallel": both, "plain_loop": loop,
            "share_of_peak": one / peaks[ring]!, "parallel_share_of_peak": both / peaks[ring + "_all_cores"]!,
        ]
    }
}

extension KernelBench {
    /// MobileNetV2's 3x3 depthwise layer on 144 x 56 x 56 (stride 1, pad 1).
    func depthwiseRow<Word: RingWord>(ring: String, peaks: [String: Double], word: Word.Type) -> [String: Any] {
        let (channels, size) = (144, 56)
        var geometry = mpc_ring_conv_geometry(channels: 1, height: Int32(size), width: Int32(size), kernelHeight: 3, kernelWidth: 3, strideH: 1, strideW: 1,
                                              padTop: 1, padLeft: 1, dilationH: 1, dilationW: 1, outHeight: Int32(size), outWidth: Int32(size))
        var generator = SystemRandomNumberGenerator()
        let image = (0..<(channels * size * size)).map { _ in UInt64.random(in: 0...UInt64.max, using: &generator) }
        let weights = (0..<(channels * 9)).map { _ in UInt64.random(in: 0...UInt64.max, using: &generator) }
        var out = [Word](repeating: 0, count: channels * size * size), scratch = [Word](repeating: 0, count: 9 * size * size)
        let kernels = Word.kernels, plane = size * size
        let work = Double(channels * 9 * plane)
        let one = rate(work) { out.withUnsafeMutableBufferPointer { kernels.depthwise(&geometry, image, Int32(channels), 1, weights, $0.baseAddress!) } }
        let both = rate(work) { out.withUnsafeMutableBufferPointer { kernels.depthwiseParallel(&geometry, image, Int32(channels), 1, weights, $0.baseAddress!) } }
        let im2col = rate(work) {
            out.withUnsafeMutableBufferPointer { result in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    image.withUnsafeBufferPointer { image in
                        weights.withUnsafeBufferPointer { weights in
                            for channel in 0..<channels {
                                kernels.conv2d(&geometry, image.baseAddress! + channel * plane, 1, weights.baseAddress! + 9 * channel,
                                               result.baseAddress! + channel * plane, scratch.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
        return [
            "shape": "MobileNetV2 depthwise 3x3 (144x56x56)", "channels": channels, "size": size, "ring": ring,
            "depthwise": one, "depthwise_parallel": both, "im2col_gemm": im2col,
            "share_of_peak": one / peaks[ring]!, "parallel_share_of_peak": both / peaks[ring + "_all_cores"]!,
        ]
    }
}

enum GEMMKind { case blocked, parallel, plain }

/// One ring's kernels (CRingKernels.h), for its word.
struct RingKernelSet<Word> {
    typealias GEMM = (Int32, Int32, Int32, UnsafePointer<UInt64>?, Int, UnsafePointer<Word>?, Int, UnsafeMutablePointer<Word>?, Int, Int32) -> Void
    let lanes: Int
    let peak: (Int) -> UInt64
    let blocked: GEMM, parallel: GEMM
    typealias Depthwise = (UnsafePointer<mpc_ring_conv_geometry>?, UnsafePointer<UInt64>?, Int32, Int32, UnsafePointer<UInt64>?, UnsafeMutablePointer<Word>?) -> Void
    let depthwise: Depthwise, depthwiseParallel: Depthwise
    let conv2d: (UnsafePointer<mpc_ring_conv_geometry>?, UnsafePointer<UInt64>?, Int32, UnsafePointer<UInt64>?, UnsafeMutablePointer<Word>?, UnsafeMutablePointer<Word>?) -> Void
    let plain: (Int32, Int32, Int32, UnsafePointer<UInt64>?, UnsafePointer<Word>?, UnsafeMutablePointer<Word>?) -> Void
}

/// A ring's word and its kernels.
protocol RingWord: FixedWidthInteger, Sendable {
    static var kernels: RingKernelSet<Self> { get }
}

extension RingWord {
    static var peakLanes: Int { kernels.lanes }
    static func peak(_ iterations: Int) -> UInt64 { kernels.peak(iterations) }
    static func gemm(_ kind: GEMMKind, _ m: Int, _ n: Int, _ k: Int, _ a: [UInt64], _ b: [Self], _ c: UnsafeMutablePointer<Self>) {
        let (m32, n32, k32) = (Int32(m), Int32(n), Int32(k))
        switch kind {
        case .blocked: kernels.blocked(m32, n32, k32, a, k, b, n, c, n, 0)
        case .parallel: kernels.parallel(m32, n32, k32, a, k, b, n, c, n, 0)
        case .plain: kernels.plain(m32, n32, k32, a, b, c)
        }
    }
}

extension UInt64: RingWord {
    static var kernels: RingKernelSet<UInt64> {
        RingKernelSet(lanes: mpc_bench_peak_lanes(), peak: { mpc_bench_peak($0) }, blocked: mpc_ring_gemm, parallel: mpc_ring_gemm_parallel,
                      depthwise: mpc_ring_depthwise, depthwiseParallel: mpc_ring_depthwise_parallel, conv2d: mpc_ring_conv2d, plain: mpc_bench_plain_gemm)
    }
}

extension UInt32: RingWord {
    static var kernels: RingKernelSet<UInt32> {
        RingKernelSet(lanes: mpc_bench_peak_lanes32(), peak: { mpc_bench_peak32($0) }, blocked: mpc_ring_gemm32, parallel: mpc_ring_gemm_parallel32,
                      depthwise: mpc_ring_depthwise32, depthwiseParallel: mpc_ring_depthwise_parallel32, conv2d: mpc_ring_conv2d32, plain: mpc_bench_plain_gemm32)
    }
}
