#include "storage/store.h"

#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "common/status_macros.h"
#include "soci/connection-pool.h"
#include "storage/sql.h"
#include "storage/store_impl.h"
#include "storage/store_internal.h"
#include "storage/writer_connection.h"

namespace collections::storage {

// --- Opening
// --------------------------------------------------------------------

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  ASSIGN_OR_RETURN(Backend backend, BackendOf(options.connection));
  if (options.read_pool_size < 1 || options.max_batch < 1 || options.writer_connections < 1) {
    return absl::InvalidArgumentError(
        "read_pool_size, max_batch and writer_connections must be at least 1");
  }
  // The first writer first: it creates the SQLite file, turns on WAL and
  // migrates before any reader looks at the schema.
  std::vector<std::unique_ptr<WriterConnection>> writers;
  const int writer_count = backend == Backend::kSqlite ? 1 : options.writer_connections;
  for (int i = 0; i < writer_count; ++i) {
    ASSIGN_OR_RETURN(std::unique_ptr<WriterConnection> writer,
                     WriterConnection::Open(options, backend));
    writers.push_back(std::move(writer));
  }
  auto pool = std::make_unique<soci::connection_pool>(options.read_pool_size);
  for (int i = 0; i < options.read_pool_size; ++i) {
    try {
      soci::session& sql = pool->at(i);
      sql.open(options.connection);
      ConfigureSession(sql, backend, options, /*reader=*/true);
    } catch (...) {
      absl::Status s = StatusFromCurrentException("cannot open a reader");
      return absl::UnavailableError(s.message());
    }
  }
  std::unique_ptr<WalCheckpointer> checkpointer;
  if (backend == Backend::kSqlite) {
    absl::StatusOr<std::unique_ptr<WalCheckpointer>> started =
        WalCheckpointer::Start(options.connection);
    if (!started.ok()) return absl::UnavailableError(started.status().message());
    checkpointer = *std::move(started);
  }
  return std::unique_ptr<Store>(new Store(std::make_unique<Impl>(
      options, backend, std::move(writers), std::move(pool), std::move(checkpointer))));
}

Backend Store::backend() const { return impl_->backend(); }
int Store::schema_version() const { return impl_->schema_version(); }

// --- Writes
// -----------------------------------------------------------------------

void Store::Submit(Command command, std::function<void(absl::Status)> done, WriteLane lane) {
  impl_->Submit(std::move(command), std::move(done), lane);
}

absl::Status Store::Write(Command command, WriteLane lane) {
  std::promise<absl::Status> result;
  std::future<absl::Status> future = result.get_future();
  impl_->Submit(
      std::move(command), [&result](absl::Status s) { result.set_value(std::move(s)); }, lane);
  return future.get();
}

WriterStats Store::writer_stats() const { return impl_->stats(); }
int Store::writer_connections() const { return impl_->writer_count(); }
int Store::readers_in_use() const { return impl_->readers_in_use(); }

absl::Status StoreInternals::Read(Store& store,
                                  const std::function<absl::Status(soci::session&)>& read) {
  return store.impl_
      ->Read<bool>("report",
                   [&](soci::session& sql) -> absl::StatusOr<bool> {
                     RETURN_IF_ERROR(read(sql));
                     return true;
                   })
      .status();
}

absl::Time StoreInternals::Now(const Store& store) { return store.impl_->Now(); }

void StoreInternals::RequestWalCheckpoint(Store& store) { store.impl_->RequestWalCheckpoint(); }

absl::Status ReadForReport(Store& store, const std::function<absl::Status(soci::session&)>& read) {
  return StoreInternals::Read(store, read);
}

absl::Time StoreNow(const Store& store) { return StoreInternals::Now(store); }

void RequestWalCheckpoint(Store& store) { StoreInternals::RequestWalCheckpoint(store); }

}  // namespace collections::storage
