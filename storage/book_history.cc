// The book as the what-if simulation reads it: the open cases with their
// open tasks, page by page, and the behaviour rates the book's own history
// shows, from the report facts the writer keeps with every transition.
#include <algorithm>
#include <cmath>
#include <future>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "soci/soci.h"
#include "storage/codec.h"
#include "storage/report_sql.h"
#include "storage/sql_enums.h"
#include "storage/store.h"
#include "storage/store_impl.h"
#include "storage/store_internal.h"
#include "workflow/dates.h"

namespace collections::storage {

absl::Status Store::ForEachOpenBookPage(
    const std::function<absl::Status(const OpenBookPage&)>& page, int page_size) {
  const long long limit = std::clamp(page_size, 1, 10'000);
  // One page after `after`, read on a pooled connection.
  auto read = [this, limit](long long after) -> absl::StatusOr<OpenBookPage> {
    return impl_->Read<OpenBookPage>(
        "open book", [&](soci::session& sql) -> absl::StatusOr<OpenBookPage> {
          OpenBookPage out;
          long long id = 0;
          std::string body;
          soci::statement cases =
              (sql.prepare << absl::StrCat("SELECT case_id, body FROM cases WHERE case_id > :after "
                                           "AND stage IN ",
                                           kSqlOpenStages, " ORDER BY case_id LIMIT :n"),
               soci::use(after), soci::use(limit), soci::into(id), soci::into(body));
          cases.execute();
          std::vector<long long> ids;
          while (cases.fetch()) {
            v1::Case c;
            RETURN_IF_ERROR(DecodeMessage(body, &c, "case"));
            ids.push_back(id);
            out.cases.push_back(std::move(c));
          }
          out.open_tasks.resize(out.cases.size());
          if (ids.empty()) return out;
          // The page's open tasks, by the tasks_case index.
          long long first = ids.front(), last = ids.back(), case_id = 0, not_before_us = 0;
          int type = 0;
          std::string queue;
          soci::statement tasks =
              (sql.prepare << absl::StrCat("SELECT case_id, task_type, queue, not_before_us "
                                           "FROM tasks WHERE case_id >= :first AND case_id <= "
                                           ":last AND state IN ",
                                           kSqlOpenTaskStates, " ORDER BY case_id, task_id"),
               soci::use(first), soci::use(last), soci::into(case_id), soci::into(type),
               soci::into(queue), soci::into(not_before_us));
          tasks.execute();
          size_t at = 0;
          while (tasks.fetch()) {
            while (at < ids.size() && ids[at] < case_id) ++at;
            if (at == ids.size() || ids[at] != case_id) continue;
            out.open_tasks[at].push_back(
                {static_cast<v1::TaskType>(type), queue, absl::FromUnixMicros(not_before_us)});
          }
          return out;
        });
  };
  // The next page is read while the callback works on this one: reading
  // and decoding the cases is a third of a simulation's time, and it need
  // not wait for the simulation's threads.
  absl::StatusOr<OpenBookPage> got = read(0);
  for (;;) {
    RETURN_IF_ERROR(got.status());
    if (got->cases.empty()) return absl::OkStatus();
    const bool last_page = static_cast<long long>(got->cases.size()) < limit;
    std::future<absl::StatusOr<OpenBookPage>> next;
    if (!last_page) next = std::async(std::launch::async, read, got->cases.back().case_id());
    absl::Status status = page(*got);
    if (!status.ok()) {
      if (next.valid()) next.wait();  // the read uses `this`: let it finish
      return status;
    }
    if (last_page) return absl::OkStatus();
    got = next.get();
  }
}

namespace {

// What the report facts count per (class, stage before the event).
struct Counts {
  long long contacts = 0, reached = 0, promises = 0, plans = 0, payment_cures = 0, case_days = 0;
};

int32_t Ppm(long long part, long long whole) {
  if (whole <= 0) return 0;
  return static_cast<int32_t>(
      std::min<long long>(workflow::kMillion, part * workflow::kMillion / whole));
}

}  // namespace

absl::StatusOr<BookBehaviour> Store::ReadBookBehaviour(absl::CivilDay from, absl::CivilDay through,
                                                       int min_observations) {
  const long long first = workflow::DayNumber(from), last = workflow::DayNumber(through);
  std::map<std::pair<int, int>, Counts> by;  // (class, stage)
  std::map<int, Counts> by_stage;
  long long kept = 0, broken = 0, plans_approved = 0, plans_broken = 0;
  absl::Status read = ReadForReport(*this, [&](soci::session& sql) -> absl::Status {
    // Contacts, promises, plans and cures, grouped.
    Sql events;
    events << "SELECT event_type, case_class, stage_before, stage_after, "
           << "CAST(COUNT(*) AS BIGINT), " << Sum("contact") << ", " << Sum("right_party") << ", "
           << Sum("CASE WHEN promise_fen > 0 THEN 1 ELSE 0 END")
           << " FROM report_events WHERE day >= ";
    events.Int(first) << " AND day <= ";
    events.Int(last) << " AND event_type IN ('task_completed', 'plan_approved', 'plan_broken', "
                        "'payment') GROUP BY event_type, case_class, stage_before, stage_after";
    for (const Sql::Row& row : events.Rows(sql, 1, 7)) {
      const std::string& type = row.s[0];
      const int cls = static_cast<int>(row.n[0]), before = static_cast<int>(row.n[1]),
                after = static_cast<int>(row.n[2]);
      Counts& c = by[{cls, before}];
      if (type == "task_completed") {
        c.contacts += row.n[4];
        c.reached += row.n[5];
        c.promises += row.n[6];
      } else if (type == "plan_approved") {
        c.plans += row.n[3];
        plans_approved += row.n[3];
      } else if (type == "plan_broken") {
        plans_broken += row.n[3];
      } else if (type == "payment" && after == v1::STAGE_RESOLVED &&
                 workflow::IsOpenStage(static_cast<v1::Stage>(before))) {
        by_stage[before].payment_cures += row.n[3];
      }
    }
    // Promises settled in the period.
    Sql promises;
    promises << "SELECT state, CAST(COUNT(*) AS BIGINT) FROM report_promises WHERE "
                "resolved_day >= ";
    promises.Int(first) << " AND resolved_day <= ";
    promises.Int(last) << " GROUP BY state";
    for (const Sql::Row& row : promises.Rows(sql, 0, 2)) {
      if (row.n[0] == v1::PROMISE_STATE_KEPT) kept += row.n[1];
      if (row.n[0] == v1::PROMISE_STATE_BROKEN) broken += row.n[1];
    }
    // Case-days per stage: the daily snapshots' counts.
    Sql book;
    book << "SELECT stage, " << Sum("cases") << " FROM report_portfolio WHERE day >= ";
    book.Int(first) << " AND day <= ";
    book.Int(last) << " GROUP BY stage";
    for (const Sql::Row& row : book.Rows(sql, 0, 2)) {
      by_stage[static_cast<int>(row.n[0])].case_days += row.n[1];
    }
    return absl::OkStatus();
  });
  RETURN_IF_ERROR(read);

  Counts all;
  long long counselling_reached = 0;
  for (const auto& [key, c] : by) {
    all.contacts += c.contacts;
    all.reached += c.reached;
    all.promises += c.promises;
    all.plans += c.plans;
    if (key.second == v1::STAGE_COUNSELLING) counselling_reached += c.reached;
  }
  long long cures = 0, case_days = 0;
  for (const auto& [stage, c] : by_stage) {
    cures += c.payment_cures;
    if (workflow::IsOpenStage(static_cast<v1::Stage>(stage))) case_days += c.case_days;
  }
  // A cure by payment is either a kept promise or a payment nobody asked
  // for; the simulation draws the kept promises from the promise rates, so
  // only the rest is the daily cure rate.
  const long long unprompted = std::max(0LL, cures - kept);

  BookBehaviour out;
  workflow::BehaviourRates wide = workflow::DefaultBehaviourRates();
  if (all.contacts >= min_observations) {
    wide.reached_ppm = Ppm(all.reached, all.contacts);
    wide.promise_ppm = Ppm(all.promises, all.reached);
    wide.plan_ppm = Ppm(all.plans, counselling_reached);
  }
  if (kept + broken >= min_observations) wide.promise_kept_ppm = Ppm(kept, kept + broken);
  if (plans_approved >= min_observations) {
    // Per plan -> per instalment of a three-instalment plan.
    const double per_plan = std::min(1.0, static_cast<double>(plans_broken) / plans_approved);
    wide.plan_break_ppm =
        static_cast<int32_t>(std::lround((1.0 - std::cbrt(1.0 - per_plan)) * workflow::kMillion));
  }
  if (case_days >= min_observations) wide.cure_ppm = Ppm(unprompted, case_days);
  out.rates.set_fallback(wide);
  out.rows.push_back({v1::CASE_CLASS_UNSPECIFIED, v1::STAGE_UNSPECIFIED, wide, all.contacts});
  for (const auto& [key, c] : by) {
    const auto cls = static_cast<v1::CaseClass>(key.first);
    const auto stage = static_cast<v1::Stage>(key.second);
    if (!workflow::IsOpenStage(stage) || cls == v1::CASE_CLASS_UNSPECIFIED ||
        c.contacts < min_observations) {
      continue;
    }
    workflow::BehaviourRates r = wide;
    r.reached_ppm = Ppm(c.reached, c.contacts);
    r.promise_ppm = Ppm(c.promises, c.reached);
    if (stage == v1::STAGE_COUNSELLING) r.plan_ppm = Ppm(c.plans, c.reached);
    const Counts& s = by_stage[key.second];
    if (s.case_days >= min_observations && cures > 0) {
      r.cure_ppm = Ppm(s.payment_cures * unprompted / cures, s.case_days);
    }
    out.rates.Set(cls, stage, r);
    out.rows.push_back({cls, stage, r, c.contacts});
  }
  return out;
}

}  // namespace collections::storage
