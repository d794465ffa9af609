import MariaDBArchive
import MariaDBClient
import StoreTestSupport
import SymbolStreamCore
import Testing

/// `UUIDColumn.stores` against the live MariaDB: if an upgrade changes
/// which values its UUID type takes, this fails before an archive stalls.
@Suite struct UUIDColumnTests {
    @Test func isStorableIsWhatTheUUIDTypeTakes() async throws {
        try await TestStores.withDatabase { pool, _ in
            let bytes6: [UInt64] = [0x00, 0x01, 0x10, 0x4f, 0x5f, 0x60, 0x7f, 0x80, 0x8f, 0xbf, 0xcf, 0xff]
            let bytes8: [UInt64] = [0x00, 0x01, 0x0a, 0x40, 0x7f, 0x80, 0x81, 0x8a, 0xbf, 0xc0, 0xff]
            var ids = [RequestUUID]()
            for b6 in bytes6 {
                for b8 in bytes8 {
                    ids.append(RequestUUID(high: 0xd651_66dc_3dc8_0000 | b6 << 8 | 0xc6, low: b8 << 56 | 0x00ce_ad0b_c266_ccf7))
                }
            }
            let candidates = ids
            let answers = try await pool.withConnection { connection in
                try candidates.map { id in
                    try connection.query("SELECT CAST(? AS UUID) IS NOT NULL AS ok", [.string(id.description)]).first?["ok"]?.int
                }
            }
            for (id, answer) in zip(ids, answers) {
                #expect(UUIDColumn.stores(id) == (answer == 1), "\(id): MariaDB says \(String(describing: answer))")
            }
        }
    }
}
