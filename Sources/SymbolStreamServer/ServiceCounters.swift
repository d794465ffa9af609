import Synchronization
import SymbolStreamCore

/// What this process has accepted and rejected since it started: for `/health`
/// (and the reject counts the fuzz tests check).
package final class ServiceCounters: Sendable {
    package struct Snapshot: Sendable, Hashable {
        package var initials: Int64 = 0
        package var retries: Int64 = 0
        package var followups: Int64 = 0
        /// Followups that repeated an idempotency key (counted once, not here).
        package var followupReplays: Int64 = 0
        package var rejected: [RejectReason: Int64] = [:]
        package var unavailable: Int64 = 0
    }

    private let state = Mutex(Snapshot())

    package init() {}

    package var snapshot: Snapshot { state.withLock { $0 } }

    func record(_ outcome: IngestOutcome) {
        state.withLock { counts in
            switch outcome {
            case .initial(.accepted): counts.initials += 1
            case .initial(.retry): counts.retries += 1
            case .initial(.conflict): break  // counted as a reject where the 409 is made
            case .followup(.replayed): counts.followupReplays += 1
            case .followup: counts.followups += 1
            }
        }
    }

    func rejected(_ reason: RejectReason) {
        state.withLock { $0.rejected[reason, default: 0] += 1 }
    }

    func unavailable() {
        state.withLock { $0.unavailable += 1 }
    }

    /// The outcomes of one `/stream` message under one lock (conflicts are
    /// counted as rejects, as the 409 of `POST /initial` is).
    func record(stream outcomes: [IngestOutcome]) {
        state.withLock { counts in
            for outcome in outcomes {
                switch outcome {
                case .initial(.accepted): counts.initials += 1
                case .initial(.retry): counts.retries += 1
                case .initial(.conflict): counts.rejected[.uuidConflict, default: 0] += 1
                case .followup(.replayed): counts.followupReplays += 1
                case .followup: counts.followups += 1
                }
            }
        }
    }

    /// Events of a `/stream` message that could not be stored (Redis down).
    func unavailable(events: Int) {
        state.withLock { $0.unavailable += Int64(events) }
    }
}
