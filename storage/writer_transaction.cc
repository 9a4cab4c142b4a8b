// WriterConnection::Transaction (writer_transaction.h): cases, events,
// payments, ids, timers, idempotency, policies, handoffs, plans, the
// business date and report steps. The task operations are in
// writer_tasks.cc.
#include "storage/writer_transaction.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "storage/codec.h"
#include "storage/multi_row_insert.h"
#include "storage/prepared_statements.h"
#include "storage/sql_enums.h"
#include "storage/store_internal.h"
#include "workflow/dates.h"
#include "workflow/money.h"

namespace collections::storage {

absl::StatusOr<std::optional<v1::Case>> WriterConnection::Transaction::LoadCase(int64_t case_id) {
  return Guard("load case", [&] {
    s_.key_id = case_id;
    return CaseFrom(s_.load_case);
  });
}

absl::StatusOr<std::optional<v1::Case>> WriterConnection::Transaction::ReadCase(int64_t case_id) {
  return Guard("read case", [&] {
    s_.key_id = case_id;
    return CaseFrom(s_.read_case);
  });
}

absl::StatusOr<std::optional<v1::Case>> WriterConnection::Transaction::LoadCaseByLoan(
    const std::string& loan_id) {
  return Guard("load case by loan", [&] {
    s_.key_text = loan_id;
    return CaseFrom(s_.load_case_by_loan);
  });
}

absl::StatusOr<std::vector<std::optional<v1::Case>>>
WriterConnection::Transaction::LoadCasesByLoans(const std::vector<std::string>& loan_ids) {
  return LoadCasesIn("load cases by loan", "loan_id", loan_ids,
                     [](const v1::Case& c) { return c.loan_id(); });
}

absl::StatusOr<std::vector<std::optional<v1::Case>>> WriterConnection::Transaction::LoadCases(
    const std::vector<int64_t>& case_ids) {
  return LoadCasesIn("load cases", "case_id", case_ids,
                     [](const v1::Case& c) { return static_cast<int64_t>(c.case_id()); });
}

template <typename Key, typename KeyOf>
absl::StatusOr<std::vector<std::optional<v1::Case>>> WriterConnection::Transaction::LoadCasesIn(
    const char* what, const char* column, const std::vector<Key>& keys, KeyOf key_of) {
  constexpr bool kText = std::is_same_v<Key, std::string>;
  return Guard(what, [&]() -> absl::StatusOr<std::vector<std::optional<v1::Case>>> {
    std::vector<std::optional<v1::Case>> found(keys.size());
    if (keys.empty()) return found;
    // The columns too, as stored: Apply compares the transition's with them.
    std::string text =
        absl::StrCat("SELECT body, case_id, version, ", absl::StrJoin(kCaseUpdateColumns, ", "),
                     " FROM cases WHERE ", column);
    auto bind_row = [](soci::statement& st, std::string& body, long long& case_id,
                       StoredCaseRow& stored) {
      st.exchange(soci::into(body));
      st.exchange(soci::into(case_id));
      st.exchange(soci::into(stored.version));
      st.exchange(soci::into(stored.stage));
      st.exchange(soci::into(stored.case_class));
      st.exchange(soci::into(stored.days_past_due));
      st.exchange(soci::into(stored.overdue_total_fen));
      st.exchange(soci::into(stored.principal_fen));
      st.exchange(soci::into(stored.queue));
      st.exchange(soci::into(stored.policy_version));
      st.exchange(soci::into(stored.as_of_day));
      st.exchange(soci::into(stored.business_day));
      st.exchange(soci::into(stored.product));
      st.exchange(soci::into(stored.region));
      st.exchange(soci::into(stored.updated_at_us));
      st.exchange(soci::into(stored.oldest_due_day));
      st.exchange(soci::into(stored.next_aging_day));
    };
    absl::flat_hash_map<Key, v1::Case> by_key;
    auto read_rows = [&](soci::statement& st, const std::string& body, const long long& case_id,
                         const StoredCaseRow& stored) -> absl::Status {
      for (bool row = st.execute(true); row; row = st.fetch()) {
        v1::Case c;
        RETURN_IF_ERROR(DecodeMessage(body, &c, "case"));
        loaded_rows_[case_id] = stored;
        Key key = key_of(c);
        by_key.emplace(std::move(key), std::move(c));
      }
      return absl::OkStatus();
    };
    if (w_.backend() == Backend::kPostgres) {
      // One statement prepared once, the keys bound as one array. Locked
      // in one order on every writer, so that two writers locking
      // overlapping cases take turns instead of deadlocking.
      std::unique_ptr<soci::statement>& st = kText ? s_.load_cases_by_loan : s_.load_cases_by_id;
      if (st == nullptr) {
        auto prepared = std::make_unique<soci::statement>(w_.sql_);
        prepared->exchange(soci::use(s_.keys));
        bind_row(*prepared, s_.loaded_body, s_.loaded_case_id, s_.loaded_row);
        prepared->alloc();
        prepared->prepare(absl::StrCat(text, " = ANY(CAST(:keys AS ", kText ? "text" : "bigint",
                                       "[])) ORDER BY case_id FOR UPDATE"),
                          soci::details::st_repeatable_query);
        prepared->define_and_bind();
        st = std::move(prepared);
      }
      ArrayLiteral array;
      for (const Key& key : keys) array.Add(key);
      s_.keys = array.Take();
      RETURN_IF_ERROR(read_rows(*st, s_.loaded_body, s_.loaded_case_id, s_.loaded_row));
    } else {
      // SQLite: an IN (...) list, unprepared (no round trip to save). Not
      // in case_id order: there an ORDER BY makes the planner walk the
      // whole table in case_id order instead of looking the loans up.
      soci::statement st(w_.sql_);
      text += " IN (";
      for (size_t i = 0; i < keys.size(); ++i) {
        if constexpr (kText) {
          text += i == 0 ? "?" : ", ?";
          st.exchange(soci::use(keys[i]));
        } else {
          absl::StrAppend(&text, i == 0 ? "" : ", ", keys[i]);  // numbers: written in the text
        }
      }
      text += ")";
      std::string body;
      long long case_id = 0;
      StoredCaseRow stored;
      bind_row(st, body, case_id, stored);
      st.alloc();
      st.prepare(text, soci::details::st_one_time_query);
      st.define_and_bind();
      RETURN_IF_ERROR(read_rows(st, body, case_id, stored));
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      auto it = by_key.find(keys[i]);
      if (it != by_key.end()) found[i] = it->second;
    }
    return found;
  });
}

absl::Status WriterConnection::Transaction::OpenCases(
    const std::vector<workflow::Transition>& openings) {
  for (const workflow::Transition& t : openings) {
    const v1::Case& c = t.next;
    if (c.case_id() <= 0 || c.version() != 1 || t.event.case_id() != c.case_id() ||
        t.event.sequence() != 1 || t.event.has_payment() || t.handoff.has_value() ||
        c.promises_size() != 0) {
      return absl::InternalError(absl::StrFormat(
          "OpenCases: the transition of case %d (version %d) does not simply open it", c.case_id(),
          c.version()));
    }
  }
  if (openings.empty()) return absl::OkStatus();
  return Guard("open cases", [&]() -> absl::Status {
    MultiRowInsert cases(absl::StrCat("INSERT INTO cases (", kCaseColumns, ") VALUES"),
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         " ON CONFLICT DO NOTHING");
    MultiRowInsert timers("INSERT INTO timers (case_id, kind, ref, due_day) VALUES",
                          "(?, ?, ?, ?)");
    MultiRowInsert facts = ReportFactWriter::OpeningRows();
    std::vector<ReadyTask> ready;
    for (const workflow::Transition& t : openings) {
      const v1::Case& c = t.next;
      SetCaseRow(c, t.next_aging_day);
      cases << s_.c_case_id << s_.c_loan_id << s_.c_version << s_.c_stage << s_.c_class
            << s_.c_days_past_due << s_.c_overdue_total_fen << s_.c_principal_fen << s_.c_queue
            << s_.c_policy_version << s_.c_as_of_day << s_.c_business_day << s_.c_product
            << s_.c_region << s_.c_updated_at_us << s_.c_oldest_due_day << s_.c_next_aging_day
            << s_.c_body;
      pending_.AddEvent(EventRowOf(t.event));
      if (!t.create_tasks.empty()) {
        long long id = Allocate("task", t.create_tasks.size());
        for (const workflow::TaskSpec& spec : t.create_tasks) {
          pending_.AddTask(TaskRowOf(spec, id++, c.case_id(), MicrosOf(t.event.occurred_at())));
          ready.push_back({spec.queue, spec.type, spec.not_before});
        }
      }
      // A new case has no timers to clear; a timer set twice keeps its
      // last due day, as the one-row upsert would.
      for (size_t i = 0; i < t.set_timers.size(); ++i) {
        const workflow::TimerSpec& timer = t.set_timers[i];
        bool set_again = false;
        for (size_t j = i + 1; j < t.set_timers.size(); ++j) {
          set_again |= t.set_timers[j].timer == timer.timer;
        }
        if (set_again) continue;
        timers << c.case_id() << static_cast<long long>(timer.timer.kind) << timer.timer.ref
               << static_cast<long long>(workflow::DayNumber(timer.due));
      }
      s_.report_facts.AppendOpening(t, facts);
    }
    const long long expected = cases.rows();
    if (cases.Flush(s_.inserts) != expected) {
      // Some of these rows went in: the command must not keep any.
      poisoned_ = absl::AbortedError(
          "a case for one of these loans (or one of their case ids) was opened concurrently");
      return poisoned_;
    }
    pending_.Write(s_.inserts);
    timers.Flush(s_.inserts);
    facts.Flush(s_.inserts);
    for (ReadyTask& r : ready) ready_.push_back(std::move(r));
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> WriterConnection::Transaction::AllocateIds(const std::string& sequence,
                                                                   int64_t n) {
  if (n < 1) {
    return absl::InvalidArgumentError(absl::StrCat("cannot allocate ", n, " ids from ", sequence));
  }
  return Guard("allocate ids", [&]() -> absl::StatusOr<int64_t> { return Allocate(sequence, n); });
}

absl::Status WriterConnection::Transaction::SetNextId(const std::string& sequence,
                                                      int64_t next_id) {
  if (next_id < 1) {
    return absl::InvalidArgumentError(absl::StrCat("next id of ", sequence, " must be positive"));
  }
  return Guard("set next id", [&] {
    w_.id_blocks_.erase(sequence);
    s_.seq_name = sequence;
    s_.seq_initial = next_id;
    s_.set_next_id.execute(true);
    return absl::OkStatus();
  });
}

absl::Status WriterConnection::Transaction::Apply(const workflow::Transition& t,
                                                  int64_t expected_version) {
  const v1::Case& c = t.next;
  if (expected_version < 0 || c.case_id() <= 0 || c.version() != expected_version + 1 ||
      t.event.case_id() != c.case_id() || t.event.sequence() != c.version()) {
    return absl::InternalError(absl::StrFormat(
        "transition of case %d to version %d (event case %d sequence %d) "
        "does not follow version %d",
        c.case_id(), c.version(), t.event.case_id(), t.event.sequence(), expected_version));
  }
  return Guard(
      "apply transition",
      [&]() -> absl::Status {
        SetCaseRow(c, t.next_aging_day);
        if (expected_version == 0) {
          s_.insert_case.execute(true);
          if (s_.insert_case.get_affected_rows() == 0) {
            return absl::AlreadyExistsError(absl::StrFormat(
                "case %d or a case for loan \"%s\" already exists", c.case_id(), c.loan_id()));
          }
        } else {
          s_.c_expected_version = expected_version;
          long long updated = 0;
          auto loaded = loaded_rows_.find(c.case_id());
          if (loaded != loaded_rows_.end() && loaded->second.version == expected_version) {
            // Read in this command: only what changed (aging changes few).
            updated = UpdateCaseColumns(ChangedColumns(loaded->second));
            loaded->second = RowBeingWritten();
          } else {
            s_.update_case.execute(true);
            updated = s_.update_case.get_affected_rows();
          }
          if (updated == 0) {
            return absl::AbortedError(
                absl::StrFormat("case %d changed concurrently (expected version %d)", c.case_id(),
                                expected_version));
          }
        }
        // The case row is written: from here a failure must fail the whole
        // command, whatever it does with the error.
        absl::Status status = ApplyEffects(t);
        if (!status.ok()) poisoned_ = status;
        return status;
      },
      /*write_pending=*/false);
}

absl::StatusOr<std::optional<StoredPayment>> WriterConnection::Transaction::FindPayment(
    const std::string& payment_id) {
  return Guard("find payment", [&]() -> absl::StatusOr<std::optional<StoredPayment>> {
    s_.key_text = payment_id;
    if (!FetchOne(s_.find_payment)) return std::nullopt;
    StoredPayment p;
    p.case_id = s_.out_id;
    RETURN_IF_ERROR(DecodeMessage(s_.out_body, &p.payment, "payment"));
    return p;
  });
}

absl::StatusOr<std::vector<DueTimer>> WriterConnection::Transaction::DueTimers(
    absl::CivilDay through, int limit) {
  return Guard("due timers", [&]() -> absl::StatusOr<std::vector<DueTimer>> {
    std::vector<DueTimer> due;
    s_.tm_due_day = workflow::DayNumber(through);
    s_.tm_limit = std::max(limit, 1);
    s_.due_timers.execute();
    while (s_.due_timers.fetch()) {
      DueTimer t;
      t.case_id = s_.tm_case_id;
      t.timer.timer.kind = static_cast<workflow::TimerKind>(s_.tm_kind);
      t.timer.timer.ref = s_.tm_ref;
      t.timer.due = workflow::DayFromNumber(s_.out_id);
      due.push_back(t);
    }
    return due;
  });
}

absl::Status WriterConnection::Transaction::DeleteTimer(int64_t case_id,
                                                        const workflow::TimerRef& timer) {
  return Guard("delete timer", [&]() -> absl::Status {
    s_.tm_case_id = case_id;
    s_.tm_kind = static_cast<int>(timer.kind);
    s_.tm_ref = timer.ref;
    s_.delete_timer.execute(true);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<StoredResponse>> WriterConnection::Transaction::FindResponse(
    const std::string& scope, const std::string& key) {
  return Guard("find response", [&]() -> absl::StatusOr<std::optional<StoredResponse>> {
    s_.idem_scope = scope;
    s_.idem_key = key;
    if (!FetchOne(s_.find_response)) return std::nullopt;
    StoredResponse stored;
    if (!absl::Base64Unescape(s_.idem_response, &stored.response)) {
      return absl::InternalError(
          absl::StrCat("stored response for ", scope, "/", key, " is corrupt"));
    }
    stored.request_digest = s_.idem_digest;
    return stored;
  });
}

absl::Status WriterConnection::Transaction::SaveResponse(const std::string& scope,
                                                         const std::string& key,
                                                         const std::string& response,
                                                         const std::string& request_digest) {
  return Guard("save response", [&] {
    s_.idem_scope = scope;
    s_.idem_key = key;
    s_.idem_response = absl::Base64Escape(response);
    s_.idem_digest = request_digest;
    s_.idem_now_us = absl::ToUnixMicros(w_.options_.now());
    s_.save_response.execute(true);
    return absl::OkStatus();
  });
}

absl::StatusOr<int> WriterConnection::Transaction::PurgeResponses(absl::Time saved_before,
                                                                  int limit) {
  return Guard("purge responses", [&]() -> absl::StatusOr<int> {
    const long long before_us = absl::ToUnixMicros(saved_before);
    const long long n = limit;
    // The oldest first, through the created_at_us index; a row value IN
    // works on SQLite and PostgreSQL alike.
    soci::statement purge =
        (w_.sql_.prepare << "DELETE FROM idempotency WHERE (scope, key) IN ("
                            "SELECT scope, key FROM idempotency WHERE created_at_us < :before "
                            "ORDER BY created_at_us LIMIT :n)",
         soci::use(before_us), soci::use(n));
    purge.execute(true);
    return static_cast<int>(purge.get_affected_rows());
  });
}

absl::StatusOr<int64_t> WriterConnection::Transaction::PutPolicy(v1::Policy& policy) {
  return Guard("put policy", [&]() -> absl::StatusOr<int64_t> {
    // From a sequence rather than MAX(version) + 1: concurrent replicas
    // then wait on its row instead of colliding on the primary key.
    const long long version = Allocate("policy", 1);
    policy.set_version(version);
    shared_state_changed_ = true;
    const std::string body = EncodeMessage(policy);
    const std::string name = policy.name();
    const long long now = absl::ToUnixMicros(w_.options_.now());
    w_.sql_ << "INSERT INTO policies (version, name, body, created_at_us) "
               "VALUES (:v, :n, :b, :t)",
        soci::use(version), soci::use(name), soci::use(body), soci::use(now);
    return version;
  });
}

absl::StatusOr<std::optional<StoredHandoff>> WriterConnection::Transaction::LoadHandoff(
    int64_t sequence) {
  return Guard("load handoff", [&]() -> absl::StatusOr<std::optional<StoredHandoff>> {
    const long long seq = sequence;
    long long case_id = 0, acked_at_us = 0;
    int kind = 0, accepted = 0;
    std::string firm;
    soci::statement st = (w_.sql_.prepare << "SELECT case_id, firm_id, kind, acked_at_us, accepted "
                                             "FROM handoffs WHERE sequence = :seq",
                          soci::use(seq), soci::into(case_id), soci::into(firm), soci::into(kind),
                          soci::into(acked_at_us), soci::into(accepted));
    if (!FetchOne(st)) return std::nullopt;
    StoredHandoff h;
    h.sequence = sequence;
    h.case_id = case_id;
    h.firm_id = firm;
    h.kind = static_cast<v1::HandoffKind>(kind);
    h.acknowledged = acked_at_us != 0;
    h.accepted = accepted != 0;
    return h;
  });
}

absl::Status WriterConnection::Transaction::AcknowledgeHandoff(int64_t sequence, bool accepted,
                                                               const std::string& reason,
                                                               absl::Time at) {
  return Guard("acknowledge handoff", [&]() -> absl::Status {
    const long long seq = sequence, at_us = std::max<long long>(1, absl::ToUnixMicros(at));
    const int ok = accepted ? 1 : 0;
    w_.sql_ << "UPDATE handoffs SET acked_at_us = :at, accepted = :ok, ack_reason = :reason "
               "WHERE sequence = :seq AND acked_at_us = 0",
        soci::use(at_us), soci::use(ok), soci::use(reason), soci::use(seq);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<v1::Plan>> WriterConnection::Transaction::LoadPlan(int64_t plan_id) {
  return Guard("load plan", [&]() -> absl::StatusOr<std::optional<v1::Plan>> {
    const long long id = plan_id;
    std::string body;
    soci::statement st = (w_.sql_.prepare << "SELECT body FROM plans WHERE plan_id = :id",
                          soci::use(id), soci::into(body));
    if (!FetchOne(st)) return std::nullopt;
    v1::Plan plan;
    RETURN_IF_ERROR(DecodeMessage(body, &plan, "plan"));
    return plan;
  });
}

absl::Status WriterConnection::Transaction::SavePlan(const v1::Plan& plan) {
  return Guard("save plan", [&]() -> absl::Status {
    const long long id = plan.plan_id(), case_id = plan.case_id();
    const int state = plan.state(), kind = plan.kind();
    const long long now = absl::ToUnixMicros(w_.options_.now());
    const std::string body = EncodeMessage(plan);
    w_.sql_ << "INSERT INTO plans (plan_id, case_id, state, kind, proposed_by, "
               "updated_at_us, body) VALUES (:id, :case_id, :state, :kind, "
               ":by, :now, :body) ON CONFLICT (plan_id) DO UPDATE SET "
               "state = excluded.state, updated_at_us = excluded.updated_at_us, "
               "body = excluded.body",
        soci::use(id), soci::use(case_id), soci::use(state), soci::use(kind),
        soci::use(plan.proposed_by()), soci::use(now), soci::use(body);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<v1::Policy>> WriterConnection::Transaction::LoadPolicy(
    int64_t version) {
  return Guard("load policy", [&]() -> absl::StatusOr<std::optional<v1::Policy>> {
    const long long v = version;
    std::string body;
    soci::statement st = (w_.sql_.prepare << "SELECT body FROM policies WHERE version = :v",
                          soci::use(v), soci::into(body));
    if (!FetchOne(st)) return std::nullopt;
    v1::Policy policy;
    RETURN_IF_ERROR(DecodeMessage(body, &policy, "policy"));
    return policy;
  });
}

absl::StatusOr<absl::CivilDay> WriterConnection::Transaction::BusinessDate() {
  return Guard("business date", [&]() -> absl::StatusOr<absl::CivilDay> {
    long long day = 0;
    soci::statement st =
        (w_.sql_.prepare << "SELECT day FROM business_date WHERE singleton = 1", soci::into(day));
    if (!FetchOne(st)) {
      return absl::NotFoundError("the business date has not been set");
    }
    return workflow::DayFromNumber(day);
  });
}

absl::Status WriterConnection::Transaction::SetBusinessDate(absl::CivilDay day) {
  return Guard("set business date", [&] {
    const long long n = workflow::DayNumber(day);
    w_.sql_ << "INSERT INTO business_date (singleton, day) VALUES (1, :d) "
               "ON CONFLICT (singleton) DO UPDATE SET day = excluded.day",
        soci::use(n);
    shared_state_changed_ = true;
    return absl::OkStatus();
  });
}

absl::Status WriterConnection::Transaction::CheckLeaderEpoch(const std::string& role,
                                                             int64_t epoch) {
  if (epoch == 0) return absl::OkStatus();
  return Guard("check the leader's epoch", [&]() -> absl::Status {
    long long stored = 0;
    soci::indicator ind = soci::i_null;
    std::string role_text = role;
    w_.sql_ << (w_.backend_ == Backend::kPostgres
                    ? "SELECT epoch FROM leadership WHERE role = :r FOR SHARE"
                    : "SELECT epoch FROM leadership WHERE role = :r"),
        soci::use(role_text), soci::into(stored, ind);
    if (ind != soci::i_ok || stored != epoch) {
      return absl::FailedPreconditionError(
          absl::StrCat("this replica is no longer the ", role, " leader (its epoch ", epoch,
                       ind == soci::i_ok ? absl::StrCat(", now ", stored) : std::string(), ")"));
    }
    return absl::OkStatus();
  });
}

absl::Status WriterConnection::Transaction::RunReportStep(
    const std::function<void(soci::session&, Backend)>& step) {
  return Guard("report snapshot", [&] {
    step(w_.sql_, w_.backend_);
    return absl::OkStatus();
  });
}

absl::Status StoreInternals::RunStep(UnitOfWork& uow,
                                     const std::function<void(soci::session&, Backend)>& step) {
  // Every UnitOfWork a command is handed is the writer's Transaction.
  auto* transaction = dynamic_cast<WriterConnection::Transaction*>(&uow);
  if (transaction == nullptr) {
    return absl::InternalError("report steps run only on the store's writer");
  }
  return transaction->RunReportStep(step);
}

absl::Status RunReportStep(UnitOfWork& uow,
                           const std::function<void(soci::session&, Backend)>& step) {
  return StoreInternals::RunStep(uow, step);
}

absl::StatusOr<std::optional<v1::Case>> WriterConnection::Transaction::CaseFrom(
    soci::statement& st) {
  if (!FetchOne(st)) return std::nullopt;
  v1::Case c;
  RETURN_IF_ERROR(DecodeMessage(s_.out_body, &c, "case"));
  return c;
}

long long WriterConnection::Transaction::Allocate(const std::string& sequence, int64_t n) {
  constexpr int64_t kIdBlock = 256;
  if (sequence != "case" && sequence != "task") return Reserve(sequence, n);
  WriterConnection::IdBlock& block = w_.id_blocks_[sequence];
  if (block.end - block.next < n) {
    const int64_t reserve = std::max(n, kIdBlock);
    int64_t first = 0;
    if (w_.id_reserver_) {
      absl::StatusOr<int64_t> reserved = w_.id_reserver_(sequence, reserve);
      if (!reserved.ok()) throw std::runtime_error(std::string(reserved.status().message()));
      first = *reserved;
    } else {
      first = Reserve(sequence, reserve);
    }
    block.next = first;
    block.end = first + reserve;
  }
  const long long first = block.next;
  block.next += n;
  return first;
}

long long WriterConnection::Transaction::Reserve(const std::string& sequence, int64_t n) {
  s_.seq_name = sequence;
  s_.seq_n = n;
  s_.seq_initial = 1 + n;  // a new sequence hands out 1..n
  FetchOne(s_.allocate_ids);
  return s_.seq_next - n;
}

void WriterConnection::Transaction::SetCaseRow(
    const v1::Case& c, const std::optional<absl::CivilDay>& next_aging_day) {
  s_.c_case_id = c.case_id();
  s_.c_loan_id = c.loan_id();
  s_.c_version = c.version();
  s_.c_stage = c.stage();
  s_.c_class = c.classification().case_class();
  s_.c_days_past_due = c.days_past_due();
  s_.c_overdue_total_fen = workflow::OverdueTotal(c.overdue());
  s_.c_principal_fen = c.principal_outstanding_fen();
  s_.c_queue = c.assigned_queue();
  s_.c_policy_version = c.policy_version();
  s_.c_as_of_day = DayColumn(c.as_of());
  s_.c_business_day = DayColumn(c.business_date());
  s_.c_product = c.product();
  s_.c_region = c.borrower().region();
  s_.c_updated_at_us = MicrosOf(c.updated_at());
  s_.c_oldest_due_day =
      workflow::OverdueTotal(c.overdue()) > 0 ? DayColumn(c.oldest_unpaid_due_date()) : 0;
  s_.c_next_aging_day = next_aging_day ? workflow::DayNumber(*next_aging_day) : 0;
  s_.c_body = EncodeMessage(c);
}

StoredCaseRow WriterConnection::Transaction::RowBeingWritten() const {
  return {s_.c_version,           s_.c_stage,          s_.c_class,         s_.c_days_past_due,
          s_.c_overdue_total_fen, s_.c_principal_fen,  s_.c_queue,         s_.c_policy_version,
          s_.c_as_of_day,         s_.c_business_day,   s_.c_product,       s_.c_region,
          s_.c_updated_at_us,     s_.c_oldest_due_day, s_.c_next_aging_day};
}

uint32_t WriterConnection::Transaction::ChangedColumns(const StoredCaseRow& was) const {
  // In kCaseUpdateColumns' order.
  const bool changed[] = {was.stage != s_.c_stage,
                          was.case_class != s_.c_class,
                          was.days_past_due != s_.c_days_past_due,
                          was.overdue_total_fen != s_.c_overdue_total_fen,
                          was.principal_fen != s_.c_principal_fen,
                          was.queue != s_.c_queue,
                          was.policy_version != s_.c_policy_version,
                          was.as_of_day != s_.c_as_of_day,
                          was.business_day != s_.c_business_day,
                          was.product != s_.c_product,
                          was.region != s_.c_region,
                          was.updated_at_us != s_.c_updated_at_us,
                          was.oldest_due_day != s_.c_oldest_due_day,
                          was.next_aging_day != s_.c_next_aging_day};
  static_assert(std::size(changed) == std::size(kCaseUpdateColumns));
  uint32_t mask = 0;
  for (size_t i = 0; i < std::size(changed); ++i) {
    if (changed[i]) mask |= 1u << i;
  }
  return mask;
}

long long WriterConnection::Transaction::UpdateCaseColumns(uint32_t changed) {
  std::unique_ptr<soci::statement>& st = s_.update_case_columns[changed];
  if (st == nullptr) {
    auto prepared = std::make_unique<soci::statement>(w_.sql_);
    std::string text = "UPDATE cases SET version = :version";
    prepared->exchange(soci::use(s_.c_version));
    for (size_t i = 0; i < std::size(kCaseUpdateColumns); ++i) {
      if ((changed & (1u << i)) == 0) continue;
      absl::StrAppend(&text, ", ", kCaseUpdateColumns[i], " = :", kCaseUpdateColumns[i]);
      switch (i) {  // kCaseUpdateColumns[i]'s value
        case 0:
          prepared->exchange(soci::use(s_.c_stage));
          break;
        case 1:
          prepared->exchange(soci::use(s_.c_class));
          break;
        case 2:
          prepared->exchange(soci::use(s_.c_days_past_due));
          break;
        case 3:
          prepared->exchange(soci::use(s_.c_overdue_total_fen));
          break;
        case 4:
          prepared->exchange(soci::use(s_.c_principal_fen));
          break;
        case 5:
          prepared->exchange(soci::use(s_.c_queue));
          break;
        case 6:
          prepared->exchange(soci::use(s_.c_policy_version));
          break;
        case 7:
          prepared->exchange(soci::use(s_.c_as_of_day));
          break;
        case 8:
          prepared->exchange(soci::use(s_.c_business_day));
          break;
        case 9:
          prepared->exchange(soci::use(s_.c_product));
          break;
        case 10:
          prepared->exchange(soci::use(s_.c_region));
          break;
        case 11:
          prepared->exchange(soci::use(s_.c_updated_at_us));
          break;
        case 12:
          prepared->exchange(soci::use(s_.c_oldest_due_day));
          break;
        case 13:
          prepared->exchange(soci::use(s_.c_next_aging_day));
          break;
      }
    }
    text += ", body = :body WHERE case_id = :case_id AND version = :expected";
    prepared->exchange(soci::use(s_.c_body));
    prepared->exchange(soci::use(s_.c_case_id));
    prepared->exchange(soci::use(s_.c_expected_version));
    prepared->alloc();
    prepared->prepare(WriterSql(text, w_.backend_));
    prepared->define_and_bind();
    st = std::move(prepared);
  }
  st->execute(true);
  return st->get_affected_rows();
}

EventRow WriterConnection::Transaction::EventRowOf(const v1::CaseEvent& event) {
  return {event.case_id(),
          event.sequence(),
          workflow::EventKindName(event),
          event.actor(),
          MicrosOf(event.occurred_at()),
          DayColumn(event.business_date()),
          event.policy_version(),
          EncodeMessage(event)};
}

NewTaskRow WriterConnection::Transaction::TaskRowOf(const workflow::TaskSpec& spec,
                                                    long long task_id, long long case_id,
                                                    long long created_at_us) {
  return {task_id,
          case_id,
          static_cast<int>(spec.type),
          spec.queue,
          spec.priority,
          MicrosOf(spec.not_before),
          MicrosOf(spec.deadline),
          spec.cost_fen,
          EncodeMessage(spec.payload),
          created_at_us};
}

void WriterConnection::Transaction::WriteEvent(EventRow row) {
  if (w_.backend_ == Backend::kPostgres) {
    pending_.AddEvent(std::move(row));
  } else {
    s_.e = std::move(row);
    s_.insert_event.execute(true);
  }
}

void WriterConnection::Transaction::WriteTask(NewTaskRow row) {
  if (w_.backend_ == Backend::kPostgres) {
    pending_.AddTask(std::move(row));
  } else {
    s_.t_new = std::move(row);
    s_.insert_task.execute(true);
  }
}

absl::Status WriterConnection::Transaction::ApplyEffects(const workflow::Transition& t) {
  const v1::Case& c = t.next;
  const v1::CaseEvent& event = t.event;
  const long long case_id = c.case_id();
  const long long occurred_us = MicrosOf(event.occurred_at());

  WriteEvent(EventRowOf(event));

  if (event.has_payment()) {
    const v1::Payment& p = event.payment();
    s_.p_payment_id = p.payment_id();
    s_.p_case_id = case_id;
    s_.p_amount_fen = p.amount_fen();
    s_.p_paid_day = DayColumn(p.paid_on());
    s_.p_recorded_at_us = occurred_us;
    s_.p_body = EncodeMessage(p);
    s_.insert_payment.execute(true);
    if (s_.insert_payment.get_affected_rows() == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat("payment \"", p.payment_id(), "\" was already recorded"));
    }
  }

  if (t.cancel_open_tasks) {
    // Including the tasks an earlier transition of this command gave the
    // case: written first.
    if (pending_.HasTasksOf(case_id)) pending_.Write(s_.inserts);
    if (w_.backend_ == Backend::kPostgres) {
      // With the other pending rows: an aging batch's cancellations in
      // one statement instead of a round trip per case.
      pending_.AddCancel(case_id, occurred_us);
    } else {
      s_.key_id = case_id;
      s_.t_now_us = occurred_us;
      s_.cancel_tasks.execute(true);
    }
  }
  if (!t.create_tasks.empty()) {
    long long id = Allocate("task", t.create_tasks.size());
    for (const workflow::TaskSpec& spec : t.create_tasks) {
      WriteTask(TaskRowOf(spec, id++, case_id, occurred_us));
      ready_.push_back({spec.queue, spec.type, spec.not_before});
    }
  }

  s_.tm_case_id = case_id;
  if (t.clear_all_timers) s_.delete_all_timers.execute(true);
  for (const workflow::TimerRef& ref : t.clear_timers) {
    s_.tm_kind = static_cast<int>(ref.kind);
    s_.tm_ref = ref.ref;
    s_.delete_timer.execute(true);
  }
  for (const workflow::TimerSpec& timer : t.set_timers) {
    s_.tm_kind = static_cast<int>(timer.timer.kind);
    s_.tm_ref = timer.timer.ref;
    s_.tm_due_day = workflow::DayNumber(timer.due);
    s_.upsert_timer.execute(true);
  }

  if (t.handoff.has_value()) {
    s_.h_sequence = Allocate("handoff", 1);
    s_.h_case_id = case_id;
    s_.h_firm_id = t.handoff->firm_id;
    s_.h_kind = t.handoff->kind;
    s_.h_reason = t.handoff->reason;
    s_.h_created_at_us = occurred_us;
    s_.h_body = s_.c_body;  // the case as handed off
    s_.insert_handoff.execute(true);
    ++handoffs_;
  }
  s_.report_facts.Append(t);
  s_.experiment_facts.Append(t, s_.c_oldest_due_day);
  return absl::OkStatus();
}

}  // namespace collections::storage
