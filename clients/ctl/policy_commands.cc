// collectionsctl's policy commands: get, put, versions, migrate.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "clients/ctl/commands.h"
#include "collections/v1/policy_service.grpc.pb.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace collections::ctl {

int PolicyGet(Run& run) {
  absl::StatusOr<int64_t> version = run.args.Int("version", 0);
  if (!version.ok()) return run.Usage(std::string(version.status().message()));
  if (run.format == Format::kCsv) return run.Usage("a policy prints as textproto (table) or json");
  auto stub = v1::PolicyService::NewStub(run.Channel());
  v1::GetPolicyRequest request;
  request.set_version(*version);
  v1::GetPolicyResponse out;
  auto context = run.Context();
  grpc::Status s = stub->GetPolicy(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  std::string text;
  if (run.format == Format::kJson) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(out.policy(), &text, options);
  } else {
    // Ready to edit and `policy put` again: without the stored version.
    v1::Policy policy = out.policy();
    text = absl::StrCat("# policy version ", policy.version(), "\n");
    policy.clear_version();
    std::string body;
    google::protobuf::TextFormat::PrintToString(policy, &body);
    text += body;
  }
  if (run.args.Has("out")) {
    std::ofstream file(run.args.Get("out"), std::ios::trunc);
    file << text;
    if (!file) {
      run.err << "collectionsctl policy get: cannot write " << run.args.Get("out") << "\n";
      return kBadUsage;
    }
    return kOk;
  }
  run.out << text;
  return kOk;
}

int PolicyPut(Run& run) {
  if (run.args.positional().size() != 1) return run.Usage("name one policy file (textproto)");
  const std::string path = run.args.positional()[0];
  std::ifstream file(path);
  if (!file) {
    run.err << "collectionsctl policy put: cannot read " << path << "\n";
    return kBadUsage;
  }
  std::stringstream text;
  text << file.rdbuf();
  v1::PutPolicyRequest request;
  // Parse errors name the line and column.
  class Collector : public google::protobuf::io::ErrorCollector {
   public:
    void AddError(int line, int column, const std::string& message) override {
      if (first.empty())
        first = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
    }
    std::string first;
  } errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text.str(), request.mutable_policy())) {
    run.err << "collectionsctl policy put: " << path << ": " << errors.first << "\n";
    return kBadUsage;
  }
  request.mutable_policy()->clear_version();
  auto stub = v1::PolicyService::NewStub(run.Channel());
  v1::PutPolicyResponse out;
  auto context = run.Context();
  grpc::Status s = stub->PutPolicy(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  Table t{{{"version", Kind::kInt}, {"name", Kind::kText}, {"stored", Kind::kText}}, {}};
  t.Add({Cell::Int(out.policy().version()), Cell::Text(out.policy().name()),
         Cell::Text(out.unchanged() ? "no (equal to the current version)" : "yes")});
  return run.Print({"policy", "Policy", {}, {{"policy", "", t}}});
}

int PolicyVersions(Run& run) {
  auto stub = v1::PolicyService::NewStub(run.Channel());
  v1::ListPolicyVersionsResponse out;
  auto context = run.Context();
  grpc::Status s = stub->ListPolicyVersions(context.get(), {}, &out);
  if (!s.ok()) return run.Failed(s);
  Table t{{{"version", Kind::kInt},
           {"name", Kind::kText},
           {"open_cases", Kind::kInt},
           {"current", Kind::kText},
           {"created_at", Kind::kText}},
          {}};
  for (const v1::PolicyVersion& v : out.versions()) {
    t.Add({Cell::Int(v.version()), Cell::Text(v.name()), Cell::Int(v.open_cases()),
           Cell::Text(v.version() == out.current() ? "yes" : ""),
           Cell::Text(absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                       absl::FromUnixSeconds(v.created_at().seconds()),
                                       absl::UTCTimeZone()))});
  }
  return run.Print({"policy-versions", "Policy versions", {}, {{"versions", "", t}}});
}

int PolicyMigrate(Run& run) {
  v1::MigrateCasesRequest request;
  absl::StatusOr<int64_t> to = run.args.Int("to", 0), from = run.args.Int("from", 0);
  if (!to.ok()) return run.Usage(std::string(to.status().message()));
  if (!from.ok()) return run.Usage(std::string(from.status().message()));
  request.set_to_version(*to);
  request.set_from_version(*from);
  for (absl::string_view id : absl::StrSplit(run.args.Get("cases"), ',', absl::SkipEmpty())) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(id, &n))
      return run.Usage(absl::StrCat("--cases: \"", id, "\" is not a case id"));
    request.add_case_ids(n);
  }
  if ((*from == 0) == request.case_ids().empty()) {
    return run.Usage("give --from=VERSION (every open case of it) or --cases=ID,ID,...");
  }
  auto stub = v1::PolicyService::NewStub(run.Channel());
  v1::MigrateCasesResponse out;
  auto context = run.Context(std::max(run.timeout, absl::Hours(1)));
  grpc::Status s = stub->MigrateCases(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  Table t{{{"to_version", Kind::kInt},
           {"migrated", Kind::kInt},
           {"skipped", Kind::kInt},
           {"failed", Kind::kInt}},
          {}};
  t.Add({Cell::Int(out.to_version()), Cell::Int(out.migrated()), Cell::Int(out.skipped()),
         Cell::Int(out.failed())});
  Table errors{{{"case_id", Kind::kInt}, {"problem", Kind::kText}}, {}};
  for (const auto& e : out.errors()) errors.Add({Cell::Int(e.case_id()), Cell::Text(e.message())});
  const int printed =
      run.Print({"migration", "Migration", {}, {{"result", "", t}, {"failed", "Failed", errors}}});
  return printed != kOk ? printed : out.failed() > 0 ? kRefused : kOk;
}

}  // namespace collections::ctl
