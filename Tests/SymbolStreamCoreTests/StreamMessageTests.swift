import Foundation
import Testing

@testable import SymbolStreamCore

/// The `/stream` message parser: the shape, the same validation as the HTTP
/// parameters, and strict JSON (checked against Foundation's parser on
/// thousands of mutated messages).
@Suite struct StreamMessageTests {
    static let uuid = "6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f"
    static let id = RequestUUID(parsing: uuid)!
    static let e = Symbol(parsing: "e")!

    func parse(_ text: String, maximumEvents: Int = 256) -> Result<[StreamMessage.Item], InputError> {
        StreamMessage.parse(text, maximumEvents: maximumEvents)
    }

    func items(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [StreamMessage.Item] {
        switch parse(text) {
        case .success(let items): return items
        case .failure(let error):
            Issue.record("whole message refused: \(error.message)", sourceLocation: sourceLocation)
            throw error
        }
    }

    /// The error `Validate` (what the HTTP routes use) gives for the same value.
    func validateError(_ body: () throws -> Void) -> InputError? {
        do {
            try body()
            return nil
        } catch {
            return error as? InputError
        }
    }

    @Test func initialsAndFollowupsInOrder() throws {
        let got = try items(
            #"[{"type":"initial","uuid":"\#(Self.uuid)","symbol":"e"},{"type":"followup","uuid":"\#(Self.uuid)"}]"#)
        #expect(got.count == 2)
        #expect(try got[0].get() == .initial(Self.id, Self.e))
        #expect(try got[1].get() == .followup(Self.id))
    }

    @Test func sameLeniencyAsHTTP() throws {
        // Upper-case uuid and symbol, whitespace anywhere JSON allows it, keys
        // in any order, unknown keys ignored, a key repeated with the same value.
        let text = "\n [ {\"symbol\" : \"E\", \"extra\": {\"a\": [1, -2.5e3, true, null, \"x\"]},\t\"uuid\":\"\(Self.uuid.uppercased())\", "
            + "\"type\":\"initial\", \"type\":\"initial\"} ]\r\n"
        let got = try items(text)
        #expect(try got[0].get() == .initial(Self.id, Self.e))
    }

    @Test func escapesAreDecoded() throws {
        // \u0065 is 'e', \/ is '/', a surrogate pair is one character.
        let got = try items(#"[{"type":"initi\u0061l","uuid":"\#(Self.uuid)","symbol":"\u0065","note":"\/\"\\\b\f\n\r\t\ud83d\ude00"}]"#)
        #expect(try got[0].get() == .initial(Self.id, Self.e))
        let emoji = try items(#"[{"type":"initial","uuid":"\#(Self.uuid)","symbol":"\ud83d\ude00"}]"#)
        guard case .failure(let error) = emoji[0] else {
            Issue.record("emoji symbol accepted")
            return
        }
        #expect(error == validateError { _ = try Validate.symbol("😀") })
    }

    @Test(arguments: [
        // (event object, field named, reason)
        (#"{"uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":"e"}"#, "type", RejectReason.missingParameter),
        (#"{"type":null,"uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f"}"#, "type", .missingParameter),
        (#"{"type":"Initial","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":"e"}"#, "type", .invalidMessage),
        (#"{"type":"dashboard"}"#, "type", .invalidMessage),
        (#"{"type":1}"#, "type", .invalidMessage),
        (#"{"type":["initial"]}"#, "type", .invalidMessage),
        (#"{"type":"initial","symbol":"e"}"#, "uuid", .missingParameter),
        (#"{"type":"initial","uuid":null,"symbol":"e"}"#, "uuid", .missingParameter),
        (#"{"type":"initial","uuid":"","symbol":"e"}"#, "uuid", .invalidUUID),
        (#"{"type":"initial","uuid":"nope","symbol":"e"}"#, "uuid", .invalidUUID),
        (#"{"type":"initial","uuid":"6f1c2a4e8b3d4c5e9f701a2b3c4d5e6f","symbol":"e"}"#, "uuid", .invalidUUID),
        (#"{"type":"initial","uuid":" 6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":"e"}"#, "uuid", .invalidUUID),
        (#"{"type":"initial","uuid":"' OR 1=1; DROP TABLE events; --","symbol":"e"}"#, "uuid", .invalidUUID),
        (#"{"type":"initial","uuid":42,"symbol":"e"}"#, "uuid", .invalidUUID),
        (#"{"type":"initial","uuid":{"a":1},"symbol":"e"}"#, "uuid", .invalidUUID),
        (#"{"type":"initial","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f"}"#, "symbol", .missingParameter),
        (#"{"type":"initial","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":null}"#, "symbol", .missingParameter),
        (#"{"type":"initial","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":""}"#, "symbol", .invalidSymbol),
        (#"{"type":"initial","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":"ab"}"#, "symbol", .invalidSymbol),
        (#"{"type":"initial","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":"7"}"#, "symbol", .invalidSymbol),
        (#"{"type":"initial","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":"é"}"#, "symbol", .invalidSymbol),
        (#"{"type":"initial","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":"ａ"}"#, "symbol", .invalidSymbol),
        (#"{"type":"initial","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":"\u0000"}"#, "symbol", .invalidSymbol),
        (#"{"type":"initial","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":true}"#, "symbol", .invalidSymbol),
        (#"{"type":"initial","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","symbol":"e","symbol":"a"}"#, "symbol", .duplicateParameter),
        (#"{"type":"followup"}"#, "uuid", .missingParameter),
        (#"{"type":"followup","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6"}"#, "uuid", .invalidUUID),
        (#"{"type":"followup","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f","uuid":"6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e60"}"#, "uuid", .duplicateParameter),
        ("{}", "type", .missingParameter),
    ])
    func aBadEventIsRejectedAloneNamingItsField(_ event: String, _ field: String, _ reason: RejectReason) throws {
        let good = #"{"type":"followup","uuid":"\#(Self.uuid)"}"#
        let got = try items("[\(good),\(event),\(good)]")
        #expect(got.count == 3)
        #expect(try got[0].get() == .followup(Self.id))
        #expect(try got[2].get() == .followup(Self.id))
        guard case .failure(let error) = got[1] else {
            Issue.record("\(event) accepted")
            return
        }
        #expect(error.parameter == field)
        #expect(error.reason == reason)
        #expect(error.message.hasPrefix(field + ":"), "\(error.message)")
    }

    @Test func errorsAreValidatesOwn() throws {
        // The same message as POST /initial gives for the same value.
        let got = try items(#"[{"type":"initial","uuid":"nope","symbol":"e"},{"type":"initial","uuid":"\#(Self.uuid)","symbol":"ab"},{"type":"followup"}]"#)
        #expect(got.map { (try? $0.get()) == nil } == [true, true, true])
        if case .failure(let error) = got[0] { #expect(error == validateError { _ = try Validate.requestID("nope") }) }
        if case .failure(let error) = got[1] { #expect(error == validateError { _ = try Validate.symbol("ab") }) }
        if case .failure(let error) = got[2] { #expect(error == validateError { _ = try Validate.requestID(nil) }) }
    }

    @Test func hugeValuesAreQuotedShort() throws {
        let huge = String(repeating: "x", count: 60_000)
        let got = try items(#"[{"type":"initial","uuid":"\#(huge)","symbol":"e"}]"#)
        guard case .failure(let error) = got[0] else {
            Issue.record("accepted")
            return
        }
        #expect(error.reason == .invalidUUID)
        #expect(error.message.count < 200)
    }

    @Test(arguments: [
        "", " ", "null", "{}", #"{"type":"initial"}"#, "\"[]\"", "1", "[", "[]", " [ ] ", "[1]", "[null]", "[[]]",
        #"["initial"]"#, "[{}", "[{},]", "[{}]]", "[{}] x", "[{}][{}]", "[{},{}", #"[{"type"}]"#, #"[{"type":}]"#,
        #"[{"type" "initial"}]"#, #"[{type:"initial"}]"#, #"[{'type':'initial'}]"#, #"[{"type":"initial",}]"#,
        #"[{"type":"initial""uuid":"x"}]"#, #"[{"a":01}]"#, #"[{"a":1.}]"#, #"[{"a":-}]"#, #"[{"a":1e}]"#, #"[{"a":.5}]"#,
        #"[{"a":+1}]"#, #"[{"a":0x10}]"#, #"[{"a":NaN}]"#, #"[{"a":Infinity}]"#, #"[{"a":tru}]"#, #"[{"a":nul}]"#,
        #"[{"a":True}]"#, #"[{"a":"\x"}]"#, #"[{"a":"\u12"}]"#, #"[{"a":"\uZZZZ"}]"#, #"[{"a":"\ud800"}]"#,
        #"[{"a":"\udc00"}]"#, #"[{"a":"\ud800\u0041"}]"#, "[{\"a\":\"tab\there\"}]", "[{\"a\":\"new\nline\"}]",
        #"[{"a":"unterminated}]"#, "[{\"a\":[1,2,]}]", "[{\"a\":[1 2]}]", "[{\"a\":{\"b\"}}]", "\u{FEFF}[{}]", "[{}]\u{0}",
        "[{\"a\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}]",
    ])
    func aMessageThatIsNotAnArrayOfEventsIsRefusedWhole(_ text: String) {
        guard case .failure(let error) = parse(text) else {
            Issue.record("\(text.debugDescription) accepted")
            return
        }
        #expect(error.parameter == "message")
        #expect(error.reason == .invalidMessage)
        #expect(error.message.hasPrefix("message: "))
    }

    @Test func syntaxErrorsSayWhere() {
        guard case .failure(let error) = parse(#"[{"type":"initial",}]"#) else {
            Issue.record("accepted")
            return
        }
        #expect(error.message == "message: not valid JSON at byte 19: expected a key in double quotes, found '}'")
    }

    @Test func atMostMaximumEvents() throws {
        let event = #"{"type":"followup","uuid":"\#(Self.uuid)"}"#
        let full = "[" + Array(repeating: event, count: 5).joined(separator: ",") + "]"
        #expect(try parse(full, maximumEvents: 5).get().count == 5)
        let over = "[" + Array(repeating: event, count: 6).joined(separator: ",") + "]"
        guard case .failure(let error) = parse(over, maximumEvents: 5) else {
            Issue.record("6 events accepted")
            return
        }
        #expect(error.reason == .bodyTooLarge)
        #expect(error.message == "message: more than 5 events; send at most 5 per message")
        // Refused as soon as the 6th event starts, even if the rest is endless garbage.
        #expect((try? parse(over.dropLast(40) + "{{{{", maximumEvents: 5).get()) == nil)
        if case .failure(let early) = parse(String(over.dropLast(40)) + "{{{{", maximumEvents: 5) { #expect(early.reason == .bodyTooLarge) }
    }

    /// Mutated messages: the parser never traps, never accepts what strict JSON
    /// refuses, and accepts every JSON array of 1…N objects.
    @Test func fuzzAgainstFoundation() throws {
        var generator = SplitMix64(seed: 0x5eed)
        let seeds = [
            #"[{"type":"initial","uuid":"\#(Self.uuid)","symbol":"e"},{"type":"followup","uuid":"\#(Self.uuid)"}]"#,
            #"[{"type":"initial","uuid":"\#(Self.uuid)","symbol":"E","x":[1,-2.5e-3,{"y":null}],"z":"\u00e9\n"}]"#,
            #"[ {"type" : "followup" , "uuid" : "\#(Self.uuid.uppercased())"} , {} , {"a":true,"b":false} ]"#,
        ]
        let alphabet = Array(#"[]{}",:\/ -+.0123456789eEtrufalsn"#.utf8) + [0x00, 0x0a, 0x80, 0xc3, 0xa9]
        var accepted = 0
        for round in 0..<20_000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            for _ in 0...Int.random(in: 0..<4, using: &generator) {
                let position = Int.random(in: 0...bytes.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0 where position < bytes.count: bytes.remove(at: position)
                case 1: bytes.insert(alphabet.randomElement(using: &generator)!, at: position)
                case 2 where position < bytes.count: bytes[position] = alphabet.randomElement(using: &generator)!
                default: bytes = Array(bytes.prefix(position))
                }
            }
            // Messages arrive as validated UTF-8 text.
            guard let text = String(validating: bytes, as: UTF8.self) else { continue }
            let ours = parse(text, maximumEvents: 8)
            let theirs = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
            let isArrayOfObjects = (theirs as? [Any]).map { !$0.isEmpty && $0.count <= 8 && $0.allSatisfy { $0 is [String: Any] } } ?? false
            switch ours {
            case .success(let items):
                accepted += 1
                #expect(isArrayOfObjects, "accepted what Foundation does not: \(text.debugDescription)")
                #expect(items.count == (theirs as? [Any])?.count)
            case .failure(let error):
                #expect(!isArrayOfObjects || Self.foundationLeniency(text), "refused \(text.debugDescription): \(error.message)")
            }
        }
        #expect(accepted > 500)
    }

    /// Inputs Foundation takes although RFC 8259 does not: trailing commas,
    /// and lone surrogates (replaced there, refused here).
    static func foundationLeniency(_ text: String) -> Bool {
        text.contains("\\ud") || text.contains("\\uD") || text.contains(/,[ \t\r\n]*[}\]]/)
    }
}

/// `idempotency_key` in `/stream` events: `POST /followup`'s `Idempotency-Key`.
@Suite struct StreamIdempotencyKeyTests {
    static let uuid = StreamMessageTests.uuid
    static let id = StreamMessageTests.id

    func items(_ text: String) throws -> [StreamMessage.Item] {
        try StreamMessage.parse(text, maximumEvents: 256).get()
    }

    @Test func aFollowupCarriesItsKey() throws {
        let got = try items(
            #"[{"type":"followup","uuid":"\#(Self.uuid)","idempotency_key":"retry-1"},{"type":"followup","uuid":"\#(Self.uuid)","idempotency_key":null}]"#)
        #expect(try got[0].get() == .followup(Self.id, idempotencyKey: IdempotencyKey("retry-1")))
        #expect(try got[1].get() == .followup(Self.id))
    }

    /// Checked like every field, also on an initial (where it changes nothing).
    @Test func badKeysAreRejectedByNameAndKeepTheirNeighbours() throws {
        let cases = [
            (#""idempotency_key":"""#, "is empty"), (#""idempotency_key":"a b""#, "characters other than"),
            (#""idempotency_key":7"#, "expected a string"), (#""idempotency_key":"a","idempotency_key":"b""#, "more than once"),
            (#""idempotency_key":"\#(String(repeating: "k", count: 256))""#, "at most 255"),
        ]
        for (field, problem) in cases {
            for event in [#"{"type":"followup","uuid":"\#(Self.uuid)",\#(field)}"#, #"{"type":"initial","uuid":"\#(Self.uuid)","symbol":"e",\#(field)}"#] {
                let got = try items("[\(event),{\"type\":\"followup\",\"uuid\":\"\(Self.uuid)\"}]")
                guard case .failure(let error) = got[0] else {
                    Issue.record("\(event) accepted")
                    continue
                }
                #expect(error.parameter == "idempotency_key" && error.message.hasPrefix("idempotency_key: ") && error.message.contains(problem), "\(error.message)")
                #expect(try got[1].get() == .followup(Self.id))
            }
        }
        let initial = try items(#"[{"type":"initial","uuid":"\#(Self.uuid)","symbol":"e","idempotency_key":"fine"}]"#)
        #expect(try initial[0].get() == .initial(Self.id, Symbol(parsing: "e")!))
    }
}
