// collectionsctl's access commands: show and put the access rules (the
// client-certificate principals and the method -> roles changes every
// replica admits by; docs/security.md).
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/ctl/commands.h"
#include "collections/v1/access_service.grpc.pb.h"

namespace collections::ctl {
namespace {

std::string When(const google::protobuf::Timestamp& at) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(at.seconds()),
                          absl::UTCTimeZone());
}

}  // namespace

int AccessShow(Run& run) {
  int64_t version = 0;
  int exit = kOk;
  if (!StoredVersionFlag(run, "access rules print as textproto or json", &version, &exit)) {
    return exit;
  }
  auto stub = v1::AccessService::NewStub(run.Channel());
  v1::GetAccessRulesRequest request;
  request.set_version(version);
  v1::GetAccessRulesResponse out;
  auto context = run.Context();
  grpc::Status s = stub->GetAccessRules(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  const v1::AccessRules& rules = out.rules();
  run.out << StoredMessageText(
      run.format, rules,
      absl::StrCat("access rules version ", rules.version(), ", stored by ", rules.created_by(),
                   " at ", When(rules.created_at())),
      {"version", "created_by", "created_at"});
  return kOk;
}

int AccessPut(Run& run) {
  if (!run.args.Has("file")) return run.Usage("--file=FILE (the rules, textproto) is required");
  v1::PutAccessRulesRequest request;
  if (!ReadTextProtoFile(run, "access put", run.args.Get("file"), request.mutable_rules())) {
    return kBadUsage;
  }
  request.set_request_id(RequestIdOf(run));
  auto stub = v1::AccessService::NewStub(run.Channel());
  v1::PutAccessRulesResponse out;
  auto context = run.Context();
  grpc::Status s = stub->PutAccessRules(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  Table t{{{"version", Kind::kInt},
           {"certificates", Kind::kInt},
           {"methods", Kind::kInt},
           {"stored", Kind::kText}},
          {}};
  t.Add({Cell::Int(out.rules().version()), Cell::Int(out.rules().certificates_size()),
         Cell::Int(out.rules().methods_size()),
         Cell::Text(out.unchanged() ? "no (equal to the current version)" : "yes")});
  return run.Print({"access-rules", "Access rules", {}, {{"rules", "", t}}});
}

}  // namespace collections::ctl
