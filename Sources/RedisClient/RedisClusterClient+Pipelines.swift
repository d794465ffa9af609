extension RedisClusterClient {
    /// Sends each request to the primary of its slot: one pipeline per
    /// primary, all primaries at once. A result per request, in order.
    ///
    /// Redirects come back as error replies in place; just the commands that
    /// got one are sent again where the redirect says (`ASK`: each preceded
    /// by `ASKING`, in one pipeline per target), their replies put in place,
    /// for up to ``RedisClusterConfiguration/maximumRedirects`` rounds. A
    /// request fails as a whole (``RedisClientError/unavailable(_:)``) when
    /// its slot has no reachable primary, on `CLUSTERDOWN`, or when its
    /// commands are still redirected after the last round; a request split
    /// by `ASK` may then have had some of its commands run, as with a
    /// connection lost mid-pipeline.
    package func pipelines(_ requests: [SlotCommands]) async -> [Result<[RESPValue], RedisClientError>] {
        guard !requests.isEmpty else { return [] }
        let routing = self.routing
        // One request for a slot with an owner: one pipeline, and when no
        // reply is a redirect (nearly always), no bookkeeping at all.
        if requests.count == 1, !requests[0].commands.isEmpty, let node = routing.node(forSlot: requests[0].slot) {
            let result = await PipelineBatch.send(requests[0].commands, to: node)
            if case .success(let replies) = result, !replies.contains(where: { Self.isClusterError($0, from: node) }) {
                return [result]
            }
            var batch = PipelineBatch(node: node)
            batch.add(PipelineJob(request: 0, commands: nil, target: .owner), requests: requests)
            return await self.pipelines(requests, routing: routing, sent: ([batch], [result]))
        }
        return await self.pipelines(requests, routing: routing, sent: nil)
    }

    /// The general case, rounds of pipelines until no redirect is left;
    /// `sent`: a first round already sent.
    private func pipelines(
        _ requests: [SlotCommands], routing: ClusterRouting,
        sent: (batches: [PipelineBatch], results: [Result<[RESPValue], RedisClientError>])?
    ) async -> [Result<[RESPValue], RedisClientError>] {
        var outcome = PipelineOutcome(requests)
        var jobs: [PipelineJob] = []
        if sent == nil {
            jobs.reserveCapacity(requests.count)
            for index in requests.indices where !requests[index].commands.isEmpty {
                jobs.append(PipelineJob(request: index, commands: nil, target: .owner))
            }
        }
        var sent = sent
        var routing = routing
        var round = 0
        while !jobs.isEmpty || sent != nil {
            let batches: [PipelineBatch]
            let results: [Result<[RESPValue], RedisClientError>]
            if let first = sent {
                (batches, results) = first
                sent = nil
            } else {
                batches = await self.batches(for: jobs, requests: requests, routing: routing, outcome: &outcome)
                results = await Self.send(batches)
            }
            jobs = []
            var tryAgain = false
            let current = self.routing
            for (batch, result) in zip(batches, results) {
                switch result {
                case .success(let replies):
                    self.distribute(
                        replies, of: batch, requests: requests, round: round, outcome: &outcome, next: &jobs, tryAgain: &tryAgain)
                case .failure(let error):
                    self.fail(batch, with: error, routingChanged: current !== routing, outcome: &outcome, next: &jobs)
                }
            }
            routing = current
            round += 1
            if tryAgain, !jobs.isEmpty {
                try? await Task.sleep(for: self.configuration.tryAgainDelay)
            }
        }
        return outcome.results
    }

    /// Whether `reply` is a redirect or `CLUSTERDOWN`.
    private static func isClusterError(_ reply: RESPValue, from node: ClusterNode) -> Bool {
        guard case .error(let message) = reply else { return false }
        return ClusterRedirect(errorMessage: message, replyingNode: node.address) != nil
    }

    /// Groups jobs by the node they go to; fails those with nowhere to go.
    private func batches(
        for jobs: [PipelineJob], requests: [SlotCommands], routing: ClusterRouting, outcome: inout PipelineOutcome
    ) async -> [PipelineBatch] {
        var batches: [PipelineBatch] = []
        for job in jobs where !outcome.hasFailed(job.request) {
            let slot = requests[job.request].slot
            var node: ClusterNode?
            switch job.target {
            case .owner:
                node = routing.node(forSlot: slot)
                if node == nil {
                    self.schedule.request()
                    outcome.fail(job.request, .unavailable(self.unavailableReason(slot: slot, in: routing)))
                    continue
                }
            case .redirected(let address, _):
                node = await self.redirectTarget(address, routing: routing)
                if node == nil {
                    outcome.fail(job.request, .unavailable("Redis Cluster: slot \(slot) was redirected to \(address), but the client is not running"))
                    continue
                }
            }
            guard let node else { continue }
            if let index = batches.firstIndex(where: { $0.node === node }) {
                batches[index].add(job, requests: requests)
            } else {
                var batch = PipelineBatch(node: node)
                batch.add(job, requests: requests)
                batches.append(batch)
            }
        }
        return batches
    }

    /// One pipeline per node, all at once.
    private static func send(_ batches: [PipelineBatch]) async -> [Result<[RESPValue], RedisClientError>] {
        switch batches.count {
        case 0:
            return []
        case 1:
            return [await batches[0].send()]
        default:
            return await withTaskGroup(of: (Int, Result<[RESPValue], RedisClientError>).self) { group in
                for (index, batch) in batches.enumerated() {
                    group.addTask { (index, await batch.send()) }
                }
                var results = [Result<[RESPValue], RedisClientError>](repeating: .failure(.connectionClosed), count: batches.count)
                for await (index, result) in group { results[index] = result }
                return results
            }
        }
    }

    /// Puts a batch's replies in place; redirected commands become next round's jobs.
    private func distribute(
        _ replies: [RESPValue], of batch: PipelineBatch, requests: [SlotCommands], round: Int,
        outcome: inout PipelineOutcome, next: inout [PipelineJob], tryAgain: inout Bool
    ) {
        guard replies.count == batch.commands.count else {
            for job in batch.jobs { outcome.fail(job.request, .protocolError("a pipeline of \(batch.commands.count) got \(replies.count) replies")) }
            return
        }
        var replyIndex = 0
        for job in batch.jobs {
            let asking = job.isAsking
            var redirected: [(index: Int, target: ClusterTarget)] = []
            let count = job.commands?.count ?? requests[job.request].commands.count
            for position in 0..<count {
                let commandIndex = job.commands?[position] ?? position
                if asking { replyIndex += 1 }  // ASKING's own reply
                let reply = replies[replyIndex]
                replyIndex += 1
                guard case .error(let message) = reply,
                    let redirect = ClusterRedirect(errorMessage: message, replyingNode: batch.node.address)
                else {
                    outcome.set(job.request, commandIndex, reply)
                    continue
                }
                let slot = requests[job.request].slot
                guard round < self.configuration.maximumRedirects else {
                    outcome.fail(job.request, .unavailable("Redis Cluster: slot \(slot) still redirected after \(round) redirects (\(message))"))
                    continue
                }
                switch redirect {
                case .moved(_, let address):
                    self.schedule.request()
                    redirected.append((commandIndex, .redirected(address, asking: false)))
                case .ask(_, let address):
                    redirected.append((commandIndex, .redirected(address, asking: true)))
                case .tryAgain:
                    tryAgain = true
                    redirected.append((commandIndex, .owner))
                case .clusterDown:
                    self.schedule.request()
                    outcome.fail(job.request, .unavailable("Redis Cluster: slot \(slot): \(message)"))
                }
            }
            // Usually one target for all of a request's redirected commands.
            while let first = redirected.first {
                let same = redirected.filter { $0.target == first.target }.map(\.index)
                redirected.removeAll { $0.target == first.target }
                next.append(PipelineJob(request: job.request, commands: same, target: first.target))
            }
        }
    }

    /// A batch's pipeline failed: its requests fail, except that a pool found
    /// without connections after the map changed gets one more try at the
    /// slot's new owner (nothing was sent).
    private func fail(
        _ batch: PipelineBatch, with error: RedisClientError, routingChanged: Bool,
        outcome: inout PipelineOutcome, next: inout [PipelineJob]
    ) {
        switch error {
        case .unavailable(let reason):
            self.schedule.request()
            for job in batch.jobs {
                if routingChanged, !job.retriedAfterRemap {
                    var retry = job
                    retry.target = .owner
                    retry.retriedAfterRemap = true
                    next.append(retry)
                } else {
                    outcome.fail(job.request, .unavailable("\(batch.node.address): \(reason)"))
                }
            }
        case .connectionClosed, .timeout:
            self.schedule.request()
            for job in batch.jobs { outcome.fail(job.request, error) }
        default:
            for job in batch.jobs { outcome.fail(job.request, error) }
        }
    }
}

