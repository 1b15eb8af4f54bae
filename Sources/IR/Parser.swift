/// Reads IR text (the printer's grammar, IR/README.md) back into a graph, so pass tests
/// can be written as text in, text out. Constants must carry their data (`[...]`);
/// the printer's elided form `{N values}` is accepted only with `fillElidedConstants`,
/// which fills them with a deterministic pattern (for structural tests).
public struct Parser {
    public var fillElidedConstants: Bool

    public init(fillElidedConstants: Bool = false) {
        self.fillElidedConstants = fillElidedConstants
    }

    public func parse(_ text: String) throws -> Graph {
        var scanner = Scanner(text)
        do {
            return try parseGraph(&scanner)
        } catch let error as IRError {
            throw IRError("line \(scanner.line): \(error.message)")
        }
    }

    private func parseGraph(_ s: inout Scanner) throws -> Graph {
        s.skipTrivia()
        try s.expectWord("graph")
        try s.expect("@")
        var graph = Graph(name: try s.name())
        var values: [String: ValueID] = [:]
        try s.expect("(")
        while !s.consume(")") {
            let name = try s.valueName()
            try s.expect(":")
            values[name] = graph.addInput(name: name, type: try s.type())
            _ = s.consume(",")
        }
        try s.expect("->")
        try s.expect("(")
        var declaredOutputs: [(String, TensorType)] = []
        while !s.consume(")") {
            let name = try s.valueName()
            try s.expect(":")
            declaredOutputs.append((name, try s.type()))
            _ = s.consume(",")
        }
        try s.expect("{")
        while true {
            s.skipTrivia()
            if s.consumeWord("return") {
                repeat {
                    let name = try s.valueName()
                    guard let value = values[name] else { throw IRError("return of undefined value %\(name)") }
                    graph.outputs.append(value)
                } while s.consume(",")
                try s.expect("}")
                break
            }
            let result = try s.valueName()
            guard values[result] == nil else { throw IRError("%\(result) is defined twice") }
            try s.expect("=")
            let mnemonic = try s.word()
            if mnemonic == "constant" {
                let type = try s.type()
                values[result] = graph.addConstant(try constantData(&s, type: type, name: result), name: result)
                continue
            }
            try s.expect("(")
            var operands: [ValueID] = []
            while !s.consume(")") {
                let name = try s.valueName()
                guard let value = values[name] else { throw IRError("%\(name) is used before it is defined") }
                operands.append(value)
                _ = s.consume(",")
            }
            let attributes = s.peek("{") ? try s.attributes() : [:]
            try s.expect(":")
            let type = try s.type()
            var location = ""
            if s.consumeWord("loc") {
                try s.expect("(")
                location = try s.string()
                try s.expect(")")
            }
            let op = try makeOp(mnemonic, attributes, resultType: type)
            let id = try graph.append(op, operands, name: result, node: location)
            guard graph.type(of: id) == type else {
                throw IRError("%\(result) is declared \(type) but \(mnemonic) gives \(graph.type(of: id))")
            }
            values[result] = id
        }
        for ((name, type), value) in zip(declaredOutputs, graph.outputs) where graph.name(of: value) != name || graph.type(of: value) != type {
            throw IRError("the signature declares output %\(name): \(type), the body returns %\(graph.name(of: value))")
        }
        guard declaredOutputs.count == graph.outputs.count else { throw IRError("the signature and return list differ") }
        try Verifier.verify(graph)
        return graph
    }

    private func constantData(_ s: inout Scanner, type: TensorType, name: String) throws -> Tensor {
        if s.consume("{") {
            let count = try s.integer()
            try s.expectWord("values")
            try s.expect("}")
            guard fillElidedConstants else { throw IRError("constant %\(name) has no data (only {\(count) values})") }
            guard count == type.elementCount else { throw IRError("constant %\(name) declares \(count) values for \(type)") }
            // A fixed pattern in [-1, 1): deterministic, varied, free of exact zeros.
            let pattern = (0..<count).map { Float(($0 * 7919 + name.utf8.count * 104_729) % 2000) / 1000 - 0.9995 }
            return type.dtype == .f32 ? Tensor(shape: type.shape, floats: pattern) : Tensor(shape: type.shape, ints: pattern.map { Int64($0 * 10) })
        }
        try s.expect("[")
        // Converted as read: a weight tensor's text would take far more memory as strings.
        var floats: [Float] = [], ints: [Int64] = []
        var count = 0
        while !s.consume("]") {
            let text = try s.number()
            count += 1
            guard count <= type.elementCount else { throw IRError("constant %\(name) has more than the \(type.elementCount) values \(type) needs") }
            switch type.dtype {
            case .f32:
                guard let value = Float(text) else { throw IRError("'\(text)' is not a float") }
                floats.append(value)
            case .i64:
                guard let value = Int64(text) else { throw IRError("'\(text)' is not an integer") }
                ints.append(value)
            }
            _ = s.consume(",")
        }
        guard count == type.elementCount else {
            throw IRError("constant %\(name) has \(count) values, \(type) needs \(type.elementCount)")
        }
        return type.dtype == .f32 ? Tensor(shape: type.shape, floats: floats) : Tensor(shape: type.shape, ints: ints)
    }

