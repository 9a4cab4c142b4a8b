// Store's reads: each runs on a pooled reader connection (Store::Impl::Read)
// and sees committed data only.
#include <algorithm>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "soci/soci.h"
#include "storage/codec.h"
#include "storage/sql.h"
#include "storage/sql_enums.h"
#include "storage/store.h"
#include "storage/store_impl.h"
#include "workflow/dates.h"

namespace collections::storage {

// --- Reads
// --------------------------------------------------------------------------

namespace {

template <typename Key>
absl::StatusOr<v1::Case> CaseWhere(soci::session& sql, const char* where, const std::string& what,
                                   const Key& key) {
  std::string body;
  sql << absl::StrCat("SELECT body FROM cases WHERE ", where), soci::use(key), soci::into(body);
  if (!sql.got_data()) return absl::NotFoundError(absl::StrCat(what, " not found"));
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
    return CaseWhere(sql, "loan_id = :loan", absl::StrCat("case for loan \"", loan_id, "\""),
                     loan_id);
  });
}

absl::StatusOr<std::vector<v1::Case>> Store::ListCases(const CaseFilter& f) {
  return impl_->Read<std::vector<v1::Case>>(
      "list cases", [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Case>> {
        // The query names only the filters in use; `ints` holds the bound
        // values in placeholder order (SOCI keeps pointers to them, so the
        // vector is sized before binding).
        std::vector<long long> ints;
        // Placeholders are numbered: SQLite binds a repeated name once.
        auto param = [&](long long value) {
          ints.push_back(value);
          return absl::StrCat(":p", ints.size());
        };
        std::string query =
            absl::StrCat("SELECT body FROM cases WHERE case_id > ", param(f.after_case_id));
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
            compare("oldest_due_day > 0 AND oldest_due_day <=", today - f.min_days_past_due);
          }
          if (f.max_days_past_due > 0) {
            compare("oldest_due_day >=", today - f.max_days_past_due);
          }
        } else {
          if (f.min_days_past_due > 0) compare("days_past_due >=", f.min_days_past_due);
          if (f.max_days_past_due > 0) compare("days_past_due <=", f.max_days_past_due);
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
          compare("business_day <", workflow::DayNumber(*f.business_date_before));
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

absl::StatusOr<std::vector<AgingCursor>> Store::ListAgingDue(absl::CivilDay through,
                                                             AgingCursor after, int limit) {
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
             soci::use(day), soci::use(after_id), soci::use(want), soci::into(id));
        soci::statement next_day = (sql.prepare << "SELECT COALESCE(MIN(next_aging_day), 0) "
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
      "list events", [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::CaseEvent>> {
        const long long id = case_id, after = after_sequence,
                        through = through_sequence > 0 ? through_sequence
                                                       : std::numeric_limits<long long>::max();
        const long long n = std::clamp(limit, 1, kMaxListRows);
        std::string body;
        soci::statement st =
            (sql.prepare << absl::StrCat("SELECT body FROM case_events WHERE case_id = :id "
                                         "AND seq > :after AND seq <= :through ORDER BY seq",
                                         newest ? " DESC" : "", " LIMIT :n"),
             soci::use(id), soci::use(after), soci::use(through), soci::use(n), soci::into(body));
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
      "list payments", [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Payment>> {
        const long long id = case_id;
        std::string body;
        soci::statement st = (sql.prepare << "SELECT body FROM payments WHERE case_id = :id "
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
      "list tasks", [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Task>> {
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
        while (st.fetch()) RETURN_IF_ERROR(TaskFromRow(row, &tasks.emplace_back()));
        return tasks;
      });
}

absl::StatusOr<v1::Task> Store::GetTask(int64_t task_id) {
  return impl_->Read<v1::Task>("get task", [&](soci::session& sql) -> absl::StatusOr<v1::Task> {
    const long long id = task_id;
    TaskRow row;
    soci::details::prepare_temp_type q =
        (sql.prepare << absl::StrCat("SELECT ", kTaskColumns, " FROM tasks WHERE task_id = :id"));
    q, soci::use(id);
    IntoTaskRow(q, row);
    soci::statement st(q);
    if (!FetchOne(st)) {
      return absl::NotFoundError(absl::StrCat("task ", task_id, " not found"));
    }
    v1::Task task;
    RETURN_IF_ERROR(TaskFromRow(row, &task));
    return task;
  });
}

absl::StatusOr<std::vector<v1::Task>> Store::FindTasks(const TaskFilter& f) {
  return impl_->Read<std::vector<v1::Task>>(
      "find tasks", [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Task>> {
        // Like ListCases: only the filters in use, values bound in order.
        std::vector<long long> ints;
        std::vector<std::string> texts;
        std::string query =
            absl::StrCat("SELECT ", kTaskColumns, " FROM tasks WHERE task_id > :p0");
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
        while (st.fetch()) RETURN_IF_ERROR(TaskFromRow(row, &tasks.emplace_back()));
        return tasks;
      });
}

absl::StatusOr<std::vector<workflow::TimerSpec>> Store::ListTimers(int64_t case_id) {
  return impl_->Read<std::vector<workflow::TimerSpec>>("list timers", [&](soci::session& sql) {
    const long long id = case_id;
    int kind = 0;
    long long ref = 0, due_day = 0;
    soci::statement st = (sql.prepare << "SELECT kind, ref, due_day FROM timers "
                                         "WHERE case_id = :id ORDER BY kind, ref",
                          soci::use(id), soci::into(kind), soci::into(ref), soci::into(due_day));
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

absl::StatusOr<std::vector<v1::Handoff>> Store::ListHandoffs(const std::string& firm_id,
                                                             int64_t after_sequence, int limit) {
  return impl_->Read<std::vector<v1::Handoff>>(
      "list handoffs", [&](soci::session& sql) -> absl::StatusOr<std::vector<v1::Handoff>> {
        const long long after = after_sequence;
        const long long n = std::clamp(limit, 1, 1000);
        long long sequence = 0, case_id = 0, created_at_us = 0, acked_at_us = 0;
        std::string firm, reason, body;
        int kind = 0, accepted = 0;
        soci::details::prepare_temp_type q =
            (sql.prepare << absl::StrCat("SELECT sequence, case_id, firm_id, kind, reason, "
                                         "created_at_us, body, acked_at_us, accepted FROM handoffs "
                                         "WHERE sequence > :after",
                                         firm_id.empty() ? "" : " AND firm_id = :firm",
                                         " ORDER BY sequence LIMIT :n"));
        q, soci::use(after);
        if (!firm_id.empty()) q, soci::use(firm_id);
        q, soci::use(n), soci::into(sequence), soci::into(case_id), soci::into(firm),
            soci::into(kind), soci::into(reason), soci::into(created_at_us), soci::into(body),
            soci::into(acked_at_us), soci::into(accepted);
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
          RETURN_IF_ERROR(DecodeMessage(body, h.mutable_case_(), "handoff case"));
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
        sql << "SELECT body FROM policies WHERE version = :v", soci::use(v), soci::into(body);
        if (!sql.got_data()) {
          return absl::NotFoundError(absl::StrCat("policy version ", version, " not found"));
        }
        v1::Policy policy;
        RETURN_IF_ERROR(DecodeMessage(body, &policy, "policy"));
        return policy;
      });
}

absl::StatusOr<int64_t> Store::CurrentPolicyVersion() {
  return impl_->Read<int64_t>("current policy version", [&](soci::session& sql) {
    long long v = 0;
    sql << "SELECT COALESCE(MAX(version), 0) FROM policies", soci::into(v);
    return static_cast<int64_t>(v);
  });
}

absl::StatusOr<std::vector<int64_t>> Store::ListPolicyVersions() {
  return impl_->Read<std::vector<int64_t>>("list policy versions", [&](soci::session& sql) {
    long long v = 0;
    soci::statement st =
        (sql.prepare << "SELECT version FROM policies ORDER BY version", soci::into(v));
    std::vector<int64_t> versions;
    st.execute();
    while (st.fetch()) versions.push_back(v);
    return versions;
  });
}

absl::StatusOr<absl::CivilDay> Store::BusinessDate() {
  return impl_->Read<absl::CivilDay>(
      "business date", [&](soci::session& sql) -> absl::StatusOr<absl::CivilDay> {
        long long day = 0;
        sql << "SELECT day FROM business_date WHERE singleton = 1", soci::into(day);
        if (!sql.got_data()) {
          return absl::NotFoundError("the business date has not been set");
        }
        return workflow::DayFromNumber(day);
      });
}

absl::StatusOr<OpenWork> Store::CountOpenWork(absl::Time now, int hold_prefix_length) {
  return impl_->Read<OpenWork>(
      "count open work", [&](soci::session& sql) -> absl::StatusOr<OpenWork> {
        // One statement, three groupings (kind 1: READY tasks, 2: LEASED
        // tasks, 3: handoffs per firm), each branch on its own index or
        // table; figures that do not apply are 0. A MIN over no row is
        // NULL, read as 0: no task or handoff is stamped at the epoch.
        const std::string hold =
            absl::StrCat("SUBSTR(hold_reason, 1, ", std::clamp(hold_prefix_length, 1, 256), ")");
        const std::string query = absl::StrCat(
            "SELECT 1, queue, ", hold,
            ", CAST(COUNT(*) AS BIGINT), "
            "CAST(SUM(CASE WHEN not_before_us > :now1 THEN 1 ELSE 0 END) AS BIGINT), "
            "CAST(COALESCE(MIN(CASE WHEN not_before_us <= :now2 THEN (CASE WHEN not_before_us > "
            "created_at_us THEN not_before_us ELSE created_at_us END) END), 0) AS BIGINT), "
            "CAST(0 AS BIGINT) FROM tasks WHERE state = ",
            kSqlTaskReady, " GROUP BY queue, ", hold,
            " UNION ALL SELECT 2, queue, '', CAST(COUNT(*) AS BIGINT), CAST(0 AS BIGINT), "
            "CAST(0 AS BIGINT), CAST(0 AS BIGINT) FROM tasks WHERE state = ",
            kSqlTaskLeased,
            " GROUP BY queue"
            " UNION ALL SELECT 3, firm_id, '', "
            "CAST(SUM(CASE WHEN acked_at_us = 0 THEN 1 ELSE 0 END) AS BIGINT), "
            "CAST(MAX(sequence) AS BIGINT), "
            "CAST(COALESCE(MIN(CASE WHEN acked_at_us = 0 THEN created_at_us END), 0) AS BIGINT), "
            "CAST(MAX(CASE WHEN acked_at_us <> 0 THEN sequence ELSE 0 END) AS BIGINT) "
            "FROM handoffs GROUP BY firm_id");
        const long long now_us = MicrosOf(now);
        int kind = 0;
        std::string name, detail;
        long long n1 = 0, n2 = 0, n3 = 0, n4 = 0;
        soci::statement st =
            (sql.prepare << query, soci::use(now_us, "now1"), soci::use(now_us, "now2"),
             soci::into(kind), soci::into(name), soci::into(detail), soci::into(n1), soci::into(n2),
             soci::into(n3), soci::into(n4));
        OpenWork work;
        st.execute();
        while (st.fetch()) {
          if (kind == 3) {
            FirmHandoffCounts& firm = work.handoffs.emplace_back();
            firm.firm_id = name;
            firm.unacknowledged = n1;
            firm.newest_sequence = n2;
            if (n3 != 0) firm.oldest_unacknowledged = absl::FromUnixMicros(n3);
            firm.newest_acknowledged_sequence = n4;
            continue;
          }
          OpenTaskGroup& group = work.tasks.emplace_back();
          group.queue = name;
          group.leased = kind == 2;
          group.hold_prefix = detail;
          group.tasks = n1;
          group.not_yet_due = n2;
          if (n3 != 0) group.oldest_due = absl::FromUnixMicros(n3);
        }
        auto task_order = [](const OpenTaskGroup& a, const OpenTaskGroup& b) {
          return std::tie(a.queue, a.leased, a.hold_prefix) <
                 std::tie(b.queue, b.leased, b.hold_prefix);
        };
        std::sort(work.tasks.begin(), work.tasks.end(), task_order);
        std::sort(work.handoffs.begin(), work.handoffs.end(),
                  [](const FirmHandoffCounts& a, const FirmHandoffCounts& b) {
                    return a.firm_id < b.firm_id;
                  });
        return work;
      });
}

}  // namespace collections::storage
