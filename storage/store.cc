#include "storage/store.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "soci/connection-pool.h"
#include "storage/codec.h"
#include "storage/sql.h"
#include "storage/store_internal.h"
#include "storage/writer_connection.h"
#include "workflow/dates.h"
#include "workflow/status_macros.h"

namespace collections::storage {

class Store::Impl {
 public:
  Impl(const StoreOptions& options, Backend backend,
       std::unique_ptr<WriterConnection> writer,
       std::unique_ptr<soci::connection_pool> pool)
      : options_(options),
        backend_(backend),
        schema_version_(writer->schema_version()),
        // Each batched command is a PostgreSQL subtransaction, and a
        // transaction with more than 64 of them overflows every backend's
        // snapshot cache (PGPROC_MAX_CACHED_SUBXIDS), slowing all readers.
        max_batch_(backend == Backend::kPostgres
                       ? std::min(options.max_batch, 64)
                       : options.max_batch),
        writer_(std::move(writer)),
        pool_(std::move(pool)),
        thread_([this] { WriterLoop(); }) {}

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  Backend backend() const { return backend_; }
  int schema_version() const { return schema_version_; }
  absl::Time Now() const { return options_.now(); }

  void Submit(Command command, std::function<void(absl::Status)> done) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopping_) {
        queue_.push_back({std::move(command), std::move(done)});
        wake_.notify_one();
        return;
      }
    }
    done(absl::UnavailableError("the store is shutting down"));
  }

  WriterStats stats() const {
    std::lock_guard<std::mutex> lock(stats_mu_);
    return stats_;
  }

  // Runs `f(session)` on a pooled connection; exceptions become a Status.
  template <typename T, typename F>
  absl::StatusOr<T> Read(const char* what, F&& f) {
    soci::session sql(*pool_);  // leases a connection until return
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
  struct Pending {
    Command command;
    std::function<void(absl::Status)> done;
  };

  void Reconnect(soci::session& sql) {
    try {
      sql.reconnect();
      ConfigureSession(sql, backend_, options_, /*reader=*/true);
    } catch (...) {
      // Still down; the next read tries again.
    }
  }

  void WriterLoop() {
    std::vector<Pending> batch;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [this] { return !queue_.empty() || stopping_; });
        if (queue_.empty()) return;  // stopping, and everything ran
        const size_t n = std::min<size_t>(queue_.size(), max_batch_);
        batch.assign(std::make_move_iterator(queue_.begin()),
                     std::make_move_iterator(queue_.begin() + n));
        queue_.erase(queue_.begin(), queue_.begin() + n);
      }
      RunBatch(batch);
      batch.clear();
    }
  }

  // One transaction for the whole batch, one savepoint per command (none
  // when alone: the transaction is its savepoint). `done` is called once
  // COMMIT has returned, i.e. once the batch is durable.
  void RunBatch(std::vector<Pending>& batch) {
    std::vector<absl::Status> results(batch.size());
    std::vector<bool> ran(batch.size(), false);
    absl::Status fatal = EnsureWriter();
    if (fatal.ok()) fatal = writer_->Begin();
    bool began = fatal.ok();
    const bool savepoints = batch.size() > 1;
    bool any_ok = false;
    for (size_t i = 0; i < batch.size() && fatal.ok(); ++i) {
      if (savepoints) {
        fatal = writer_->Savepoint();
        if (!fatal.ok()) break;
      }
      results[i] = writer_->Run(batch[i].command);
      ran[i] = true;
      if (results[i].ok()) {
        any_ok = true;
        if (savepoints) fatal = writer_->ReleaseSavepoint();
      } else if (savepoints) {
        fatal = writer_->RollbackToSavepoint();
        if (fatal.ok()) fatal = writer_->ReleaseSavepoint();
      }
      if (results[i].code() == absl::StatusCode::kUnavailable) {
        fatal = results[i];  // the connection is gone: so is the batch
      }
    }
    if (fatal.ok() && began) {
      if (any_ok) {
        fatal = writer_->Commit();
      } else {
        writer_->Rollback();  // nothing to keep
      }
    }
    if (!fatal.ok()) {
      if (began) writer_->Rollback();
      // Commands that failed on their own keep their error; the others'
      // writes are lost with the transaction.
      for (size_t i = 0; i < batch.size(); ++i) {
        if (!ran[i] || results[i].ok()) results[i] = fatal;
      }
    }
    // A lost connection surfaces as whatever error the statement in flight
    // got; callers should hear UNAVAILABLE (retry), and the next batch
    // reconnects.
    const bool failed =
        !fatal.ok() ||
        std::any_of(results.begin(), results.end(),
                    [](const absl::Status& s) { return !s.ok(); });
    if (failed && writer_ != nullptr && !writer_->Alive()) {
      for (absl::Status& s : results) {
        if (s.code() == absl::StatusCode::kInternal) {
          s = absl::UnavailableError(
              absl::StrCat("lost the database connection: ", s.message()));
        }
      }
      writer_.reset();
    } else if (fatal.code() == absl::StatusCode::kUnavailable) {
      writer_.reset();
    }

    // Only what a durable commit made ready wakes anyone.
    std::vector<ReadyTask> ready;
    if (writer_ != nullptr) ready = writer_->TakeReady();
    if (fatal.ok() && any_ok && !ready.empty() && options_.on_tasks_ready) {
      options_.on_tasks_ready(ready);
    }
    const int handoffs = writer_ != nullptr ? writer_->TakeHandoffs() : 0;
    if (fatal.ok() && any_ok && handoffs > 0 && options_.on_handoffs) {
      options_.on_handoffs();
    }
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      if (fatal.ok() && any_ok) ++stats_.commits;
      stats_.commands += batch.size();
      stats_.largest_batch =
          std::max<int64_t>(stats_.largest_batch, batch.size());
      for (const absl::Status& s : results) {
        if (!s.ok()) ++stats_.failed_commands;
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].done(std::move(results[i]));
    }
  }

  // Reopens the writer's connection after it was lost.
  absl::Status EnsureWriter() {
    if (writer_ != nullptr) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<WriterConnection>> w =
        WriterConnection::Open(options_, backend_);
    if (!w.ok()) return w.status();
    writer_ = *std::move(w);
    return absl::OkStatus();
  }

  const StoreOptions options_;
  const Backend backend_;
  const int schema_version_;
  const int max_batch_;
  std::unique_ptr<WriterConnection> writer_;  // writer thread only
  std::unique_ptr<soci::connection_pool> pool_;

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_

  mutable std::mutex stats_mu_;
  WriterStats stats_;  // guarded by stats_mu_

  std::thread thread_;  // last: starts once everything above exists
};

