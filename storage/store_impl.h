// Store::Impl: what sits behind Store: the reader pool (Read) and the
// writer threads with group commit (Submit): one on SQLite, a pool of them
// on PostgreSQL. Internal to storage/:
// store.cc opens it and hands it commands, store_reads.cc runs the reads.
//
// Thread-safe: Submit and Read may be called from any thread; each writer
// connection is used only by its writer thread.
#ifndef COLLECTIONS_STORAGE_STORE_IMPL_H_
#define COLLECTIONS_STORAGE_STORE_IMPL_H_

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "soci/connection-pool.h"
#include "soci/soci.h"
#include "storage/answer_thread.h"
#include "storage/sql.h"
#include "storage/store.h"
#include "storage/wal_checkpointer.h"
#include "storage/writer_connection.h"

namespace collections::storage {

class Store::Impl {
 public:
  // `writers` holds one connection per writer thread: one on SQLite (one
  // writer at a time is all SQLite allows), StoreOptions::writer_connections
  // on PostgreSQL.
  Impl(const StoreOptions& options, Backend backend,
       std::vector<std::unique_ptr<WriterConnection>> writers,
       std::unique_ptr<soci::connection_pool> pool,
       std::unique_ptr<WalCheckpointer> checkpointer = nullptr)
      : options_(options),
        backend_(backend),
        schema_version_(writers.front()->schema_version()),
        // Each batched command is a PostgreSQL subtransaction, and a
        // transaction with more than 64 of them overflows every backend's
        // snapshot cache (PGPROC_MAX_CACHED_SUBXIDS), slowing all readers.
        max_batch_(backend == Backend::kPostgres ? std::min(options.max_batch, 64)
                                                 : options.max_batch),
        writers_(std::move(writers)),
        pool_(std::move(pool)),
        checkpointer_(std::move(checkpointer)),
        audited_writer_(writers_.size() > 1) {
    for (std::unique_ptr<WriterConnection>& w : writers_) ConfigureWriter(*w);
    // Last: the threads start once everything above exists.
    for (size_t i = 0; i < writers_.size(); ++i) {
      threads_.emplace_back([this, i] { WriterLoop(i); });
    }
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    wake_first_.notify_all();
    for (std::thread& t : threads_) t.join();
    answers_.reset();  // answers what the writers handed over, then stops
  }

  Backend backend() const { return backend_; }
  int schema_version() const { return schema_version_; }
  int writer_count() const { return static_cast<int>(writers_.size()); }
  absl::Time Now() const { return options_.now(); }

