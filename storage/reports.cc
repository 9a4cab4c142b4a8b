#include "storage/reports.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "soci/soci.h"
#include "storage/codec.h"
#include "storage/report_facts.h"
#include "storage/report_sql.h"
#include "workflow/dates.h"

namespace collections::storage {

using workflow::DayFromNumber;
using workflow::DayNumber;
using workflow::DayToProto;
using workflow::FormatDay;

const std::vector<std::string>& DpdBuckets() {
  static const auto* buckets =
      new std::vector<std::string>{"current", "1-30", "31-60", "61-90", "91-180", "180+"};
  return *buckets;
}

// --- Portfolio -----------------------------------------------------------------

absl::StatusOr<v1::PortfolioReport> ReadPortfolio(Store& store, const ReportQuery& f) {
  return ReadReport<v1::PortfolioReport>(
      store, [&](soci::session& sql, v1::PortfolioReport& out) -> absl::Status {
        absl::CivilDay day = f.to;
        // (class, stage, bucket) -> cases, overdue, principal
        std::map<std::tuple<long long, long long, long long>, std::array<long long, 3>> cells;
        if (IsLive(f, f.to)) {
          out.set_live(true);
          const long long t = DayNumber(day);
          Sql kept;
          kept << "SELECT COUNT(*) FROM report_book_state WHERE day = ";
          kept.Int(t);
          std::vector<Sql::Row> state = kept.Rows(sql, 0, 1);
          Sql q;
          if (!state.empty() && state[0].n[0] > 0) {
            // Today's run recorded the book (report_portfolio of today);
            // the cases marked as changed since are taken out again (their
            // current interval) and put back as they stand. One statement,
            // so that the parts see one state of the tables. Columns:
            // sign, stage, class, bucket, cases, overdue, principal.
            q << "SELECT 1, b.stage, b.case_class, b.bucket, b.cases, b.overdue_fen, "
                 "b.principal_fen FROM report_portfolio b WHERE b.day = ";
            q.Int(t);
            BookFilters(q, f, "b");
            q << " UNION ALL SELECT -1, s.stage, s.case_class, " << BucketSql(t, "s.oldest_due_day")
              << ", 1, s.overdue_fen, s.principal_fen FROM (SELECT DISTINCT case_id FROM "
                 "report_changed) m JOIN report_book s ON s.book_key > m.case_id * "
              << absl::StrCat(kBookKeyShift) << " AND s.book_key < (m.case_id + 1) * "
              << absl::StrCat(kBookKeyShift) << " AND " << NotIndexed(store, "s.valid_to_day")
              << " = " << absl::StrCat(kOpenEnded) << " WHERE 1 = 1";
            BookFilters(q, f, "s");
            q << " UNION ALL SELECT 1, c.stage, c.case_class, " << BucketSql(t, "c.oldest_due_day")
              << ", 1, c.overdue_total_fen, c.principal_outstanding_fen FROM (SELECT DISTINCT "
                 "case_id FROM report_changed) m JOIN cases c ON c.case_id = m.case_id WHERE "
              << NotIndexed(store, "c.stage") << " IN " << kOpenStages;
          } else {
            // Not run yet: the open cases as they stand, summed like a
            // snapshot, in the order of cases_book (an index-only pass).
            q << "SELECT 1, c.stage, c.case_class, " << BucketSql(t, "c.oldest_due_day")
              << ", COUNT(*), " << Sum("c.overdue_total_fen") << ", "
              << Sum("c.principal_outstanding_fen") << " FROM cases c WHERE c.stage IN "
              << kOpenStages;
          }
          CaseFilters(q, f, "c");
          if (!f.queue.empty()) (q << " AND c.assigned_queue = ").Text(f.queue);
          if (state.empty() || state[0].n[0] == 0) {
            q << " GROUP BY c.stage, c.case_class, c.oldest_due_day";
          }
          for (const Sql::Row& r : q.Rows(sql, 0, 7)) {
            std::array<long long, 3>& c = cells[{r.n[2], r.n[1], r.n[3]}];
            for (int i = 0; i < 3; ++i) c[i] += r.n[0] * r.n[4 + i];
          }
          for (auto it = cells.begin(); it != cells.end();) {
            it = it->second[0] == 0 ? cells.erase(it) : std::next(it);
          }
        } else {
          ASSIGN_OR_RETURN(day, SnapshotOnOrBefore(sql, f.to, /*per_case=*/false, "portfolio"));
          Sql q;
          q << "SELECT b.case_class, b.stage, b.bucket, " << Sum("b.cases") << ", "
            << Sum("b.overdue_fen") << ", " << Sum("b.principal_fen")
            << " FROM report_portfolio b WHERE b.day = ";
          q.Int(DayNumber(day));
          BookFilters(q, f, "b");
          q << " GROUP BY b.case_class, b.stage, b.bucket";
          for (const Sql::Row& r : q.Rows(sql, 0, 6)) {
            cells[{r.n[0], r.n[1], r.n[2]}] = {r.n[3], r.n[4], r.n[5]};
          }
        }
        *out.mutable_as_of() = DayToProto(day);
        *out.mutable_data_from() = DayToProto(day);
        *out.mutable_data_to() = DayToProto(day);
        for (const auto& [key, n] : cells) {
          v1::PortfolioCell* c = out.add_cells();
          c->set_case_class(static_cast<v1::CaseClass>(std::get<0>(key)));
          c->set_stage(static_cast<v1::Stage>(std::get<1>(key)));
          c->set_dpd_bucket(DpdBuckets().at(std::get<2>(key)));
          c->set_cases(n[0]);
          c->set_overdue_fen(n[1]);
          c->set_principal_outstanding_fen(n[2]);
          out.set_cases(out.cases() + n[0]);
          out.set_overdue_fen(out.overdue_fen() + n[1]);
          out.set_principal_outstanding_fen(out.principal_outstanding_fen() + n[2]);
        }
        return absl::OkStatus();
      });
}

// --- Stage funnel --------------------------------------------------------------

absl::StatusOr<v1::StageFunnelReport> ReadStageFunnel(Store& store, const ReportQuery& f) {
  return ReadReport<v1::StageFunnelReport>(
      store, [&](soci::session& sql, v1::StageFunnelReport& out) -> absl::Status {
        // Each case's first entry into each stage in the period (no
        // earlier entry into that stage on or after `from`), and the stage
        // the period left the case in. The filters apply to the entry, not
        // to the later changes. The entries are counted by day
        // (StageChangeCounts, migration 21), never ordered by case.
        const ReadSnapshot snapshot(sql, store.backend());
        const long long to = DayNumber(f.to);
        // An entry among the rows of report_events_changed_again (stage
        // changes of the period): no column outside that index, so that
        // reading them needs no table row on SQLite (an index-only scan
        // on PostgreSQL where the pages allow).
        auto entry_filters = [&](Sql& q) {
          q << " e.prev_entry_day < ";
          q.Int(DayNumber(f.from));
          q << " AND e.stage_after IN " << kOpenStages;
          EventFilters(q, f, "e");
          if (!f.queue.empty()) (q << " AND e.queue = ").Text(f.queue);
        };
        struct Counts {
          long long entered = 0, resolved = 0, moved_on = 0, still_there = 0, closed = 0;
        };
        std::map<int, Counts> by_stage;
        // Every entry of the period, by stage, from the stage changes
        // counted by day (StageChangeCounts): first still there, less
        // below those whose case changed stage again by `to`.
        Sql entered;
        StageChangeCounts(entered, f, "c.stage_after",
                          absl::StrCat("c.stage_after IN ", kOpenStages, " AND c.prev_entry_day < ",
                                       DayNumber(f.from)),
                          /*with_queue=*/true);
        for (const Sql::Row& r : entered.Rows(sql, 0, 2)) {
          by_stage[r.n[0]].entered += r.n[1];
          by_stage[r.n[0]].still_there += r.n[1];
        }
        // The others changed stage again by `to`. The changes of the
        // period followed by another on or before `to` are one range of
        // report_events_changed_again (migration 17), the entries among
        // them marked by their stage (0: not an entry); each case's last
        // one names in next_stage the stage of its change in force at
        // `to`, where the period left it. Joined here by case: a lookup
        // per case that changed again cost more than the rest of the
        // report after ten days' runs (issue #17).
        struct LastChange {
          long long seq = -1, stage = 0;
        };
        absl::flat_hash_map<long long, LastChange> last;
        std::vector<std::pair<long long, long long>> entries;  // case, stage entered
        Sql moved;
        moved << "SELECT e.case_id, e.seq, e.next_stage, CASE WHEN";
        entry_filters(moved);
        moved << " THEN e.stage_after ELSE 0 END FROM report_events e"
              << (store.backend() == Backend::kSqlite ? " INDEXED BY report_events_changed_again"
                                                      : "")
              << " WHERE e.stage_after <> e.stage_before AND e.next_change_day < "
              << absl::StrCat(kNoLaterChange) << " AND e.next_change_day <= ";
        moved.Int(to);
        moved << " AND e.next_change_day >= ";
        moved.Int(DayNumber(f.from));
        PeriodFilter(moved, f, "e");
        moved.ForEachRow(sql, 0, 4, [&](const Sql::Row& r) {
          LastChange& l = last[r.n[0]];
          if (r.n[1] > l.seq) l = {r.n[1], r.n[2]};
          if (r.n[3] != 0) entries.push_back({r.n[0], r.n[3]});
        });
        for (const auto& [case_id, stage] : entries) {
          Counts& c = by_stage[stage];
          const long long end = last[case_id].stage;
          c.still_there -= 1;  // counted as an entry above
          if (end == v1::STAGE_RESOLVED) c.resolved += 1;
          if (end == v1::STAGE_CLOSED) c.closed += 1;
          if (end == stage) c.still_there += 1;
          if (end >= v1::STAGE_REMINDER && end <= v1::STAGE_LEGAL_ACTION && end != stage) {
            c.moved_on += 1;
          }
        }
        for (v1::Stage stage : {v1::STAGE_REMINDER, v1::STAGE_COUNSELLING, v1::STAGE_REPAYMENT_PLAN,
                                v1::STAGE_LEGAL_ACTION}) {
          v1::FunnelRow* row = out.add_rows();
          row->set_stage(stage);
          const Counts& c = by_stage[stage];
          row->set_entered(c.entered);
          row->set_resolved(c.resolved);
          row->set_moved_on(c.moved_on);
          row->set_still_there(c.still_there);
          row->set_closed(c.closed);
        }
        return absl::OkStatus();
      });
}

// --- Roll rates ----------------------------------------------------------------

absl::StatusOr<v1::RollRateReport> ReadRollRates(Store& store, const ReportQuery& f) {
  return ReadReport<v1::RollRateReport>(
      store, [&](soci::session& sql, v1::RollRateReport& out) -> absl::Status {
        const ReadSnapshot snapshot(sql, store.backend());
        // The end: today's book live, or the snapshot of `to` (or the
        // newest before it).
        const bool live = IsLive(f, f.to);
        absl::CivilDay end = f.to;
        if (!live) {
          ASSIGN_OR_RETURN(end, SnapshotOnOrBefore(sql, f.to, /*per_case=*/true, "roll rates: to"));
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

        // The start book's rows (report_book), each with the case's row in
        // the end book; a case missing at the end left the book (code
        // kResolved for now). Buckets are those of each book's day. Most
        // cases did not change since the start: their interval is still
        // the current one, so the end row is the start row, bucketed on
        // the end day, summed by due day from report_book_current with no
        // join; so are those whose interval closed after the end day.
        // Only the intervals closed between the two days are joined with
        // the case's end row (below). Today's book is the current
        // intervals (the cases as the last day's run recorded them), but
        // for the cases marked as changed since (report_changed): their
        // rows are taken out again and the case as it stands now put in.
        // One read transaction, so that the parts see one state of the
        // tables.
        const long long s_day = DayNumber(*start), e_day = DayNumber(end);
        const std::string start_bucket = BucketSql(s_day, "s.oldest_due_day");
        const std::string end_bucket = BucketSql(e_day, "e.oldest_due_day");
        const std::string id = absl::StrCat("(s.book_key / ", kBookKeyShift, ")");
        const std::string open_ended = absl::StrCat(kOpenEnded);
        // Columns: sign, start bucket, end bucket, cases, overdue at the
        // start, overdue at the end.
        // The current intervals that began on or before the start day:
        // their sums by due day (report_book_current_sums, migration 21)
        // less the current intervals that began after it (the cases that
        // changed since, one range of report_book_current_began).
        Sql q;
        q << "SELECT 1, " << start_bucket << ", " << BucketSql(e_day, "s.oldest_due_day") << ", "
          << Sum("s.cases") << ", " << Sum("s.overdue_fen") << ", " << Sum("s.overdue_fen")
          << " FROM report_book_current_sums s WHERE 1 = 1";
        BookFilters(q, f, "s");
        q << " GROUP BY s.oldest_due_day UNION ALL SELECT -1, " << start_bucket << ", "
          << BucketSql(e_day, "s.oldest_due_day") << ", COUNT(*), " << Sum("s.overdue_fen") << ", "
          << Sum("s.overdue_fen") << " FROM report_book s"
          << (store.backend() == Backend::kSqlite ? " INDEXED BY report_book_current_began" : "")
          << " WHERE s.valid_to_day = " << open_ended << " AND s.valid_from_day > ";
        q.Int(s_day);
        BookFilters(q, f, "s");
        q << " GROUP BY s.oldest_due_day";
        // The end row of alias s's case on a live end: its current interval.
        auto end_row = [&](Sql& part) {
          part << " LEFT JOIN report_book e ON e.book_key > " << id << " * "
               << absl::StrCat(kBookKeyShift) << " AND e.book_key < (" << id << " + 1) * "
               << absl::StrCat(kBookKeyShift) << " AND " << NotIndexed(store, "e.valid_to_day")
               << " = " << open_ended;
        };
        auto end_columns = [&](Sql& part, int sign, absl::string_view overdue) {
          part << " UNION ALL SELECT " << absl::StrCat(sign) << ", " << start_bucket
               << ", CASE WHEN e.oldest_due_day IS NULL THEN " << absl::StrCat(kResolved)
               << " ELSE " << end_bucket << " END, COUNT(*), " << Sum("s.overdue_fen") << ", "
               << Sum(absl::StrCat("COALESCE(e.", overdue, ", 0)"));
        };
        if (!live) {
          // Closed since the start but still holding on the end day: the
          // end row is the start row, as above (migration 17's index).
          q << " UNION ALL SELECT 1, " << start_bucket << ", "
            << BucketSql(e_day, "s.oldest_due_day") << ", COUNT(*), " << Sum("s.overdue_fen")
            << ", " << Sum("s.overdue_fen") << " FROM report_book s" << ClosedRolls(store)
            << " WHERE s.valid_to_day >= ";
          q.Int(e_day);
          q << " AND s.valid_to_day < " << open_ended << " AND s.valid_from_day <= ";
          q.Int(s_day);
          BookFilters(q, f, "s");
          q << " GROUP BY s.oldest_due_day";
        }
        if (live) {
          constexpr char kMarked[] =
              " FROM (SELECT DISTINCT case_id FROM report_changed) m JOIN report_book s ON";
          end_columns(q, -1, "overdue_fen");
          q << kMarked;
          BookRowOf(q, "s", "m.case_id", *start);
          end_row(q);
          q << " WHERE 1 = 1";
          BookFilters(q, f, "s");
          q << " GROUP BY 2, 3";
          end_columns(q, +1, "overdue_total_fen");
          q << kMarked;
          BookRowOf(q, "s", "m.case_id", *start);
          q << " LEFT JOIN cases e ON e.case_id = m.case_id AND +e.stage IN " << kOpenStages
            << " WHERE 1 = 1";
          BookFilters(q, f, "s");
          q << " GROUP BY 2, 3";
        }
        std::map<std::pair<long long, long long>, Sql::Row> cells;
        std::map<long long, std::pair<long long, long long>> at_start;  // cases, fen
        for (const Sql::Row& r : q.Rows(sql, 0, 6)) {
          const long long sign = r.n[0];
          at_start[r.n[1]].first += sign * r.n[3];
          at_start[r.n[1]].second += sign * r.n[4];
          Sql::Row& cell = cells[{r.n[1], r.n[2]}];
          cell.n.resize(5, 0);
          cell.n[0] = r.n[1];
          cell.n[1] = r.n[2];
          for (int i = 2; i < 5; ++i) cell.n[i] += sign * r.n[i + 1];
        }
        // The cases whose start interval ended before the end day (on a
        // live end: any that ended): each one's end row is an interval
        // that began after the start day. Both sides are one range of an
        // index each (migration 17), joined here by case: a lookup per
        // changed case in the database cost more than the rest of the
        // report after ten days' runs (issue #17). Start rows by case:
        // due day, overdue.
        absl::flat_hash_map<long long, std::pair<long long, long long>> changed;
        Sql started;
        started << "SELECT s.book_key, s.oldest_due_day, s.overdue_fen FROM report_book s"
                << ClosedRolls(store) << " WHERE s.valid_to_day >= ";
        started.Int(s_day);
        // The literal bound lets SQLite use the partial index.
        started << " AND s.valid_to_day < " << open_ended;
        if (!live) {
          started << " AND s.valid_to_day < ";
          started.Int(e_day);
        }
        started << " AND s.valid_from_day <= ";
        started.Int(s_day);
        BookFilters(started, f, "s");
        started.ForEachRow(sql, 0, 3, [&](const Sql::Row& r) {
          changed[r.n[0] / kBookKeyShift] = {r.n[1], r.n[2]};
        });
        auto add = [&](long long from_bucket, long long to_bucket, long long start_fen,
                       long long end_fen) {
          at_start[from_bucket].first += 1;
          at_start[from_bucket].second += start_fen;
          Sql::Row& cell = cells[{from_bucket, to_bucket}];
          cell.n.resize(5, 0);
          cell.n[0] = from_bucket;
          cell.n[1] = to_bucket;
          cell.n[2] += 1;
          cell.n[3] += start_fen;
          cell.n[4] += end_fen;
        };
        if (!changed.empty()) {
          Sql ended;
          ended << "SELECT e.book_key, e.oldest_due_day, e.overdue_fen FROM report_book e"
                << (store.backend() == Backend::kSqlite ? " INDEXED BY report_book_began" : "")
                << " WHERE e.valid_from_day > ";
          ended.Int(s_day);
          if (live) {
            ended << " AND e.valid_to_day = " << open_ended;
          } else {
            ended << " AND e.valid_from_day <= ";
            ended.Int(e_day);
            ended << " AND e.valid_to_day >= ";
            ended.Int(e_day);
          }
          ended.ForEachRow(sql, 0, 3, [&](const Sql::Row& r) {
            auto it = changed.find(r.n[0] / kBookKeyShift);
            if (it == changed.end()) return;
            add(BucketOf(s_day, it->second.first), BucketOf(e_day, r.n[1]), it->second.second,
                r.n[2]);
            changed.erase(it);
          });
          // No end row: the case left the book.
          for (const auto& [case_key, start_row] : changed) {
            add(BucketOf(s_day, start_row.first), kResolved, start_row.second, 0);
          }
        }
        for (auto it = cells.begin(); it != cells.end();) {
          it = it->second.n[2] == 0 ? cells.erase(it) : std::next(it);
        }
        // Of those that left, the ones closed in the period: CLOSED is
        // final, so one closing event in the period settles it; the rest
        // were cured (and may have fallen overdue again since).
        // The period's closing events first, then each one's start row:
        // without statistics SQLite chose the other order, a pass over the
        // whole book probing the events (0.4 s at 1,000,000 cases with no
        // closing at all); CROSS JOIN keeps the order as written there.
        Sql closed;
        closed << "SELECT " << start_bucket << ", COUNT(*), " << Sum("s.overdue_fen")
               << " FROM report_events g"
               << (store.backend() == Backend::kSqlite ? " INDEXED BY report_events_closed" : "")
               << " CROSS JOIN report_book s WHERE";
        BookRowOf(closed, "s", "g.case_id", *start);
        closed << " AND g.stage_after = 6 AND g.stage_before <> 6 AND g.day >= ";
        closed.Int(DayNumber(*start));
        closed << " AND g.day <= ";
        closed.Int(DayNumber(end));
        BookFilters(closed, f, "s");
        closed << " GROUP BY " << start_bucket;
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

}  // namespace collections::storage
