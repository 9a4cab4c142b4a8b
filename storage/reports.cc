#include "storage/reports.h"

#include <algorithm>
#include <deque>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "soci/soci.h"
#include "storage/codec.h"
#include "storage/sql.h"
#include "storage/store_internal.h"
#include "workflow/dates.h"
#include "workflow/status_macros.h"

namespace collections::storage {
namespace {

using workflow::DayFromNumber;
using workflow::DayNumber;
using workflow::DayToProto;
using workflow::FormatDay;

// Snapshot keys: day * 2^40 + case_id (see the schema). Case ids stay far
// below 2^40.
constexpr long long kDayShift = 1LL << 40;
long long SnapBase(absl::CivilDay day) { return DayNumber(day) * kDayShift; }

// Cases copied per snapshot command.
constexpr long long kSnapshotChunk = 10000;

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
  std::vector<Row> Rows(soci::session& sql, int texts, int ints) {
    Row row;
    row.s.resize(texts);
    row.n.resize(ints);
    soci::details::prepare_temp_type q = (sql.prepare << text_);
    for (const auto& [is_text, i] : order_) {
      if (is_text) {
        q, soci::use(texts_[i]);
      } else {
        q, soci::use(ints_[i]);
      }
    }
    for (std::string& s : row.s) q, soci::into(s);
    for (long long& n : row.n) q, soci::into(n);
    soci::statement st(q);
    std::vector<Row> rows;
    st.execute();
    while (st.fetch()) rows.push_back(row);
    return rows;
  }

