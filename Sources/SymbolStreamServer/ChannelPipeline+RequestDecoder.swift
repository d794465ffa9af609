import NIOCore
import NIOHTTP1

extension ChannelPipeline.SynchronousOperations {
    /// Adds `handler` right after the HTTP request decoder, where it sees
    /// decoded request parts (and the decoder's errors) before any other
    /// handler, whichever server set the pipeline up.
    func addHandlerAfterRequestDecoder(_ handler: any ChannelHandler, name: String? = nil) throws {
        let decoder = try context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
        try addHandler(handler, name: name, position: .after(decoder.handler))
    }
}