    private func makeOp(_ mnemonic: String, _ a: [String: Attribute], resultType: TensorType) throws -> Op {
        func ints(_ key: String) throws -> [Int] {
            guard case .list(let items)? = a[key] else { throw IRError("\(mnemonic) needs \(key)=[...]") }
            return try items.map { item in
                guard case .number(let text) = item, let value = Int(text) else { throw IRError("\(key) must hold integers") }
                return value
            }
        }
        func floats(_ key: String) throws -> [Float] {
            guard case .list(let items)? = a[key] else { throw IRError("\(mnemonic) needs \(key)=[...]") }
            return try items.map { item in
                guard case .number(let text) = item, let value = Float(text) else { throw IRError("\(key) must hold numbers") }
                return value
            }
        }
        func int(_ key: String) throws -> Int {
            guard case .number(let text)? = a[key], let value = Int(text) else { throw IRError("\(mnemonic) needs \(key)=<integer>") }
            return value
        }
        func float(_ key: String) throws -> Float {
            guard case .number(let text)? = a[key], let value = Float(text) else { throw IRError("\(mnemonic) needs \(key)=<number>") }
            return value
        }
        func bool(_ key: String) throws -> Bool {
            guard case .word(let text)? = a[key], text == "true" || text == "false" else { throw IRError("\(mnemonic) needs \(key)=true|false") }
            return text == "true"
        }
        func word(_ key: String) throws -> String {
            guard case .word(let text)? = a[key] else { throw IRError("\(mnemonic) needs \(key)=<name>") }
            return text
        }
        func pool() throws -> Pool2D {
            Pool2D(
                kernel: try ints("kernel"), strides: try ints("strides"), pads: try ints("pads"), dilations: try ints("dilations"),
                ceilMode: try bool("ceil_mode"), countIncludePad: a["count_include_pad"] == nil ? false : try bool("count_include_pad"))
        }
        switch mnemonic {
        case "conv": return .conv(Conv2D(strides: try ints("strides"), pads: try ints("pads"), dilations: try ints("dilations"), group: try int("group")))
        case "dense": return .dense
        case "batch_norm": return .batchNorm(epsilon: try float("epsilon"))
        case "relu": return .relu
        case "relu6": return .relu6
        case "clip": return .clip(min: try float("min"), max: try float("max"))
        case "block_relu":
            guard case .blocks(let blocks)? = a["blocks"] else { throw IRError("block_relu needs blocks=[...]") }
            return .blockReLU(BlockReLUPlan(blocks: blocks))
        case "max_pool": return .maxPool(try pool())
        case "avg_pool": return .avgPool(try pool())
        case "global_avg_pool": return .globalAvgPool
        case "add": return .add
        case "sub": return .sub
        case "mul": return .mul
        case "div": return .div
        case "reshape": return .reshape(shape: try ints("shape"))
        case "transpose": return .transpose(perm: try ints("perm"))
        case "slice": return .slice(starts: try ints("starts"), steps: try ints("steps"), sizes: resultType.shape)
        case "concat": return .concat(axis: try int("axis"))
        case "pad": return .pad(pads: try ints("pads"), value: try float("value"))
        case "resize":
            guard let mode = Resize.Mode(rawValue: try word("mode")),
                let coordinates = Resize.CoordinateMode(rawValue: try word("coordinates")),
                let nearest = Resize.NearestMode(rawValue: try word("nearest"))
            else { throw IRError("resize mode, coordinates or nearest is unknown") }
            return .resize(Resize(mode: mode, coordinateMode: coordinates, nearestMode: nearest, scales: try floats("scales"), sizes: resultType.shape))
        case "identity": return .identity
        case "softmax": return .softmax(axis: try int("axis"))
        case "argmax": return .argMax(ArgMax(axis: try int("axis"), keepDims: try bool("keepdims"), selectLastIndex: try bool("select_last_index")))
        default: throw IRError("unknown op '\(mnemonic)'")
        }
    }
}

/// An attribute value as written: a number, a bare word, a list, or a block plan.
enum Attribute {
    case number(String)
    case word(String)
    case list([Attribute])
    case blocks([BlockSize])
}

/// A character-level reader over IR text. Comments (`// ...`) are trivia.
struct Scanner {
    private let characters: [Character]
    private var position = 0
    private(set) var line = 1

    init(_ text: String) { characters = Array(text) }

    mutating func skipTrivia() {
        while position < characters.count {
            let character = characters[position]
            if character == "\n" {
                line += 1
                position += 1
            } else if character == " " || character == "\t" || character == "\r" {
                position += 1
            } else if character == "/" && position + 1 < characters.count && characters[position + 1] == "/" {
                while position < characters.count && characters[position] != "\n" { position += 1 }
            } else {
                return
            }
        }
    }

    mutating func peek(_ text: String) -> Bool {
        skipTrivia()
        let expected = Array(text)
        return position + expected.count <= characters.count && Array(characters[position..<(position + expected.count)]) == expected
    }