 private:
  Sql& Placeholder() {
    absl::StrAppend(&text_, ":p", order_.size());
    return *this;
  }
  std::string text_;
  std::deque<long long> ints_;
  std::deque<std::string> texts_;
  std::vector<std::pair<bool, size_t>> order_;
};

// SUM that is never NULL and always BIGINT (PostgreSQL sums BIGINT into
// NUMERIC).
std::string Sum(absl::string_view expr) {
  return absl::StrCat("CAST(COALESCE(SUM(", expr, "), 0) AS BIGINT)");
}

// The case filters (product, region, policy version) on alias `a`.
void CaseFilters(Sql& q, const ReportQuery& f, absl::string_view a) {
  if (!f.product.empty()) (q << " AND " << a << ".product = ").Text(f.product);
  if (!f.region.empty()) (q << " AND " << a << ".region = ").Text(f.region);
  if (f.policy_version > 0) (q << " AND " << a << ".policy_version = ").Int(f.policy_version);
}

// The period on report_events alias `a`.
void PeriodFilter(Sql& q, const ReportQuery& f, absl::string_view a) {
  q << " AND " << a << ".day >= ";
  q.Int(DayNumber(f.from));
  q << " AND " << a << ".day <= ";
  q.Int(DayNumber(f.to));
}

// The period and the case filters, on report_events alias `a`.
void EventFilters(Sql& q, const ReportQuery& f, absl::string_view a) {
  PeriodFilter(q, f, a);
  CaseFilters(q, f, a);
}

// The case filters on a snapshot table alias (report_snapshots or
// report_portfolio).
void BookFilters(Sql& q, const ReportQuery& f, absl::string_view a) {
  CaseFilters(q, f, a);
  if (!f.queue.empty()) (q << " AND " << a << ".queue = ").Text(f.queue);
}

void QueueFilter(Sql& q, const ReportQuery& f, absl::string_view tasks_alias) {
  if (!f.queue.empty()) (q << " AND " << tasks_alias << ".queue = ").Text(f.queue);
}

// Runs `body` on a reader; the SQL helpers throw, Read turns that into a
// Status.
template <typename T, typename F>
absl::StatusOr<T> Read(Store& store, F&& body) {
  T out;
  absl::Status status = ReadForReport(store, [&](soci::session& sql) -> absl::Status {
    if (store.backend() == Backend::kSqlite) {
      // Report queries sort and join hundreds of thousands of rows: give
      // them a page cache that holds a day of snapshots (SQLite's default
      // is 2 MiB, which spills every GROUP BY to temporary files).
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
Steps StepsOf(const ReportQuery& f) {
  const long long days = (f.to - f.from) + 1;
  Steps s;
  s.step = std::max<long long>(1, (days + 61) / 62);
  s.count = static_cast<int>((days + s.step - 1) / s.step);
  return s;
}
// "(day - from) / step": the step a day falls in.
void StepOf(Sql& q, const ReportQuery& f, const Steps& s, absl::string_view day_column) {
  q << "(" << day_column << " - ";
  q.Int(DayNumber(f.from));
  q << ") / ";
  q.Int(s.step);
}
v1::Date StepStart(const ReportQuery& f, const Steps& s, long long i) {
  return DayToProto(f.from + i * s.step);
}
int StepDays(const ReportQuery& f, const Steps& s, long long i) {
  const absl::CivilDay start = f.from + i * s.step;
  return static_cast<int>(std::min<long long>(s.step, (f.to - start) + 1));
}

// The newest complete snapshot on or before `day` (with per-case rows when
// `per_case`), or FAILED_PRECONDITION naming the snapshots there are.
absl::StatusOr<absl::CivilDay> SnapshotOnOrBefore(soci::session& sql, absl::CivilDay day,
                                                  bool per_case, absl::string_view what) {
  Sql q;
  q << "SELECT COALESCE(MAX(day), -1), COUNT(*) FROM report_snapshot_days WHERE day <= ";
  q.Int(DayNumber(day));
  if (per_case) q << " AND per_case = 1";
  std::vector<Sql::Row> rows = q.Rows(sql, 0, 2);
  if (!rows.empty() && rows[0].n[0] >= 0) return DayFromNumber(rows[0].n[0]);

  Sql all;
  all << "SELECT COALESCE(MIN(day), -1), COALESCE(MAX(day), -1) FROM report_snapshot_days";
  if (per_case) all << " WHERE per_case = 1";
  std::vector<Sql::Row> range = all.Rows(sql, 0, 2);
  if (range.empty() || range[0].n[0] < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, ": no snapshot of the book exists yet; each business date's run takes one "
              "(AdvanceBusinessDate to the current date takes today's)"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      what, ": no snapshot on or before ", FormatDay(day), "; snapshots",
      per_case ? " with every case" : "", " exist from ",
      FormatDay(DayFromNumber(range[0].n[0])), " to ", FormatDay(DayFromNumber(range[0].n[1]))));
}

// The days-past-due bucket number (an index into DpdBuckets()) of a case
// whose oldest unpaid due day is `column`, on business date `d`: days past
// due is d - oldest_due_day (0 when nothing is overdue); the bucket bounds
// are due days.
std::string BucketSql(long long d, absl::string_view column) {
  return absl::StrCat("CASE WHEN ", column, " = 0 OR ", column, " >= ", d, " THEN 0 WHEN ",
                      column, " >= ", d - 30, " THEN 1 WHEN ", column, " >= ", d - 60,
                      " THEN 2 WHEN ", column, " >= ", d - 90, " THEN 3 WHEN ", column,
                      " >= ", d - 180, " THEN 4 ELSE 5 END");
}

// Whether the book of `day` is read live from the cases (see
// ReportQuery::today).
bool IsLive(const ReportQuery& f, absl::CivilDay day) {
  return f.today.has_value() && day == *f.today;
}

// Money (payments, legal recoveries, waivers) in the period, each with the
// task it is attributed to: the last one completed on the case within the
// window before it. Alias m is the money's row, a the task's (NULL when
// none), ta that task's tasks row.
void MoneyFrom(Sql& q, const ReportQuery& f) {
  q << " FROM report_events m LEFT JOIN report_events a ON a.case_id = m.case_id AND a.seq = "
       "(SELECT MAX(b.seq) FROM report_events b WHERE b.case_id = m.case_id AND b.seq < m.seq "
       "AND b.task_id > 0 AND b.day >= m.day - ";
  q.Int(f.cure_window_days);
  q << ") LEFT JOIN tasks ta ON ta.task_id = a.task_id"
       " WHERE (m.recovered_fen > 0 OR m.waived_fen > 0 OR m.unallocated_fen > 0)";
  EventFilters(q, f, "m");
  QueueFilter(q, f, "ta");
}

// Completed tasks in the period: report_events r joined with their tasks
// row t and the promise they took, p.
void TasksFrom(Sql& q, const ReportQuery& f) {
  q << " FROM report_events r JOIN tasks t ON t.task_id = r.task_id"
       " LEFT JOIN report_promises p ON p.case_id = r.case_id AND p.promise_id = r.seq"
       " WHERE r.task_id > 0";
  EventFilters(q, f, "r");
  QueueFilter(q, f, "t");
}

}  // namespace

const std::vector<std::string>& DpdBuckets() {
  static const auto* buckets =
      new std::vector<std::string>{"current", "1-30", "31-60", "61-90", "91-180", "180+"};
  return *buckets;
}

// --- Portfolio -----------------------------------------------------------------

absl::StatusOr<v1::PortfolioReport> ReadPortfolio(Store& store, const ReportQuery& f) {
  return Read<v1::PortfolioReport>(
      store, [&](soci::session& sql, v1::PortfolioReport& out) -> absl::Status {
        Sql q;
        absl::CivilDay day = f.to;
        if (IsLive(f, f.to)) {
          // Today: the open cases as they stand, summed like a snapshot.
          out.set_live(true);
          q << "SELECT c.case_class, c.stage, " << BucketSql(DayNumber(day), "c.oldest_due_day")
            << ", COUNT(*), " << Sum("c.overdue_total_fen") << ", "
            << Sum("c.principal_outstanding_fen") << " FROM cases c WHERE c.stage IN "
            << kOpenStages;
          CaseFilters(q, f, "c");
          if (!f.queue.empty()) (q << " AND c.assigned_queue = ").Text(f.queue);
          q << " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
        } else {
          ASSIGN_OR_RETURN(day, SnapshotOnOrBefore(sql, f.to, /*per_case=*/false, "portfolio"));
          q << "SELECT b.case_class, b.stage, b.bucket, " << Sum("b.cases") << ", "
            << Sum("b.overdue_fen") << ", " << Sum("b.principal_fen")
            << " FROM report_portfolio b WHERE b.day = ";
          q.Int(DayNumber(day));
          BookFilters(q, f, "b");
          q << " GROUP BY b.case_class, b.stage, b.bucket ORDER BY b.case_class, b.stage, "
               "b.bucket";
        }
        *out.mutable_as_of() = DayToProto(day);
        *out.mutable_data_from() = DayToProto(day);
        *out.mutable_data_to() = DayToProto(day);
        for (const Sql::Row& r : q.Rows(sql, 0, 6)) {
          v1::PortfolioCell* c = out.add_cells();
          c->set_case_class(static_cast<v1::CaseClass>(r.n[0]));
          c->set_stage(static_cast<v1::Stage>(r.n[1]));
          c->set_dpd_bucket(DpdBuckets().at(r.n[2]));
          c->set_cases(r.n[3]);
          c->set_overdue_fen(r.n[4]);
          c->set_principal_outstanding_fen(r.n[5]);
          out.set_cases(out.cases() + r.n[3]);
          out.set_overdue_fen(out.overdue_fen() + r.n[4]);
          out.set_principal_outstanding_fen(out.principal_outstanding_fen() + r.n[5]);
        }
        return absl::OkStatus();
      });
}

// --- Stage funnel --------------------------------------------------------------

absl::StatusOr<v1::StageFunnelReport> ReadStageFunnel(Store& store, const ReportQuery& f) {
  return Read<v1::StageFunnelReport>(
      store, [&](soci::session& sql, v1::StageFunnelReport& out) -> absl::Status {
        // Each case's first entry into each stage in the period (nth = 1),
        // and the stage its last change in the period left it in: that
        // change is at or after the entry, so the period's rows suffice.
        // The filters apply to the entry, not to the later changes.
        Sql q;
        q << "SELECT x.stage, COUNT(*), "
          << Sum("CASE WHEN x.end_stage = 5 THEN 1 ELSE 0 END") << ", "
          << Sum("CASE WHEN x.end_stage IN (1, 2, 3, 4) AND x.end_stage <> x.stage "
                 "THEN 1 ELSE 0 END")
          << ", " << Sum("CASE WHEN x.end_stage = x.stage THEN 1 ELSE 0 END") << ", "
          << Sum("CASE WHEN x.end_stage = 6 THEN 1 ELSE 0 END")
          << " FROM (SELECT r.stage_after AS stage, r.product, r.region, r.policy_version, "
             "r.queue, FIRST_VALUE(r.stage_after) OVER (PARTITION BY r.case_id ORDER BY "
             "r.seq DESC) AS end_stage, ROW_NUMBER() OVER (PARTITION BY r.case_id, "
             "r.stage_after ORDER BY r.seq) AS nth FROM report_events r WHERE "
             "r.stage_after <> r.stage_before";
        PeriodFilter(q, f, "r");
        q << ") x WHERE x.nth = 1 AND x.stage IN " << kOpenStages;
        CaseFilters(q, f, "x");
        if (!f.queue.empty()) (q << " AND x.queue = ").Text(f.queue);
        q << " GROUP BY x.stage";
        std::map<int, Sql::Row> by_stage;
        for (Sql::Row& r : q.Rows(sql, 0, 6)) by_stage[r.n[0]] = std::move(r);
        for (v1::Stage stage : {v1::STAGE_REMINDER, v1::STAGE_COUNSELLING,
                                v1::STAGE_REPAYMENT_PLAN, v1::STAGE_LEGAL_ACTION}) {
          v1::FunnelRow* row = out.add_rows();
          row->set_stage(stage);
          auto it = by_stage.find(stage);
          if (it == by_stage.end()) continue;
          const std::vector<long long>& n = it->second.n;
          row->set_entered(n[1]);
          row->set_resolved(n[2]);
          row->set_moved_on(n[3]);
          row->set_still_there(n[4]);
          row->set_closed(n[5]);
        }
        return absl::OkStatus();
      });
}

// --- Roll rates ----------------------------------------------------------------

absl::StatusOr<v1::RollRateReport> ReadRollRates(Store& store, const ReportQuery& f) {
  return Read<v1::RollRateReport>(
      store, [&](soci::session& sql, v1::RollRateReport& out) -> absl::Status {
        // The end: today's book live, or the snapshot of `to` (or the
        // newest before it).
        const bool live = IsLive(f, f.to);
        absl::CivilDay end = f.to;
        if (!live) {
          ASSIGN_OR_RETURN(end,
                           SnapshotOnOrBefore(sql, f.to, /*per_case=*/true, "roll rates: to"));
        }
        // The start: the snapshot of `from` or the newest before it, else
        // the first one in the period (the book's history begins there).
        absl::StatusOr<absl::CivilDay> start =
            SnapshotOnOrBefore(sql, f.from, /*per_case=*/true, "roll rates: from");
        if (!start.ok()) {
          Sql first;
          first << "SELECT COALESCE(MIN(day), -1) FROM report_snapshot_days WHERE per_case = 1 "
                   "AND day >= ";
          first.Int(DayNumber(f.from));
          first << " AND day <= ";
          first.Int(DayNumber(end));
          std::vector<Sql::Row> rows = first.Rows(sql, 0, 1);
          if (rows.empty() || rows[0].n[0] < 0) return start.status();
          start = DayFromNumber(rows[0].n[0]);
        }
        *out.mutable_as_of() = DayToProto(end);
        *out.mutable_from() = DayToProto(*start);
        *out.mutable_to() = DayToProto(end);
        *out.mutable_data_from() = out.from();
        *out.mutable_data_to() = out.to();
        out.set_live(live);
        for (const std::string& b : DpdBuckets()) out.add_buckets(b);
        out.add_buckets("resolved");
        out.add_buckets("closed");

        // Start rows in key (case) order, each joined with its end row by
        // key; a case missing at the end left the book (code kResolved
        // for now).
        const long long base = SnapBase(*start);
        const long long end_base = SnapBase(end);
        Sql q;
        if (live) {
          // The end row is the case itself, while it is open.
          q << "SELECT s.bucket, CASE WHEN e.case_id IS NULL THEN " << absl::StrCat(kResolved)
            << " ELSE " << BucketSql(DayNumber(end), "e.oldest_due_day") << " END, COUNT(*), "
            << Sum("s.overdue_fen") << ", " << Sum("COALESCE(e.overdue_total_fen, 0)")
            << " FROM report_snapshots s LEFT JOIN cases e ON e.case_id = s.snap_key - ";
          q.Int(base);
          q << " AND e.stage IN " << kOpenStages;
        } else {
          q << absl::StrCat("SELECT s.bucket, COALESCE(e.bucket, ", kResolved, "), COUNT(*), ")
            << Sum("s.overdue_fen") << ", " << Sum("COALESCE(e.overdue_fen, 0)")
            << " FROM report_snapshots s LEFT JOIN report_snapshots e ON e.snap_key = "
               "s.snap_key + ";
          q.Int(end_base - base);
          q << " AND e.snap_key > ";
          q.Int(end_base);
          q << " AND e.snap_key < ";
          q.Int(end_base + kDayShift);
        }
        q << " WHERE s.snap_key > ";
        q.Int(base);
        q << " AND s.snap_key < ";
        q.Int(base + kDayShift);
        BookFilters(q, f, "s");
        q << " GROUP BY 1, 2";
        std::map<std::pair<long long, long long>, Sql::Row> cells;
        std::map<long long, std::pair<long long, long long>> at_start;  // cases, fen
        for (Sql::Row& r : q.Rows(sql, 0, 5)) {
          at_start[r.n[0]].first += r.n[2];
          at_start[r.n[0]].second += r.n[3];
          cells[{r.n[0], r.n[1]}] = std::move(r);
        }
        // Of those that left, the ones closed in the period: CLOSED is
        // final, so one closing event in the period settles it; the rest
        // were cured (and may have fallen overdue again since).
        Sql closed;
        closed << "SELECT s.bucket, COUNT(*), " << Sum("s.overdue_fen")
               << " FROM report_events g JOIN report_snapshots s ON s.snap_key = g.case_id + ";
        closed.Int(base);
        closed << " WHERE g.stage_after = 6 AND g.stage_before <> 6 AND g.day >= ";
        closed.Int(DayNumber(*start));
        closed << " AND g.day <= ";
        closed.Int(DayNumber(end));
        BookFilters(closed, f, "s");
        closed << " GROUP BY s.bucket";
        for (const Sql::Row& r : closed.Rows(sql, 0, 3)) {
          auto left = cells.find({r.n[0], kResolved});
          if (left == cells.end()) continue;  // cannot be: a closed case left
          left->second.n[2] -= r.n[1];
          left->second.n[3] -= r.n[2];
          if (left->second.n[2] == 0) cells.erase(left);
          cells[{r.n[0], kClosed}] = {{}, {r.n[0], kClosed, r.n[1], r.n[2], 0}};
        }
        for (const auto& [key, r] : cells) {
          v1::RollRateCell* c = out.add_cells();
          c->set_from_bucket(out.buckets(key.first));
          c->set_to_bucket(out.buckets(key.second));
          c->set_cases(r.n[2]);
          c->set_cases_at_start(at_start[key.first].first);
          c->set_overdue_fen(r.n[3]);
          c->set_overdue_fen_at_start(at_start[key.first].second);
          c->set_overdue_fen_at_end(r.n[4]);
        }
        return absl::OkStatus();
      });
}

// --- Strategy effectiveness ------------------------------------------------------

absl::StatusOr<v1::EffectivenessReport> ReadEffectiveness(Store& store, const ReportQuery& f) {
  return Read<v1::EffectivenessReport>(
      store, [&](soci::session& sql, v1::EffectivenessReport& out) -> absl::Status {
        using Key = std::tuple<long long, long long, long long>;  // class, stage, action
        std::map<Key, v1::EffectivenessRow> rows;
        auto row = [&](long long c, long long s, long long a) -> v1::EffectivenessRow& {
          v1::EffectivenessRow& r = rows[{c, s, a}];
          r.set_case_class(static_cast<v1::CaseClass>(c));
          r.set_stage(static_cast<v1::Stage>(s));
          r.set_action(static_cast<v1::TaskType>(a));
          return r;
        };
        const Steps steps = StepsOf(f);
        std::vector<v1::TrendPoint> trend(steps.count);
        for (int i = 0; i < steps.count; ++i) {
          *trend[i].mutable_start() = StepStart(f, steps, i);
          trend[i].set_days(StepDays(f, steps, i));
        }
        auto point = [&](long long i) -> v1::TrendPoint* {
          return i >= 0 && i < steps.count ? &trend[i] : nullptr;
        };
        v1::EffectivenessTotals& totals = *out.mutable_totals();

        // Tasks: cost, contacts, promises.
        Sql tasks;
        tasks << "SELECT r.case_class, r.stage_before, r.task_type, COUNT(*), "
                 "COUNT(DISTINCT r.case_id), "
              << Sum("t.cost_fen") << ", " << Sum("r.contact") << ", " << Sum("r.right_party")
              << ", " << Sum("CASE WHEN r.promise_fen > 0 THEN 1 ELSE 0 END") << ", "
              << Sum("CASE WHEN p.state = 2 THEN 1 ELSE 0 END") << ", "
              << Sum("CASE WHEN p.state = 3 THEN 1 ELSE 0 END");
        TasksFrom(tasks, f);
        tasks << " GROUP BY r.case_class, r.stage_before, r.task_type";
        for (const Sql::Row& r : tasks.Rows(sql, 0, 11)) {
          v1::EffectivenessRow& e = row(r.n[0], r.n[1], r.n[2]);
          e.set_tasks(r.n[3]);
          e.set_cases(r.n[4]);
          e.set_cost_fen(r.n[5]);
          e.set_contacts(r.n[6]);
          e.set_right_party_contacts(r.n[7]);
          e.set_promises(r.n[8]);
          e.set_promises_kept(r.n[9]);
          e.set_promises_broken(r.n[10]);
          totals.set_tasks(totals.tasks() + r.n[3]);
          totals.set_cost_fen(totals.cost_fen() + r.n[5]);
        }

        // Promises taken without a task (signals from other channels).
        if (f.queue.empty()) {
          Sql promises;
          promises << "SELECT r.case_class, r.stage_before, COUNT(*), "
                   << Sum("CASE WHEN p.state = 2 THEN 1 ELSE 0 END") << ", "
                   << Sum("CASE WHEN p.state = 3 THEN 1 ELSE 0 END")
                   << " FROM report_events r LEFT JOIN report_promises p ON p.case_id = "
                      "r.case_id AND p.promise_id = r.seq WHERE r.task_id = 0 AND "
                      "r.promise_fen > 0";
          EventFilters(promises, f, "r");
          promises << " GROUP BY r.case_class, r.stage_before";
          for (const Sql::Row& r : promises.Rows(sql, 0, 5)) {
            v1::EffectivenessRow& e = row(r.n[0], r.n[1], 0);
            e.set_promises(r.n[2]);
            e.set_promises_kept(r.n[3]);
            e.set_promises_broken(r.n[4]);
          }
        }

        // Cures within the window after each case's first such task.
        Sql cured;
        cured << "SELECT x.case_class, x.stage, x.task_type, COUNT(*) FROM (SELECT "
                 "r.case_class AS case_class, r.stage_before AS stage, r.task_type AS "
                 "task_type, r.case_id AS case_id, MIN(r.seq) AS seq, MIN(r.day) AS day";
        TasksFrom(cured, f);
        cured << " GROUP BY r.case_class, r.stage_before, r.task_type, r.case_id) x WHERE "
                 "EXISTS (SELECT 1 FROM report_events c WHERE c.case_id = x.case_id AND "
                 "c.seq > x.seq AND c.stage_after = 5 AND c.stage_before <> 5 AND c.day <= "
                 "x.day + ";
        cured.Int(f.cure_window_days);
        cured << " AND c.day <= ";
        cured.Int(DayNumber(f.to));
        cured << ") GROUP BY x.case_class, x.stage, x.task_type";
        for (const Sql::Row& r : cured.Rows(sql, 0, 4)) {
          row(r.n[0], r.n[1], r.n[2]).set_cured(r.n[3]);
        }

        // Money, attributed (last touch), by step.
        Sql money;
        money << "SELECT COALESCE(a.case_class, m.case_class), "
                 "COALESCE(a.stage_before, m.stage_before), COALESCE(a.task_type, 0), ";
        StepOf(money, f, steps, "m.day");
        money << ", " << Sum("m.recovered_fen") << ", " << Sum("m.waived_fen") << ", "
              << Sum("m.unallocated_fen");
        MoneyFrom(money, f);
        money << " GROUP BY 1, 2, 3, 4";
        for (const Sql::Row& r : money.Rows(sql, 0, 7)) {
          v1::EffectivenessRow& e = row(r.n[0], r.n[1], r.n[2]);
          e.set_recovered_fen(e.recovered_fen() + r.n[4]);
          e.set_concessions_fen(e.concessions_fen() + r.n[5]);
          e.set_unallocated_fen(e.unallocated_fen() + r.n[6]);
          totals.set_recovered_fen(totals.recovered_fen() + r.n[4]);
          totals.set_concessions_fen(totals.concessions_fen() + r.n[5]);
          totals.set_unallocated_fen(totals.unallocated_fen() + r.n[6]);
          if (v1::TrendPoint* p = point(r.n[3])) {
            p->set_recovered_fen(p->recovered_fen() + r.n[4]);
            p->set_unallocated_fen(p->unallocated_fen() + r.n[6]);
          }
        }

        // Cost by step.
        Sql cost;
        cost << "SELECT ";
        StepOf(cost, f, steps, "r.day");
        cost << ", " << Sum("t.cost_fen");
        TasksFrom(cost, f);
        cost << " GROUP BY 1";
        for (const Sql::Row& r : cost.Rows(sql, 0, 2)) {
          if (v1::TrendPoint* p = point(r.n[0])) p->set_cost_fen(r.n[1]);
        }

        // Cases cured and opened (or reopened), by step; the queue filter
        // is about tasks and does not apply.
        ReportQuery no_queue = f;
        no_queue.queue.clear();
        Sql flow;
        flow << "SELECT ";
        StepOf(flow, f, steps, "r.day");
        flow << ", " << Sum("CASE WHEN r.stage_after = 5 THEN 1 ELSE 0 END") << ", "
             << Sum("CASE WHEN r.stage_before IN (0, 5) AND r.stage_after IN (1, 2, 3, 4) "
                    "THEN 1 ELSE 0 END")
             << " FROM report_events r WHERE r.stage_after <> r.stage_before";
        EventFilters(flow, no_queue, "r");
        flow << " GROUP BY 1";
        for (const Sql::Row& r : flow.Rows(sql, 0, 3)) {
          totals.set_cured(totals.cured() + r.n[1]);
          totals.set_entered(totals.entered() + r.n[2]);
          if (v1::TrendPoint* p = point(r.n[0])) {
            p->set_cured(r.n[1]);
            p->set_entered(r.n[2]);
          }
        }

        for (auto& [key, r] : rows) *out.add_rows() = std::move(r);
        for (v1::TrendPoint& p : trend) *out.add_trend() = std::move(p);
        out.set_cure_window_days(f.cure_window_days);
        return absl::OkStatus();
      });
}

// --- Overdue reasons -------------------------------------------------------------

absl::StatusOr<v1::OverdueReasonsReport> ReadOverdueReasons(Store& store,
                                                            const ReportQuery& f) {
  return Read<v1::OverdueReasonsReport>(
      store, [&](soci::session& sql, v1::OverdueReasonsReport& out) -> absl::Status {
        auto from = [&](Sql& q) {
          q << " FROM report_events r JOIN tasks t ON t.task_id = r.task_id WHERE r.reason > 0";
          EventFilters(q, f, "r");
          QueueFilter(q, f, "t");
        };
        Sql by_class;
        by_class << "SELECT r.case_class, r.reason, COUNT(DISTINCT r.case_id)";
        from(by_class);
        by_class << " GROUP BY r.case_class, r.reason";
        std::vector<Sql::Row> rows = by_class.Rows(sql, 0, 3);
        std::sort(rows.begin(), rows.end(), [](const Sql::Row& a, const Sql::Row& b) {
          return std::make_tuple(a.n[0], -a.n[2], a.n[1]) <
                 std::make_tuple(b.n[0], -b.n[2], b.n[1]);
        });
        for (const Sql::Row& r : rows) {
          v1::ReasonRow* row = out.add_rows();
          row->set_case_class(static_cast<v1::CaseClass>(r.n[0]));
          row->set_reason(static_cast<v1::OverdueReason>(r.n[1]));
          row->set_cases(r.n[2]);
        }

        const Steps steps = StepsOf(f);
        Sql trend;
        trend << "SELECT ";
        StepOf(trend, f, steps, "r.day");
        trend << ", r.reason, COUNT(DISTINCT r.case_id)";
        from(trend);
        trend << " GROUP BY 1, 2 ORDER BY 1, 2";
        for (const Sql::Row& r : trend.Rows(sql, 0, 3)) {
          if (r.n[0] < 0 || r.n[0] >= steps.count) continue;
          v1::ReasonTrendPoint* p = out.add_trend();
          *p->mutable_start() = StepStart(f, steps, r.n[0]);
          p->set_days(StepDays(f, steps, r.n[0]));
          p->set_reason(static_cast<v1::OverdueReason>(r.n[1]));
          p->set_cases(r.n[2]);
        }
        return absl::OkStatus();
      });
}

// --- Agent productivity ----------------------------------------------------------

absl::StatusOr<v1::AgentProductivityReport> ReadAgentProductivity(Store& store,
                                                                  const ReportQuery& f) {
  return Read<v1::AgentProductivityReport>(
      store, [&](soci::session& sql, v1::AgentProductivityReport& out) -> absl::Status {
        std::map<std::pair<std::string, std::string>, v1::AgentRow> rows;
        // The lease a task was completed under started when it was handed
        // out; contact tasks record that instant (contacts.at_us).
        Sql agents;
        agents << "SELECT t.lease_owner, t.queue, COUNT(*), " << Sum("t.cost_fen") << ", "
               << Sum("r.contact") << ", " << Sum("r.right_party") << ", "
               << Sum("CASE WHEN r.promise_fen > 0 THEN 1 ELSE 0 END") << ", "
               << Sum("CASE WHEN p.state = 2 THEN 1 ELSE 0 END") << ", "
               << Sum("CASE WHEN p.state = 3 THEN 1 ELSE 0 END") << ", "
               << Sum("CASE WHEN ct.at_us IS NULL THEN 0 ELSE 1 END") << ", "
               << Sum("CASE WHEN ct.at_us IS NULL THEN 0 ELSE t.completed_at_us - ct.at_us END")
               << " FROM report_events r JOIN tasks t ON t.task_id = r.task_id"
                  " LEFT JOIN report_promises p ON p.case_id = r.case_id AND p.promise_id = "
                  "r.seq LEFT JOIN contacts ct ON ct.task_id = t.task_id AND ct.lease_token = "
                  "t.lease_token WHERE r.task_id > 0";
        EventFilters(agents, f, "r");
        QueueFilter(agents, f, "t");
        agents << " GROUP BY t.lease_owner, t.queue";
        for (const Sql::Row& r : agents.Rows(sql, 2, 9)) {
          v1::AgentRow& a = rows[{r.s[0], r.s[1]}];
          a.set_agent(r.s[0]);
          a.set_queue(r.s[1]);
          a.set_completed(r.n[0]);
          a.set_cost_fen(r.n[1]);
          a.set_contacts(r.n[2]);
          a.set_right_party_contacts(r.n[3]);
          a.set_promises(r.n[4]);
          a.set_promises_kept(r.n[5]);
          a.set_promises_broken(r.n[6]);
          a.set_handled(r.n[7]);
          a.set_avg_handling_seconds(r.n[7] > 0 ? r.n[8] / r.n[7] / 1000000 : 0);
        }

        Sql money;
        money << "SELECT ta.lease_owner, ta.queue, " << Sum("m.recovered_fen") << ", "
              << Sum("m.unallocated_fen");
        MoneyFrom(money, f);
        money << " AND ta.task_id IS NOT NULL GROUP BY ta.lease_owner, ta.queue";
        for (const Sql::Row& r : money.Rows(sql, 2, 2)) {
          auto it = rows.find({r.s[0], r.s[1]});
          if (it == rows.end()) continue;
          it->second.set_recovered_fen(r.n[0]);
          it->second.set_unallocated_fen(r.n[1]);
        }
        for (auto& [key, a] : rows) *out.add_rows() = std::move(a);
        out.set_cure_window_days(f.cure_window_days);
        return absl::OkStatus();
      });
}

// --- SLA and incidents -------------------------------------------------------------

absl::StatusOr<v1::SlaReport> ReadSlaBreaches(Store& store, const ReportQuery& f) {
  return Read<v1::SlaReport>(
      store, [&](soci::session& sql, v1::SlaReport& out) -> absl::Status {
        const long long now = MicrosOf(f.now);
        // Open work: the case filters through the case row.
        auto open_from = [&](Sql& q) {
          q << " FROM tasks t";
          const bool by_case = !f.product.empty() || !f.region.empty() || f.policy_version > 0;
          if (by_case) q << " JOIN cases c ON c.case_id = t.case_id";
          q << " WHERE t.state IN (1, 2, 5)";
          if (!f.product.empty()) (q << " AND c.product = ").Text(f.product);
          if (!f.region.empty()) (q << " AND c.region = ").Text(f.region);
          if (f.policy_version > 0) (q << " AND c.policy_version = ").Int(f.policy_version);
          QueueFilter(q, f, "t");
        };
        std::map<std::string, v1::SlaRow> rows;
        Sql open;
        open << "SELECT t.queue, " << Sum("CASE WHEN t.state IN (1, 2) THEN 1 ELSE 0 END")
             << ", CAST(COALESCE(SUM(CASE WHEN t.state IN (1, 2) AND t.deadline_us > 0 AND "
                "t.deadline_us < ";
        open.Int(now);
        open << " THEN 1 ELSE 0 END), 0) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN t.state = 1 "
                "AND t.hold_reason <> '' AND t.not_before_us > ";
        open.Int(now);
        open << " THEN 1 ELSE 0 END), 0) AS BIGINT), "
             << Sum("CASE WHEN t.state = 5 THEN 1 ELSE 0 END");
        open_from(open);
        open << " GROUP BY t.queue";
        for (const Sql::Row& r : open.Rows(sql, 1, 4)) {
          v1::SlaRow& row = rows[r.s[0]];
          row.set_queue(r.s[0]);
          row.set_open(r.n[0]);
          row.set_past_deadline(r.n[1]);
          row.set_held_back(r.n[2]);
          row.set_incidents(r.n[3]);
        }

        Sql done;
        done << "SELECT t.queue, COUNT(*), "
             << Sum("CASE WHEN t.deadline_us > 0 AND t.completed_at_us > t.deadline_us "
                    "THEN 1 ELSE 0 END");
        TasksFrom(done, f);
        done << " GROUP BY t.queue";
        for (const Sql::Row& r : done.Rows(sql, 1, 2)) {
          v1::SlaRow& row = rows[r.s[0]];
          row.set_queue(r.s[0]);
          row.set_completed(r.n[0]);
          row.set_completed_late(r.n[1]);
        }
        for (auto& [queue, row] : rows) *out.add_rows() = std::move(row);

        // Holds by kind: the texts come from workflow/compliance.cc and
        // the task engine's failure handling.
        Sql holds;
        holds << "SELECT t.queue, CASE"
                 " WHEN t.hold_reason LIKE 'outside the contact window%' THEN 'contact window'"
                 " WHEN t.hold_reason LIKE 'call cap%' THEN 'call cap'"
                 " WHEN t.hold_reason LIKE 'cease-contact%' THEN 'cease contact'"
                 " WHEN t.hold_reason LIKE 'open dispute%' THEN 'dispute'"
                 " WHEN t.hold_reason LIKE 'bankruptcy%' THEN 'bankruptcy'"
                 " WHEN t.hold_reason LIKE 'borrower deceased%' THEN 'deceased'"
                 " WHEN t.hold_reason LIKE 'attempt %' THEN 'retry after failure'"
                 " ELSE 'other' END, COUNT(*)";
        open_from(holds);
        holds << " AND t.state = 1 AND t.hold_reason <> '' AND t.not_before_us > ";
        holds.Int(now);
        holds << " GROUP BY 1, 2 ORDER BY 1, 2";
        for (const Sql::Row& r : holds.Rows(sql, 2, 1)) {
          v1::HoldRow* h = out.add_holds();
          h->set_queue(r.s[0]);
          h->set_reason(r.s[1]);
          h->set_tasks(r.n[0]);
        }
        ToTimestamp(now, out.mutable_now());
        return absl::OkStatus();
      });
}

// --- Snapshots -----------------------------------------------------------------------

absl::Status TakeReportSnapshot(Store& store, absl::CivilDay day) {
  const long long d = DayNumber(day);
  const long long base = SnapBase(day);
  long long max_case_id = 0;
  RETURN_IF_ERROR(ReadForReport(store, [&](soci::session& sql) {
    sql << "SELECT COALESCE(MAX(case_id), 0) FROM cases", soci::into(max_case_id);
    return absl::OkStatus();
  }));
  // Start afresh: the day's summary is rebuilt chunk by chunk.
  RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
    return RunReportStep(uow, [&](soci::session& sql, Backend) {
      sql << "DELETE FROM report_snapshot_days WHERE day = " << d;
      sql << "DELETE FROM report_portfolio WHERE day = " << d;
    });
  }));
  const std::string bucket = BucketSql(d, "oldest_due_day");
  for (long long lo = 0; lo < max_case_id; lo += kSnapshotChunk) {
    const long long hi = std::min(lo + kSnapshotChunk, max_case_id);
    const std::string keys =
        absl::StrCat("snap_key > ", base + lo, " AND snap_key <= ", base + hi);
    RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
      return RunReportStep(uow, [&](soci::session& sql, Backend) {
        sql << "DELETE FROM report_snapshots WHERE " << keys;
        sql << "INSERT INTO report_snapshots (snap_key, bucket, stage, case_class, overdue_fen, "
               "principal_fen, policy_version, product, region, queue) SELECT "
            << base << " + case_id, " << bucket
            << ", stage, case_class, overdue_total_fen, principal_outstanding_fen, "
               "policy_version, product, region, assigned_queue FROM cases WHERE case_id > "
            << lo << " AND case_id <= " << hi << " AND stage IN " << kOpenStages;
        sql << "INSERT INTO report_portfolio (day, stage, case_class, bucket, policy_version, "
               "product, region, queue, cases, overdue_fen, principal_fen) SELECT "
            << d
            << ", stage, case_class, bucket, policy_version, product, region, queue, "
               "COUNT(*), SUM(overdue_fen), SUM(principal_fen) FROM report_snapshots WHERE "
            << keys
            << " GROUP BY stage, case_class, bucket, policy_version, product, region, queue "
               "ON CONFLICT (day, stage, case_class, bucket, policy_version, product, region, "
               "queue) DO UPDATE SET cases = report_portfolio.cases + excluded.cases, "
               "overdue_fen = report_portfolio.overdue_fen + excluded.overdue_fen, "
               "principal_fen = report_portfolio.principal_fen + excluded.principal_fen";
      });
    }));
  }
  const long long now = absl::ToUnixMicros(StoreNow(store));
  RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
    return RunReportStep(uow, [&](soci::session& sql, Backend) {
      sql << "INSERT INTO report_snapshot_days (day, cases, per_case, taken_at_us) SELECT " << d
          << ", CAST(COALESCE(SUM(cases), 0) AS BIGINT), 1, " << now
          << " FROM report_portfolio WHERE day = " << d;
    });
  }));

  // Retention: per-case rows of old days go, but for the first and last
  // day of each month (the usual roll-rate periods).
  ASSIGN_OR_RETURN(std::vector<SnapshotDay> days, ListSnapshotDays(store));
  for (const SnapshotDay& old : days) {
    if (!old.per_case || day - old.day <= kDailySnapshotDays) continue;
    if (old.day.day() == 1 || (old.day + 1).day() == 1) continue;
    const long long old_base = SnapBase(old.day);
    for (long long lo = 0; lo < max_case_id; lo += kSnapshotChunk) {
      const long long hi = std::min(lo + kSnapshotChunk, max_case_id);
      RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
        return RunReportStep(uow, [&](soci::session& sql, Backend) {
          sql << "DELETE FROM report_snapshots WHERE snap_key > " << old_base + lo
              << " AND snap_key <= " << old_base + hi;
        });
      }));
    }
    RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
      return RunReportStep(uow, [&](soci::session& sql, Backend) {
        sql << "UPDATE report_snapshot_days SET per_case = 0 WHERE day = "
            << DayNumber(old.day);
      });
    }));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SnapshotDay>> ListSnapshotDays(Store& store) {
  return Read<std::vector<SnapshotDay>>(
      store, [&](soci::session& sql, std::vector<SnapshotDay>& out) -> absl::Status {
        Sql q;
        q << "SELECT day, cases, per_case FROM report_snapshot_days ORDER BY day";
        for (const Sql::Row& r : q.Rows(sql, 0, 3)) {
          out.push_back({DayFromNumber(r.n[0]), r.n[1], r.n[2] != 0});
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<std::optional<absl::CivilDay>> FirstReportDay(Store& store) {
  return Read<std::optional<absl::CivilDay>>(
      store, [&](soci::session& sql, std::optional<absl::CivilDay>& out) -> absl::Status {
        Sql q;
        q << "SELECT COALESCE(MIN(day), -1) FROM report_snapshot_days";
        std::vector<Sql::Row> rows = q.Rows(sql, 0, 1);
        if (!rows.empty() && rows[0].n[0] >= 0) out = DayFromNumber(rows[0].n[0]);
        return absl::OkStatus();
      });
}

// --- Policies ------------------------------------------------------------------------

absl::StatusOr<std::map<int64_t, int64_t>> OpenCasesByPolicyVersion(Store& store) {
  return Read<std::map<int64_t, int64_t>>(
      store, [&](soci::session& sql, std::map<int64_t, int64_t>& out) -> absl::Status {
        Sql q;
        q << "SELECT policy_version, COUNT(*) FROM cases WHERE stage IN " << kOpenStages
          << " GROUP BY policy_version";
        for (const Sql::Row& r : q.Rows(sql, 0, 2)) out[r.n[0]] = r.n[1];
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<PolicyVersionInfo>> ListPolicyVersionInfo(Store& store) {
  return Read<std::vector<PolicyVersionInfo>>(
      store, [&](soci::session& sql, std::vector<PolicyVersionInfo>& out) -> absl::Status {
        Sql q;
        q << "SELECT name, version, created_at_us FROM policies ORDER BY version";
        for (const Sql::Row& r : q.Rows(sql, 1, 2)) {
          out.push_back({r.n[0], r.s[0], absl::FromUnixMicros(r.n[1])});
        }
        return absl::OkStatus();
      });
}

}  // namespace collections::storage
