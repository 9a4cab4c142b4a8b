// The legal receiver's files: written durably (a temporary file, fsync,
// rename, fsync of the folder), and the stored sequence read back.
#ifndef COLLECTIONS_CLIENTS_LEGAL_RECEIVER_DURABLE_FILES_H_
#define COLLECTIONS_CLIENTS_LEGAL_RECEIVER_DURABLE_FILES_H_

#include <cstdint>
#include <string>

namespace collections::legal_receiver {

// Writes `text` to `path` durably: a temporary file, fsync, rename, fsync
// of the folder. Returns an error message, empty on success.
std::string WriteDurably(const std::string& dir, const std::string& name, const std::string& text);

// fsync of a folder, after a file in it was created, renamed or removed.
std::string SyncFolder(const std::string& dir);

// The highest sequence stored in <dir>/LAST_SEQUENCE (0: none).
int64_t ReadLastSequence(const std::string& dir);

}  // namespace collections::legal_receiver

#endif  // COLLECTIONS_CLIENTS_LEGAL_RECEIVER_DURABLE_FILES_H_
