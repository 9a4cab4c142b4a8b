// Forwarding header, kept only until store.cc includes
// storage/writer_connection.h (where WriterConnection is declared) instead.
// Internal to storage/; include writer_connection.h in new code.
#ifndef COLLECTIONS_STORAGE_UNIT_OF_WORK_H_
#define COLLECTIONS_STORAGE_UNIT_OF_WORK_H_

#include "storage/writer_connection.h"

#endif  // COLLECTIONS_STORAGE_UNIT_OF_WORK_H_
