#include "security/access_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace collections::security {
namespace {

struct Row {
  const char* method;
  std::vector<const char*> roles;
};

// The defaults. Ingest imports and records payments; agents work tasks,
// propose plans and signal; supervisors do what agents do and also decide
// plans above the agents' limits, list tasks and read cases; legal firms see only the legal service
// (their own handoffs, checked in the server); managers read reports,
// cases and policies; admins change policy, migrate cases, run experiments
// and move the business date.
const std::vector<Row>& DefaultRows() {
  static const auto* rows = new std::vector<Row>{
      {"collections.v1.CaseService/ImportDelinquencies", {"ingest"}},
      {"collections.v1.CaseService/RecordPayment", {"ingest"}},
      {"collections.v1.CaseService/SignalCase", {"agent", "supervisor"}},
      {"collections.v1.CaseService/GetCase", {"agent", "supervisor", "manager"}},
      {"collections.v1.CaseService/ListCases", {"supervisor", "manager"}},
      {"collections.v1.CaseService/AdvanceBusinessDate", {"admin"}},
      {"collections.v1.TaskService/ClaimTasks", {"agent", "supervisor"}},
      {"collections.v1.TaskService/StreamTasks", {"agent", "supervisor"}},
      {"collections.v1.TaskService/CompleteTask", {"agent", "supervisor"}},
      {"collections.v1.TaskService/FailTask", {"agent", "supervisor"}},
      {"collections.v1.TaskService/ExtendLease", {"agent", "supervisor"}},
      {"collections.v1.TaskService/ReleaseTask", {"agent", "supervisor"}},
      {"collections.v1.TaskService/ListTasks", {"supervisor", "manager"}},
      {"collections.v1.PlanService/ProposePlan", {"agent", "supervisor"}},
      // The policy's approval limits say how far an agent may approve (a
      // colleague's proposal, never their own); above them, a supervisor.
      {"collections.v1.PlanService/ApprovePlan", {"agent", "supervisor"}},
      {"collections.v1.PlanService/RejectPlan", {"agent", "supervisor"}},
      {"collections.v1.PlanService/GetPlan", {"agent", "supervisor", "manager"}},
      {"collections.v1.LegalService/StreamHandoffs", {"legal"}},
      {"collections.v1.LegalService/AcknowledgeHandoff", {"legal"}},
      {"collections.v1.LegalService/ReportLegalMilestone", {"legal"}},
      {"collections.v1.LegalService/GetHandoffHistory", {"legal"}},
      {"collections.v1.AuditService/ListAuditRecords", {"manager", "admin"}},
      {"collections.v1.AuditService/VerifyAuditChain", {"manager", "admin"}},
      {"collections.v1.PolicyService/GetPolicy", {"supervisor", "manager", "admin"}},
      {"collections.v1.PolicyService/ListPolicyVersions", {"supervisor", "manager", "admin"}},
      {"collections.v1.PolicyService/PutPolicy", {"admin"}},
      {"collections.v1.PolicyService/MigrateCases", {"admin"}},
      {"collections.v1.PolicyService/SimulatePolicy", {"manager", "admin"}},
      {"collections.v1.ReportService/Portfolio", {"manager", "supervisor"}},
      {"collections.v1.ReportService/StageFunnel", {"manager", "supervisor"}},
      {"collections.v1.ReportService/RollRates", {"manager", "supervisor"}},
      {"collections.v1.ReportService/StrategyEffectiveness", {"manager", "supervisor"}},
      {"collections.v1.ReportService/OverdueReasons", {"manager", "supervisor"}},
      {"collections.v1.ReportService/AgentProductivity", {"manager", "supervisor"}},
      {"collections.v1.ReportService/SlaBreaches", {"manager", "supervisor"}},
      {"collections.v1.ReportService/ExperimentReport", {"manager", "supervisor"}},
      // Experiments change which policy new cases get: admins run them;
      // managers read them.
      {"collections.v1.ExperimentService/CreateExperiment", {"admin"}},
      {"collections.v1.ExperimentService/GetExperiment", {"manager", "admin"}},
      {"collections.v1.ExperimentService/ListExperiments", {"manager", "admin"}},
      {"collections.v1.ExperimentService/PauseExperiment", {"admin"}},
      {"collections.v1.ExperimentService/ResumeExperiment", {"admin"}},
      {"collections.v1.ExperimentService/EndExperiment", {"admin"}},
      {"collections.v1.ExperimentService/RollBackExperiment", {"admin"}},
      // Who may call what: the access rules themselves.
      {"collections.v1.AccessService/GetAccessRules", {"admin"}},
      {"collections.v1.AccessService/PutAccessRules", {"admin"}},
  };
  return *rows;
}

absl::string_view Bare(absl::string_view method) {
  if (absl::StartsWith(method, "/")) method.remove_prefix(1);
  return method;
}

}  // namespace