// --- Opening
// --------------------------------------------------------------------

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(
    const StoreOptions& options) {
  ASSIGN_OR_RETURN(Backend backend, BackendOf(options.connection));
  if (options.read_pool_size < 1 || options.max_batch < 1) {
    return absl::InvalidArgumentError(
        "read_pool_size and max_batch must be at least 1");
  }
  // The writer first: it creates the SQLite file, turns on WAL and migrates
  // before any reader looks at the schema.
  ASSIGN_OR_RETURN(std::unique_ptr<WriterConnection> writer,
                   WriterConnection::Open(options, backend));
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
  return std::unique_ptr<Store>(new Store(std::make_unique<Impl>(
      options, backend, std::move(writer), std::move(pool))));
}

Backend Store::backend() const { return impl_->backend(); }
int Store::schema_version() const { return impl_->schema_version(); }

// --- Writes
// -----------------------------------------------------------------------

void Store::Submit(Command command, std::function<void(absl::Status)> done) {
  impl_->Submit(std::move(command), std::move(done));
}

absl::Status Store::Write(Command command) {
  std::promise<absl::Status> result;
  std::future<absl::Status> future = result.get_future();
  impl_->Submit(std::move(command),
                [&result](absl::Status s) { result.set_value(std::move(s)); });
  return future.get();
}

