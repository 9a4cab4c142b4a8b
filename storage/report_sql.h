// The SQL helpers of the report queries and snapshots (reports.cc,
// report_activity.cc, report_snapshots.cc): query text with positional
// binds (Sql), a report read on a pooled connection (ReadReport), the
// filters every report applies, the trend's steps, days-past-due buckets and
// snapshot keys. Internal to storage/. The SQL helpers throw soci_error;
// ReadReport turns that into a Status.
//
// Thread-safety: an Sql is used by one thread; the functions are pure or
// run on the connection they are given.
#ifndef COLLECTIONS_STORAGE_REPORT_SQL_H_
#define COLLECTIONS_STORAGE_REPORT_SQL_H_

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "soci/soci.h"
#include "storage/reports.h"
#include "storage/sql.h"
#include "storage/store.h"
#include "storage/store_internal.h"
#include "workflow/dates.h"

namespace collections::storage {

// The book's intervals (report_book, migration 13): book_key is case_id *
// kBookKeyShift + valid_from_day; valid_to_day is kOpenEnded while the
// figures are the case's current ones.
constexpr long long kBookKeyShift = 1LL << 20;
constexpr long long kOpenEnded = 1000000000;

// Stage numbers the SQL below spells out (collections.v1.Stage), and
// PromiseState's KEPT and BROKEN.
static_assert(v1::STAGE_RESOLVED == 5 && v1::STAGE_CLOSED == 6);
static_assert(v1::PROMISE_STATE_KEPT == 2 && v1::PROMISE_STATE_BROKEN == 3);
constexpr char kOpenStages[] = "(1, 2, 3, 4)";

// Roll-rate destinations beyond the buckets.
constexpr int kResolved = 6;
constexpr int kClosed = 7;

// Text and numbered placeholders of one query, and the values they bind, in
// order (SOCI binds by position). Values live in deques: SOCI keeps
// pointers to them.
class Sql {
 public:
  Sql& operator<<(absl::string_view text) {
    absl::StrAppend(&text_, text);
    return *this;
  }
  Sql& Int(long long value) {
    ints_.push_back(value);
    order_.push_back({false, ints_.size() - 1});
    return Placeholder();
  }
  Sql& Text(const std::string& value) {
    texts_.push_back(value);
    order_.push_back({true, texts_.size() - 1});
    return Placeholder();
  }

  // The rows of the query; every column must be NOT NULL (use COALESCE).
  // Columns: first `texts` TEXT ones, then the rest, read as integers.
  struct Row {
    std::vector<std::string> s;
    std::vector<long long> n;
  };
  // Runs a statement that returns no rows.
  void Run(soci::session& sql) {
    soci::details::prepare_temp_type q = (sql.prepare << TextFor(sql));
    Bind(q);
    soci::statement st(q);
    st.execute(true);
  }

  std::vector<Row> Rows(soci::session& sql, int texts, int ints) {
    std::vector<Row> rows;
    ForEachRow(sql, texts, ints, [&](const Row& row) { rows.push_back(row); });
    return rows;
  }

  // The same, one row at a time into `f` (the same Row object each time):
  // for the queries whose rows are joined here rather than kept.
  template <typename F>
  void ForEachRow(soci::session& sql, int texts, int ints, F&& f) {
    Row row;
    row.s.resize(texts);
    row.n.resize(ints);
    soci::details::prepare_temp_type q = (sql.prepare << TextFor(sql));
    Bind(q);
    for (std::string& s : row.s) q, soci::into(s);
    for (long long& n : row.n) q, soci::into(n);
    soci::statement st(q);
    st.execute();
    while (st.fetch()) f(static_cast<const Row&>(row));
  }

