// The SLA report's open work from counts (report_open_tasks.h).
#include "storage/report_open_tasks.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/report_sql.h"
#include "storage/store_internal.h"

namespace collections::storage {
namespace {

constexpr long long kMicrosPerDay = 86'400'000'000LL;
constexpr char kCountColumns[] = "queue, region, product, policy_version, open_state, deadline_day";

}  // namespace

absl::Status FoldOpenTaskChanges(Store& store) {
  return store.Write([](UnitOfWork& uow) {
    return RunReportStep(uow, [](soci::session& sql, Backend backend) {
      const std::string columns = kCountColumns;
      const std::string upsert = absl::StrCat(
          " ON CONFLICT (", columns, ") DO UPDATE SET tasks = report_open_tasks.tasks + ",
          backend == Backend::kSqlite ? "excluded" : "EXCLUDED", ".tasks");
      if (backend == Backend::kSqlite) {
        // One writer: nothing is appended between the two statements.
        // ("WHERE 1" keeps SQLite from reading ON CONFLICT as a join's.)
        sql << "INSERT INTO report_open_tasks (" << columns << ", tasks) SELECT " << columns
            << ", SUM(tasks) FROM report_open_task_changes WHERE 1 GROUP BY " << columns << upsert;
        sql << "DELETE FROM report_open_task_changes";
      } else {
        // Other writers append meanwhile: only the rows deleted here are
        // added, in one statement; rows committed after it stay. In key
        // order, so that two replicas' runs folding at once (a start-up
        // catch-up beside the leader's run) lock the counts in one order.
        sql << "WITH moved AS (DELETE FROM report_open_task_changes RETURNING " << columns
            << ", tasks) INSERT INTO report_open_tasks (" << columns << ", tasks) SELECT "
            << columns << ", SUM(tasks) FROM moved GROUP BY " << columns << " ORDER BY " << columns
            << upsert;
      }
      sql << "DELETE FROM report_open_tasks WHERE tasks = 0";
    });
  });
}

std::map<std::string, QueueOpenWork> OpenTaskCounts(soci::session& sql, Backend backend,
                                                    const ReportQuery& f, long long now_us) {
  const long long today = now_us / kMicrosPerDay;
  std::map<std::string, QueueOpenWork> work;
  std::vector<std::string> due_today;  // queues with deadlines on now's day
  Sql counts;
  counts << "SELECT queue, " << Sum("CASE WHEN open_state = 1 THEN tasks ELSE 0 END") << ", "
         << Sum("CASE WHEN open_state = 1 AND deadline_day >= 0 AND deadline_day < " +
                absl::StrCat(today) + " THEN tasks ELSE 0 END")
         << ", "
         << Sum("CASE WHEN open_state = 1 AND deadline_day = " + absl::StrCat(today) +
                " THEN tasks ELSE 0 END")
         << ", " << Sum("CASE WHEN open_state = 5 THEN tasks ELSE 0 END") << " FROM (";
  bool first = true;
  for (const char* table : {"report_open_tasks", "report_open_task_changes"}) {
    if (!first) counts << " UNION ALL ";
    first = false;
    counts << "SELECT queue, open_state, deadline_day, tasks FROM " << table << " o WHERE 1 = 1";
    CaseFilters(counts, f, "o");
    QueueFilter(counts, f, "o");
  }
  counts << ") AS open_work GROUP BY queue";
  for (const Sql::Row& r : counts.Rows(sql, 1, 4)) {
    if (r.n[0] == 0 && r.n[3] == 0) continue;
    QueueOpenWork& w = work[r.s[0]];
    w.open = r.n[0];
    w.past_deadline = r.n[1];
    w.incidents = r.n[3];
    if (r.n[2] > 0) due_today.push_back(r.s[0]);
  }
  if (due_today.empty()) return work;

  // Now's day is counted up to now from the tasks: one range of tasks_open
  // (queue, state, deadline_us) per queue and state.
  const bool by_case = !f.product.empty() || !f.region.empty() || f.policy_version > 0;
  Sql today_q;
  today_q << "SELECT t.queue, COUNT(*) FROM tasks t"
          << (backend == Backend::kSqlite ? " INDEXED BY tasks_open" : "")
          << (by_case ? " CROSS JOIN cases c WHERE c.case_id = t.case_id AND" : " WHERE")
          // (The partial index's own term, for SQLite to take it.)
          << " t.state IN (1, 2, 5) AND t.state IN (1, 2) AND t.queue IN (";
  for (size_t i = 0; i < due_today.size(); ++i) {
    if (i > 0) today_q << ", ";
    today_q.Text(due_today[i]);
  }
  today_q << ") AND t.deadline_us >= ";
  today_q.Int(today * kMicrosPerDay);
  today_q << " AND t.deadline_us < ";
  today_q.Int(now_us);
  CaseFilters(today_q, f, "c");
  today_q << " GROUP BY t.queue";
  for (const Sql::Row& r : today_q.Rows(sql, 1, 1)) work[r.s[0]].past_deadline += r.n[0];
  return work;
}

}  // namespace collections::storage
