/// Prints a graph as IR text (grammar in IR/README.md): one op per line with its result
/// name, operands, attributes and result type; ReLU-like layers carry a comment with
/// their channel and DReLU counts. The text is stable: golden tests compare it.
public struct Printer {
    /// Constants with more elements than this print as `{N values}` instead of data.
    public var inlineConstantLimit: Int

    public init(inlineConstantLimit: Int = 4) {
        self.inlineConstantLimit = inlineConstantLimit
    }

    public func print(_ graph: Graph) -> String {
        var out = ""
        let signature = graph.inputs.map { "\(valueName(graph.name(of: $0))): \(graph.type(of: $0))" }
        let results = graph.outputs.map { "\(valueName(graph.name(of: $0))): \(graph.type(of: $0))" }
        out += "graph @\(quotedIfNeeded(graph.name))(\(signature.joined(separator: ", "))) -> (\(results.joined(separator: ", "))) {\n"
        var reluLayers = 0
        var reluChannels = 0
        var drelus = 0
        for node in graph.nodes {
            out += "  " + line(for: node, in: graph)
            let input = node.operands.first.map { graph.type(of: $0) }
            let output = graph.type(of: node.result)
            if let input {
                let count = node.op.dreluCount(input: input, output: output)
                if count > 0 || node.op.isReLULike {
                    let channels = input.rank >= 2 ? input.shape[1] : 1
                    out += "  // \(channels) channels, \(count) DReLUs"
                    if node.op.isReLULike {
                        reluLayers += 1
                        reluChannels += channels
                    }
                    drelus += count
                }
            }
            out += "\n"
        }
        out += "  return \(graph.outputs.map { valueName(graph.name(of: $0)) }.joined(separator: ", "))\n"
        out += "}\n"
        out += "// \(graph.nodes.count) nodes, \(reluLayers) ReLU layers (\(reluChannels) channels), \(drelus) DReLUs\n"
        return out
    }

    func line(for node: Node, in graph: Graph) -> String {
        let result = valueName(graph.name(of: node.result))
        if case .constant(let tensor) = node.op {
            return "\(result) = constant \(tensor.type) \(constantData(tensor))"
        }
        var text = "\(result) = \(node.op.mnemonic)(\(node.operands.map { valueName(graph.name(of: $0)) }.joined(separator: ", ")))"
        let attributes = Printer.attributes(of: node.op)
        if !attributes.isEmpty { text += " {\(attributes.joined(separator: ", "))}" }
        text += " : \(graph.type(of: node.result))"
        if !node.name.isEmpty { text += " loc(\(quoted(node.name)))" }
        return text
    }

    func constantData(_ tensor: Tensor) -> String {
        guard tensor.elementCount <= inlineConstantLimit else { return "{\(tensor.elementCount) values}" }
        switch tensor.storage {
        case .f32(let values): return "[\(values.map { "\($0)" }.joined(separator: ", "))]"
        case .i64(let values): return "[\(values.map { "\($0)" }.joined(separator: ", "))]"
        }
    }

    /// `key=value` attribute strings in a fixed order.
    static func attributes(of op: Op) -> [String] {
        func list<T>(_ values: [T]) -> String { "[\(values.map { "\($0)" }.joined(separator: ","))]" }
        switch op {
        case .conv(let conv):
            return ["strides=\(list(conv.strides))", "pads=\(list(conv.pads))", "dilations=\(list(conv.dilations))", "group=\(conv.group)"]
        case .batchNorm(let epsilon):
            return ["epsilon=\(epsilon)"]
        case .clip(let low, let high):
            return ["min=\(low)", "max=\(high)"]
        case .blockReLU(let plan):
            return ["blocks=[\(runLengthBlocks(plan.blocks))]"]
        case .maxPool(let pool):
            return poolAttributes(pool)
        case .avgPool(let pool):
            return poolAttributes(pool) + ["count_include_pad=\(pool.countIncludePad)"]
        case .reshape(let shape):
            return ["shape=\(list(shape))"]
        case .transpose(let perm):
            return ["perm=\(list(perm))"]
        case .slice(let starts, let steps, _):
            return ["starts=\(list(starts))", "steps=\(list(steps))"]
        case .concat(let axis), .softmax(let axis):
            return ["axis=\(axis)"]
        case .pad(let pads, let value):
            return ["pads=\(list(pads))", "value=\(value)"]
        case .resize(let resize):
            return ["mode=\(resize.mode.rawValue)", "coordinates=\(resize.coordinateMode.rawValue)", "nearest=\(resize.nearestMode.rawValue)", "scales=\(list(resize.scales))"]
        case .argMax(let argMax):
            return ["axis=\(argMax.axis)", "keepdims=\(argMax.keepDims)", "select_last_index=\(argMax.selectLastIndex)"]
        case .constant, .dense, .relu, .relu6, .globalAvgPool, .add, .sub, .mul, .div, .identity:
            return []
        }
    }

    static func poolAttributes(_ pool: Pool2D) -> [String] {
        func list(_ values: [Int]) -> String { "[\(values.map(String.init).joined(separator: ","))]" }
        return ["kernel=\(list(pool.kernel))", "strides=\(list(pool.strides))", "pads=\(list(pool.pads))", "dilations=\(list(pool.dilations))", "ceil_mode=\(pool.ceilMode)"]
    }

    /// `2x2*5, id*3, 1x1`: runs of equal block sizes, in channel order.
    static func runLengthBlocks(_ blocks: [BlockSize]) -> String {
        var parts: [String] = []
        var index = 0
        while index < blocks.count {
            var end = index + 1
            while end < blocks.count && blocks[end] == blocks[index] { end += 1 }
            parts.append(end - index == 1 ? blocks[index].description : "\(blocks[index])*\(end - index)")
            index = end
        }
        return parts.joined(separator: ", ")
    }
}

/// `%name`, quoted when the name has characters outside `[A-Za-z0-9_./$#-]`.
public func valueName(_ name: String) -> String { "%" + quotedIfNeeded(name) }

func quotedIfNeeded(_ name: String) -> String {
    let plain = !name.isEmpty && name.unicodeScalars.allSatisfy { scalar in
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_", ".", "/", "$", "#", "-": return true
        default: return false
        }
    }
    return plain ? name : quoted(name)
}

/// A double-quoted string with `\"`, `\\` and non-printable characters escaped.
public func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F:
            out += "\\u{\(String(scalar.value, radix: 16))}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
