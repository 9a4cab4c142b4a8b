// What every collectionsctl command is given and shares: the exit codes, a
// `Run` (the parsed flags, where to write, the server and how to reach it),
// the `Command` table entry, and the flag helpers more than one command
// group uses. A Run belongs to one command on one thread; nothing here is
// shared between threads.
#ifndef COLLECTIONS_CLIENTS_CTL_COMMAND_H_
#define COLLECTIONS_CLIENTS_CTL_COMMAND_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/ctl/args.h"
#include "clients/ctl/output.h"
#include "collections/v1/common.pb.h"
#include "google/protobuf/message.h"

namespace collections::ctl {

// collectionsctl's exit status, for scripts (the README and --help list them).
enum Exit { kOk = 0, kRefused = 1, kBadUsage = 2, kRejectedRows = 3, kUnavailable = 4 };

// What every command gets: parsed flags, where to write, the server.
struct Run {
  Args args;
  std::string command;  // "report roll-rates"
  std::ostream& out;
  std::ostream& err;
  std::string server;
  Format format = Format::kTable;
  // To `server`, with the credentials of the connection flags
  // (clients/common/channel.h); who is calling comes from them only.
  std::shared_ptr<grpc::Channel> channel;
  absl::Duration timeout;

  std::shared_ptr<grpc::Channel> Channel() const { return channel; }
  std::unique_ptr<grpc::ClientContext> Context(absl::Duration t = absl::ZeroDuration()) const {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(
        absl::ToChronoTime(absl::Now() + (t == absl::ZeroDuration() ? timeout : t)));
    return context;
  }

  // "collectionsctl COMMAND: message" and where to look; kBadUsage.
  int Usage(const std::string& message) const;
  // A failed RPC: what went wrong and, for an unreachable server, where we
  // looked; the exit code the status stands for.
  int Failed(const grpc::Status& s) const;
  // `doc` in the chosen --format (and --section); kBadUsage for a section
  // the document lacks.
  int Print(const Document& doc) const;
};

// One entry of the command table.
struct Command {
  std::string path;   // "report portfolio"
  std::string usage;  // after the path: "[flags]", "FILE.csv"
  std::string summary;
  std::string details;
  std::vector<Flag> flags;
  std::function<int(Run&)> run;
};

// "2026-11-29" into *out; false for anything that is not a calendar day.
bool ParseDay(const std::string& s, v1::Date* out);

// An optional --name=YYYY-MM-DD into *date; false (with the usage message
// written) when it is not a date.
bool DateFlag(Run& run, const std::string& name, v1::Date* date, int* exit);

// 128 random bits in hex, prefixed "ctl-": unique per run, for the writes
// whose caller gave no --request_id.
std::string FreshRequestId();
// --request_id, or FreshRequestId() when none was given.
std::string RequestIdOf(const Run& run);

// Reads a textproto file into *message for `command`; false (after saying
// why on run.err) when it cannot be read or parsed. Parse errors name the
// line and column.
bool ReadTextProtoFile(Run& run, const std::string& command, const std::string& path,
                       google::protobuf::Message* message);

// A command that prints one stored, versioned message (the access rules, a
// policy), in two steps around its RPC:
//  - StoredVersionFlag: --version (0 or absent: the newest) into *version;
//    false with *exit set (the usage message written) for a bad number or
//    for --format=csv, refused with `csv_refusal` (such a message prints as
//    textproto or JSON only);
//  - StoredMessageText: `stored` as --format asks: JSON of the whole message
//    (proto field names), or a textproto ready to edit and put again:
//    "# " `comment` on the first line, then `stored` without the fields named
//    in `server_set` (those the server sets on a put, kept in the comment).
bool StoredVersionFlag(Run& run, const std::string& csv_refusal, int64_t* version, int* exit);
std::string StoredMessageText(Format format, const google::protobuf::Message& stored,
                              const std::string& comment,
                              const std::vector<std::string>& server_set);

// "legal-action" with prefix "STAGE_" -> STAGE_LEGAL_ACTION; false for an
// unknown name or the enum's zero value.
template <typename Enum>
bool ParseEnum(const std::string& text, const std::string& prefix,
               bool (*parse)(const std::string&, Enum*), Enum* out) {
  std::string name = absl::AsciiStrToUpper(text);
  std::replace(name.begin(), name.end(), '-', '_');
  return parse(prefix + name, out) && static_cast<int>(*out) != 0;
}

// The whole overdue amount: principal, interest and penalty.
int64_t Overdue(const v1::OverdueAmounts& o);

// --case=ID, --loan=ID or a positional case id; false with *exit set.
template <typename Request>
bool CaseTarget(Run& run, Request* r, int* exit) {
  std::string id = run.args.Get("case");
  if (id.empty() && !run.args.positional().empty()) id = run.args.positional()[0];
  if (!id.empty()) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(id, &n) || n <= 0) {
      *exit = run.Usage(absl::StrCat("the case id must be a positive number, not \"", id, "\""));
      return false;
    }
    r->set_case_id(n);
    return true;
  }
  if (run.args.Has("loan")) {
    r->set_loan_id(run.args.Get("loan"));
    return true;
  }
  *exit = run.Usage("say which case: --case=ID (or the id after the command) or --loan=LOAN_ID");
  return false;
}

}  // namespace collections::ctl

#endif  // COLLECTIONS_CLIENTS_CTL_COMMAND_H_