/// Some commands of one request, on their way to one target.
struct PipelineJob: Sendable {
    var request: Int
    /// The request's commands to send, by index; nil for all of them.
    var commands: [Int]?
    var target: ClusterTarget
    var retriedAfterRemap = false

    var isAsking: Bool {
        if case .redirected(_, asking: true) = target { true } else { false }
    }
}

/// The jobs that go to one node, and the pipeline they make.
struct PipelineBatch: Sendable {
    let node: ClusterNode
    var jobs: [PipelineJob] = []
    var commands: [RedisCommand] = []

    init(node: ClusterNode) {
        self.node = node
    }

    mutating func add(_ job: PipelineJob, requests: [SlotCommands]) {
        jobs.append(job)
        let request = requests[job.request].commands
        if let indices = job.commands {
            for index in indices {
                if job.isAsking { commands.append(RedisClusterClient.asking) }
                commands.append(request[index])
            }
        } else {
            commands.append(contentsOf: request)
        }
    }

    func send() async -> Result<[RESPValue], RedisClientError> {
        await Self.send(commands, to: node)
    }

    static func send(_ commands: [RedisCommand], to node: ClusterNode) async -> Result<[RESPValue], RedisClientError> {
        do {
            return .success(try await node.client.pipeline(commands))
        } catch {
            return .failure((error as? RedisClientError) ?? .connectionClosed)
        }
    }
}

/// The replies gathered so far, and the requests that failed.
struct PipelineOutcome {
    private var replies: [[RESPValue]]
    private var failures: [RedisClientError?]

    init(_ requests: [SlotCommands]) {
        replies = requests.map { [RESPValue](repeating: .null, count: $0.commands.count) }
        failures = [RedisClientError?](repeating: nil, count: requests.count)
    }

    func hasFailed(_ request: Int) -> Bool { failures[request] != nil }

    mutating func set(_ request: Int, _ command: Int, _ reply: RESPValue) {
        replies[request][command] = reply
    }

    mutating func fail(_ request: Int, _ error: RedisClientError) {
        if failures[request] == nil { failures[request] = error }
    }

    var results: [Result<[RESPValue], RedisClientError>] {
        zip(replies, failures).map { replies, failure in failure.map { .failure($0) } ?? .success(replies) }
    }
}
