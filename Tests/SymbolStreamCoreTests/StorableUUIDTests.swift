import SymbolStreamCore
import Testing

/// The uuids the archive's MariaDB UUID column refuses are refused at the
/// door (400), never acknowledged and then stuck in the archive.
@Suite struct StorableUUIDTests {
    @Test(arguments: Array("0123456789abcdef"))
    func versionAndVariantDigits(version: Character) throws {
        for variant in "0123456789abcdef" {
            let text = "d65166dc-3dc8-\(version)fc6-\(variant)ace-ad0bc266ccf7"
            // What MariaDB 10.11.19 answers to CAST(… AS UUID) for these digits.
            let refusedByMariaDB = "89abcdef".contains(version) && "01234567".contains(variant)
            let id = try #require(RequestID(parsing: text))
            #expect(id.isStorable == !refusedByMariaDB, "\(text)")
            if refusedByMariaDB {
                #expect(throws: ValidationError.self) { try Validate.requestID(text) }
                #expect((try? Validate.requestID(text)) == nil)
            } else {
                #expect(try Validate.requestID(text.uppercased()) == id)
            }
        }
    }

    @Test func nilAndMaxStayValid() throws {
        #expect(try Validate.requestID("00000000-0000-0000-0000-000000000000").isStorable)
        #expect(try Validate.requestID("ffffffff-ffff-ffff-ffff-ffffffffffff").isStorable)
    }
}
