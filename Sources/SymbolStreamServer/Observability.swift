import Foundation
import NIOCore

/// What the dashboard page, `/pipeline` and `/metrics` need beyond the core
/// routes: owned by the application, handed to the routes (tests make their own).
package struct Observability: Sendable {
    package var metrics: ServiceMetrics
    package var history: PipelineHistory
    package var chartScript: ChartScript

    package init(metrics: ServiceMetrics = ServiceMetrics(), history: PipelineHistory = PipelineHistory(), chartScript: ChartScript = .missing(path: "")) {
        self.metrics = metrics
        self.history = history
        self.chartScript = chartScript
    }
}

/// Chart.js for the page, read once at start from the Debian package
/// (`libjs-chart.js`) or another configured file, and served from memory:
/// no file I/O on an event loop.
package enum ChartScript: Sendable {
    case loaded(ByteBuffer, path: String)
    case missing(path: String)

    package static let debianPath = "/usr/share/javascript/chart.js/chart.min.js"

    /// Reads the file at `path` (a missing or unreadable file is `.missing`:
    /// the page then shows its numbers without charts).
    package static func load(path: String) -> ChartScript {
        guard !path.isEmpty, let data = FileManager.default.contents(atPath: path), !data.isEmpty else {
            return .missing(path: path)
        }
        return .loaded(ByteBuffer(bytes: data), path: path)
    }
}
