/// Values keyed by a time index (a second, a bucket number), kept sorted.
///
/// Events arrive in time order, so the usual write touches the last entry or
/// appends one: no hashing, no rehashing as it grows to millions of buckets;
/// an out-of-order key costs a binary search (and an insert when new).
package struct Timeline<Value: Sendable & Hashable>: Sendable, Hashable {
    package private(set) var keys: [Int64] = []
    package private(set) var values: [Value] = []

    package init() {}

    package var count: Int { keys.count }

    package subscript(key: Int64) -> Value? {
        guard let position = position(of: key) else { return nil }
        return values[position]
    }

    /// Changes the value at `key`, creating it from `initial` first if absent.
    package mutating func modify(_ key: Int64, default initial: @autoclosure () -> Value, _ body: (inout Value) -> Void) {
        if let last = keys.last, last == key {
            body(&values[values.count - 1])
            return
        }
        if keys.last.map({ $0 < key }) ?? true {
            keys.append(key)
            values.append(initial())
            body(&values[values.count - 1])
            return
        }
        let position = insertionPoint(of: key)
        if position < keys.count, keys[position] == key {
            body(&values[position])
        } else {
            keys.insert(key, at: position)
            values.insert(initial(), at: position)
            body(&values[position])
        }
    }

    private func position(of key: Int64) -> Int? {
        if let last = keys.last, last == key { return keys.count - 1 }
        let position = insertionPoint(of: key)
        return position < keys.count && keys[position] == key ? position : nil
    }

    /// The first position whose key is not below `key`.
    private func insertionPoint(of key: Int64) -> Int {
        var low = 0
        var high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if keys[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