bool IsRole(absl::string_view name) {
  return std::any_of(std::begin(kRoles), std::end(kRoles),
                     [&](const char* role) { return name == role; });
}

std::string Principal::Describe() const {
  return absl::StrCat(name, " (", roles.empty() ? "no role" : absl::StrJoin(roles, ", "), ")");
}

AccessTable AccessTable::Defaults() {
  AccessTable table;
  for (const Row& row : DefaultRows()) {
    auto& roles = table.roles_[row.method];
    for (const char* role : row.roles) roles.insert(role);
  }
  return table;
}

absl::StatusOr<AccessTable> AccessTable::Create(
    const google::protobuf::RepeatedPtrField<v1::MethodRoles>& methods, absl::string_view source) {
  AccessTable table = Defaults();
  for (const v1::MethodRoles& entry : methods) {
    auto it = table.roles_.find(Bare(entry.method()));
    if (it == table.roles_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": methods: unknown method \"", entry.method(),
                       "\" (write it as collections.v1.Service/Method, e.g. "
                       "collections.v1.TaskService/ClaimTasks)"));
    }
    std::set<std::string> roles;
    for (const std::string& role : entry.roles()) {
      if (!IsRole(role)) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": methods: ", entry.method(), ": unknown role \"", role,
                         "\" (roles: agent, supervisor, legal, manager, admin, ingest)"));
      }
      roles.insert(role);
    }
    it->second = std::move(roles);
  }
  return table;
}

absl::Status AccessTable::Check(absl::string_view method, const Principal& principal) const {
  // Server reflection describes the API, which the .proto files publish
  // anyway; any authenticated caller may use it (grpcurl, tooling).
  if (absl::StartsWith(Bare(method), "grpc.reflection.")) return absl::OkStatus();
  auto it = roles_.find(Bare(method));
  if (it == roles_.end()) {
    return absl::PermissionDeniedError(absl::StrCat("no role may call ", Bare(method)));
  }
  for (const std::string& role : it->second) {
    if (principal.HasRole(role)) return absl::OkStatus();
  }
  if (it->second.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat(Bare(method), " is closed to every role by the access configuration"));
  }
  return absl::PermissionDeniedError(absl::StrCat(Bare(method), " needs the role ",
                                                  absl::StrJoin(it->second, " or "), "; ",
                                                  principal.Describe(), " does not have it"));
}

std::vector<std::string> AccessTable::Methods() const {
  std::vector<std::string> out;
  for (const auto& [method, roles] : roles_) out.push_back(method);
  return out;
}

std::set<std::string> AccessTable::RolesOf(absl::string_view method) const {
  auto it = roles_.find(Bare(method));
  return it == roles_.end() ? std::set<std::string>() : it->second;
}

bool AccessTable::IsOpen(absl::string_view method) {
  return absl::StartsWith(Bare(method), "grpc.health.v1.Health/");
}

}  // namespace collections::security
