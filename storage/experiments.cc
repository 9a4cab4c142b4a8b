#include "storage/experiments.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/codec.h"
#include "storage/experiment_facts.h"
#include "storage/report_sql.h"
#include "storage/sql_enums.h"
#include "storage/store_internal.h"
#include "workflow/dates.h"

namespace collections::storage {
namespace {

static_assert(v1::EXPERIMENT_STATE_RUNNING == 1 && v1::EXPERIMENT_STATE_PAUSED == 2);
constexpr char kLiveStates[] = "(1, 2)";

// The experiments of `q`'s rows (one TEXT column, the body).
absl::StatusOr<std::vector<v1::Experiment>> Decode(const std::vector<Sql::Row>& rows) {
  std::vector<v1::Experiment> out;
  for (const Sql::Row& r : rows) {
    v1::Experiment e;
    RETURN_IF_ERROR(DecodeMessage(r.s[0], &e, "experiment"));
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::optional<v1::Experiment>> First(const std::vector<Sql::Row>& rows) {
  ASSIGN_OR_RETURN(std::vector<v1::Experiment> all, Decode(rows));
  if (all.empty()) return std::nullopt;
  return std::move(all.front());
}

// Rows of `q` read inside `uow`'s transaction.
absl::StatusOr<std::vector<Sql::Row>> RowsLocked(UnitOfWork& uow, Sql& q, int texts, int ints) {
  std::vector<Sql::Row> rows;
  RETURN_IF_ERROR(
      RunReportStep(uow, [&](soci::session& sql, Backend) { rows = q.Rows(sql, texts, ints); }));
  return rows;
}

}  // namespace

int DpdBucketOf(int days_past_due) {
  if (days_past_due <= 0) return 0;
  if (days_past_due <= 30) return 1;
  if (days_past_due <= 60) return 2;
  if (days_past_due <= 90) return 3;
  if (days_past_due <= 180) return 4;
  return 5;
}

absl::Status InsertExperiment(UnitOfWork& uow, v1::Experiment& experiment) {
  ASSIGN_OR_RETURN(int64_t id, uow.AllocateIds("experiment", 1));
  experiment.set_experiment_id(id);
  const long long experiment_id = id;
  const int state = experiment.state();
  const long long created_at_us =
      absl::ToUnixMicros(workflow::TimeFromProto(experiment.created_at()));
  const std::string body = EncodeMessage(experiment);
  // The other replicas' imports read the live experiment from memory.
  uow.NoteSharedStateChanged();
  return RunReportStep(uow, [&](soci::session& sql, Backend) {
    sql << "INSERT INTO experiments (experiment_id, state, created_at_us, body) "
           "VALUES (:id, :state, :at, :body)",
        soci::use(experiment_id), soci::use(state), soci::use(created_at_us), soci::use(body);
  });
}

absl::Status UpdateExperiment(UnitOfWork& uow, const v1::Experiment& experiment) {
  const long long experiment_id = experiment.experiment_id();
  const int state = experiment.state();
  const std::string body = EncodeMessage(experiment);
  uow.NoteSharedStateChanged();
  return RunReportStep(uow, [&](soci::session& sql, Backend) {
    sql << "UPDATE experiments SET state = :state, body = :body WHERE experiment_id = :id",
        soci::use(state), soci::use(body), soci::use(experiment_id);
  });
}

absl::StatusOr<std::optional<v1::Experiment>> LoadExperimentLocked(UnitOfWork& uow,
                                                                   int64_t experiment_id) {
  Sql q;
  (q << "SELECT body FROM experiments WHERE experiment_id = ").Int(experiment_id);
  ASSIGN_OR_RETURN(std::vector<Sql::Row> rows, RowsLocked(uow, q, 1, 0));
  return First(rows);
}

absl::StatusOr<std::optional<v1::Experiment>> LiveExperimentLocked(UnitOfWork& uow) {
  Sql q;
  q << "SELECT body FROM experiments WHERE state IN " << kLiveStates
    << " ORDER BY experiment_id DESC LIMIT 1";
  ASSIGN_OR_RETURN(std::vector<Sql::Row> rows, RowsLocked(uow, q, 1, 0));
  return First(rows);
}

absl::Status RecordCaseArm(UnitOfWork& uow, const CaseArm& arm) {
  const long long case_id = arm.case_id, experiment_id = arm.experiment_id;
  const long long day = workflow::DayNumber(arm.day);
  const int index = arm.arm, bucket = arm.bucket;
  // The figures the writer keeps from now on (experiment_facts.h) start
  // from the case as its assignment left it: open, nothing recovered yet.
  return RunReportStep(uow, [&](soci::session& sql, Backend) {
    sql << "INSERT INTO case_arms (case_id, experiment_id, arm, assigned_day, start_bucket) "
           "VALUES (:c, :e, :a, :d, :b)",
        soci::use(case_id), soci::use(experiment_id), soci::use(index), soci::use(day),
        soci::use(bucket);
    sql << absl::StrCat(
        "UPDATE case_arms SET rolls_on_day = COALESCE((SELECT NULLIF(c.oldest_due_day, 0) "
        "FROM cases c WHERE c.case_id = case_arms.case_id AND c.stage IN ",
        kSqlOpenStages, ") + ", kRollOffsetSql, ", ", kNever, ") WHERE case_id = :c"),
        soci::use(case_id);
  });
}

absl::StatusOr<std::optional<v1::Experiment>> GetExperiment(Store& store, int64_t experiment_id) {
  ASSIGN_OR_RETURN(
      std::vector<Sql::Row> rows,
      ReadReport<std::vector<Sql::Row>>(store, [&](soci::session& sql, std::vector<Sql::Row>& out) {
        Sql q;
        (q << "SELECT body FROM experiments WHERE experiment_id = ").Int(experiment_id);
        out = q.Rows(sql, 1, 0);
        return absl::OkStatus();
      }));
  return First(rows);
}

absl::StatusOr<std::vector<v1::Experiment>> ListExperiments(Store& store) {
  ASSIGN_OR_RETURN(
      std::vector<Sql::Row> rows,
      ReadReport<std::vector<Sql::Row>>(store, [&](soci::session& sql, std::vector<Sql::Row>& out) {
        Sql q;
        q << "SELECT body FROM experiments ORDER BY experiment_id DESC";
        out = q.Rows(sql, 1, 0);
        return absl::OkStatus();
      }));
  return Decode(rows);
}

absl::StatusOr<std::optional<v1::Experiment>> LiveExperiment(Store& store) {
  ASSIGN_OR_RETURN(
      std::vector<Sql::Row> rows,
      ReadReport<std::vector<Sql::Row>>(store, [&](soci::session& sql, std::vector<Sql::Row>& out) {
        Sql q;
        q << "SELECT body FROM experiments WHERE state IN " << kLiveStates
          << " ORDER BY experiment_id DESC LIMIT 1";
        out = q.Rows(sql, 1, 0);
        return absl::OkStatus();
      }));
  return First(rows);
}

absl::StatusOr<std::vector<int64_t>> ChallengerCases(Store& store, int64_t experiment_id,
                                                     int64_t after_case_id, int limit) {
  return ReadReport<std::vector<int64_t>>(
      store, [&](soci::session& sql, std::vector<int64_t>& out) {
        Sql q;
        (q << "SELECT case_id FROM case_arms WHERE experiment_id = ").Int(experiment_id);
        (q << " AND arm > 0 AND case_id > ").Int(after_case_id);
        (q << " ORDER BY case_id LIMIT ").Int(limit);
        for (const Sql::Row& r : q.Rows(sql, 0, 1)) out.push_back(r.n[0]);
        return absl::OkStatus();
      });
}

absl::StatusOr<std::vector<ArmTotals>> ExperimentArmTotals(Store& store, int64_t experiment_id,
                                                           absl::CivilDay today,
                                                           int cure_window_days) {
  const long long d = workflow::DayNumber(today);
  // One pass over the experiment's rows of the covering index
  // case_arms_report: the writer keeps each case's figures as they happen
  // (experiment_facts.h). A case rolled when it is open and its bucket
  // today is past the one it started in (its rolls_on_day has come); cured
  // when its first cure came within the window.
  const std::string query = absl::StrCat(
      "SELECT arm, COUNT(*), ",
      Sum(absl::StrCat("CASE WHEN cured_day <= assigned_day + ", cure_window_days,
                       " THEN 1 ELSE 0 END")),
      ", ", Sum(absl::StrCat("CASE WHEN rolls_on_day <= ", d, " THEN 1 ELSE 0 END")), ", ",
      Sum("recovered_fen"), ", ", Sum("cost_fen"), ", ", Sum("handoff"), ", ", Sum("dispute"),
      ", COALESCE(SUM(CAST(recovered_fen AS DOUBLE PRECISION) * recovered_fen), 0)"
      ", COALESCE(SUM(CAST(cost_fen AS DOUBLE PRECISION) * cost_fen), 0)"
      " FROM case_arms WHERE experiment_id = ",
      experiment_id, " GROUP BY arm ORDER BY arm");
  return ReadReport<std::vector<ArmTotals>>(
      store, [&](soci::session& sql, std::vector<ArmTotals>& out) {
        ArmTotals row;
        long long arm = 0, n[7] = {};
        soci::statement st =
            (sql.prepare << query, soci::into(arm), soci::into(n[0]), soci::into(n[1]),
             soci::into(n[2]), soci::into(n[3]), soci::into(n[4]), soci::into(n[5]),
             soci::into(n[6]), soci::into(row.recovered_squares), soci::into(row.cost_squares));
        st.execute();
        while (st.fetch()) {
          row.arm = static_cast<int>(arm);
          row.cases = n[0];
          row.cured = n[1];
          row.rolled = n[2];
          row.recovered_fen = n[3];
          row.cost_fen = n[4];
          row.legal_handoffs = n[5];
          row.disputes = n[6];
          out.push_back(row);
        }
        return absl::OkStatus();
      });
}

}  // namespace collections::storage
