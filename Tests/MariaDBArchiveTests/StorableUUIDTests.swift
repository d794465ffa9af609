import MariaDBArchive
import SymbolStreamCore
import Testing

/// The uuids the archive's MariaDB UUID column refuses are refused at the
/// door (400, `ArchiveAdmission`), never acknowledged and then stuck in the
/// archive; validation itself takes every uuid. (The same
/// rule is checked against the live MariaDB by `UUIDColumnTests`.)
@Suite struct StorableUUIDTests {
    /// Answers of MariaDB 10.11.19 to `CAST(… AS UUID) IS NOT NULL`.
    static let measured: [(String, Bool)] = [
        ("d65166dc-3dc8-cfc6-0ace-ad0bc266ccf7", false),
        ("d65166dc-3dc8-4fc6-0ace-ad0bc266ccf7", true),
        ("d65166dc-3dc8-cfc6-8ace-ad0bc266ccf7", true),
        ("d65166dc-3dc8-8fc6-0ace-ad0bc266ccf7", false),
        ("d65166dc-3dc8-6fc6-0ace-ad0bc266ccf7", true),
        ("d65166dc-3dc8-cfc6-00ce-ad0bc266ccf7", true),
        ("d65166dc-3dc8-cfc6-8000-ad0bc266ccf7", false),
        ("d65166dc-3dc8-cfc6-8100-ad0bc266ccf7", true),
        ("d65166dc-3dc8-cfc6-7f00-ad0bc266ccf7", false),
        ("d65166dc-3dc8-8000-0100-ad0bc266ccf7", false),
        ("d65166dc-3dc8-8000-0000-ad0bc266ccf7", true),
        ("d65166dc-3dc8-7fff-0100-ad0bc266ccf7", true),
        ("0c100000-0000-bad0-8000-000000000000", false),
        ("0c100000-0000-0000-8000-000000000000", true),
        ("00000000-0000-0000-0000-000000000000", true),
        ("ffffffff-ffff-ffff-ffff-ffffffffffff", true),
    ]

    @Test func matchesWhatMariaDBTakes() throws {
        for (text, storable) in Self.measured {
            let id = try #require(RequestUUID(parsing: text))
            #expect(UUIDColumn.stores(id) == storable, "\(text)")
            #expect(try Validate.requestID(text.uppercased()) == id)
            if storable {
                #expect(ArchiveAdmission().refusal(of: id) == nil)
            } else {
                #expect(throws: InputError.self) { try ArchiveAdmission().check(id) }
            }
        }
    }
}
