// The daily report snapshots, their retention, and the policy figures
// PolicyService reads (declared in reports.h).
#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "soci/soci.h"
#include "storage/codec.h"
#include "storage/report_facts.h"
#include "storage/report_open_tasks.h"
#include "storage/report_sql.h"
#include "storage/reports.h"
#include "storage/store_internal.h"
#include "workflow/dates.h"
#include "workflow/state_machine.h"

namespace collections::storage {

using workflow::DayFromNumber;
using workflow::DayNumber;
using workflow::DayToProto;
using workflow::FormatDay;

// --- Snapshots -----------------------------------------------------------------------

namespace {

// A case's figures in the book (one report_book row without its days).
struct Figures {
  long long stage = 0, case_class = 0, oldest_due_day = 0, overdue_fen = 0, principal_fen = 0,
            policy_version = 0;
  std::string product, region, queue;

  bool operator==(const Figures& o) const {
    return std::tie(stage, case_class, oldest_due_day, overdue_fen, principal_fen, policy_version,
                    product, region, queue) ==
           std::tie(o.stage, o.case_class, o.oldest_due_day, o.overdue_fen, o.principal_fen,
                    o.policy_version, o.product, o.region, o.queue);
  }
};

// Figures from a row whose columns are, in order: product, region, queue
// (texts); stage, case_class, oldest_due_day, overdue, principal,
// policy_version (from integer column `at` on).
Figures FiguresOf(const Sql::Row& r, size_t at) {
  return {r.n[at],     r.n[at + 1], r.n[at + 2], r.n[at + 3], r.n[at + 4],
          r.n[at + 5], r.s[0],      r.s[1],      r.s[2]};
}

// Changes to one day's report_portfolio rows, by (stage, class, bucket,
// policy version, product, region, queue): cases, overdue, principal.
using PortfolioKey =
    std::tuple<long long, long long, long long, long long, std::string, std::string, std::string>;
using PortfolioDeltas = std::map<PortfolioKey, std::array<long long, 3>>;

void Count(PortfolioDeltas& deltas, const Figures& f, long long day, long long cases,
           long long sign) {
  std::array<long long, 3>& d = deltas[{f.stage, f.case_class, BucketOf(day, f.oldest_due_day),
                                        f.policy_version, f.product, f.region, f.queue}];
  d[0] += sign * cases;
  d[1] += sign * cases * f.overdue_fen;
  d[2] += sign * cases * f.principal_fen;
}

// A row of sums to add to: its key's integer and text columns, and the
// amounts.
struct SumsRow {
  std::vector<long long> ints;
  std::vector<std::string> texts;
  std::vector<long long> amounts;
};

// Adds each row's amounts to `table`'s row of the same key (`int_keys`
// then `text_keys`, the table's primary key in order), or inserts it.
// Many rows a statement: one round trip per cell cost most of a day's
// book on PostgreSQL (thousands of cells a chunk, issue #17). The keys are
// distinct (a statement may not update one row twice).
void AddToSums(soci::session& sql, absl::string_view table,
               const std::vector<std::string>& int_keys, const std::vector<std::string>& text_keys,
               const std::vector<std::string>& amounts, const std::vector<SumsRow>& rows) {
  constexpr size_t kRows = 500;
  std::vector<std::string> keys = int_keys;
  keys.insert(keys.end(), text_keys.begin(), text_keys.end());
  std::vector<std::string> updates;
  for (const std::string& a : amounts) {
    updates.push_back(absl::StrCat(a, " = ", table, ".", a, " + excluded.", a));
  }
  const std::string head = absl::StrCat("INSERT INTO ", table, " (", absl::StrJoin(keys, ", "),
                                        ", ", absl::StrJoin(amounts, ", "), ") VALUES ");
  const std::string tail = absl::StrCat(" ON CONFLICT (", absl::StrJoin(keys, ", "),
                                        ") DO UPDATE SET ", absl::StrJoin(updates, ", "));
  for (size_t i = 0; i < rows.size(); i += kRows) {
    Sql insert;
    insert << head;
    for (size_t j = i; j < std::min(rows.size(), i + kRows); ++j) {
      const SumsRow& r = rows[j];
      insert << (j == i ? "(" : ", (") << absl::StrJoin(r.ints, ", ");
      for (const std::string& t : r.texts) (insert << ", ").Text(t);
      insert << ", " << absl::StrJoin(r.amounts, ", ") << ")";
    }
    insert << tail;
    insert.Run(sql);
  }
}

// Adds `deltas` to day `d`'s portfolio rows; a row left with no case goes.
void ApplyDeltas(soci::session& sql, long long d, const PortfolioDeltas& deltas) {
  std::vector<SumsRow> rows;
  for (const auto& [key, delta] : deltas) {
    if (delta[0] == 0 && delta[1] == 0 && delta[2] == 0) continue;
    const auto& [stage, case_class, bucket, policy_version, product, region, queue] = key;
    rows.push_back({{d, stage, case_class, bucket, policy_version},
                    {product, region, queue},
                    {delta[0], delta[1], delta[2]}});
  }
  AddToSums(sql, "report_portfolio", {"day", "stage", "case_class", "bucket", "policy_version"},
            {"product", "region", "queue"}, {"cases", "overdue_fen", "principal_fen"}, rows);
  sql << "DELETE FROM report_portfolio WHERE day = " << d << " AND cases = 0";
}

// Changes to report_book_current_sums (migration 21), by (oldest due day,
// policy version, product, region, queue): cases, overdue.
using CurrentKey = std::tuple<long long, long long, std::string, std::string, std::string>;
using CurrentDeltas = std::map<CurrentKey, std::array<long long, 2>>;

void CountCurrent(CurrentDeltas& deltas, const Figures& f, long long sign) {
  std::array<long long, 2>& d =
      deltas[{f.oldest_due_day, f.policy_version, f.product, f.region, f.queue}];
  d[0] += sign;
  d[1] += sign * f.overdue_fen;
}

// Adds `deltas` to report_book_current_sums; a row left with no case goes.
void ApplyCurrentDeltas(soci::session& sql, const CurrentDeltas& deltas) {
  std::vector<SumsRow> rows;
  bool emptied = false;
  for (const auto& [key, delta] : deltas) {
    if (delta[0] == 0 && delta[1] == 0) continue;
    const auto& [oldest_due_day, policy_version, product, region, queue] = key;
    rows.push_back(
        {{oldest_due_day, policy_version}, {product, region, queue}, {delta[0], delta[1]}});
    emptied = emptied || delta[0] < 0;
  }
  AddToSums(sql, "report_book_current_sums", {"oldest_due_day", "policy_version"},
            {"product", "region", "queue"}, {"cases", "overdue_fen"}, rows);
  if (emptied) sql << "DELETE FROM report_book_current_sums WHERE cases = 0";
}

constexpr char kFigureColumns[] =
    "product, region, queue, stage, case_class, oldest_due_day, overdue_fen, principal_fen, "
    "policy_version";

// Moves the kept book (the current intervals and report_portfolio's rows
// of the day report_book_state names) to day `d`: the previous day's rows
// copied, then the cases whose bucket the date moved re-bucketed (an
// oldest due day in [p - t, d - t) for each bucket bound t). Nothing when
// the book is kept on `d` already. One command, so that a crash leaves the
// book on one day or the other. false: the book is kept on a later day.
absl::StatusOr<bool> MoveBookTo(Store& store, long long d) {
  bool forward = true;
  RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
    forward = true;
    return RunReportStep(uow, [&](soci::session& sql, Backend) {
      sql << "DELETE FROM report_snapshot_days WHERE day = " << d;
      Sql state;
      state << "SELECT day FROM report_book_state WHERE state_id = 1";
      std::vector<Sql::Row> kept = state.Rows(sql, 0, 1);
      if (!kept.empty() && kept[0].n[0] > d) {
        forward = false;
        return;
      }
      if (!kept.empty() && kept[0].n[0] == d) return;
      sql << "DELETE FROM report_portfolio WHERE day = " << d;
      if (!kept.empty()) {
        const long long p = kept[0].n[0];
        sql << "INSERT INTO report_portfolio (day, stage, case_class, bucket, policy_version, "
               "product, region, queue, cases, overdue_fen, principal_fen) SELECT "
            << d
            << ", stage, case_class, bucket, policy_version, product, region, queue, cases, "
               "overdue_fen, principal_fen FROM report_portfolio WHERE day = "
            << p;
        // The current intervals whose oldest due day crossed a bucket
        // bound between p and d. Moved by 30 days or less (a day's run),
        // the bounds' ranges are disjoint and read as one index range each
        // (UNION ALL): as one OR, SQLite scanned the whole current book's
        // index for them.
        Sql moved;
        if (d - p <= 30) {
          moved << "SELECT " << kFigureColumns << ", COUNT(*) FROM (";
          const char* separator = "";
          for (long long bound : {0, 30, 60, 90, 180}) {
            moved << separator << "SELECT " << kFigureColumns
                  << " FROM report_book WHERE valid_to_day = " << absl::StrCat(kOpenEnded)
                  << " AND oldest_due_day >= " << absl::StrCat(p - bound)
                  << " AND oldest_due_day < " << absl::StrCat(d - bound);
            separator = " UNION ALL ";
          }
          moved << ") m GROUP BY " << kFigureColumns;
        } else {
          moved << "SELECT " << kFigureColumns
                << ", COUNT(*) FROM report_book WHERE valid_to_day = " << absl::StrCat(kOpenEnded)
                << " AND (";
          const char* separator = "";
          for (long long bound : {0, 30, 60, 90, 180}) {
            moved << separator << "(oldest_due_day >= " << absl::StrCat(p - bound)
                  << " AND oldest_due_day < " << absl::StrCat(d - bound) << ")";
            separator = " OR ";
          }
          moved << ") GROUP BY " << kFigureColumns;
        }
        PortfolioDeltas deltas;
        for (const Sql::Row& r : moved.Rows(sql, 3, 7)) {
          const Figures f = FiguresOf(r, 0);
          Count(deltas, f, p, r.n[6], -1);
          Count(deltas, f, d, r.n[6], +1);
        }
        ApplyDeltas(sql, d, deltas);
      }
      sql << "DELETE FROM report_book_state";
      sql << "INSERT INTO report_book_state (state_id, day) VALUES (1, " << d << ")";
    });
  }));
  return forward;
}

