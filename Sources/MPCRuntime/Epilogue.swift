import Bytecode
import SharedKernels

/// The client's plaintext epilogue on revealed floats: softmax, argmax, resize and data
/// movement.
public enum Epilogue {
    /// The result of a revealed-domain instruction other than `reveal`.
    static func apply(_ instruction: Instruction, _ program: Program, operand: (Int) -> [Float]) -> [Float] {
        let shape = instruction.shape
        func inputShape(_ register: Int) -> [Int] { program.instructions[register].shape }
        switch instruction.operation {
        case let op as Softmax: return softmax(operand(op.x), shape: shape, axis: op.axis)
        case let op as ArgMax: return argMax(operand(op.x), shape: inputShape(op.x), op)
        case let op as Resize: return resize(operand(op.x), shape: inputShape(op.x), op, resultShape: shape)
        case let op as Reshape: return operand(op.x)
        case let op as Transpose: return DataMovement.transpose(operand(op.x), shape: inputShape(op.x), perm: op.perm)
        case let op as Slice: return DataMovement.slice(operand(op.x), shape: inputShape(op.x), starts: op.starts, steps: op.steps, resultShape: shape)
        default: preconditionFailure("the verifier admits no other revealed operation")
        }
    }

    public static func softmax(_ x: [Float], shape: [Int], axis: Int) -> [Float] {
        var out = x
        softmaxInPlace(&out, shape: shape, axis: axis)
        return out
    }

    /// Indices (as floats) of the largest value along `axis`.
    public static func argMax(_ x: [Float], shape: [Int], _ op: ArgMax) -> [Float] {
        argMaxIndices(x, shape: shape, axis: op.axis, selectLastIndex: op.selectLastIndex).map(Float.init)
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
