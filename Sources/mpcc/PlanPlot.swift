import Foundation
import Planner
import SharedKernels

/// --plot: the plan as an SVG, one row per ReLU layer: DReLUs before (light) and after
/// (dark) on a logarithmic axis, and the layer's channels by block size (share of
/// channels per kind: identity, ReLU, patches by area, zero).
enum PlanPlot {
    /// Block kinds in legend order, with their colours.
    static let kinds: [(name: String, color: String)] = [
        ("id", "#4daf4a"), ("1x1", "#377eb8"), ("2-4 px", "#984ea3"), ("5-16 px", "#ff7f00"), ("17-64 px", "#e6ab02"), ("> 64 px", "#a65628"),
        ("zero", "#999999"),
    ]

    static func kind(_ block: BlockSize) -> Int {
        if block == .identity { return 0 }
        if block == .relu { return 1 }
        guard block.isPatch else { return 6 }
        let area = block.height * block.width
        return area <= 4 ? 2 : area <= 16 ? 3 : area <= 64 ? 4 : 5
    }

    static func svg(_ report: PlanReport) -> String {
        let rowHeight = 22, label = 260, bars = 300, counts = 120, mix = 240, top = 46
        let mixLeft = label + bars + counts
        let width = mixLeft + mix + 20, height = top + rowHeight * report.rows.count + 40
        let most = Double(report.rows.map(\.originalDReLUs).max() ?? 1)
        func x(_ drelus: Int) -> Double { drelus <= 0 ? 0 : Double(bars) * log10(Double(drelus) + 1) / log10(most + 1) }
        var parts = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" font-family=\"sans-serif\" font-size=\"12\">",
            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
            text(8, 18, "DReLUs per layer, before (light) and after (dark), log scale; channels by block size", bold: true),
        ]
        for (index, kind) in kinds.enumerated() {
            let left = mixLeft + (index % 4) * 60, y = 26 + (index / 4) * 12
            parts.append("<rect x=\"\(left)\" y=\"\(y)\" width=\"9\" height=\"9\" fill=\"\(kind.color)\"/>")
            parts.append(text(left + 12, y + 9, kind.name))
        }
        for (index, row) in report.rows.enumerated() {
            let y = top + index * rowHeight
            parts.append(text(8, y + 14, String(row.name.suffix(38))))
            parts.append(rect(Double(label), y + 3, x(row.originalDReLUs), 16, "#c6dbef"))
            parts.append(rect(Double(label), y + 7, x(row.chosenDReLUs), 8, "#08519c"))
            parts.append(text(label + bars + 8, y + 15, "\(row.chosenDReLUs) / \(row.originalDReLUs)"))
            var counts = [Int](repeating: 0, count: kinds.count)
            for entry in row.histogram { counts[kind(entry.block)] += entry.count }
            var left = Double(mixLeft)
            for (kindIndex, count) in counts.enumerated() where count > 0 {
                let share = Double(mix) * Double(count) / Double(max(row.channels, 1))
                parts.append(rect(left, y + 3, share, 16, kinds[kindIndex].color))
                left += share
            }
        }
        parts.append(text(8, height - 14, "total \(report.rows.reduce(0) { $0 + $1.chosenDReLUs }) of \(report.rows.reduce(0) { $0 + $1.originalDReLUs }) DReLUs"))
        parts.append("</svg>")
        return parts.joined(separator: "\n") + "\n"
    }

    static func rect(_ x: Double, _ y: Int, _ width: Double, _ height: Int, _ color: String) -> String {
        "<rect x=\"\(rounded(x))\" y=\"\(y)\" width=\"\(rounded(width))\" height=\"\(height)\" fill=\"\(color)\"/>"
    }

    static func text(_ x: Int, _ y: Int, _ content: String, bold: Bool = false) -> String {
        let escaped = content.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        return "<text x=\"\(x)\" y=\"\(y)\"\(bold ? " font-weight=\"bold\"" : "")>\(escaped)</text>"
    }

    static func rounded(_ value: Double) -> String { String(Double(Int(value * 10)) / 10) }
}
