// Commands and the configuration take `TimeAmount`; re-exported (as Hummingbird does for
// a few NIO types) so that users of this module need no NIOCore dependency of their own.
@_exported import struct NIOCore.TimeAmount
