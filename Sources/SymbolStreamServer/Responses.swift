import Hummingbird
import NIOCore

extension Response {
    private static let plainText: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
    private static let jsonHeaders: HTTPFields = [.contentType: "application/json; charset=utf-8"]

    static func text(_ text: StaticString) -> Response {
        Response(status: .ok, headers: plainText, body: .init(byteBuffer: ByteBuffer(staticString: text)))
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers = jsonHeaders
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: value.encoded))
    }

    /// The error shape every 4xx/5xx uses: `{"error": "<what was wrong>"}`.
    static func error(_ message: String, status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        json(.object([("error", .string(message))]), status: status, headers: headers)
    }
}