// Records the next chunk of marked cases (report_changed) on day `d`: each
// case's current interval is compared with its row in `cases`, and only
// the cases whose figures differ get rows: the old interval ends on d - 1
// (or goes, when it began on d: an earlier run of the same day wrote it)
// and a new one begins on d; the day's portfolio moves by the difference.
// The marks go in the same command, first, so that a change committed
// after they are read is marked again. Sets `after` to the chunk's last
// case; false when no case was marked after it.
absl::StatusOr<bool> RecordChangedCases(Store& store, long long d, long long& after) {
  constexpr long long kChunk = 5000;
  constexpr size_t kBatch = 500;  // ids or rows per statement
  bool any = false;
  long long last = after;
  RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
    any = false;
    last = after;
    return RunReportStep(uow, [&](soci::session& sql, Backend) {
      // The chunk: the marks from `after` up to the kChunk-th one.
      Sql bound;
      bound << "SELECT case_id FROM report_changed WHERE case_id > ";
      bound.Int(after) << " ORDER BY case_id LIMIT 1 OFFSET ";
      bound.Int(kChunk - 1);
      std::vector<Sql::Row> upto = bound.Rows(sql, 0, 1);
      auto in_chunk = [&](Sql& q, absl::string_view column) {
        q << " " << column << " > ";
        q.Int(after);
        if (!upto.empty()) (q << " AND " << column << " <= ").Int(upto[0].n[0]);
      };
      // The marked cases' current intervals (only this run writes them).
      std::map<long long, std::pair<long long, Figures>> old;  // case -> key, figures
      Sql current;
      current << "SELECT b.product, b.region, b.queue, b.book_key, b.stage, b.case_class, "
                 "b.oldest_due_day, b.overdue_fen, b.principal_fen, b.policy_version FROM "
                 "(SELECT DISTINCT case_id FROM report_changed WHERE";
      in_chunk(current, "case_id");
      current << ") m JOIN report_book b ON b.book_key > m.case_id * "
              << absl::StrCat(kBookKeyShift) << " AND b.book_key < (m.case_id + 1) * "
              << absl::StrCat(kBookKeyShift) << " AND " << NotIndexed(store, "b.valid_to_day")
              << " = " << absl::StrCat(kOpenEnded);
      for (const Sql::Row& r : current.Rows(sql, 3, 7)) {
        old[r.n[0] / kBookKeyShift] = {r.n[0], FiguresOf(r, 1)};
      }
      // The marks go first, so that a change committed after they are read
      // is marked again; then the cases are read as they stand.
      Sql take;
      take << "DELETE FROM report_changed WHERE";
      in_chunk(take, "case_id");
      take << " RETURNING case_id";
      std::vector<long long> ids;
      for (const Sql::Row& r : take.Rows(sql, 0, 1)) ids.push_back(r.n[0]);
      if (ids.empty()) return;
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      any = true;
      last = ids.back();

      // The marked cases' figures now (open cases only). The stage is
      // checked here: in SQL it would make SQLite read the open cases from
      // cases_book instead of the ids.
      std::map<long long, Figures> now;
      for (size_t i = 0; i < ids.size(); i += kBatch) {
        Sql q;
        q << "SELECT product, region, assigned_queue, case_id, stage, case_class, "
             "oldest_due_day, overdue_total_fen, principal_outstanding_fen, policy_version FROM "
             "cases WHERE case_id IN ("
          << absl::StrJoin(ids.begin() + i, ids.begin() + std::min(ids.size(), i + kBatch), ", ")
          << ")";
        for (const Sql::Row& r : q.Rows(sql, 3, 7)) {
          if (workflow::IsOpenStage(static_cast<v1::Stage>(r.n[1]))) now[r.n[0]] = FiguresOf(r, 1);
        }
      }

      // What changed: intervals to end on d - 1, intervals to drop (an
      // earlier run of the same day began them), intervals to begin.
      std::vector<long long> to_end, to_drop;
      std::vector<std::pair<long long, const Figures*>> to_begin;
      PortfolioDeltas deltas;
      CurrentDeltas current_deltas;
      for (long long id : ids) {
        auto was = old.find(id);
        auto is = now.find(id);
        const bool had = was != old.end();
        if (had && is != now.end() && was->second.second == is->second) continue;  // unchanged
        if (!had && is == now.end()) continue;  // closed, and not in the book
        if (had) {
          Count(deltas, was->second.second, d, 1, -1);
          CountCurrent(current_deltas, was->second.second, -1);
          const long long key = was->second.first;
          (key % kBookKeyShift == d ? to_drop : to_end).push_back(key);
        }
        if (is != now.end()) {
          Count(deltas, is->second, d, 1, +1);
          CountCurrent(current_deltas, is->second, +1);
          to_begin.push_back({id * kBookKeyShift + d, &is->second});
        }
      }
      for (size_t i = 0; i < to_end.size(); i += kBatch) {
        sql << "UPDATE report_book SET valid_to_day = " << d - 1 << " WHERE book_key IN ("
            << absl::StrJoin(to_end.begin() + i,
                             to_end.begin() + std::min(to_end.size(), i + kBatch), ", ")
            << ")";
      }
      for (size_t i = 0; i < to_drop.size(); i += kBatch) {
        sql << "DELETE FROM report_book WHERE book_key IN ("
            << absl::StrJoin(to_drop.begin() + i,
                             to_drop.begin() + std::min(to_drop.size(), i + kBatch), ", ")
            << ")";
      }
      for (size_t i = 0; i < to_begin.size(); i += kBatch) {
        Sql insert;
        insert << "INSERT INTO report_book (book_key, valid_from_day, valid_to_day, stage, "
                  "case_class, oldest_due_day, overdue_fen, principal_fen, policy_version, "
                  "product, region, queue) VALUES ";
        for (size_t j = i; j < std::min(to_begin.size(), i + kBatch); ++j) {
          const Figures& f = *to_begin[j].second;
          insert << (j == i ? "(" : ", (")
                 << absl::StrCat(to_begin[j].first, ", ", d, ", ", kOpenEnded, ", ", f.stage, ", ",
                                 f.case_class, ", ", f.oldest_due_day, ", ", f.overdue_fen, ", ",
                                 f.principal_fen, ", ", f.policy_version, ", ");
          insert.Text(f.product) << ", ";
          insert.Text(f.region) << ", ";
          insert.Text(f.queue) << ")";
        }
        insert.Run(sql);
      }
      ApplyDeltas(sql, d, deltas);
      ApplyCurrentDeltas(sql, current_deltas);
    });
  }));
  after = last;
  return any;
}

