#include "server/report_service.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/case_engine.h"
#include "server/experiment_engine.h"
#include "server/rpc_util.h"
#include "storage/reports.h"
#include "workflow/dates.h"
#include "workflow/state_machine.h"

namespace collections::server {
namespace {

using workflow::DayFromProto;
using workflow::DayToProto;
using workflow::FormatDay;

constexpr int kMaxPeriodDays = 3660;

absl::Status CheckFilter(const std::string& value, const char* field) {
  if (value.size() > workflow::kMaxIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is too long (at most ", workflow::kMaxIdLength, " bytes)"));
  }
  return absl::OkStatus();
}

// The request as a query: defaults filled in, everything checked.
absl::StatusOr<storage::ReportQuery> QueryOf(const v1::ReportRequest& r, absl::CivilDay today,
                                             absl::Time now) {
  storage::ReportQuery q;
  q.to = today;
  if (!workflow::IsUnset(r.to())) {
    absl::StatusOr<absl::CivilDay> to = DayFromProto(r.to(), "to");
    if (!to.ok()) return to.status();
    if (*to > today) {
      return absl::InvalidArgumentError(absl::StrCat(
          "to: ", FormatDay(*to), " is after the current business date ", FormatDay(today)));
    }
    q.to = *to;
  }
  q.from = q.to - 29;
  if (!workflow::IsUnset(r.from())) {
    absl::StatusOr<absl::CivilDay> from = DayFromProto(r.from(), "from");
    if (!from.ok()) return from.status();
    if (*from > q.to) {
      return absl::InvalidArgumentError(
          absl::StrCat("from: ", FormatDay(*from), " is after to (", FormatDay(q.to), ")"));
    }
    q.from = *from;
  }
  if (q.to - q.from >= kMaxPeriodDays) {
    return absl::InvalidArgumentError(
        absl::StrCat("the period is longer than ", kMaxPeriodDays, " days"));
  }
  if (absl::Status s = CheckFilter(r.product(), "product"); !s.ok()) return s;
  if (absl::Status s = CheckFilter(r.region(), "region"); !s.ok()) return s;
  if (absl::Status s = CheckFilter(r.queue(), "queue"); !s.ok()) return s;
  if (r.policy_version() < 0) {
    return absl::InvalidArgumentError("policy_version must not be negative");
  }
  if (r.cure_window_days() < 0 || r.cure_window_days() > 365) {
    return absl::InvalidArgumentError("cure_window_days must be 1..365 (0: 30)");
  }
  q.product = r.product();
  q.region = r.region();
  q.queue = r.queue();
  q.policy_version = r.policy_version();
  q.cure_window_days = r.cure_window_days() == 0 ? 30 : r.cure_window_days();
  q.now = now;
  q.today = today;
  return q;
}

// Runs `read` on the executor and finishes the RPC with its report, whose
// period is filled in where the report did not set it. The dates the data
// covers, where the report did not set them (the flows), are the period
// from the first day this database has report data for; unset when the
// period ends before it.
template <typename Report>
grpc::ServerUnaryReactor* Serve(
    const ServiceContext& ctx, grpc::CallbackServerContext* context,
    const v1::ReportRequest* request, Report* response,
    std::function<absl::StatusOr<Report>(storage::Store&, const storage::ReportQuery&)> read) {
  absl::StatusOr<storage::ReportQuery> query =
      QueryOf(*request, ctx.cases->BusinessDate(), ctx.clock->Now());
  if (!query.ok()) return FinishUnary(context, ToGrpcStatus(query.status()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(
      context, ctx.executor, reactor,
      [store = ctx.store, reactor, response, q = *std::move(query), read = std::move(read)] {
        absl::StatusOr<Report> report = read(*store, q);
        if (report.ok() && !report->has_data_from() && !report->has_data_to()) {
          absl::StatusOr<std::optional<absl::CivilDay>> first = storage::FirstReportDay(*store);
          if (first.ok()) {
            const absl::CivilDay data_from =
                first->has_value() ? std::max(q.from, **first) : q.from;
            if (data_from <= q.to) {
              *report->mutable_data_from() = DayToProto(data_from);
              *report->mutable_data_to() = DayToProto(q.to);
            }
          } else {
            report = first.status();
          }
        }
        if (report.ok()) {
          if (!report->has_from()) *report->mutable_from() = DayToProto(q.from);
          if (!report->has_to()) *report->mutable_to() = DayToProto(q.to);
          if (!report->has_as_of()) *report->mutable_as_of() = report->to();
          *response = *std::move(report);
        }
        reactor->Finish(ToGrpcStatus(report.status()));
      });
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* ReportServiceImpl::Portfolio(grpc::CallbackServerContext* context,
                                                       const v1::ReportRequest* request,
                                                       v1::PortfolioReport* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.ReportService/Portfolio");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  // A point in time: the period is the snapshot's day.
  return Serve<v1::PortfolioReport>(
      context_, context, request, response,
      [](storage::Store& store,
         const storage::ReportQuery& q) -> absl::StatusOr<v1::PortfolioReport> {
        absl::StatusOr<v1::PortfolioReport> r = storage::ReadPortfolio(store, q);
        if (r.ok()) {
          *r->mutable_from() = r->as_of();
          *r->mutable_to() = r->as_of();
        }
        return r;
      });
}

grpc::ServerUnaryReactor* ReportServiceImpl::StageFunnel(grpc::CallbackServerContext* context,
                                                         const v1::ReportRequest* request,
                                                         v1::StageFunnelReport* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.ReportService/StageFunnel");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  return Serve<v1::StageFunnelReport>(context_, context, request, response,
                                      storage::ReadStageFunnel);
}

grpc::ServerUnaryReactor* ReportServiceImpl::RollRates(grpc::CallbackServerContext* context,
                                                       const v1::ReportRequest* request,
                                                       v1::RollRateReport* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.ReportService/RollRates");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  return Serve<v1::RollRateReport>(context_, context, request, response, storage::ReadRollRates);
}

grpc::ServerUnaryReactor* ReportServiceImpl::StrategyEffectiveness(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::EffectivenessReport* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.ReportService/StrategyEffectiveness");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  return Serve<v1::EffectivenessReport>(context_, context, request, response,
                                        storage::ReadEffectiveness);
}

grpc::ServerUnaryReactor* ReportServiceImpl::OverdueReasons(grpc::CallbackServerContext* context,
                                                            const v1::ReportRequest* request,
                                                            v1::OverdueReasonsReport* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.ReportService/OverdueReasons");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  return Serve<v1::OverdueReasonsReport>(context_, context, request, response,
                                         storage::ReadOverdueReasons);
}

grpc::ServerUnaryReactor* ReportServiceImpl::AgentProductivity(
    grpc::CallbackServerContext* context, const v1::ReportRequest* request,
    v1::AgentProductivityReport* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.ReportService/AgentProductivity");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  return Serve<v1::AgentProductivityReport>(context_, context, request, response,
                                            storage::ReadAgentProductivity);
}

grpc::ServerUnaryReactor* ReportServiceImpl::SlaBreaches(grpc::CallbackServerContext* context,
                                                         const v1::ReportRequest* request,
                                                         v1::SlaReport* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.ReportService/SlaBreaches");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  // Open work is counted now: consistent as of the current business date.
  const absl::CivilDay today = context_.cases->BusinessDate();
  return Serve<v1::SlaReport>(
      context_, context, request, response,
      [today](storage::Store& store,
              const storage::ReportQuery& q) -> absl::StatusOr<v1::SlaReport> {
        absl::StatusOr<v1::SlaReport> r = storage::ReadSlaBreaches(store, q);
        if (r.ok()) *r->mutable_as_of() = DayToProto(today);
        return r;
      });
}

grpc::ServerUnaryReactor* ReportServiceImpl::ExperimentReport(
    grpc::CallbackServerContext* context, const v1::ExperimentReportRequest* request,
    v1::ExperimentReportAnswer* response) {
  absl::StatusOr<security::Principal> caller =
      context_.gate->Admit(*context, "/collections.v1.ReportService/ExperimentReport");
  if (!caller.ok()) return FinishUnary(context, ToGrpcStatus(caller.status()));
  if (absl::Status invalid = ExperimentEngine::CheckReport(*request); !invalid.ok()) {
    return FinishUnary(context, ToGrpcStatus(invalid));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ScheduleUnary(context, context_.executor, reactor, [this, reactor, request, response] {
    FinishWith(reactor, response, context_.experiments->Report(*request));
  });
  return reactor;
}

}  // namespace collections::server
