import Foundation
import NIOCore
import Testing

@testable import SymbolStreamServer

@Suite struct JSONValueTests {
    @Test func writesObjectsInOrderWithEveryKind() {
        let value: JSONValue = .object([
            ("symbol", "e"), ("count", .int(-3)), ("rate", .double(0.25)), ("infinite", .double(.infinity)),
            ("ok", true), ("none", .null), ("list", .array([.int(1), "two", .array([])])), ("empty", .object([])),
        ])
        #expect(value.serialized == #"{"symbol":"e","count":-3,"rate":0.25,"infinite":null,"ok":true,"none":null,"list":[1,"two",[]],"empty":{}}"#)
        #expect(String(buffer: value.encoded) == value.serialized)
    }

    @Test(arguments: [
        ("plain text 2026-11-23 16:07:32.499811", #""plain text 2026-11-23 16:07:32.499811""#),
        (#"a "quoted" \ path"#, #""a \"quoted\" \\ path""#),
        ("line\nbreak\r\ttab", #""line\nbreak\r\ttab""#),
        ("bell\u{07} del\u{7F} c1\u{85}", #""bell\u0007 del\u007f c1\u0085""#),
        ("sep\u{2028}\u{2029}", #""sep\u2028\u2029""#),
        ("é ü 日本 🎉", "\"é ü 日本 🎉\""),
        ("", #""""#),
    ])
    func escapesStringsSoThatAnyParserReadsThemBack(_ text: String, _ expected: String) throws {
        let json = JSONValue.string(text).serialized
        #expect(json == expected)
        var quoted = ""
        JSONValue.writeString(text, into: &quoted)
        #expect(quoted == expected)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed) as? String
        #expect(parsed == text)
    }
}
