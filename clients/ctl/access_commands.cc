// collectionsctl's access commands: show and put the access rules (the
// client-certificate principals and the method -> roles changes every
// replica admits by; docs/security.md).
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/ctl/commands.h"
#include "collections/v1/access_service.grpc.pb.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace collections::ctl {
namespace {

std::string When(const google::protobuf::Timestamp& at) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(at.seconds()),
                          absl::UTCTimeZone());
}

}  // namespace

int AccessShow(Run& run) {
  absl::StatusOr<int64_t> version = run.args.Int("version", 0);
  if (!version.ok()) return run.Usage(std::string(version.status().message()));
  if (run.format == Format::kCsv) return run.Usage("access rules print as textproto or json");
  auto stub = v1::AccessService::NewStub(run.Channel());
  v1::GetAccessRulesRequest request;
  request.set_version(*version);
  v1::GetAccessRulesResponse out;
  auto context = run.Context();
  grpc::Status s = stub->GetAccessRules(context.get(), request, &out);
  if (!s.ok()) return run.Failed(s);
  std::string text;
  if (run.format == Format::kJson) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(out.rules(), &text, options);
  } else {
    // Ready to edit and `access put` again: what the server sets is in the
    // comment line only.
    v1::AccessRules rules = out.rules();
    text = absl::StrCat("# access rules version ", rules.version(), ", stored by ",
                        rules.created_by(), " at ", When(rules.created_at()), "\n");
    rules.clear_version();
    rules.clear_created_by();
    rules.clear_created_at();
    std::string body;
    google::protobuf::TextFormat::PrintToString(rules, &body);
    text += body;
  }
  run.out << text;
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
