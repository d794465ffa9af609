#ifndef SYMBOLSTREAM_CMARIADB_SHIM_H
#define SYMBOLSTREAM_CMARIADB_SHIM_H
#include <mysql.h>
#include <errmsg.h>
#endif