WriterStats Store::writer_stats() const { return impl_->stats(); }

// --- Reads
// --------------------------------------------------------------------------

namespace {

template <typename Key>
absl::StatusOr<v1::Case> CaseWhere(soci::session& sql, const char* where,
                                   const std::string& what, const Key& key) {
  std::string body;
  sql << absl::StrCat("SELECT body FROM cases WHERE ", where), soci::use(key),
      soci::into(body);
  if (!sql.got_data())
    return absl::NotFoundError(absl::StrCat(what, " not found"));
  v1::Case c;
  RETURN_IF_ERROR(DecodeMessage(body, &c, "case"));
  return c;
}

}  // namespace

absl::StatusOr<v1::Case> Store::GetCase(int64_t case_id) {
  return impl_->Read<v1::Case>("get case", [&](soci::session& sql) {
    const long long id = case_id;
    return CaseWhere(sql, "case_id = :id", absl::StrCat("case ", case_id), id);
  });
}

absl::StatusOr<v1::Case> Store::GetCaseByLoan(const std::string& loan_id) {
  return impl_->Read<v1::Case>("get case by loan", [&](soci::session& sql) {
    return CaseWhere(sql, "loan_id = :loan",
                     absl::StrCat("case for loan \"", loan_id, "\""), loan_id);
  });
}

