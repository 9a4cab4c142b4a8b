// WalCheckpointer: copies SQLite's write-ahead log into the database file
// on a connection and thread of its own, so that the writer's commits never
// wait for a checkpoint. The writer asks for one (Request) from its WAL
// hook once the log has grown past StoreOptions::
// sqlite_wal_autocheckpoint_pages; the checkpoint is PASSIVE: it copies
// what no reader still needs and never blocks the writer or the readers.
// Durability does not depend on it: a commit is acknowledged once the WAL
// itself is synced.
//
// Thread-safety: Request and checkpoints() from any thread; the
// checkpointing runs on the object's own thread until it is destroyed.
#ifndef COLLECTIONS_STORAGE_WAL_CHECKPOINTER_H_
#define COLLECTIONS_STORAGE_WAL_CHECKPOINTER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "soci/soci.h"

namespace collections::storage {

class WalCheckpointer {
 public:
  // Opens its connection to the SQLite database of `connection` and starts
  // its thread.
  static absl::StatusOr<std::unique_ptr<WalCheckpointer>> Start(const std::string& connection);
  ~WalCheckpointer();  // finishes a checkpoint in progress, then stops

  // Asks for a checkpoint soon; cheap, never blocks on one.
  void Request();

  // Checkpoints run so far (each copies what the WAL held when it began).
  int64_t checkpoints() const { return checkpoints_.load(); }

 private:
  WalCheckpointer() = default;
  void Loop();

  soci::session sql_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool requested_ = false;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::atomic<int64_t> checkpoints_{0};
  std::thread thread_;  // last: starts once the rest exists
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_WAL_CHECKPOINTER_H_