// Moves the stage changes counted as they committed
// (report_stage_change_deltas, migration 23) into
// report_stage_changes_by_day, one row per day and group, so that the
// deltas a report sums stay a day's worth. The reports read both tables,
// so a count is never in neither nor in both: on SQLite the one writer
// moves them in one transaction; on PostgreSQL the DELETE ... RETURNING
// takes exactly the rows it moves, and rows a writer commits meanwhile
// wait for the next run (a second run at once, such as a start-up catch-up
// beside the leader's run, waits for the first's row locks and then finds
// those rows gone).
absl::Status FoldStageChanges(Store& store) {
  return store.Write([&](UnitOfWork& uow) {
    return RunReportStep(uow, [&](soci::session& sql, Backend backend) {
      const std::string insert = absl::StrCat(
          "INSERT INTO report_stage_changes_by_day (", kStageChangeKeyColumns, ", changes) SELECT ",
          kStageChangeKeyColumns, ", CAST(SUM(changes) AS BIGINT) FROM ");
      const std::string add = absl::StrCat(
          " GROUP BY ", kStageChangeKeyColumns, " ON CONFLICT (", kStageChangeKeyColumns,
          ") DO UPDATE SET changes = report_stage_changes_by_day.changes + excluded.changes");
      if (backend == Backend::kPostgres) {
        sql << "WITH moved AS (DELETE FROM report_stage_change_deltas RETURNING *) " << insert
            << "moved" << add;
      } else {
        // "WHERE true": SQLite's parser would otherwise read ON CONFLICT
        // as a join constraint of the SELECT.
        sql << insert << "report_stage_change_deltas WHERE true" << add;
        sql << "DELETE FROM report_stage_change_deltas";
      }
    });
  });
}

}  // namespace

