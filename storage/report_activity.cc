// The activity reports: strategy effectiveness, overdue reasons, agent
// productivity, SLA breaches and incidents (declared in reports.h).
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "soci/soci.h"
#include "storage/codec.h"
#include "storage/report_open_tasks.h"
#include "storage/report_sql.h"
#include "storage/reports.h"
#include "workflow/dates.h"

namespace collections::storage {

using workflow::DayFromNumber;
using workflow::DayNumber;
using workflow::DayToProto;
using workflow::FormatDay;

// --- Strategy effectiveness ------------------------------------------------------

absl::StatusOr<v1::EffectivenessReport> ReadEffectiveness(Store& store, const ReportQuery& f) {
  return ReadReport<v1::EffectivenessReport>(
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

        // Money, attributed (last touch), by step. Without a queue filter
        // every money row counts: summed by the money's own class and
        // stage first, then each attributed row moved to its task's row.
        // With one, only money attributed to a task of that queue counts.
        auto count_money = [&](long long day, long long recovered, long long waived,
                               long long unallocated) {
          totals.set_recovered_fen(totals.recovered_fen() + recovered);
          totals.set_concessions_fen(totals.concessions_fen() + waived);
          totals.set_unallocated_fen(totals.unallocated_fen() + unallocated);
          if (v1::TrendPoint* p = point((day - DayNumber(f.from)) / steps.step)) {
            p->set_recovered_fen(p->recovered_fen() + recovered);
            p->set_unallocated_fen(p->unallocated_fen() + unallocated);
          }
        };
        auto add_money = [](v1::EffectivenessRow& e, long long recovered, long long waived,
                            long long unallocated) {
          e.set_recovered_fen(e.recovered_fen() + recovered);
          e.set_concessions_fen(e.concessions_fen() + waived);
          e.set_unallocated_fen(e.unallocated_fen() + unallocated);
        };
        struct MoneySums {
          long long rows = 0, recovered = 0, waived = 0, unallocated = 0;
        };
        std::map<std::pair<long long, long long>, MoneySums> unattributed;  // class, stage
        if (f.queue.empty()) {
          Sql money;
          money << "SELECT m.case_class, m.stage_before, m.day, COUNT(*), "
                << Sum("m.recovered_fen") << ", " << Sum("m.waived_fen") << ", "
                << Sum("m.unallocated_fen");
          MoneyFrom(money, f);
          money << " GROUP BY m.case_class, m.stage_before, m.day";
          for (const Sql::Row& r : money.Rows(sql, 0, 7)) {
            MoneySums& u = unattributed[{r.n[0], r.n[1]}];
            u.rows += r.n[3];
            u.recovered += r.n[4];
            u.waived += r.n[5];
            u.unallocated += r.n[6];
            count_money(r.n[2], r.n[4], r.n[5], r.n[6]);
          }
        }
        ForEachAttributedMoney(sql, f, [&](const MoneyRow& m, const MoneyTask& task) {
          if (f.queue.empty()) {
            MoneySums& u = unattributed[{m.case_class, m.stage_before}];
            u.rows -= 1;
            u.recovered -= m.recovered_fen;
            u.waived -= m.waived_fen;
            u.unallocated -= m.unallocated_fen;
          } else {
            count_money(m.day, m.recovered_fen, m.waived_fen, m.unallocated_fen);
          }
          add_money(row(task.case_class, task.stage_before, task.task_type), m.recovered_fen,
                    m.waived_fen, m.unallocated_fen);
        });
        for (const auto& [key, u] : unattributed) {
          if (u.rows > 0)
            add_money(row(key.first, key.second, 0), u.recovered, u.waived, u.unallocated);
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
        // By day and change, from the stage changes counted by day
        // (StageChangeCounts); days are summed into steps here.
        Sql flow;
        StageChangeCounts(flow, no_queue, "c.day, c.stage_before, c.stage_after", "",
                          /*with_queue=*/false);
        for (const Sql::Row& r : flow.Rows(sql, 0, 4)) {
          const long long before = r.n[1], after = r.n[2];
          const long long cures = after == v1::STAGE_RESOLVED ? r.n[3] : 0;
          const long long entries = (before == 0 || before == v1::STAGE_RESOLVED) &&
                                            after >= v1::STAGE_REMINDER &&
                                            after <= v1::STAGE_LEGAL_ACTION
                                        ? r.n[3]
                                        : 0;
          totals.set_cured(totals.cured() + cures);
          totals.set_entered(totals.entered() + entries);
          if (v1::TrendPoint* p = point((r.n[0] - DayNumber(f.from)) / steps.step)) {
            p->set_cured(p->cured() + cures);
            p->set_entered(p->entered() + entries);
          }
        }

        for (auto& [key, r] : rows) *out.add_rows() = std::move(r);
        for (v1::TrendPoint& p : trend) *out.add_trend() = std::move(p);
        out.set_cure_window_days(f.cure_window_days);
        return absl::OkStatus();
      });
}

// --- Overdue reasons -------------------------------------------------------------

absl::StatusOr<v1::OverdueReasonsReport> ReadOverdueReasons(Store& store, const ReportQuery& f) {
  return ReadReport<v1::OverdueReasonsReport>(
      store, [&](soci::session& sql, v1::OverdueReasonsReport& out) -> absl::Status {
        auto from = [&](Sql& q) {
          q << " FROM report_events r JOIN tasks t ON t.task_id = r.task_id WHERE r.task_id > 0 "
               "AND r.reason > 0";
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
  return ReadReport<v1::AgentProductivityReport>(
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

        std::map<std::pair<std::string, std::string>, std::pair<long long, long long>> money;
        ForEachAttributedMoney(sql, f, [&](const MoneyRow& m, const MoneyTask& task) {
          if (!task.has_row) return;
          std::pair<long long, long long>& sums = money[{task.agent, task.queue}];
          sums.first += m.recovered_fen;
          sums.second += m.unallocated_fen;
        });
        for (const auto& [key, sums] : money) {
          auto it = rows.find(key);
          if (it == rows.end()) continue;
          it->second.set_recovered_fen(sums.first);
          it->second.set_unallocated_fen(sums.second);
        }
        for (auto& [key, a] : rows) *out.add_rows() = std::move(a);
        out.set_cure_window_days(f.cure_window_days);
        return absl::OkStatus();
      });
}

// --- SLA and incidents -------------------------------------------------------------

absl::StatusOr<v1::SlaReport> ReadSlaBreaches(Store& store, const ReportQuery& f) {
  return ReadReport<v1::SlaReport>(
      store, [&](soci::session& sql, v1::SlaReport& out) -> absl::Status {
        const long long now = MicrosOf(f.now);
        const ReadSnapshot snapshot(sql, store.backend());
        std::map<std::string, v1::SlaRow> rows;
        // Open work from its counts (migration 18), not from every open
        // task: 1.8 million of them on a 1,000,000-case book.
        for (const auto& [queue, work] : OpenTaskCounts(sql, store.backend(), f, now)) {
          v1::SlaRow& row = rows[queue];
          row.set_queue(queue);
          row.set_open(work.open);
          row.set_past_deadline(work.past_deadline);
          row.set_incidents(work.incidents);
        }
        // Held-back tasks are few (usually none): read from tasks_held,
        // each one's case looked up for the case filters.
        const bool by_case = !f.product.empty() || !f.region.empty() || f.policy_version > 0;
        auto held_from = [&](Sql& q) {
          // Without statistics SQLite takes tasks_open, every open task,
          // rather than the held ones of tasks_held (migration 13).
          q << " FROM tasks t"
            << (store.backend() == Backend::kSqlite ? " INDEXED BY tasks_held" : "")
            << (by_case ? " CROSS JOIN cases c WHERE c.case_id = t.case_id AND" : " WHERE")
            << " t.state = 1 AND t.hold_reason <> '' AND t.not_before_us > ";
          q.Int(now);
          CaseFilters(q, f, "c");
          QueueFilter(q, f, "t");
        };
        Sql held;
        held << "SELECT t.queue, COUNT(*)";
        held_from(held);
        held << " GROUP BY t.queue";
        for (const Sql::Row& r : held.Rows(sql, 1, 1)) {
          v1::SlaRow& row = rows[r.s[0]];
          row.set_queue(r.s[0]);
          row.set_held_back(r.n[0]);
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
        held_from(holds);
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

}  // namespace collections::storage
