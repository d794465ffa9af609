import SymbolStreamCore

/// What MariaDB's `UUID` type (the `uuid` column) does with a value.
///
/// It stores RFC 4122 time-ordered values with their segments swapped and
/// tells them apart on reading by bytes 6 and 8, so a value stored as is
/// that would read back as swapped is one it refuses (as text) or would read
/// as another value (as binary): byte 6 (version) of 0x80 or more with byte 8
/// (variant) from 0x01 to 0x80. `UUIDColumnTests` checks the rule against the
/// live MariaDB.
package enum UUIDColumn {
    /// Whether the column stores `id`'s 16 bytes as they are.
    package static func stores(_ id: RequestUUID) -> Bool {
        let byte6 = (id.high >> 8) & 0xff
        let byte8 = id.low >> 56
        return byte6 < 0x80 || byte8 == 0 || byte8 > 0x80
    }
}

/// The archive's rule for the door: accepting a uuid the column refuses
/// would stop the archive at that event forever.
package struct ArchiveAdmission: EventAdmission {
    package init() {}

    package func refusal(of id: RequestUUID) -> String? {
        UUIDColumn.stores(id) ? nil : "with a version digit of 8-f the variant byte (digits 17-18) must be 00 or 81-ff"
    }
}
