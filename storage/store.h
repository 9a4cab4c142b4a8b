// Store: durable state of the collections server behind SOCI (sqlite3 or
// postgresql, chosen by the connection string). Owns the schema and its
// migrations, the case/event/task/timer/handoff tables, and the one write
// path: a Command runs inside a UnitOfWork (one transaction, or a savepoint
// within a group commit) and its caller hears back only once the commit is
// durable.
//
// Thread-safety: Store is thread-safe. Reads run on pooled connections.
// Writes are handed to a single writer thread (Submit/Write). A UnitOfWork
// is only valid inside the command it was passed to.
//
// Errors: SOCI exceptions never escape; they become absl::Status.
// UNAVAILABLE: the database could not be reached (retry the call).
// ABORTED: a version conflict or a busy/serialization failure (retry the
// read-modify-write). NOT_FOUND, FAILED_PRECONDITION, INVALID_ARGUMENT come
// from commands and the state machine.
#ifndef COLLECTIONS_STORAGE_STORE_H_
#define COLLECTIONS_STORAGE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "collections/v1/case.pb.h"
#include "collections/v1/policy.pb.h"
#include "collections/v1/task.pb.h"
#include "workflow/state_machine.h"

namespace collections::storage {

enum class Backend { kSqlite, kPostgres };

struct StoreOptions {
  // SOCI connection string: "sqlite3://db=/path/file.db timeout=5" or
  // "postgresql://host=127.0.0.1 port=5432 dbname=... user=...".
  std::string connection;
  int read_pool_size = 4;
  // Most commands the writer applies in one commit (group commit).
  int max_batch = 256;
};

class UnitOfWork;
using Command = std::function<absl::Status(UnitOfWork&)>;

class Store {
 public:
  // Connects, applies forward migrations, and starts the writer.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();  // drains the writer

  Backend backend() const;
  int schema_version() const;

  // --- The write path -----------------------------------------------------
  // Runs `command` in a transaction (its own savepoint when batched with
  // others). `done` is called exactly once, from the writer thread, after the
  // commit is durable (OK) or with the error that rolled the command back.
  // A command's failure never affects another command of the same batch.
  void Submit(Command command, std::function<void(absl::Status)> done);
  // Submit and wait.
  absl::Status Write(Command command);

  // --- Reads (committed data) ----------------------------------------------
  absl::StatusOr<v1::Case> GetCase(int64_t case_id);
  absl::StatusOr<v1::Case> GetCaseByLoan(const std::string& loan_id);
  absl::StatusOr<std::vector<v1::CaseEvent>> ListEvents(int64_t case_id);
  absl::StatusOr<std::vector<v1::Task>> ListTasks(int64_t case_id);
  // The stored policy of that version; NOT_FOUND if none.
  absl::StatusOr<v1::Policy> GetPolicy(int64_t version);
  // Highest stored version, 0 when none.
  absl::StatusOr<int64_t> CurrentPolicyVersion();
  absl::StatusOr<absl::CivilDay> BusinessDate();

 private:
  class Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One transaction's view of the database, handed to a Command.
class UnitOfWork {
 public:
  virtual ~UnitOfWork() = default;

  virtual absl::StatusOr<std::optional<v1::Case>> LoadCase(int64_t case_id) = 0;
  virtual absl::StatusOr<std::optional<v1::Case>> LoadCaseByLoan(
      const std::string& loan_id) = 0;

  // Reserves `n` consecutive ids from the named sequence ("case", "task",
  // "handoff", "plan") and returns the first.
  virtual absl::StatusOr<int64_t> AllocateIds(const std::string& sequence,
                                              int64_t n) = 0;

  // Applies a transition atomically with the rest of the unit of work: the
  // case row (inserted when expected_version is 0, else updated only if its
  // version is still expected_version: ABORTED otherwise), the appended
  // event, cancelled and created tasks, timers, and the handoff.
  virtual absl::Status Apply(const workflow::Transition& transition,
                             int64_t expected_version) = 0;

  // Idempotency: the stored response for (scope, key), if any, and storing
  // one. Responses are opaque bytes (serialized protos).
  virtual absl::StatusOr<std::optional<std::string>> FindResponse(
      const std::string& scope, const std::string& key) = 0;
  virtual absl::Status SaveResponse(const std::string& scope,
                                    const std::string& key,
                                    const std::string& response) = 0;

  // Policies: stores `policy` as a new version (its version field is set to
  // the one assigned) and returns that version.
  virtual absl::StatusOr<int64_t> PutPolicy(v1::Policy& policy) = 0;

  virtual absl::StatusOr<absl::CivilDay> BusinessDate() = 0;
  virtual absl::Status SetBusinessDate(absl::CivilDay day) = 0;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_STORE_H_