    mutating func consume(_ text: String) -> Bool {
        guard peek(text) else { return false }
        position += text.count
        return true
    }

    mutating func expect(_ text: String) throws {
        guard consume(text) else { throw IRError("expected '\(text)' \(context)") }
    }

    mutating func consumeWord(_ word: String) -> Bool {
        let start = position
        guard let next = try? self.word(), next == word else {
            position = start
            return false
        }
        return true
    }

    mutating func expectWord(_ word: String) throws {
        guard consumeWord(word) else { throw IRError("expected '\(word)' \(context)") }
    }

    private var context: String {
        position < characters.count ? "near '\(String(characters[position..<min(position + 20, characters.count)]))'" : "at the end"
    }

    private static func isNameCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || "_./$#-".contains(c))
    }

    /// A bare word: letters, digits and `_`.
    mutating func word() throws -> String {
        skipTrivia()
        let start = position
        while position < characters.count, characters[position].isASCII, characters[position].isLetter || characters[position].isNumber || characters[position] == "_" {
            position += 1
        }
        guard position > start else { throw IRError("expected a word \(context)") }
        return String(characters[start..<position])
    }

    /// A graph or value name: bare or quoted.
    mutating func name() throws -> String {
        skipTrivia()
        if position < characters.count && characters[position] == "\"" { return try string() }
        let start = position
        while position < characters.count && Scanner.isNameCharacter(characters[position]) { position += 1 }
        guard position > start else { throw IRError("expected a name \(context)") }
        return String(characters[start..<position])
    }

    mutating func valueName() throws -> String {
        try expect("%")
        return try name()
    }

    mutating func string() throws -> String {
        try expect("\"")
        var out = ""
        while position < characters.count {
            let character = characters[position]
            position += 1
            switch character {
            case "\"": return out
            case "\\":
                guard position < characters.count else { break }
                let escaped = characters[position]
                position += 1
                switch escaped {
                case "n": out.append("\n")
                case "u":
                    try expect("{")
                    let start = position
                    while position < characters.count && characters[position] != "}" { position += 1 }
                    guard let code = UInt32(String(characters[start..<position]), radix: 16), let scalar = Unicode.Scalar(code) else {
                        throw IRError("bad \\u escape")
                    }
                    position += 1
                    out.unicodeScalars.append(scalar)
                default: out.append(escaped)
                }
            default: out.append(character)
            }
        }
        throw IRError("unterminated string")
    }

    /// A number as written (sign, digits, '.', exponent, inf, nan).
    mutating func number() throws -> String {
        skipTrivia()
        let start = position
        while position < characters.count, characters[position].isASCII,
            characters[position].isNumber || "+-.eEinfa".contains(characters[position])
        {
            position += 1
        }
        guard position > start else { throw IRError("expected a number \(context)") }
        return String(characters[start..<position])
    }

    mutating func integer() throws -> Int {
        let text = try number()
        guard let value = Int(text) else { throw IRError("'\(text)' is not an integer") }
        return value
    }

    mutating func type() throws -> TensorType {
        let dtypeName = try word()
        guard let dtype = DType(rawValue: dtypeName) else { throw IRError("unknown element type '\(dtypeName)'") }
        try expect("[")
        var shape: [Int] = []
        while !consume("]") {
            shape.append(try integer())
            _ = consume(",")
        }
        return TensorType(dtype, shape)
    }

    mutating func attributes() throws -> [String: Attribute] {
        try expect("{")
        var result: [String: Attribute] = [:]
        while !consume("}") {
            let key = try word()
            try expect("=")
            result[key] = key == "blocks" ? .blocks(try blocks()) : try attribute()
            _ = consume(",")
        }
        return result
    }

    private mutating func attribute() throws -> Attribute {
        if consume("[") {
            var items: [Attribute] = []
            while !consume("]") {
                items.append(try attribute())
                _ = consume(",")
            }
            return .list(items)
        }
        skipTrivia()
        if position < characters.count, characters[position].isNumber || characters[position] == "-" || characters[position] == "+" {
            return .number(try number())
        }
        let text = try word()
        return text == "inf" || text == "nan" ? .number(text) : .word(text)
    }

    /// `[2x2*3, id, zero*2, 1x1]`
    private mutating func blocks() throws -> [BlockSize] {
        try expect("[")
        var blocks: [BlockSize] = []
        while !consume("]") {
            let token = try word()
            let block: BlockSize
            switch token {
            case "id": block = .identity
            case "zero": block = .zero
            default:
                let parts = token.split(separator: "x")
                guard parts.count == 2, let height = Int(parts[0]), let width = Int(parts[1]) else {
                    throw IRError("bad block size '\(token)'")
                }
                block = BlockSize(height, width)
            }
            let repeats = consume("*") ? try integer() : 1
            guard repeats >= 1 && repeats < 1 << 20 else { throw IRError("bad repeat count \(repeats)") }
            blocks += Array(repeating: block, count: repeats)
            _ = consume(",")
        }
        return blocks
    }
}
