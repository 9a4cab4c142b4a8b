#include "clients/ctl/command.h"

#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "clients/common/grpc_status.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"

namespace collections::ctl {

int Run::Usage(const std::string& message) const {
  err << "collectionsctl " << command << ": " << message << "\n"
      << "See 'collectionsctl " << command << " --help'.\n";
  return kBadUsage;
}

int Run::Failed(const grpc::Status& s) const {
  const grpc::StatusCode code = s.error_code();
  err << "collectionsctl " << command << ": " << clients::FailureText(s, server) << "\n";
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
      if (clients::TlsFailure(s)) return kUnavailable;
      err << "  (is collectionsd running at " << server
          << "? --server=HOST:PORT or $COLLECTIONS_SERVER sets the address)\n";
      return kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      err << "  (no answer within " << absl::FormatDuration(timeout)
          << "; --timeout=SECONDS waits longer)\n";
      return kUnavailable;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      if (clients::OverMessageLimit(s)) {
        err << "  (the answer is larger than the gRPC message limit: retrying will not help;\n"
               "   narrow the request (a shorter --from/--to, --product, --region, --queue)\n"
               "   or page it (--page_size where the command has it))\n";
        return kRefused;
      }
      err << "  (the server is short of a resource for now; try again later)\n";
      return kUnavailable;
    case grpc::StatusCode::ABORTED:
      err << "  (a conflicting change came first; try again)\n";
      return kUnavailable;
    default:
      return kRefused;
  }
}

int Run::Print(const Document& doc) const {
  std::string error;
  if (!Render(doc, format, args.Get("section"), out, &error)) return Usage(error);
  return kOk;
}

bool ParseDay(const std::string& s, v1::Date* out) {
  std::vector<std::string> parts = absl::StrSplit(s, '-');
  int y = 0, m = 0, d = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &y) || !absl::SimpleAtoi(parts[1], &m) ||
      !absl::SimpleAtoi(parts[2], &d)) {
    return false;
  }
  const absl::CivilDay day(y, m, d);
  if (day.year() != y || day.month() != m || day.day() != d) return false;
  out->set_year(y);
  out->set_month(m);
  out->set_day(d);
  return true;
}

bool DateFlag(Run& run, const std::string& name, v1::Date* date, int* exit) {
  if (!run.args.Has(name)) return true;
  if (ParseDay(run.args.Get(name), date)) return true;
  *exit = run.Usage(absl::StrCat("--", name, " must be a date like 2026-11-29, not \"",
                                 run.args.Get(name), "\""));
  return false;
}

int64_t Overdue(const v1::OverdueAmounts& o) {
  return o.principal_fen() + o.interest_fen() + o.penalty_fen();
}

std::string FreshRequestId() {
  std::random_device random;
  std::string id = "ctl-";
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(&id, absl::Hex(static_cast<uint32_t>(random()), absl::kZeroPad8));
  }
  return id;
}

std::string RequestIdOf(const Run& run) {
  const std::string given = run.args.Get("request_id");
  return given.empty() ? FreshRequestId() : given;
}

bool ReadTextProtoFile(Run& run, const std::string& command, const std::string& path,
                       google::protobuf::Message* message) {
  std::ifstream file(path);
  if (!file) {
    run.err << "collectionsctl " << command << ": cannot read " << path << "\n";
    return false;
  }
  std::stringstream text;
  text << file.rdbuf();
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
  if (!parser.ParseFromString(text.str(), message)) {
    run.err << "collectionsctl " << command << ": " << path << ": " << errors.first << "\n";
    return false;
  }
  return true;
}

bool StoredVersionFlag(Run& run, const std::string& csv_refusal, int64_t* version, int* exit) {
  absl::StatusOr<int64_t> parsed = run.args.Int("version", 0);
  if (!parsed.ok()) {
    *exit = run.Usage(std::string(parsed.status().message()));
    return false;
  }
  if (run.format == Format::kCsv) {
    *exit = run.Usage(csv_refusal);
    return false;
  }
  *version = *parsed;
  return true;
}

std::string StoredMessageText(Format format, const google::protobuf::Message& stored,
                              const std::string& comment,
                              const std::vector<std::string>& server_set) {
  std::string text;
  if (format == Format::kJson) {
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(stored, &text, options);
    return text;
  }
  std::unique_ptr<google::protobuf::Message> editable(stored.New());
  editable->CopyFrom(stored);
  for (const std::string& name : server_set) {
    const google::protobuf::FieldDescriptor* field =
        editable->GetDescriptor()->FindFieldByName(name);
    // A name that is not a field is the caller's mistake, caught by the
    // commands' tests (the field would show).
    if (field != nullptr) editable->GetReflection()->ClearField(editable.get(), field);
  }
  google::protobuf::TextFormat::PrintToString(*editable, &text);
  return absl::StrCat("# ", comment, "\n", text);
}

}  // namespace collections::ctl
