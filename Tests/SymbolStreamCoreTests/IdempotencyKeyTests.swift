import Testing

@testable import SymbolStreamCore

@Suite struct IdempotencyKeyTests {
    @Test func validKeys() throws {
        for text in ["a", "8e03978e-40d5-43e8-bc93-6894a57f9324", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "dGVzdA==", "a_b.c:d~e+f/g=h", String(repeating: "x", count: 255)] {
            #expect(try Validate.idempotencyKey(text, parameter: "idempotency_key")?.text == text)
        }
        #expect(try Validate.idempotencyKey(nil, parameter: "Idempotency-Key") == nil)
        // A header may give it as a Structured Field string (the IETF draft's form).
        #expect(try Validate.idempotencyKey(#""abc-1""#, parameter: "Idempotency-Key", header: true)?.text == "abc-1")
    }

    @Test func invalidKeysNameTheParameter() {
        let cases: [(String, Bool, String)] = [
            ("", false, "is empty"), (#""""#, true, "is empty"), (String(repeating: "x", count: 256), false, "at most 255"),
            ("a b", false, "characters other than"), ("é", false, "characters other than"), ("a,b", false, "characters other than"),
            (#""abc""#, false, "characters other than"),  // quotes only unwrap in a header
            (#""abc"#, true, "characters other than"), ("a\u{0}", false, "characters other than"),
        ]
        for (text, header, problem) in cases {
            let name = header ? "Idempotency-Key" : "idempotency_key"
            #expect {
                _ = try Validate.idempotencyKey(text, parameter: name, header: header)
            } throws: { error in
                guard let error = error as? InputError else { return false }
                return error.parameter == name && error.reason == .invalidIdempotencyKey && error.message.hasPrefix(name + ": ")
                    && error.message.contains(problem)
            }
        }
    }
}

@Suite struct IdempotencyMemoryTests {
    static let a = RequestUUID(high: 1, low: 1)
    static let b = RequestUUID(high: 2, low: 2)
    static let key = IdempotencyKey("k")!

    static func at(_ second: Int64) -> Timestamp { Timestamp(second: second, offset: 5) }

    /// `remember` outside the expectation macros, which cannot call a mutating method.
    static func remember(_ memory: inout IdempotencyMemory, _ key: IdempotencyKey, of id: RequestUUID, at time: Timestamp) -> Bool {
        memory.remember(key, of: id, at: time)
    }

    @Test func aKeyCountsOncePerUUID() {
        var memory = IdempotencyMemory(window: 60)
        #expect(Self.remember(&memory, Self.key, of: Self.a, at: Self.at(1000)))
        #expect(!Self.remember(&memory, Self.key, of: Self.a, at: Self.at(1000)))
        #expect(Self.remember(&memory, Self.key, of: Self.b, at: Self.at(1001)))
        #expect(Self.remember(&memory, IdempotencyKey("other")!, of: Self.a, at: Self.at(1001)))
        #expect(memory.count == 3)
    }

    /// Remembered at least a window, less than two; a retry from the bucket
    /// before (a front's clock behind) still finds it.
    @Test func theWindow() {
        let window: Int64 = 60
        for offset in 0..<window {
            var memory = IdempotencyMemory(window: window)
            let first = 6000 + offset  // bucket 100, anywhere in it
            #expect(Self.remember(&memory, Self.key, of: Self.a, at: Self.at(first)))
            #expect(!Self.remember(&memory, Self.key, of: Self.a, at: Self.at(first + window - 1)))
            #expect(!Self.remember(&memory, Self.key, of: Self.a, at: Self.at(6000 + 2 * window - 1)), "end of the next bucket")
            #expect(!Self.remember(&memory, Self.key, of: Self.a, at: Self.at(6000 - 1)), "end of the bucket before")
            var later = memory
            #expect(Self.remember(&later, Self.key, of: Self.a, at: Self.at(6000 + 2 * window)), "two buckets on: forgotten")
        }
    }

    /// Buckets nobody can look into are dropped whole (memory stays bounded).
    @Test func oldBucketsAreDropped() {
        var memory = IdempotencyMemory(window: 10)
        for second in stride(from: Int64(0), to: 10_000, by: 1) {
            #expect(Self.remember(&memory, IdempotencyKey("k\(second)")!, of: Self.a, at: Self.at(second)))
        }
        #expect(memory.count <= 30)
    }

    @Test func theModelCountsAKeyedFollowupOnce() {
        var model = AggregateModel(idempotencyWindow: 600)
        let e = Symbol(parsing: "e")!
        let outcomes = [
            model.apply(.followup(FollowupEvent(id: Self.a, receivedAt: Self.at(1), idempotencyKey: Self.key))),
            model.apply(.followup(FollowupEvent(id: Self.a, receivedAt: Self.at(2), idempotencyKey: Self.key))),
            model.apply(.initial(InitialEvent(id: Self.a, symbol: e, guess: false, receivedAt: Self.at(3)))),
            model.apply(.followup(FollowupEvent(id: Self.a, receivedAt: Self.at(4), idempotencyKey: Self.key))),
            model.apply(.followup(FollowupEvent(id: Self.a, receivedAt: Self.at(5)))),
            model.apply(.followup(FollowupEvent(id: Self.a, receivedAt: Self.at(6)))),
        ]
        #expect(
            outcomes == [
                .followup(.pending), .followup(.replayed), .initial(.accepted(guess: false)), .followup(.replayed), .followup(.attributed(e)),
                .followup(.attributed(e)),
            ])
        #expect(model.summary(of: e).followups == 3)
        #expect(model.request(Self.a)?.followups == [Self.at(1), Self.at(5), Self.at(6)])
    }
}