 private:
  void Bind(soci::details::prepare_temp_type& q) {
    for (const auto& [is_text, i] : order_) {
      if (is_text) {
        q, soci::use(texts_[i]);
      } else {
        q, soci::use(ints_[i]);
      }
    }
  }
  Sql& Placeholder() {
    absl::StrAppend(&text_, ":p", order_.size());
    return *this;
  }
  // The text as the session's backend takes it. SOCI hands PostgreSQL
  // ":p0".. as $1..; SQLite gets anonymous "?"s (bound in the same order),
  // since it looks every named parameter up by name in a list: the square
  // of their number, which for the day's run's inserts of 500 intervals
  // (1,500 bound texts) was most of their cost.
  std::string TextFor(soci::session& sql) const {
    if (order_.empty() || sql.get_backend_name() != "sqlite3") return text_;
    std::string out;
    out.reserve(text_.size());
    for (size_t i = 0; i < text_.size(); ++i) {
      if (text_.compare(i, 2, ":p") == 0 && i + 2 < text_.size() &&
          absl::ascii_isdigit(text_[i + 2])) {
        out += '?';
        i += 2;
        while (i + 1 < text_.size() && absl::ascii_isdigit(text_[i + 1])) ++i;
      } else {
        out += text_[i];
      }
    }
    return out;
  }
  std::string text_;
  std::deque<long long> ints_;
  std::deque<std::string> texts_;
  std::vector<std::pair<bool, size_t>> order_;
};

// The book on day `day`: the interval of alias `a` holds on that day.
inline void BookOn(Sql& q, absl::string_view a, absl::CivilDay day) {
  q << " " << a << ".valid_from_day <= ";
  q.Int(workflow::DayNumber(day));
  q << " AND " << a << ".valid_to_day >= ";
  q.Int(workflow::DayNumber(day));
}

// The interval of alias `a` that holds on `day` for the case whose id is
// the SQL expression `case_id` (one key range).
inline void BookRowOf(Sql& q, absl::string_view a, absl::string_view case_id, absl::CivilDay day) {
  q << " " << a << ".book_key > " << case_id << " * " << absl::StrCat(kBookKeyShift) << " AND " << a
    << ".book_key <= " << case_id << " * " << absl::StrCat(kBookKeyShift) << " + ";
  q.Int(workflow::DayNumber(day));
  q << " AND " << a << ".valid_to_day >= ";
  q.Int(workflow::DayNumber(day));
}

// `column` kept out of SQLite's choice of index ("+column": SQLite would
// read a partial index of every current interval rather than the few
// marked cases' key ranges). PostgreSQL gets the column itself: "+column"
// is an expression without statistics there, estimated at 0.5 % of the
// book, and the plan joined each marked case with a pass over all of it
// (minutes on 1,000,000 cases).
inline std::string NotIndexed(const Store& store, absl::string_view column) {
  return absl::StrCat(store.backend() == Backend::kSqlite ? "+" : "", column);
}

// On SQLite, the index of the intervals closed since a day, with their
// figures (migration 17): without statistics SQLite takes
// report_book_closed and reads each interval's row.
inline std::string ClosedRolls(const Store& store) {
  return store.backend() == Backend::kSqlite ? " INDEXED BY report_book_closed_rolls" : "";
}

// One read transaction over a report's statements, so that the parts of a
// report joined here rather than in one statement see one state of the
// tables (a day's run may commit between them). Read only: it is rolled
// back when it goes.
class ReadSnapshot {
 public:
  ReadSnapshot(soci::session& sql, Backend backend) : sql_(sql) {
    sql_ << (backend == Backend::kSqlite ? "BEGIN"
                                         : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  }
  ~ReadSnapshot() {
    try {
      sql_ << "ROLLBACK";
    } catch (...) {
    }
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  soci::session& sql_;
};

// SUM that is never NULL and always BIGINT (PostgreSQL sums BIGINT into
// NUMERIC).
inline std::string Sum(absl::string_view expr) {
  return absl::StrCat("CAST(COALESCE(SUM(", expr, "), 0) AS BIGINT)");
}

// The case filters (product, region, policy version) on alias `a`.
inline void CaseFilters(Sql& q, const ReportQuery& f, absl::string_view a) {
  if (!f.product.empty()) (q << " AND " << a << ".product = ").Text(f.product);
  if (!f.region.empty()) (q << " AND " << a << ".region = ").Text(f.region);
  if (f.policy_version > 0) (q << " AND " << a << ".policy_version = ").Int(f.policy_version);
}

// The period on report_events alias `a`.
inline void PeriodFilter(Sql& q, const ReportQuery& f, absl::string_view a) {
  q << " AND " << a << ".day >= ";
  q.Int(workflow::DayNumber(f.from));
  q << " AND " << a << ".day <= ";
  q.Int(workflow::DayNumber(f.to));
}

// The period and the case filters, on report_events alias `a`.
inline void EventFilters(Sql& q, const ReportQuery& f, absl::string_view a) {
  PeriodFilter(q, f, a);
  CaseFilters(q, f, a);
}

// The period's stage changes (stage_after <> stage_before) counted by
// `columns` (alias c; any of report_stage_changes_by_day's key columns)
// where `where` holds (alias c), under the case filters and, when
// `with_queue`, the queue filter. They are counted as they commit
// (report_stage_change_deltas, migration 23) and the day's run folds those
// counts into report_stage_changes_by_day; both are read, so that the cost
// is the period's days times their groups, not its changes (an import's
// day is a million). Rows: the columns, then the count; a group may come
// once from each table. c.prev_entry_day is only meaningful where
// c.stage_after is an open stage.
inline void StageChangeCounts(Sql& q, const ReportQuery& f, absl::string_view columns,
                              absl::string_view where, bool with_queue) {
  const char* separator = "";
  for (const char* table : {"report_stage_changes_by_day", "report_stage_change_deltas"}) {
    q << separator << "SELECT " << columns << ", " << Sum("c.changes") << " FROM " << table
      << " c WHERE c.day >= ";
    q.Int(workflow::DayNumber(f.from));
    q << " AND c.day <= ";
    q.Int(workflow::DayNumber(f.to));
    if (!where.empty()) q << " AND " << where;
    CaseFilters(q, f, "c");
    if (with_queue && !f.queue.empty()) (q << " AND c.queue = ").Text(f.queue);
    q << " GROUP BY " << columns;
    separator = " UNION ALL ";
  }
}

// The case filters on a book table alias (report_book or
// report_portfolio).
inline void BookFilters(Sql& q, const ReportQuery& f, absl::string_view a) {
  CaseFilters(q, f, a);
  if (!f.queue.empty()) (q << " AND " << a << ".queue = ").Text(f.queue);
}

inline void QueueFilter(Sql& q, const ReportQuery& f, absl::string_view tasks_alias) {
  if (!f.queue.empty()) (q << " AND " << tasks_alias << ".queue = ").Text(f.queue);
}

// Returns the heap's free memory to the system. SQLite's page caches free
// their pages into glibc's heap, which otherwise keeps them in the process
// (the server's RSS grew by what the largest report had used, issue #17).
inline void GiveMemoryBack() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

// Runs `body` on a reader; the SQL helpers throw, Read turns that into a
// Status.
template <typename T, typename F>
absl::StatusOr<T> ReadReport(Store& store, F&& body) {
  T out;
  absl::Status status = ReadForReport(store, [&](soci::session& sql) -> absl::Status {
    // Gives the pooled connection its memory back however the report ends:
    // the page cache below would otherwise stay with each reader of the
    // pool, growing the server by up to 64 MiB per reader (issue #17).
    struct ShrinkAfter {
      explicit ShrinkAfter(soci::session& session) : sql(session) {}
      ~ShrinkAfter() {
        try {
          sql << "PRAGMA cache_size = -2000";  // SQLite's default
          sql << "PRAGMA shrink_memory";
        } catch (...) {
        }
        GiveMemoryBack();
      }
      soci::session& sql;
    };
    std::optional<ShrinkAfter> shrink;
    if (store.backend() == Backend::kSqlite) {
      // Report queries sort and join hundreds of thousands of rows: give
      // them a page cache that holds a day of snapshots (SQLite's default
      // is 2 MiB, which spills every GROUP BY to temporary files).
      shrink.emplace(sql);
      sql << "PRAGMA cache_size = -65536";
    } else {
      // The planner's costs for these queries make PostgreSQL compile them
      // (JIT), which takes longer than running them.
      sql << "SET jit = off";
    }
    return body(sql, out);
  });
  if (!status.ok()) return status;
  return out;
}

// The trend's steps: one day up to 62 days, wider steps beyond.
struct Steps {
  long long step = 1;
  int count = 0;
};
inline Steps StepsOf(const ReportQuery& f) {
  const long long days = (f.to - f.from) + 1;
  Steps s;
  s.step = std::max<long long>(1, (days + 61) / 62);
  s.count = static_cast<int>((days + s.step - 1) / s.step);
  return s;
}
// "(day - from) / step": the step a day falls in.
inline void StepOf(Sql& q, const ReportQuery& f, const Steps& s, absl::string_view day_column) {
  q << "(" << day_column << " - ";
  q.Int(workflow::DayNumber(f.from));
  q << ") / ";
  q.Int(s.step);
}
inline v1::Date StepStart(const ReportQuery& f, const Steps& s, long long i) {
  return workflow::DayToProto(f.from + i * s.step);
}
inline int StepDays(const ReportQuery& f, const Steps& s, long long i) {
  const absl::CivilDay start = f.from + i * s.step;
  return static_cast<int>(std::min<long long>(s.step, (f.to - start) + 1));
}

// The newest complete snapshot on or before `day` (with per-case rows when
// `per_case`), or FAILED_PRECONDITION naming the snapshots there are.
inline absl::StatusOr<absl::CivilDay> SnapshotOnOrBefore(soci::session& sql, absl::CivilDay day,
                                                         bool per_case, absl::string_view what) {
  Sql q;
  q << "SELECT COALESCE(MAX(day), -1), COUNT(*) FROM report_snapshot_days WHERE day <= ";
  q.Int(workflow::DayNumber(day));
  if (per_case) q << " AND per_case = 1";
  std::vector<Sql::Row> rows = q.Rows(sql, 0, 2);
  if (!rows.empty() && rows[0].n[0] >= 0) return workflow::DayFromNumber(rows[0].n[0]);

  Sql all;
  all << "SELECT COALESCE(MIN(day), -1), COALESCE(MAX(day), -1) FROM report_snapshot_days";
  if (per_case) all << " WHERE per_case = 1";
  std::vector<Sql::Row> range = all.Rows(sql, 0, 2);
  if (range.empty() || range[0].n[0] < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(what,
                     ": no snapshot of the book exists yet; each business date's run takes one "
                     "(AdvanceBusinessDate to the current date takes today's)"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat(what, ": no snapshot on or before ", workflow::FormatDay(day), "; snapshots",
                   per_case ? " with every case" : "", " exist from ",
                   workflow::FormatDay(workflow::DayFromNumber(range[0].n[0])), " to ",
                   workflow::FormatDay(workflow::DayFromNumber(range[0].n[1]))));
}

// The days-past-due bucket number (an index into DpdBuckets()) of a case
// whose oldest unpaid due day is `column`, on business date `d`: days past
// due is d - oldest_due_day (0 when nothing is overdue); the bucket bounds
// are due days.
inline std::string BucketSql(long long d, absl::string_view column) {
  return absl::StrCat("CASE WHEN ", column, " = 0 OR ", column, " >= ", d, " THEN 0 WHEN ", column,
                      " >= ", d - 30, " THEN 1 WHEN ", column, " >= ", d - 60, " THEN 2 WHEN ",
                      column, " >= ", d - 90, " THEN 3 WHEN ", column, " >= ", d - 180,
                      " THEN 4 ELSE 5 END");
}

// The same in C++, for rows grouped by oldest_due_day.
inline int BucketOf(long long d, long long oldest_due_day) {
  if (oldest_due_day == 0 || oldest_due_day >= d) return 0;
  if (oldest_due_day >= d - 30) return 1;
  if (oldest_due_day >= d - 60) return 2;
  if (oldest_due_day >= d - 90) return 3;
  if (oldest_due_day >= d - 180) return 4;
  return 5;
}

// Whether the book of `day` is read live from the cases (see
// ReportQuery::today).
inline bool IsLive(const ReportQuery& f, absl::CivilDay day) {
  return f.today.has_value() && day == *f.today;
}

// Money (payments, legal recoveries, waivers) in the period, each with the
// task it is attributed to: the last one completed on the case within the
// window before it. Alias m is the money's row; only the rows of the
// period and the case filters (the queue filter is the task's: see
// ForEachAttributedMoney).
inline void MoneyFrom(Sql& q, const ReportQuery& f) {
  q << " FROM report_events m WHERE (m.recovered_fen > 0 OR m.waived_fen > 0 OR "
       "m.unallocated_fen > 0)";
  EventFilters(q, f, "m");
}

// A money row of the period and the task it is attributed to.
struct MoneyRow {
  long long day = 0, case_class = 0, stage_before = 0;
  long long recovered_fen = 0, waived_fen = 0, unallocated_fen = 0;
};
struct MoneyTask {
  long long case_id = 0, seq = 0, day = 0, case_class = 0, stage_before = 0, task_type = 0;
  bool has_row = false;  // its tasks row (the agent, the queue)
  std::string agent, queue;
};

// Calls `f(money, task)` for each money row of the period (MoneyFrom) that
// is attributed to a task and, with a queue filter, whose task is of that
// queue. The tasks completed within the window before the period's money
// are read once and each money row of their cases matched here: a lookup
// per money row (a correlated MAX) took seconds on PostgreSQL with 333,333
// payments (issue #17).
template <typename F>
void ForEachAttributedMoney(soci::session& sql, const ReportQuery& f, F&& fn) {
  const long long first_day = workflow::DayNumber(f.from) - f.cure_window_days;
  auto window = [&](Sql& q, absl::string_view a) {
    q << " " << a << ".task_id > 0 AND " << a << ".day >= ";
    q.Int(first_day);
    q << " AND " << a << ".day <= ";
    q.Int(workflow::DayNumber(f.to));
  };
  // case -> its tasks in the window, in seq order.
  std::map<long long, std::vector<MoneyTask>> tasks;
  Sql t;
  t << "SELECT COALESCE(ta.lease_owner, ''), COALESCE(ta.queue, ''), a.case_id, a.seq, a.day, "
       "a.case_class, a.stage_before, a.task_type, CASE WHEN ta.task_id IS NULL THEN 0 ELSE 1 "
       "END FROM report_events a LEFT JOIN tasks ta ON ta.task_id = a.task_id WHERE";
  window(t, "a");
  t.ForEachRow(sql, 2, 7, [&](const Sql::Row& r) {
    tasks[r.n[0]].push_back(
        {r.n[0], r.n[1], r.n[2], r.n[3], r.n[4], r.n[5], r.n[6] != 0, r.s[0], r.s[1]});
  });
  if (tasks.empty()) return;
  for (auto& [id, list] : tasks) {
    std::sort(list.begin(), list.end(),
              [](const MoneyTask& a, const MoneyTask& b) { return a.seq < b.seq; });
  }
  Sql m;
  m << "SELECT m.case_id, m.seq, m.day, m.case_class, m.stage_before, m.recovered_fen, "
       "m.waived_fen, m.unallocated_fen";
  MoneyFrom(m, f);
  m << " AND m.case_id IN (SELECT a.case_id FROM report_events a WHERE";
  window(m, "a");
  m << ")";
  m.ForEachRow(sql, 0, 8, [&](const Sql::Row& r) {
    auto it = tasks.find(r.n[0]);
    if (it == tasks.end()) return;
    const MoneyTask* task = nullptr;
    for (const MoneyTask& candidate : it->second) {
      if (candidate.seq >= r.n[1]) break;
      if (candidate.day >= r.n[2] - f.cure_window_days) task = &candidate;
    }
    if (task == nullptr) return;
    if (!f.queue.empty() && (!task->has_row || task->queue != f.queue)) return;
    fn(MoneyRow{r.n[2], r.n[3], r.n[4], r.n[5], r.n[6], r.n[7]}, *task);
  });
}

// Completed tasks in the period: report_events r joined with their tasks
// row t and the promise they took, p.
inline void TasksFrom(Sql& q, const ReportQuery& f) {
  q << " FROM report_events r JOIN tasks t ON t.task_id = r.task_id"
       " LEFT JOIN report_promises p ON p.case_id = r.case_id AND p.promise_id = r.seq"
       " WHERE r.task_id > 0";
  EventFilters(q, f, "r");
  QueueFilter(q, f, "t");
}

}  // namespace collections::storage

#endif  // COLLECTIONS_STORAGE_REPORT_SQL_H_
