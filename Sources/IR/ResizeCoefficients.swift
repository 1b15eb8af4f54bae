#if canImport(Glibc)
import Glibc
#endif

/// Where one output position of a resized axis reads from: `nearest` uses `index0`;
/// `linear` blends `index0` and `index1` as (1 - weight) * x[index0] + weight * x[index1].
public struct ResizeTap: Sendable, Equatable {
    public var index0: Int
    public var index1: Int
    public var weight: Float
}

extension Resize {
    /// The taps of one axis, following ONNX Resize (as onnxruntime computes it): the
    /// output coordinate maps to the input by `coordinateMode`, then `nearest` rounds by
    /// `nearestMode` and `linear` interpolates between the clamped neighbours. The
    /// coefficients are public, so the engine, the emulator and the parties share them.
    public func taps(axis: Int, inputSize: Int) -> [ResizeTap] {
        let outputSize = sizes[axis]
        let scale = scales[axis]
        return (0..<outputSize).map { position in
            let x = sourceCoordinate(position, inputSize: inputSize, outputSize: outputSize, scale: scale)
            switch mode {
            case .nearest:
                let index = min(max(nearestIndex(x, downsampling: scale < 1), 0), inputSize - 1)
                return ResizeTap(index0: index, index1: index, weight: 0)
            case .linear:
                let clamped = min(max(x, 0), Float(inputSize - 1))
                let low = min(Int(clamped), inputSize - 1)
                let high = min(low + 1, inputSize - 1)
                return ResizeTap(index0: low, index1: high, weight: high == low ? 0 : clamped - Float(low))
            }
        }
    }

    func sourceCoordinate(_ position: Int, inputSize: Int, outputSize: Int, scale: Float) -> Float {
        let x = Float(position)
        switch coordinateMode {
        case .halfPixel:
            return (x + 0.5) / scale - 0.5
        case .halfPixelSymmetric:
            let adjustment = Float(outputSize) / (scale * Float(inputSize))
            let center = Float(inputSize) / 2
            return center * (1 - adjustment) + (x + 0.5) / scale - 0.5
        case .pytorchHalfPixel:
            return outputSize > 1 ? (x + 0.5) / scale - 0.5 : 0
        case .alignCorners:
            return outputSize == 1 ? 0 : x * Float(inputSize - 1) / Float(outputSize - 1)
        case .asymmetric:
            return x / scale
        case .tfHalfPixelForNearest:
            return (x + 0.5) / scale
        }
    }

    func nearestIndex(_ x: Float, downsampling: Bool) -> Int {
        switch nearestMode {
        case .roundPreferFloor:
            return x - x.rounded(.down) == 0.5 ? Int(x.rounded(.down)) : Int(x.rounded(.toNearestOrAwayFromZero))
        case .roundPreferCeil:
            return Int(x.rounded(.toNearestOrAwayFromZero))
        case .floor:
            return Int(x.rounded(.down))
        case .ceil:
            return Int(x.rounded(.up))
        case .legacy:
            return downsampling ? Int(x.rounded(.up)) : Int(x)
        }
    }
}
