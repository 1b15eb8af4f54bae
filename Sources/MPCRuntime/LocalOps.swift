import Bytecode
import SharedKernels

/// Who applies a local instruction: the emulator (plaintext values), or the client or the
/// server (its additive share). Public constants are added by one holder only, and
/// truncation differs per share (SecureML's local rule).
enum Holder {
    case plaintext, client, server
}

/// Instructions that need no communication, applied to plaintext or to one share.
enum LocalOps {
    /// Whether `apply` handles the instruction (no protocol needed).
    static func handles(_ instruction: Instruction) -> Bool {
        switch instruction.operation {
        case is Constant, is AddWeight, is Add, is Sub, is Neg, is AddPublic, is Trunc, is AvgPool, is GlobalAvgPool,
             is Reshape, is Transpose, is Slice, is Concat, is Pad, is Resize:
            return true
        default:
            return false
        }
    }

    /// The instruction's result for `holder`, or nil for instructions that need a protocol.
    static func apply(_ instruction: Instruction, _ program: Program, holder: Holder, operand: (Int) -> RingTensor, weight: (Int) -> RingTensor) -> RingTensor? {
        let shape = instruction.shape
        func map(_ register: Int, _ transform: (UInt64) -> UInt64) -> RingTensor {
            RingTensor(shape: shape, values: operand(register).values.map(transform))
        }
        let ownsConstants = holder != .server  // public constants go to the client's share
        let ownsWeights = holder != .client  // server weights go to the server's share
        switch instruction.operation {
        case let op as Constant:
            return ownsWeights ? weight(op.weight) : RingTensor(zeros: shape)
        case let op as AddWeight:
            return ownsWeights ? RingKernels.broadcast(operand(op.x), weight(op.weight), shape: shape, &+) : operand(op.x)
        case let op as Add:
            return RingKernels.broadcast(operand(op.a), operand(op.b), shape: shape, &+)
        case let op as Sub:
            return RingKernels.broadcast(operand(op.a), operand(op.b), shape: shape, &-)
        case let op as Neg:
            return map(op.x) { 0 &- $0 }
        case let op as AddPublic:
            let value = UInt64(bitPattern: Int64(op.value))
            return ownsConstants ? map(op.x) { $0 &+ value } : operand(op.x)
        case let op as Trunc:
            let bits = UInt64(op.bits)
            switch holder {
            case .plaintext: return map(op.x) { FixedPoint.truncate($0, op.bits) }
            case .client: return map(op.x) { $0 >> bits }
            case .server: return map(op.x) { 0 &- ((0 &- $0) >> bits) }
            }
        case let op as AvgPool:
            return RingKernels.avgPool(operand(op.x), op, resultShape: shape)
        case let op as GlobalAvgPool:
            return RingKernels.globalAvgPool(operand(op.x), shift: op.shift, resultShape: shape)
        case let op as Reshape:
            return RingTensor(shape: shape, values: operand(op.x).values)
        case let op as Transpose:
            let x = operand(op.x)
            return RingTensor(shape: shape, values: DataMovement.transpose(x.values, shape: x.shape, perm: op.perm))
        case let op as Slice:
            let x = operand(op.x)
            return RingTensor(shape: shape, values: DataMovement.slice(x.values, shape: x.shape, starts: op.starts, steps: op.steps, resultShape: shape))
        case let op as Concat:
            return RingTensor(shape: shape, values: DataMovement.concat(op.xs.map { (operand($0).values, operand($0).shape) }, axis: op.axis, resultShape: shape))
        case let op as Pad:
            let x = operand(op.x)
            let value = ownsConstants ? UInt64(bitPattern: Int64(op.value)) : 0
            return RingTensor(shape: shape, values: DataMovement.pad(x.values, shape: x.shape, pads: op.pads, value: value, resultShape: shape))
        case let op as Resize:
            return RingKernels.resize(operand(op.x), op, resultShape: shape)
        default:
            return nil
        }
    }
}
