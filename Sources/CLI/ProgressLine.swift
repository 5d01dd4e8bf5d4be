import Foundation

/// Progress of a long job on stderr (docs/ARCHITECTURE.md "CLI contracts"): on a terminal, one self-rewriting
/// line with count, rate and ETA; in a log (stderr not a terminal), a plain line every
/// `logInterval` seconds, so logs stay readable and small.
final class ProgressLine {
    private let label: String
    private let total: Int?
    private let unit: String
    private let isTerminal: Bool
    private let write: (String) -> Void
    private let logIntervalSeconds: Double
    /// Units already done when this line started (a resumed run): not counted in the rate.
    private let initial: Int
    private let start = Date()
    private var lastPrint = Date.distantPast
    private var lastWidth = 0

    /// - Parameters:
    ///   - label: what is being done, e.g. `train epoch 3`.
    ///   - total: how many units in all, for the ETA; nil if unknown.
    ///   - unit: what is counted, plural (`images`, `steps`).
    ///   - initial: units done before this run (a resumed training), left out of rate and ETA.
    ///   - isTerminal, write: where the text goes (tests capture it); stderr by default.
    init(_ label: String, total: Int?, unit: String, initial: Int = 0, logIntervalSeconds: Double = 5,
         isTerminal: Bool = isatty(STDERR_FILENO) == 1,
         write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.label = label
        self.isTerminal = isTerminal
        self.write = write
        self.initial = initial
        self.total = total
        self.unit = unit
        self.logIntervalSeconds = logIntervalSeconds
    }

    /// Reports `done` units finished, with an optional detail such as `loss 2.31`. Throttled;
    /// the last state is `finish`'s to print (once: a log showed "30/30" twice when both did).
    func update(_ done: Int, detail: String = "") {
        let now = Date()
        let interval = isTerminal ? 0.1 : logIntervalSeconds
        guard now.timeIntervalSince(lastPrint) >= interval else { return }
        lastPrint = now
        emit(line(done, now: now, detail: detail), final: false)
    }

    /// Prints the final line (always, on a terminal and in a log) and ends the rewriting line.
    func finish(_ done: Int, detail: String = "") {
        emit(line(done, now: Date(), detail: detail), final: true)
    }

    private func line(_ done: Int, now: Date, detail: String) -> String {
        let elapsedSeconds = now.timeIntervalSince(start)
        let rate = elapsedSeconds > 0 ? Double(done - initial) / elapsedSeconds : 0
        var text = "\(label): \(done)"
        if let total { text += "/\(total)" }
        text += " \(unit), \(String(format: "%.1f", rate)) \(unit)/s"
        if let total, rate > 0, done < total {
            text += ", ETA \(Self.duration(Double(total - done) / rate))"
        } else {
            text += ", \(Self.duration(elapsedSeconds))"
        }
        if !detail.isEmpty { text += ", \(detail)" }
        return text
    }

    private func emit(_ text: String, final: Bool) {
        if isTerminal {
            let padding = String(repeating: " ", count: max(0, lastWidth - text.count))
            lastWidth = text.count
            write("\r" + text + padding + (final ? "\n" : ""))
        } else {
            write(text + "\n")
        }
    }

    /// `75` -> `1m15s`, `4000` -> `1h06m`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
    }
}