absl::Status TakeReportSnapshot(Store& store, absl::CivilDay day) {
  const long long d = DayNumber(day);
  ASSIGN_OR_RETURN(const bool forward, MoveBookTo(store, d));
  if (!forward) {
    return absl::FailedPreconditionError(
        absl::StrCat("report snapshot of ", FormatDay(day),
                     ": the book is kept on a later day; snapshots only move forward"));
  }
  long long after = 0;
  for (;;) {
    ASSIGN_OR_RETURN(const bool more, RecordChangedCases(store, d, after));
    if (!more) break;
  }
  const long long now = absl::ToUnixMicros(StoreNow(store));
  RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
    return RunReportStep(uow, [&](soci::session& sql, Backend) {
      sql << "INSERT INTO report_snapshot_days (day, cases, per_case, taken_at_us) SELECT " << d
          << ", CAST(COALESCE(SUM(cases), 0) AS BIGINT), 1, " << now
          << " FROM report_portfolio WHERE day = " << d;
    });
  }));
  RETURN_IF_ERROR(FoldOpenTaskChanges(store));
  RETURN_IF_ERROR(FoldStageChanges(store));

  // Retention: old days keep their case figures only on the first and
  // last day of each month. An interval goes once no day that kept them
  // falls in it: those that held the dropped day, began after the kept day
  // before it and ended before the kept day after it.
  ASSIGN_OR_RETURN(std::vector<SnapshotDay> days, ListSnapshotDays(store));
  std::vector<long long> dropped, kept;
  for (const SnapshotDay& old : days) {
    if (!old.per_case) continue;
    const bool drop =
        day - old.day > kDailySnapshotDays && old.day.day() != 1 && (old.day + 1).day() != 1;
    (drop ? dropped : kept).push_back(DayNumber(old.day));
  }
  for (long long x : dropped) {
    const auto next = std::upper_bound(kept.begin(), kept.end(), x);
    const long long before = next == kept.begin() ? -1 : *(next - 1);
    const long long later = next == kept.end() ? kOpenEnded : *next;
    RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) {
      return RunReportStep(uow, [&](soci::session& sql, Backend) {
        sql << "DELETE FROM report_book WHERE valid_to_day >= " << x << " AND valid_to_day < "
            << later << " AND valid_from_day > " << before << " AND valid_from_day <= " << x;
        sql << "UPDATE report_snapshot_days SET per_case = 0 WHERE day = " << x;
      });
    }));
  }
  // The writer's page cache is not given back here. It is bounded by its
  // limit (StoreOptions::sqlite_writer_cache_kib, 192 MiB: the server
  // stays at about 240 MB at 1,000,000 cases, day after day), and what a
  // day's run freed and trimmed the next day's aging had to allocate and
  // fault in again one page at a time: giving half back each day, typical
  // days at 1,000,000 cases took 5.6 s against 4.7 s (bench/RESULTS.md).
  if (store.backend() != Backend::kSqlite) return absl::OkStatus();
  // The day's writes (aging, this run) go into the WAL, which the
  // writer's hook hands to the WAL checkpointer only past StoreOptions::
  // sqlite_wal_autocheckpoint_pages (1 GiB, for imports); every read
  // searches the WAL, so a few days of it made each day's run slower
  // than the last (17 s -> 60 s a day over seven days at 1,000,000
  // cases). Past kWalCheckpoint bytes the checkpointer is asked now: a
  // passive checkpoint on its own connection, so that the next day's
  // writes start the WAL over. The file's size bounds the log's length
  // from above (the writer never shrinks the file: storage/sql.cc), so a
  // file that once grew past it asks every day; a passive checkpoint of a
  // short log costs little. A smaller file is left alone: it costs reads
  // nothing.
  constexpr std::uintmax_t kWalCheckpoint = 64 << 20;
  RETURN_IF_ERROR(ReadForReport(store, [&store](soci::session& sql) {
    Sql main;
    main << "SELECT file FROM pragma_database_list WHERE name = 'main'";
    std::vector<Sql::Row> files = main.Rows(sql, 1, 0);
    if (files.empty() || files[0].s[0].empty()) return absl::OkStatus();
    std::error_code error;
    const std::uintmax_t wal = std::filesystem::file_size(files[0].s[0] + "-wal", error);
    if (!error && wal >= kWalCheckpoint) RequestWalCheckpoint(store);
    return absl::OkStatus();
  }));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SnapshotDay>> ListSnapshotDays(Store& store) {
  return ReadReport<std::vector<SnapshotDay>>(
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
  return ReadReport<std::optional<absl::CivilDay>>(
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
  return ReadReport<std::map<int64_t, int64_t>>(
      store, [&](soci::session& sql, std::map<int64_t, int64_t>& out) -> absl::Status {
        Sql q;
        q << "SELECT policy_version, COUNT(*) FROM cases WHERE stage IN " << kOpenStages
          << " GROUP BY policy_version";
        for (const Sql::Row& r : q.Rows(sql, 0, 2)) out[r.n[0]] = r.n[1];
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<PolicyVersionInfo>> ListPolicyVersionInfo(Store& store) {
  return ReadReport<std::vector<PolicyVersionInfo>>(
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
