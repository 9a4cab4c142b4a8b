#include "storage/wal_checkpointer.h"

#include <utility>

#include "storage/sql.h"

namespace collections::storage {

absl::StatusOr<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Start(
    const std::string& connection) {
  std::unique_ptr<WalCheckpointer> c(new WalCheckpointer());
  try {
    c->sql_.open(connection);
  } catch (...) {
    return StatusFromCurrentException("open the WAL checkpointer's connection");
  }
  c->thread_ = std::thread([raw = c.get()] { raw->Loop(); });
  return c;
}

WalCheckpointer::~WalCheckpointer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void WalCheckpointer::Request() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (requested_) return;
    requested_ = true;
  }
  wake_.notify_one();
}

void WalCheckpointer::Loop() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return requested_ || stopping_; });
      if (stopping_) return;
      requested_ = false;
    }
    try {
      // busy, log frames, frames checkpointed: nothing to act on here. A
      // checkpoint that could not copy everything (a reader still needs
      // older pages) is requested again by the writer's next commits.
      int busy = 0, log = 0, done = 0;
      sql_ << "PRAGMA wal_checkpoint(PASSIVE)", soci::into(busy), soci::into(log), soci::into(done);
      ++checkpoints_;
    } catch (...) {
      // The writer's safety valve (WriterConnection::set_wal_hook) still
      // bounds the log; the next request tries again.
    }
  }
}

}  // namespace collections::storage
