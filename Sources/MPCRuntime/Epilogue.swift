import Bytecode
import SharedKernels

/// The client's plaintext epilogue on revealed floats: softmax and resize (data movement
/// reuses SharedKernels).
public enum Epilogue {
    public static func softmax(_ x: [Float], shape: [Int], axis: Int) -> [Float] {
        var out = x
        softmaxInPlace(&out, shape: shape, axis: axis)
        return out
    }

    public static func resize(_ x: [Float], shape: [Int], _ op: Resize, resultShape: [Int]) -> [Float] {
        let rank = shape.count
        let (h, w) = (shape[rank - 2], shape[rank - 1])
        let (oh, ow) = (resultShape[rank - 2], resultShape[rank - 1])
        let planes = x.count / max(h * w, 1)
        let one = Float(1 << op.shift)
        var out = [Float](repeating: 0, count: planes * oh * ow)
        for plane in 0..<planes {
            let source = plane * h * w
            for (oy, row) in op.rows.enumerated() {
                let r1 = Float(row.weight) / one
                for (ox, column) in op.columns.enumerated() {
                    let c1 = Float(column.weight) / one
                    let top = (1 - c1) * x[source + row.index0 * w + column.index0] + c1 * x[source + row.index0 * w + column.index1]
                    let bottom = (1 - c1) * x[source + row.index1 * w + column.index0] + c1 * x[source + row.index1 * w + column.index1]
                    out[(plane * oh + oy) * ow + ox] = (1 - r1) * top + r1 * bottom
                }
            }
        }
        return out
    }
}