  void Submit(Command command, std::function<void(absl::Status)> done, WriteLane lane) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) {
        // Falls through to answer outside the lock.
      } else if (options_.max_queued_commands > 0 &&
                 queue_.size() + audited_.size() + bulk_.size() >=
                     static_cast<size_t>(options_.max_queued_commands)) {
        std::lock_guard<std::mutex> stats_lock(stats_mu_);
        ++stats_.rejected_commands;
      } else {
        QueueFor(lane).push_back({std::move(command), std::move(done), 1, lane});
        WakeFor(lane);
        return;
      }
      if (!stopping_) {
        lock.unlock();
        done(absl::ResourceExhaustedError(
            absl::StrCat("the database writer has ", options_.max_queued_commands,
                         " commands queued; retry after a short back-off")));
        return;
      }
    }
    done(absl::UnavailableError("the store is shutting down"));
  }

  WriterStats stats() {
    WriterStats out;
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      out = stats_;
    }
    std::lock_guard<std::mutex> lock(mu_);
    out.queued_commands = static_cast<int64_t>(queue_.size() + audited_.size() + bulk_.size());
    if (checkpointer_ != nullptr) out.background_checkpoints = checkpointer_->checkpoints();
    out.writer_checkpoints = writer_checkpoints_.load();
    return out;
  }

  // Asks the WAL checkpointer (SQLite) for a checkpoint soon, whatever the
  // log's size (the day's run, storage/report_snapshots.cc); nothing on
  // PostgreSQL.
  void RequestWalCheckpoint() {
    if (checkpointer_ != nullptr) checkpointer_->Request();
  }

  // Runs `f(session)` on a pooled connection; exceptions become a Status.
  int readers_in_use() const { return readers_in_use_.load(); }

  template <typename T, typename F>
  absl::StatusOr<T> Read(const char* what, F&& f) {
    soci::session sql(*pool_);  // leases a connection until return
    ++readers_in_use_;
    struct Returned {
      std::atomic<int>& n;
      ~Returned() { --n; }
    } returned{readers_in_use_};
    try {
      return f(sql);
    } catch (...) {
      absl::Status status = StatusFromCurrentException(what);
      if (!SessionAlive(sql)) {
        status = absl::UnavailableError(status.message());
        Reconnect(sql);  // so that the next read on it can succeed
      }
      return status;
    }
  }

 private:
  // How often a command that lost a race (ABORTED: a version guard, a
  // deadlock or a serialization failure) runs before its caller hears
  // ABORTED. A race is retried from the top on the next batch, which reads
  // what the winner committed.
  static constexpr int kMaxAttempts = 8;
  static constexpr int kCarefulBatches = 16;
  // A bulk batch (WriteLane::kBulk) within this many bulk batches of a
  // batch of other commands takes at most kBulkBatchBesideOthers commands:
  // an import's 128-row commands, about 4,096 rows, a few tenths of a
  // second of commit that a claim arriving meanwhile waits for. Without
  // other commands lately it takes up to max_batch_.
  static constexpr int kBulkBatchesBesideOthers = 4;
  static constexpr int kBulkBatchBesideOthers = 32;

  struct Pending {
    Command command;
    std::function<void(absl::Status)> done;
    int attempt = 1;
    WriteLane lane = WriteLane::kAny;
  };

  // The queue a lane's commands wait in, and waking a writer that serves
  // it. The first writer serves audited_ (and, when it is the only one,
  // queue_ and bulk_ too, after audited_); the others serve queue_ and
  // bulk_. Callers hold mu_.
  std::deque<Pending>& QueueFor(WriteLane lane) {
    switch (lane) {
      case WriteLane::kAudited:
        return audited_;
      case WriteLane::kBulk:
        return bulk_;
      case WriteLane::kAny:
        break;
    }
    return queue_;
  }
  void WakeFor(WriteLane lane) {
    if (lane == WriteLane::kAudited || !audited_writer_) {
      wake_first_.notify_one();
    } else {
      wake_.notify_one();
    }
  }

  void Reconnect(soci::session& sql) {
    try {
      sql.reconnect();
      ConfigureSession(sql, backend_, options_, /*reader=*/true);
    } catch (...) {
      // Still down; the next read tries again.
    }
  }

  // One writer thread: takes up to max_batch_ queued commands at a time
  // and runs them as one transaction on its own connection. On PostgreSQL
  // several of these run at once, each with its own group commit; rows
  // they both touch are ordered by the database's row locks and the cases'
  // version guard.
  void WriterLoop(size_t index) {
    const bool first = index == 0;
    const bool serves_any = !first || !audited_writer_;
    std::condition_variable& wake = first ? wake_first_ : wake_;
    std::vector<Pending> batch;
    int careful_batches = 0;  // see RunBatch
    // Bulk batches (WriteLane::kBulk) since the last batch of other
    // commands, capped; 0: the last batch was of others, the bulk lane's turn.
    int bulk_since_others = kBulkBatchesBesideOthers;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake.wait(lock, [&] {
          return (first && !audited_.empty()) ||
                 (serves_any && (!queue_.empty() || !bulk_.empty())) || stopping_;
        });
        const bool others = (first && !audited_.empty()) || (serves_any && !queue_.empty());
        if (serves_any && !bulk_.empty() && (bulk_since_others == 0 || !others)) {
          // Other commands lately: they will wait for this commit, so it
          // stays short; none: as large as what waits (an import's commits
          // write each index page they touch once, so larger is cheaper).
          const bool beside_others = bulk_since_others < kBulkBatchesBesideOthers;
          TakeInto(batch, bulk_, beside_others ? kBulkBatchBesideOthers : max_batch_);
          bulk_since_others = std::min(bulk_since_others + 1, kBulkBatchesBesideOthers);
        } else {
          if (first) TakeInto(batch, audited_, max_batch_);
          if (serves_any) TakeInto(batch, queue_, max_batch_);
          if (batch.empty()) return;  // stopping, and everything ran
          bulk_since_others = 0;
        }
        // More left: another writer may take them now.
        if (!queue_.empty() || !bulk_.empty()) WakeFor(WriteLane::kAny);
      }
      RunBatch(writers_[index], batch, careful_batches);
      batch.clear();
    }
  }

  // Moves the oldest commands of `from` into `batch`, up to `most` in all.
  // Callers hold mu_.
  void TakeInto(std::vector<Pending>& batch, std::deque<Pending>& from, int most) {
    if (batch.size() >= static_cast<size_t>(most)) return;
    const size_t n = std::min(from.size(), static_cast<size_t>(most) - batch.size());
    batch.insert(batch.end(), std::make_move_iterator(from.begin()),
                 std::make_move_iterator(from.begin() + n));
    from.erase(from.begin(), from.begin() + n);
  }

  // One transaction for the whole batch. Tried first without savepoints
  // (each costs two statements per command, and on SQLite a journal of
  // every page the command changes): when every command succeeds, that
  // transaction commits. When one fails, the transaction rolls back and
  // the batch runs again from the start with one savepoint per command
  // (none when alone: the transaction is its savepoint), so that a failed
  // command leaves nothing and the others keep what they wrote. After a
  // first pass failed, the writer's next kCarefulBatches batches
  // (careful_batches counts them down) start with savepoints: failures come
  // in runs (races on PostgreSQL), and each costs the batch twice. `done` is
  // called once COMMIT has returned, i.e. once the batch is durable.
  void RunBatch(std::unique_ptr<WriterConnection>& writer, std::vector<Pending>& batch,
                int& careful_batches) {
    // A command that never ran keeps OK here, and takes the batch's error.
    std::vector<absl::Status> results(batch.size());
    absl::Status fatal = EnsureWriter(writer);
    const bool savepoints = batch.size() > 1;
    if (fatal.ok() && savepoints && careful_batches > 0) {
      --careful_batches;
    } else if (fatal.ok() && savepoints) {
      if (RunWithoutSavepoints(*writer, batch)) {
        bool any_ok = true;
        fatal = RunWoken(*writer, batch, results, any_ok);
        // As in the savepoint pass: a failed COMMIT fails every command
        // (it may have committed: never run them again here). A joined
        // command that failed on its own keeps its error.
        if (fatal.ok()) fatal = writer->Commit();
        if (!fatal.ok()) writer->Rollback();
        for (absl::Status& r : results) {
          if (!fatal.ok() || r.ok()) r = fatal;
        }
        Finish(writer, batch, results, fatal, any_ok);
        return;
      }
      careful_batches = kCarefulBatches;
    }
    if (fatal.ok()) fatal = writer->Begin();
    bool began = fatal.ok();
    bool any_ok = false;
    for (size_t i = 0; i < batch.size() && fatal.ok(); ++i) {
      fatal = RunOne(*writer, batch[i], savepoints, results[i], any_ok);
    }
    // Without savepoints (one command) only a command that succeeded
    // leaves the transaction fit to take others.
    if (fatal.ok() && began && (savepoints || any_ok)) {
      fatal = RunWoken(*writer, batch, results, any_ok);
    }
    if (fatal.ok() && began) {
      if (any_ok) {
        fatal = writer->Commit();
      } else {
        writer->Rollback();  // nothing to keep
      }
    }
    if (!fatal.ok()) {
      if (began) writer->Rollback();
      // Commands that failed on their own keep their error; the others'
      // writes are lost with the transaction.
      for (absl::Status& r : results) {
        if (r.ok()) r = fatal;
      }
    }
    Finish(writer, batch, results, fatal, any_ok);
  }

  // With one writer (SQLite's always), the tasks a batch's commands made
  // ready are announced (StoreOptions::on_tasks_ready) before it commits, and
  // the commands that wakes -- a waiting stream's or long poll's claim --
  // join the transaction with whatever else is queued by then, each in a
  // savepoint of its own (one failing leaves the rest), so that a task
  // created and handed to a waiting worker costs one commit instead of two.
  // Nothing is answered before the commit; a claim that ran here fails with
  // the commit if the commit fails. With several writers (PostgreSQL's
  // pool) a woken claim could run on another writer before this commit and
  // miss the task: the tasks are announced after the commit there, in
  // Finish. Appends to `batch` and `results`; returns the error that ends
  // the transaction (a failed savepoint statement, a lost connection), else
  // OK.
  absl::Status RunWoken(WriterConnection& writer, std::vector<Pending>& batch,
                        std::vector<absl::Status>& results, bool& any_ok) {
    if (writers_.size() != 1 || !options_.on_tasks_ready || !writer.HasReady()) {
      return absl::OkStatus();
    }
    options_.on_tasks_ready(writer.TakeReady());
    const size_t start = batch.size();
    {
      std::lock_guard<std::mutex> lock(mu_);
      TakeInto(batch, audited_, max_batch_);
      TakeInto(batch, queue_, max_batch_);
    }
    results.resize(batch.size());
    for (size_t i = start; i < batch.size(); ++i) {
      RETURN_IF_ERROR(RunOne(writer, batch[i], /*savepoint=*/true, results[i], any_ok));
    }
    return absl::OkStatus();
  }

  // Runs one command in the open transaction, in a savepoint of its own
  // when `savepoint` (a failed command then leaves nothing), setting its
  // `result` (left OK when it never ran) and `any_ok`. Returns the error
  // that ends the transaction: a failed savepoint statement, or the
  // command's own UNAVAILABLE (the connection is gone: so is the batch).
  static absl::Status RunOne(WriterConnection& writer, Pending& command, bool savepoint,
                             absl::Status& result, bool& any_ok) {
    if (savepoint) RETURN_IF_ERROR(writer.Savepoint());
    result = writer.Run(command.command);
    if (result.ok()) {
      any_ok = true;
      if (savepoint) RETURN_IF_ERROR(writer.ReleaseSavepoint());
    } else if (savepoint) {
      absl::Status undone = writer.RollbackToSavepoint();
      if (undone.ok()) undone = writer.ReleaseSavepoint();
      if (result.code() != absl::StatusCode::kUnavailable) return undone;
    }
    if (result.code() == absl::StatusCode::kUnavailable) return result;
    return absl::OkStatus();
  }

  // The first pass of RunBatch: every command in one transaction without
  // savepoints. True when all succeeded and the transaction is open for
  // COMMIT; false when one failed (the transaction is then rolled back and
  // what the commands queued for the commit is dropped).
  bool RunWithoutSavepoints(WriterConnection& writer, std::vector<Pending>& batch) {
    if (!writer.Begin().ok()) return false;
    for (Pending& p : batch) {
      if (!writer.Run(p.command).ok()) {
        writer.Rollback();
        DropUncommitted(writer);
        return false;
      }
    }
    return true;
  }

  // What successful commands of a rolled-back transaction left for the
  // commit: the tasks they made ready, their handoffs.
  static void DropUncommitted(WriterConnection& writer) {
    writer.TakeReady();
    writer.TakeHandoffs();
  }

  // The rest of RunBatch once the transaction is over: `fatal` is its
  // error (OK when it committed, or needed no commit), `results` each
  // command's own.
  void Finish(std::unique_ptr<WriterConnection>& writer, std::vector<Pending>& batch,
              std::vector<absl::Status>& results, const absl::Status& fatal, bool any_ok) {
    // A lost connection surfaces as whatever error the statement in flight
    // got; callers should hear UNAVAILABLE (retry), and the next batch
    // reconnects.
    const bool failed = !fatal.ok() || std::any_of(results.begin(), results.end(),
                                                   [](const absl::Status& s) { return !s.ok(); });
    if (failed && writer != nullptr && !writer->Alive()) {
      for (absl::Status& s : results) {
        if (s.code() == absl::StatusCode::kInternal) {
          s = absl::UnavailableError(absl::StrCat("lost the database connection: ", s.message()));
        }
      }
      writer.reset();
    } else if (fatal.code() == absl::StatusCode::kUnavailable) {
      writer.reset();
    }

    // Only what a durable commit made ready wakes anyone.
    std::vector<ReadyTask> ready;
    if (writer != nullptr) ready = writer->TakeReady();
    if (fatal.ok() && any_ok && !ready.empty() && options_.on_tasks_ready) {
      options_.on_tasks_ready(ready);
    }
    const int handoffs = writer != nullptr ? writer->TakeHandoffs() : 0;
    if (fatal.ok() && any_ok && handoffs > 0 && options_.on_handoffs) {
      options_.on_handoffs();
    }
    if (options_.on_write_outcome) {
      if (!fatal.ok()) {
        options_.on_write_outcome(fatal);
      } else if (any_ok) {
        options_.on_write_outcome(absl::OkStatus());
      } else {
        for (const absl::Status& s : results) {
          if (s.code() == absl::StatusCode::kInternal ||
              s.code() == absl::StatusCode::kUnavailable) {
            options_.on_write_outcome(s);
            break;
          }
        }
      }
    }

    // Commands that lost a race run again (their writes were rolled back);
    // their callers hear nothing yet.
    std::vector<Pending> again;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (results[i].code() == absl::StatusCode::kAborted && batch[i].attempt < kMaxAttempts) {
        ++batch[i].attempt;
        again.push_back(std::move(batch[i]));
        batch[i].done = nullptr;
      }
    }
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      if (fatal.ok() && any_ok) ++stats_.commits;
      stats_.commands += batch.size() - again.size();
      stats_.retried_commands += again.size();
      stats_.largest_batch = std::max<int64_t>(stats_.largest_batch, batch.size());
      for (size_t i = 0; i < batch.size(); ++i) {
        if (batch[i].done && !results[i].ok()) ++stats_.failed_commands;
      }
    }
    if (!again.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = again.rbegin(); it != again.rend(); ++it) {
        const WriteLane lane = it->lane;
        QueueFor(lane).push_front(std::move(*it));
        WakeFor(lane);
      }
    }
    std::vector<AnswerThread::Answer> answers;
    answers.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].done) answers.push_back({std::move(batch[i].done), std::move(results[i])});
    }
    answers_->Hand(std::move(answers));
  }

  // Reopens a writer's connection after it was lost.
  absl::Status EnsureWriter(std::unique_ptr<WriterConnection>& writer) {
    if (writer != nullptr) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<WriterConnection>> w =
        WriterConnection::Open(options_, backend_);
    if (!w.ok()) return w.status();
    writer = *std::move(w);
    ConfigureWriter(*writer);
    return absl::OkStatus();
  }

  // On PostgreSQL, id blocks are reserved on a pooled connection in a
  // transaction of their own (WriterConnection::set_id_reserver): with
  // several writers, reserving inside a writer's transaction made every
  // other writer that needed a block wait for that whole batch's commit.
  void ConfigureWriter(WriterConnection& writer) {
    if (checkpointer_ != nullptr) {
      const int64_t threshold = std::max(1, options_.sqlite_wal_autocheckpoint_pages);
      writer.set_wal_hook([this, threshold](int frames) {
        if (frames < threshold) return false;
        if (frames < 4 * threshold) {
          checkpointer_->Request();
          return false;
        }
        ++writer_checkpoints_;  // the checkpoints fell behind: the writer's turn
        return true;
      });
    }
    if (backend_ != Backend::kPostgres) return;
    writer.set_id_reserver([this](const std::string& sequence, int64_t n) {
      return Read<int64_t>("reserve ids", [&](soci::session& sql) -> absl::StatusOr<int64_t> {
        const long long count = n;
        const long long initial = 1 + count;  // a new sequence hands out 1..n
        long long next = 0;
        sql << "INSERT INTO id_sequences (name, next_id) VALUES (:name, :initial) "
               "ON CONFLICT (name) DO UPDATE SET next_id = id_sequences.next_id + :n "
               "RETURNING next_id",
            soci::use(sequence), soci::use(initial), soci::use(count), soci::into(next);
        return next - count;
      });
    });
  }

  const StoreOptions options_;
  const Backend backend_;
  const int schema_version_;
  const int max_batch_;
  // writers_[i] is used only by threads_[i].
  std::vector<std::unique_ptr<WriterConnection>> writers_;
  std::unique_ptr<soci::connection_pool> pool_;
  // SQLite: checkpoints beside the writer (null on PostgreSQL); the
  // writers' WAL hooks use it, so it outlives their threads.
  std::unique_ptr<WalCheckpointer> checkpointer_;
  std::atomic<int64_t> writer_checkpoints_{0};
  std::atomic<int> readers_in_use_{0};  // connections leased by Read now

  // Whether the first writer keeps to audited commands (there are others
  // for the rest).
  const bool audited_writer_;
  // Runs the commands' `done` once their batch is over (Finish).
  std::unique_ptr<AnswerThread> answers_ = std::make_unique<AnswerThread>();

  std::mutex mu_;
  std::condition_variable wake_;        // the writers after the first
  std::condition_variable wake_first_;  // the first writer
  std::deque<Pending> queue_;           // guarded by mu_
  std::deque<Pending> audited_;         // guarded by mu_
  std::deque<Pending> bulk_;            // guarded by mu_
  bool stopping_ = false;               // guarded by mu_

  mutable std::mutex stats_mu_;
  WriterStats stats_;  // guarded by stats_mu_

  std::vector<std::thread> threads_;
};

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_STORE_IMPL_H_
