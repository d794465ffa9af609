import RedisClient
import Testing

@Suite struct ConfigurationDescriptionTests {
    @Test func aConfigurationPrintedWholeHidesItsPassword() {
        let configuration = RedisConfiguration(host: "127.0.0.1", port: 6390, username: "app", password: "Canary-9d2f")
        for text in [String(describing: configuration), "\(configuration)", String(reflecting: configuration)] {
            #expect(!text.contains("Canary-9d2f"), "\(text)")
            #expect(text.contains("127.0.0.1:6390"))
        }
    }
}
