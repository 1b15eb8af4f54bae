/// Fraction of rows of `scores` ([rows, classes] row-major) whose largest score is at the
/// label's index.
public func top1Accuracy(_ scores: [Float], _ labels: [Int64]) -> Double {
    let width = scores.count / max(labels.count, 1)
    let correct = labels.indices.filter { row in
        let slice = scores[(row * width)..<((row + 1) * width)]
        return Int64(slice.indices.max { slice[$0] < slice[$1] }! - row * width) == labels[row]
    }.count
    return Double(correct) / Double(max(labels.count, 1))
}

/// "input i: class c (score), ..." for the top five classes of the first ten rows.
public func topClassLines(_ scores: [Float], rows: Int) -> [String] {
    let width = scores.count / max(rows, 1)
    var lines: [String] = []
    for row in 0..<min(rows, 10) {
        let slice = Array(scores[(row * width)..<((row + 1) * width)])
        let top = slice.indices.sorted { slice[$0] > slice[$1] }.prefix(5)
        lines.append("input \(row): " + top.map { "class \($0) (\(slice[$0]))" }.joined(separator: ", "))
    }
    if rows > 10 { lines.append("... \(rows - 10) more") }
    return lines
}