absl::StatusOr<std::vector<v1::Case>> Store::ListCases(const CaseFilter& f) {
  return impl_->Read<std::vector<v1::Case>>(
      "list cases",
      [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Case>> {
        // The query names only the filters in use; `ints` holds the bound
        // values in placeholder order (SOCI keeps pointers to them, so the
        // vector is sized before binding).
        std::vector<long long> ints;
        // Placeholders are numbered: SQLite binds a repeated name once.
        auto param = [&](long long value) {
          ints.push_back(value);
          return absl::StrCat(":p", ints.size());
        };
        std::string query = absl::StrCat(
            "SELECT body FROM cases WHERE case_id > ", param(f.after_case_id));
        auto in_list = [&](const char* column, const auto& values) {
          if (values.empty()) return;
          absl::StrAppend(&query, " AND ", column, " IN (");
          for (size_t i = 0; i < values.size(); ++i) {
            absl::StrAppend(&query, i ? ", " : "", param(values[i]));
          }
          absl::StrAppend(&query, ")");
        };
        auto compare = [&](const char* condition, long long value) {
          absl::StrAppend(&query, " AND ", condition, " ", param(value));
        };
        in_list("stage", f.stages);
        in_list("case_class", f.classes);
        // Days past due on `today` = today - oldest_due_day (0 when nothing
        // is overdue, stored as oldest_due_day 0); without `today`, the
        // figure stored with the case's last event.
        if (f.today) {
          const long long today = workflow::DayNumber(*f.today);
          if (f.min_days_past_due > 0) {
            compare("oldest_due_day > 0 AND oldest_due_day <=",
                    today - f.min_days_past_due);
          }
          if (f.max_days_past_due > 0) {
            compare("oldest_due_day >=", today - f.max_days_past_due);
          }
        } else {
          if (f.min_days_past_due > 0)
            compare("days_past_due >=", f.min_days_past_due);
          if (f.max_days_past_due > 0)
            compare("days_past_due <=", f.max_days_past_due);
        }
        if (f.aging_due_through) {
          compare("next_aging_day > 0 AND next_aging_day <=",
                  workflow::DayNumber(*f.aging_due_through));
        }
        if (f.policy_version > 0) compare("policy_version =", f.policy_version);
        if (f.updated_since != absl::InfinitePast()) {
          compare("updated_at_us >=", MicrosOf(f.updated_since));
        }
        if (f.business_date_before) {
          compare("business_day <",
                  workflow::DayNumber(*f.business_date_before));
        }
        const bool by_queue = !f.assigned_queue.empty();
        if (by_queue) absl::StrAppend(&query, " AND assigned_queue = :q");
        absl::StrAppend(&query, " ORDER BY case_id LIMIT :n");
        const long long limit = std::clamp(f.limit, 1, kMaxListRows);

        std::string body;
        soci::details::prepare_temp_type q = (sql.prepare << query);
        for (const long long& v : ints) q, soci::use(v);
        if (by_queue) q, soci::use(f.assigned_queue);
        q, soci::use(limit), soci::into(body);
        soci::statement st(q);
        std::vector<v1::Case> cases;
        st.execute();
        while (st.fetch()) {
          RETURN_IF_ERROR(DecodeMessage(body, &cases.emplace_back(), "case"));
        }
        return cases;
      });
}

absl::StatusOr<std::vector<AgingCursor>> Store::ListAgingDue(
    absl::CivilDay through, AgingCursor after, int limit) {
  return impl_->Read<std::vector<AgingCursor>>(
      "list cases due for aging",
      [&](soci::session& sql) -> absl::StatusOr<std::vector<AgingCursor>> {
        // Day by day: an equality on next_aging_day and a range on case_id
        // seek in cases_aging (next_aging_day, case_id), where a range on
        // both would scan every due entry before the cursor. The literal
        // "next_aging_day > 0" lets the partial index serve the query.
        const long long last = workflow::DayNumber(through);
        const long long n = std::clamp(limit, 1, 1000);
        long long day = after.day, after_id = after.case_id, want = n;
        long long id = 0, next = 0;
        soci::statement in_day =
            (sql.prepare << "SELECT case_id FROM cases WHERE "
                            "next_aging_day > 0 AND next_aging_day = :day "
                            "AND case_id > :after ORDER BY case_id LIMIT :n",
             soci::use(day), soci::use(after_id), soci::use(want),
             soci::into(id));
        soci::statement next_day =
            (sql.prepare << "SELECT COALESCE(MIN(next_aging_day), 0) "
                            "FROM cases WHERE next_aging_day > 0 "
                            "AND next_aging_day > :day",
             soci::use(day), soci::into(next));
        std::vector<AgingCursor> due;
        while (static_cast<long long>(due.size()) < n) {
          if (day > 0) {
            want = n - static_cast<long long>(due.size());
            in_day.execute();
            while (in_day.fetch()) due.push_back({day, id});
            if (static_cast<long long>(due.size()) >= n) break;
          }
          FetchOne(next_day);
          if (next == 0 || next > last) break;
          day = next;
          after_id = 0;
        }
        return due;
      });
}

absl::StatusOr<std::vector<v1::CaseEvent>> Store::ListEventsPage(int64_t case_id,
                                                                 int64_t after_sequence,
                                                                 int64_t through_sequence,
                                                                 int limit, bool newest) {
  return impl_->Read<std::vector<v1::CaseEvent>>(
      "list events",
      [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::CaseEvent>> {
        const long long id = case_id, after = after_sequence,
                        through = through_sequence > 0 ? through_sequence
                                                       : std::numeric_limits<long long>::max();
        const long long n = std::clamp(limit, 1, kMaxListRows);
        std::string body;
        soci::statement st =
            (sql.prepare << absl::StrCat("SELECT body FROM case_events WHERE case_id = :id "
                                         "AND seq > :after AND seq <= :through ORDER BY seq",
                                         newest ? " DESC" : "", " LIMIT :n"),
             soci::use(id), soci::use(after), soci::use(through), soci::use(n),
             soci::into(body));
        std::vector<v1::CaseEvent> events;
        st.execute();
        while (st.fetch()) {
          RETURN_IF_ERROR(DecodeMessage(body, &events.emplace_back(), "event"));
        }
        if (newest) std::reverse(events.begin(), events.end());
        return events;
      });
}

absl::StatusOr<std::vector<v1::Payment>> Store::ListCasePayments(int64_t case_id) {
  return impl_->Read<std::vector<v1::Payment>>(
      "list payments",
      [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Payment>> {
        const long long id = case_id;
        std::string body;
        soci::statement st =
            (sql.prepare << "SELECT body FROM payments WHERE case_id = :id "
                            "ORDER BY recorded_at_us, payment_id",
             soci::use(id), soci::into(body));
        std::vector<v1::Payment> payments;
        st.execute();
        while (st.fetch()) {
          RETURN_IF_ERROR(DecodeMessage(body, &payments.emplace_back(), "payment"));
        }
        return payments;
      });
}

absl::StatusOr<std::vector<v1::Task>> Store::ListTasks(int64_t case_id) {
  return impl_->Read<std::vector<v1::Task>>(
      "list tasks",
      [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Task>> {
        const long long id = case_id;
        TaskRow row;
        soci::details::prepare_temp_type q =
            (sql.prepare << absl::StrCat("SELECT ", kTaskColumns,
                                         " FROM tasks WHERE case_id = :id "
                                         "ORDER BY task_id"));
        q, soci::use(id);
        IntoTaskRow(q, row);
        soci::statement st(q);
        std::vector<v1::Task> tasks;
        st.execute();
        while (st.fetch())
          RETURN_IF_ERROR(TaskFromRow(row, &tasks.emplace_back()));
        return tasks;
      });
}

absl::StatusOr<v1::Task> Store::GetTask(int64_t task_id) {
  return impl_->Read<v1::Task>(
      "get task", [&](soci::session& sql) -> absl::StatusOr<v1::Task> {
        const long long id = task_id;
        TaskRow row;
        soci::details::prepare_temp_type q =
            (sql.prepare << absl::StrCat("SELECT ", kTaskColumns,
                                         " FROM tasks WHERE task_id = :id"));
        q, soci::use(id);
        IntoTaskRow(q, row);
        soci::statement st(q);
        if (!FetchOne(st)) {
          return absl::NotFoundError(
              absl::StrCat("task ", task_id, " not found"));
        }
        v1::Task task;
        RETURN_IF_ERROR(TaskFromRow(row, &task));
        return task;
      });
}

absl::StatusOr<std::vector<v1::Task>> Store::FindTasks(const TaskFilter& f) {
  return impl_->Read<std::vector<v1::Task>>(
      "find tasks",
      [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Task>> {
        // Like ListCases: only the filters in use, values bound in order.
        std::vector<long long> ints;
        std::vector<std::string> texts;
        std::string query = absl::StrCat("SELECT ", kTaskColumns,
                                         " FROM tasks WHERE task_id > :p0");
        ints.push_back(f.after_task_id);
        if (!f.states.empty()) {
          absl::StrAppend(&query, " AND state IN (");
          for (size_t i = 0; i < f.states.size(); ++i) {
            ints.push_back(f.states[i]);
            absl::StrAppend(&query, i ? ", " : "", ":p", ints.size() - 1);
          }
          absl::StrAppend(&query, ")");
        }
        if (f.case_id > 0) {
          ints.push_back(f.case_id);
          absl::StrAppend(&query, " AND case_id = :p", ints.size() - 1);
        }
        if (f.held_only) absl::StrAppend(&query, " AND hold_reason <> ''");
        if (!f.queues.empty()) {
          absl::StrAppend(&query, " AND queue IN (");
          for (size_t i = 0; i < f.queues.size(); ++i) {
            texts.push_back(f.queues[i]);
            absl::StrAppend(&query, i ? ", " : "", ":q", i);
          }
          absl::StrAppend(&query, ")");
        }
        absl::StrAppend(&query, " ORDER BY task_id LIMIT :n");
        const long long limit = std::clamp(f.limit, 1, kMaxListRows);
        TaskRow row;
        soci::details::prepare_temp_type q = (sql.prepare << query);
        for (const long long& v : ints) q, soci::use(v);
        for (const std::string& v : texts) q, soci::use(v);
        q, soci::use(limit);
        IntoTaskRow(q, row);
        soci::statement st(q);
        std::vector<v1::Task> tasks;
        st.execute();
        while (st.fetch())
          RETURN_IF_ERROR(TaskFromRow(row, &tasks.emplace_back()));
        return tasks;
      });
}

absl::StatusOr<std::vector<workflow::TimerSpec>> Store::ListTimers(
    int64_t case_id) {
  return impl_->Read<std::vector<workflow::TimerSpec>>(
      "list timers", [&](soci::session& sql) {
        const long long id = case_id;
        int kind = 0;
        long long ref = 0, due_day = 0;
        soci::statement st =
            (sql.prepare << "SELECT kind, ref, due_day FROM timers "
                            "WHERE case_id = :id ORDER BY kind, ref",
             soci::use(id), soci::into(kind), soci::into(ref),
             soci::into(due_day));
        std::vector<workflow::TimerSpec> timers;
        st.execute();
        while (st.fetch()) {
          workflow::TimerSpec& t = timers.emplace_back();
          t.timer.kind = static_cast<workflow::TimerKind>(kind);
          t.timer.ref = ref;
          t.due = workflow::DayFromNumber(due_day);
        }
        return timers;
      });
}

absl::StatusOr<std::vector<v1::Handoff>> Store::ListHandoffs(
    const std::string& firm_id, int64_t after_sequence, int limit) {
  return impl_->Read<std::vector<v1::Handoff>>(
      "list handoffs",
      [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Handoff>> {
        const long long after = after_sequence;
        const long long n = std::clamp(limit, 1, 1000);
        long long sequence = 0, case_id = 0, created_at_us = 0, acked_at_us = 0;
        std::string firm, reason, body;
        int kind = 0, accepted = 0;
        soci::details::prepare_temp_type q =
            (sql.prepare << absl::StrCat(
                 "SELECT sequence, case_id, firm_id, kind, reason, "
                 "created_at_us, body, acked_at_us, accepted FROM handoffs "
                 "WHERE sequence > :after",
                 firm_id.empty() ? "" : " AND firm_id = :firm",
                 " ORDER BY sequence LIMIT :n"));
        q, soci::use(after);
        if (!firm_id.empty()) q, soci::use(firm_id);
        q, soci::use(n), soci::into(sequence), soci::into(case_id),
            soci::into(firm), soci::into(kind), soci::into(reason),
            soci::into(created_at_us), soci::into(body), soci::into(acked_at_us),
            soci::into(accepted);
        soci::statement st(q);
        std::vector<v1::Handoff> handoffs;
        st.execute();
        while (st.fetch()) {
          v1::Handoff& h = handoffs.emplace_back();
          h.set_sequence(sequence);
          h.set_firm_id(firm);
          h.set_kind(static_cast<v1::HandoffKind>(kind));
          h.set_case_id(case_id);
          ToTimestamp(created_at_us, h.mutable_created_at());
          h.set_reason(reason);
          h.set_acknowledged(acked_at_us != 0);
          h.set_accepted(accepted != 0);
          RETURN_IF_ERROR(
              DecodeMessage(body, h.mutable_case_(), "handoff case"));
        }
        return handoffs;
      });
}

absl::StatusOr<std::vector<v1::Handoff>> Store::ListCaseHandoffs(int64_t case_id) {
  return impl_->Read<std::vector<v1::Handoff>>(
      "list case handoffs", [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Handoff>> {
        const long long id = case_id;
        long long sequence = 0, created_at_us = 0, acked_at_us = 0;
        std::string firm, reason;
        int kind = 0, accepted = 0;
        soci::statement st =
            (sql.prepare << "SELECT sequence, firm_id, kind, reason, created_at_us, "
                            "acked_at_us, accepted FROM handoffs WHERE case_id = :id "
                            "ORDER BY sequence",
             soci::use(id), soci::into(sequence), soci::into(firm), soci::into(kind),
             soci::into(reason), soci::into(created_at_us), soci::into(acked_at_us),
             soci::into(accepted));
        std::vector<v1::Handoff> out;
        st.execute();
        while (st.fetch()) {
          v1::Handoff& h = out.emplace_back();
          h.set_sequence(sequence);
          h.set_case_id(case_id);
          h.set_firm_id(firm);
          h.set_kind(static_cast<v1::HandoffKind>(kind));
          h.set_reason(reason);
          ToTimestamp(created_at_us, h.mutable_created_at());
          h.set_acknowledged(acked_at_us != 0);
          h.set_accepted(accepted != 0);
        }
        return out;
      });
}

absl::StatusOr<v1::Plan> Store::GetPlan(int64_t plan_id) {
  return impl_->Read<v1::Plan>("get plan", [&](soci::session& sql) -> absl::StatusOr<v1::Plan> {
    const long long id = plan_id;
    std::string body;
    sql << "SELECT body FROM plans WHERE plan_id = :id", soci::use(id), soci::into(body);
    if (!sql.got_data()) return absl::NotFoundError(absl::StrCat("plan ", plan_id, " not found"));
    v1::Plan plan;
    RETURN_IF_ERROR(DecodeMessage(body, &plan, "plan"));
    return plan;
  });
}

absl::StatusOr<std::vector<v1::Plan>> Store::ListPlans(int64_t case_id) {
  return impl_->Read<std::vector<v1::Plan>>(
      "list plans", [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Plan>> {
        const long long id = case_id;
        std::string body;
        soci::statement st = (sql.prepare << "SELECT body FROM plans WHERE case_id = :id "
                                             "ORDER BY plan_id",
                              soci::use(id), soci::into(body));
        std::vector<v1::Plan> plans;
        st.execute();
        while (st.fetch()) {
          RETURN_IF_ERROR(DecodeMessage(body, &plans.emplace_back(), "plan"));
        }
        return plans;
      });
}

absl::StatusOr<v1::Policy> Store::GetPolicy(int64_t version) {
  return impl_->Read<v1::Policy>(
      "get policy", [&](soci::session& sql) -> absl::StatusOr<v1::Policy> {
        const long long v = version;
        std::string body;
        sql << "SELECT body FROM policies WHERE version = :v", soci::use(v),
            soci::into(body);
        if (!sql.got_data()) {
          return absl::NotFoundError(
              absl::StrCat("policy version ", version, " not found"));
        }
        v1::Policy policy;
        RETURN_IF_ERROR(DecodeMessage(body, &policy, "policy"));
        return policy;
      });
}

absl::StatusOr<int64_t> Store::CurrentPolicyVersion() {
  return impl_->Read<int64_t>(
      "current policy version", [&](soci::session& sql) {
        long long v = 0;
        sql << "SELECT COALESCE(MAX(version), 0) FROM policies", soci::into(v);
        return static_cast<int64_t>(v);
      });
}

absl::StatusOr<std::vector<int64_t>> Store::ListPolicyVersions() {
  return impl_->Read<std::vector<int64_t>>(
      "list policy versions", [&](soci::session& sql) {
        long long v = 0;
        soci::statement st =
            (sql.prepare << "SELECT version FROM policies ORDER BY version",
             soci::into(v));
        std::vector<int64_t> versions;
        st.execute();
        while (st.fetch()) versions.push_back(v);
        return versions;
      });
}

absl::StatusOr<absl::CivilDay> Store::BusinessDate() {
  return impl_->Read<absl::CivilDay>(
      "business date",
      [&](soci::session& sql) -> absl::StatusOr<absl::CivilDay> {
        long long day = 0;
        sql << "SELECT day FROM business_date WHERE singleton = 1",
            soci::into(day);
        if (!sql.got_data()) {
          return absl::NotFoundError("the business date has not been set");
        }
        return workflow::DayFromNumber(day);
      });
}

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

absl::Status ReadForReport(Store& store,
                           const std::function<absl::Status(soci::session&)>& read) {
  return StoreInternals::Read(store, read);
}

absl::Time StoreNow(const Store& store) { return StoreInternals::Now(store); }

}  // namespace collections::storage
