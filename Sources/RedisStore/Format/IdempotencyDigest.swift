import SymbolStreamCore

/// What a shard remembers of an idempotency key: `DIGEST_BYTES` (16) of
/// SHA-256 over the uuid's 16 bytes and the key's text, never the key. A
/// keyed followup goes into `ss_ingest`'s packed argument with kind `k`
/// (`IngestArgument`), its digest into the call's digests argument, in the
/// same order. The library files it in the hash
/// `k:<bucket>:<first digest byte>` (the bucket: receive second ÷ window) as a
/// field of the other 15 bytes with an empty value: about 20 bytes per key in
/// a listpack (measured, docs/architecture.md).
///
/// 128 bits: among the keys one bucket ever holds, a collision (a followup
/// taken for a retry of another) is out of reach (below 2^-60 at 10^9 keys).
enum IdempotencyDigest {
    static let byteCount = 16
    /// The hashes a time bucket's keys spread over, by the digest's first byte.
    static let partCount = 256

    static func digest(_ key: IdempotencyKey, of id: RequestUUID) -> [UInt8] {
        var input = [UInt8]()
        input.reserveCapacity(16 + key.text.utf8.count)
        id.append(to: &input)
        input += key.text.utf8
        return Array(SHA256.hash(input).prefix(byteCount))
    }
}
