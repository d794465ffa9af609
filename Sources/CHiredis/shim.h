#ifndef SYMBOLSTREAM_CHIREDIS_SHIM_H
#define SYMBOLSTREAM_CHIREDIS_SHIM_H
// Only the protocol parts of hiredis are used: the command formatter and the reply reader.
// Sockets are owned by SwiftNIO, so no hiredis call ever blocks.
#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#endif
