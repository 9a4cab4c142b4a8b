// collections-agent: the agent console, and the reference client for
// call-center integrators. It claims work from chosen queues, shows what to
// do, and reports the outcome given as flags. It speaks the public contract
// only (collections.v1 over gRPC) and includes nothing of the server.
//
// A task is leased to the worker that claims it: the lease token and the
// lease's secret key printed by `claim` go with every later command for that
// task. `complete` sends a
// request id made of worker, task and token unless one is given, so running
// the same command again after a lost answer is safe.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/common/args.h"
#include "clients/common/channel.h"
#include "clients/common/grpc_status.h"
#include "collections/v1/task_service.grpc.pb.h"

namespace {

namespace v1 = collections::v1;
using collections::clients::Args;

constexpr char kHelp[] = R"(collections-agent: claim and report collection work.

Usage: collections-agent [--server=HOST:PORT] [--worker=ID] [CONNECTION FLAGS] COMMAND [FLAGS]

  --server   collectionsd's address (default 127.0.0.1:50051)
  --worker   your worker id, sent in claims (default $USER); the server
             knows who you are from your token
  --timeout  how long to wait for an answer, e.g. 10s (default 10s, plus
             the claim's --wait)

Connection flags (before the command; each defaults from its variable):
  --token_file=FILE       your bearer token (JWT), re-read when the file
                          changes ($COLLECTIONS_TOKEN_FILE)
  --tls_ca=FILE           PEM CA bundle to verify the server; given: TLS
                          ($COLLECTIONS_TLS_CA). Without it only a server on
                          this machine (loopback) can be reached.
  --tls_cert=FILE --tls_key=FILE
                          a client certificate and its key (mutual TLS)
                          ($COLLECTIONS_TLS_CERT, $COLLECTIONS_TLS_KEY)
  --tls_server_name=NAME  the name in the server's certificate, when not the
                          --server host ($COLLECTIONS_TLS_SERVER_NAME)

Commands:
  claim     --queues=Q[,Q...] [--types=T[,T...]] [--max=N] [--lease=DUR] [--wait=DUR]
            Leases up to N (default 1) of the most urgent ready tasks and
            shows what to do. --wait (at most 60s) waits for work to arrive.
  complete  --task=ID --token=T --key=K OUTCOME [--request=ID]
  fail      --task=ID --token=T --key=K --reason=TEXT [--retry_after=DUR]
  extend    --task=ID --token=T --key=K [--by=DUR]
  release   --task=ID --token=T --key=K
            T and K are the lease token and key that claim printed.
  list      [--states=S[,S...]] [--queues=Q[,Q...]] [--held] [--case=ID] [--max=N]
            Supervisors: open work, incidents (--states=incident), tasks held
            back by compliance (--held).

OUTCOME, one of (for the task's type):
  calls     --call=reached|no_answer|wrong_number|refused [--right_party]
            [--promise=AMOUNT@YYYY-MM-DD] [--reason=REASON] [--hardship=TEXT]
            [--plan_requested] [--waiver_requested] [--notes=TEXT]
  visit     --visit=met|not_home|moved [--promise=AMOUNT@YYYY-MM-DD]
            [--reason=REASON] [--hardship=TEXT] [--notes=TEXT]
  letter    --letter=sent|not_sent [--reference=REF]
  SMS       --sms=delivered|failed [--reference=REF]
  hardship  --assessment=genuine|not_genuine [--notes=TEXT]
  review    --review=DECISION [--write_off]
  AMOUNT is in CNY (1500 or 1500.50); REASON one of unemployment, illness,
  business_failure, income_drop, forgot, dispute, unwilling, other.
  DUR is like 90s, 5m, 1h.

Exit status: 0 done; 1 the server refused (the message says why; a task
that was cancelled or re-leased cannot be reported: drop it; refused
credentials: check --token_file), or the answer
is larger than the gRPC message limit (ask for less: --max, --states,
--queues); retrying will not help; 2 bad usage; 3 nothing to claim; 4 the
server is unreachable or busy (try again).
)";

enum Exit { kOk = 0, kRefused = 1, kBadUsage = 2, kNothing = 3, kUnavailable = 4 };

// --name=value and --flag arguments after the command (the clients' shared
// parser, clients/common/args.h), remembering which ones the command read.
class Flags {
 public:
  // False (with *error) on a malformed or repeated flag.
  bool Parse(const std::vector<std::string>& args, std::string* error) {
    absl::StatusOr<Args> parsed = Args::ParseNamed(args);
    if (!parsed.ok()) {
      *error = std::string(parsed.status().message());
      return false;
    }
    args_ = *std::move(parsed);
    return true;
  }
  bool Has(const std::string& name) const { return args_.Has(name); }
  std::vector<std::string> Names() const { return args_.Names(); }
  std::string Get(const std::string& name, const std::string& fallback = "") {
    used_.insert(name);
    return args_.Get(name, fallback);
  }
  bool Bool(const std::string& name) {
    used_.insert(name);
    return Has(name) && (args_.Bare(name) || args_.Get(name) == "true");
  }
  // Flags given but never read by the command: a typo or a flag of
  // another command.
  std::vector<std::string> Unused() const {
    std::vector<std::string> out;
    for (const std::string& name : args_.Names()) {
      if (!used_.count(name)) out.push_back("--" + name);
    }
    return out;
  }

 private:
  Args args_;
  std::set<std::string> used_;
};

struct UsageError {
  std::string message;
};

int64_t IntFlag(Flags& f, const std::string& name, int64_t fallback, bool required = false) {
  if (!f.Has(name)) {
    if (required) throw UsageError{absl::StrCat("--", name, " is required")};
    return fallback;
  }
  int64_t v = 0;
  if (!absl::SimpleAtoi(f.Get(name), &v)) {
    throw UsageError{absl::StrCat("--", name, " must be a whole number")};
  }
  return v;
}

google::protobuf::Duration DurationFlag(Flags& f, const std::string& name) {
  absl::Duration d;
  if (!absl::ParseDuration(f.Get(name), &d) || d < absl::ZeroDuration()) {
    throw UsageError{absl::StrCat("--", name, " must be a duration like 90s, 5m or 1h")};
  }
  google::protobuf::Duration out;
  out.set_seconds(absl::ToInt64Seconds(d));
  out.set_nanos(static_cast<int32_t>((d - absl::Seconds(out.seconds())) / absl::Nanoseconds(1)));
  return out;
}

std::vector<std::string> ListFlag(Flags& f, const std::string& name) {
  return absl::StrSplit(f.Get(name), ',', absl::SkipEmpty());
}

// "reached" -> CALL_RESULT_REACHED, by the enum's own names.
template <typename Enum>
Enum EnumFlag(Flags& f, const std::string& name, const std::string& prefix,
              bool (*parse)(const std::string&, Enum*)) {
  const std::string value = f.Get(name);
  Enum e;
  if (value.empty() || !parse(prefix + absl::AsciiStrToUpper(value), &e) ||
      static_cast<int>(e) == 0) {
    throw UsageError{
        absl::StrCat("--", name, "=", value, " is not one of the values listed in --help")};
  }
  return e;
}

// "1500.50@2026-12-05"
v1::PromiseToPay PromiseFlag(const std::string& value) {
  std::vector<std::string> parts = absl::StrSplit(value, '@');
  UsageError bad{"--promise must be AMOUNT@YYYY-MM-DD, e.g. 1500@2026-12-05"};
  if (parts.size() != 2) throw bad;
  std::vector<std::string> money = absl::StrSplit(parts[0], '.');
  int64_t yuan = 0, fen = 0;
  if (money.empty() || money.size() > 2 || !absl::SimpleAtoi(money[0], &yuan) || yuan < 0)
    throw bad;
  if (money.size() == 2) {
    if (money[1].empty() || money[1].size() > 2 || !absl::SimpleAtoi(money[1], &fen)) throw bad;
    if (money[1].size() == 1) fen *= 10;
  }
  absl::CivilDay day;
  if (!absl::ParseCivilTime(parts[1], &day)) throw bad;
  v1::PromiseToPay p;
  p.set_amount_fen(yuan * 100 + fen);
  p.mutable_due_date()->set_year(static_cast<int32_t>(day.year()));
  p.mutable_due_date()->set_month(day.month());
  p.mutable_due_date()->set_day(day.day());
  return p;
}

v1::OverdueReason ReasonFlag(Flags& f) {
  return EnumFlag<v1::OverdueReason>(f, "reason", "OVERDUE_REASON_", v1::OverdueReason_Parse);
}

bool ChoiceFlag(Flags& f, const std::string& name, const std::string& yes, const std::string& no) {
  const std::string v = f.Get(name);
  if (v == yes) return true;
  if (v == no) return false;
  throw UsageError{absl::StrCat("--", name, " must be ", yes, " or ", no)};
}

// The one outcome group the flags name.
v1::TaskOutcome OutcomeFlags(Flags& f) {
  const std::vector<std::string> kinds = {"call", "visit", "letter", "sms", "assessment", "review"};
  std::vector<std::string> given;
  for (const std::string& k : kinds) {
    if (f.Has(k)) given.push_back("--" + k);
  }
  if (given.size() != 1) {
    throw UsageError{given.empty()
                         ? "an outcome is required: one of --call, --visit, --letter, --sms, "
                           "--assessment, --review"
                         : absl::StrCat("one outcome only, got ", absl::StrJoin(given, " "))};
  }
  v1::TaskOutcome o;
  if (f.Has("call")) {
    v1::CallOutcome& c = *o.mutable_call();
    c.set_result(EnumFlag<v1::CallResult>(f, "call", "CALL_RESULT_", v1::CallResult_Parse));
    c.set_right_party_contact(f.Bool("right_party"));
    if (f.Has("promise")) *c.mutable_promise() = PromiseFlag(f.Get("promise"));
    if (f.Has("reason")) c.set_overdue_reason(ReasonFlag(f));
    if (f.Has("hardship")) {
      c.set_hardship_indicated(true);
      c.set_hardship_reason(f.Get("hardship"));
    }
    c.set_plan_requested(f.Bool("plan_requested"));
    c.set_penalty_waiver_requested(f.Bool("waiver_requested"));
    c.set_notes(f.Get("notes"));
  } else if (f.Has("visit")) {
    v1::VisitOutcome& v = *o.mutable_visit();
    v.set_result(EnumFlag<v1::VisitResult>(f, "visit", "VISIT_RESULT_", v1::VisitResult_Parse));
    if (f.Has("promise")) *v.mutable_promise() = PromiseFlag(f.Get("promise"));
    if (f.Has("reason")) v.set_overdue_reason(ReasonFlag(f));
    if (f.Has("hardship")) {
      v.set_hardship_indicated(true);
      v.set_hardship_reason(f.Get("hardship"));
    }
    v.set_notes(f.Get("notes"));
  } else if (f.Has("letter")) {
    o.mutable_letter()->set_sent(ChoiceFlag(f, "letter", "sent", "not_sent"));
    o.mutable_letter()->set_reference(f.Get("reference"));
  } else if (f.Has("sms")) {
    o.mutable_sms()->set_delivered(ChoiceFlag(f, "sms", "delivered", "failed"));
    o.mutable_sms()->set_gateway_reference(f.Get("reference"));
  } else if (f.Has("assessment")) {
    o.mutable_hardship_assessment()->set_genuine(
        ChoiceFlag(f, "assessment", "genuine", "not_genuine"));
    o.mutable_hardship_assessment()->set_assessment(f.Get("notes"));
  } else {
    o.mutable_review()->set_decision(f.Get("review"));
    o.mutable_review()->set_write_off(f.Bool("write_off"));
  }
  return o;
}

std::string Cny(int64_t fen) {
  return absl::StrFormat("%s%d.%02d CNY", fen < 0 ? "-" : "", std::abs(fen) / 100,
                         std::abs(fen) % 100);
}

absl::Time TimeOf(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string Short(const std::string& enum_name, const std::string& prefix) {
  return absl::AsciiStrToLower(
      enum_name.substr(enum_name.rfind(prefix, 0) == 0 ? prefix.size() : 0));
}

// What the worker needs to see, and the command that reports it.
void PrintTask(const v1::Task& t, const std::string& self) {
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(t.payload().time_zone(), &zone)) zone = absl::LocalTimeZone();
  const v1::TaskPayload& p = t.payload();
  // The first line is stable, for scripts: task ID token TOKEN TYPE QUEUE
  // key KEY (the lease's secret, needed with the token).
  std::printf("task %lld token %lld %s %s key %s\n", static_cast<long long>(t.task_id()),
              static_cast<long long>(t.lease_token()), v1::TaskType_Name(t.type()).c_str(),
              t.queue().c_str(), t.lease_key().c_str());
  std::printf("  case        %lld (%s, %d days past due, %s overdue)\n",
              static_cast<long long>(t.case_id()),
              Short(v1::CaseClass_Name(p.case_class()), "CASE_CLASS_").c_str(), p.days_past_due(),
              Cny(p.overdue_total_fen()).c_str());
  std::printf("  borrower    %s\n", p.borrower_name().c_str());
  if (!p.phone().empty()) std::printf("  phone       %s\n", p.phone().c_str());
  if (!p.address().empty()) std::printf("  address     %s\n", p.address().c_str());
  std::printf("  script      %s\n", p.script_key().c_str());
  std::printf("  contacts    %d before in this stage\n", p.prior_contacts());
  std::printf("  local time  %s (%s)\n", absl::FormatTime("%H:%M", absl::Now(), zone).c_str(),
              zone.name().c_str());
  if (t.has_deadline()) {
    std::printf("  due by      %s\n",
                absl::FormatTime("%Y-%m-%d %H:%M %Z", TimeOf(t.deadline()), zone).c_str());
  }
  std::printf("  lease until %s (attempt %d)\n",
              absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", TimeOf(t.lease_expires_at()), zone).c_str(),
              t.attempts());
  const char* outcome = "--call=reached|no_answer|wrong_number|refused";
  switch (t.type()) {
    case v1::TASK_TYPE_SMS_REMINDER:
      outcome = "--sms=delivered|failed";
      break;
    case v1::TASK_TYPE_HOME_VISIT:
      outcome = "--visit=met|not_home|moved";
      break;
    case v1::TASK_TYPE_LEGAL_LETTER:
      outcome = "--letter=sent --reference=REF";
      break;
    case v1::TASK_TYPE_HARDSHIP_ASSESSMENT:
      outcome = "--assessment=genuine|not_genuine";
      break;
    case v1::TASK_TYPE_SUPERVISOR_REVIEW:
      outcome = "--review=DECISION [--write_off]";
      break;
    default:
      break;
  }
  std::printf("  report with %s complete --task=%lld --token=%lld --key=%s %s\n", self.c_str(),
              static_cast<long long>(t.task_id()), static_cast<long long>(t.lease_token()),
              t.lease_key().c_str(), outcome);
}

void PrintListed(const v1::Task& t) {
  std::printf("task %lld case %lld %s %s %s attempts %d%s%s\n", static_cast<long long>(t.task_id()),
              static_cast<long long>(t.case_id()), v1::TaskType_Name(t.type()).c_str(),
              t.queue().c_str(), Short(v1::TaskState_Name(t.state()), "TASK_STATE_").c_str(),
              t.attempts(), t.hold_reason().empty() ? "" : ": ", t.hold_reason().c_str());
}

int Failed(const grpc::Status& s, const std::string& server) {
  std::fprintf(stderr, "collections-agent: %s\n",
               collections::clients::FailureText(s, server).c_str());
  switch (s.error_code()) {
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // Also a message over gRPC's size limit ("Received message larger
      // than max"), which no retry can help; the requests are far below it.
      if (collections::clients::OverMessageLimit(s)) {
        std::fprintf(stderr,
                     "  (the answer is larger than the gRPC message limit: retrying will not "
                     "help; ask for less at a time: a smaller --max, narrower --states, "
                     "--queues or --case)\n");
        return kRefused;
      }
      return kUnavailable;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
      return kUnavailable;
    default:
      return kRefused;
  }
}

struct Lease {
  int64_t task = 0;
  int64_t token = 0;
  std::string key;
};
Lease LeaseFlags(Flags& f) {
  Lease lease{IntFlag(f, "task", 0, true), IntFlag(f, "token", 0, true), f.Get("key")};
  if (lease.key.empty()) throw UsageError{"--key is required (the lease key that claim printed)"};
  return lease;
}

int Run(int argc, char** argv) {
  std::vector<std::string> global, rest;
  std::string command;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (command.empty() && a.compare(0, 2, "--") != 0) {
      command = a;
    } else {
      (command.empty() ? global : rest).push_back(a);
    }
  }
  Flags g, f;
  std::string error;
  if (!g.Parse(global, &error) || !f.Parse(rest, &error)) throw UsageError{error};
  if (g.Has("help") || command == "help") {
    std::fputs(kHelp, stdout);
    return kOk;
  }
  if (command.empty()) throw UsageError{"a command is required"};
  static const auto* const kFlags = new std::map<std::string, std::set<std::string>>{
      {"claim", {"queues", "types", "max", "lease", "wait"}},
      {"complete",
       {"task", "token", "key", "request", "call", "right_party", "promise", "reason", "hardship",
        "plan_requested", "waiver_requested", "notes", "visit", "letter", "reference", "sms",
        "assessment", "review", "write_off"}},
      {"fail", {"task", "token", "key", "reason", "retry_after"}},
      {"extend", {"task", "token", "key", "by"}},
      {"release", {"task", "token", "key"}},
      {"list", {"states", "queues", "held", "case", "max"}},
  };
  auto known = kFlags->find(command);
  if (known == kFlags->end()) throw UsageError{absl::StrCat("unknown command \"", command, "\"")};
  for (const std::string& name : f.Names()) {
    if (!known->second.count(name)) {
      throw UsageError{absl::StrCat("unknown flag --", name, " for ", command)};
    }
  }
  const char* user = std::getenv("USER");
  const std::string server = g.Get("server", "127.0.0.1:50051");
  const std::string worker = g.Get("worker", user != nullptr && *user ? user : "agent");
  absl::Duration timeout = absl::Seconds(10);
  if (g.Has("timeout") && !absl::ParseDuration(g.Get("timeout"), &timeout)) {
    throw UsageError{"--timeout must be a duration like 10s"};
  }
  absl::StatusOr<collections::clients::ConnectionOptions> connection =
      collections::clients::ConnectionOptionsFrom(
          server, [&](const std::string& name) -> std::optional<std::string> {
            if (!g.Has(name)) return std::nullopt;
            return g.Get(name);
          });
  if (!connection.ok()) throw UsageError{std::string(connection.status().message())};
  if (!g.Unused().empty()) {
    throw UsageError{absl::StrCat("unknown flag ", g.Unused()[0], " before the command")};
  }
  // How to run this tool again (printed with each claimed task): the
  // server, the worker and the connection flags given (file names only).
  std::string self = absl::StrCat(argv[0], " --server=", server, " --worker=", worker);
  for (const collections::clients::Flag& flag : collections::clients::ConnectionFlags()) {
    if (g.Has(flag.name)) absl::StrAppend(&self, " --", flag.name, "=", g.Get(flag.name));
  }

  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      collections::clients::OpenChannel(*connection);
  if (!channel.ok()) throw UsageError{std::string(channel.status().message())};
  auto stub = v1::TaskService::NewStub(*channel);
  grpc::ClientContext context;
  // A flag of another outcome (--write_off with --call) is a mistake too.
  auto finish_flags = [&] {
    if (!f.Unused().empty()) {
      throw UsageError{absl::StrCat(f.Unused()[0], " does not go with the other flags given")};
    }
  };
  auto deadline = [&](absl::Duration extra) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout + extra));
  };

  if (command == "claim") {
    v1::ClaimTasksRequest r;
    r.set_worker_id(worker);
    for (const std::string& q : ListFlag(f, "queues")) r.add_queues(q);
    if (r.queues().empty()) throw UsageError{"--queues is required"};
    for (const std::string& t : ListFlag(f, "types")) {
      v1::TaskType type;
      if (!v1::TaskType_Parse("TASK_TYPE_" + absl::AsciiStrToUpper(t), &type)) {
        throw UsageError{absl::StrCat("--types: unknown task type ", t)};
      }
      r.add_task_types(type);
    }
    r.set_max_tasks(static_cast<int32_t>(IntFlag(f, "max", 1)));
    if (f.Has("lease")) *r.mutable_lease() = DurationFlag(f, "lease");
    absl::Duration wait;
    if (f.Has("wait")) {
      *r.mutable_wait() = DurationFlag(f, "wait");
      wait = absl::Seconds(r.wait().seconds());
    }
    finish_flags();
    deadline(wait);
    v1::ClaimTasksResponse out;
    grpc::Status s = stub->ClaimTasks(&context, r, &out);
    if (!s.ok()) return Failed(s, server);
    if (out.tasks().empty()) {
      std::fprintf(stderr, "collections-agent: no task ready in %s\n",
                   absl::StrJoin(r.queues(), ", ").c_str());
      return kNothing;
    }
    for (const v1::Task& t : out.tasks()) PrintTask(t, self);
    return kOk;
  }
  if (command == "complete") {
    const Lease l = LeaseFlags(f);
    v1::CompleteTaskRequest r;
    r.set_task_id(l.task);
    r.set_lease_token(l.token);
    r.set_lease_key(l.key);
    r.set_request_id(f.Get("request", absl::StrCat(worker, "/", l.task, "/", l.token)));
    *r.mutable_outcome() = OutcomeFlags(f);
    finish_flags();
    deadline(absl::ZeroDuration());
    v1::CompleteTaskResponse out;
    grpc::Status s = stub->CompleteTask(&context, r, &out);
    if (!s.ok()) return Failed(s, server);
    std::printf("task %lld completed%s; case %lld is now %s\n", static_cast<long long>(l.task),
                out.duplicate() ? " (already reported)" : "",
                static_cast<long long>(out.task().case_id()),
                Short(v1::Stage_Name(out.case_stage()), "STAGE_").c_str());
    return kOk;
  }
  if (command == "fail") {
    const Lease l = LeaseFlags(f);
    v1::FailTaskRequest r;
    r.set_task_id(l.task);
    r.set_lease_token(l.token);
    r.set_lease_key(l.key);
    r.set_reason(f.Get("reason"));
    if (r.reason().empty()) throw UsageError{"--reason is required"};
    if (f.Has("retry_after")) *r.mutable_retry_after() = DurationFlag(f, "retry_after");
    finish_flags();
    deadline(absl::ZeroDuration());
    v1::FailTaskResponse out;
    grpc::Status s = stub->FailTask(&context, r, &out);
    if (!s.ok()) return Failed(s, server);
    std::printf("task %lld %s: %s\n", static_cast<long long>(l.task),
                Short(v1::TaskState_Name(out.task().state()), "TASK_STATE_").c_str(),
                out.task().hold_reason().c_str());
    return kOk;
  }
  if (command == "extend") {
    const Lease l = LeaseFlags(f);
    v1::ExtendLeaseRequest r;
    r.set_task_id(l.task);
    r.set_lease_token(l.token);
    r.set_lease_key(l.key);
    if (f.Has("by")) *r.mutable_extend_by() = DurationFlag(f, "by");
    finish_flags();
    deadline(absl::ZeroDuration());
    v1::ExtendLeaseResponse out;
    grpc::Status s = stub->ExtendLease(&context, r, &out);
    if (!s.ok()) return Failed(s, server);
    std::printf("task %lld leased until %s\n", static_cast<long long>(l.task),
                absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", TimeOf(out.task().lease_expires_at()),
                                 absl::LocalTimeZone())
                    .c_str());
    return kOk;
  }
  if (command == "release") {
    const Lease l = LeaseFlags(f);
    v1::ReleaseTaskRequest r;
    r.set_task_id(l.task);
    r.set_lease_token(l.token);
    r.set_lease_key(l.key);
    finish_flags();
    deadline(absl::ZeroDuration());
    v1::ReleaseTaskResponse out;
    grpc::Status s = stub->ReleaseTask(&context, r, &out);
    if (!s.ok()) return Failed(s, server);
    std::printf("task %lld released\n", static_cast<long long>(l.task));
    return kOk;
  }
  if (command == "list") {
    v1::ListTasksRequest r;
    for (const std::string& s : ListFlag(f, "states")) {
      v1::TaskState state;
      if (!v1::TaskState_Parse("TASK_STATE_" + absl::AsciiStrToUpper(s), &state)) {
        throw UsageError{absl::StrCat("--states: unknown state ", s)};
      }
      r.add_states(state);
    }
    for (const std::string& q : ListFlag(f, "queues")) r.add_queues(q);
    r.set_held_only(f.Bool("held"));
    r.set_case_id(IntFlag(f, "case", 0));
    r.set_page_size(static_cast<int32_t>(IntFlag(f, "max", 100)));
    finish_flags();
    deadline(absl::ZeroDuration());
    v1::ListTasksResponse out;
    grpc::Status s = stub->ListTasks(&context, r, &out);
    if (!s.ok()) return Failed(s, server);
    for (const v1::Task& t : out.tasks()) PrintListed(t);
    if (!out.next_page_token().empty()) std::printf("(more: raise --max)\n");
    return kOk;
  }
  throw UsageError{absl::StrCat("unknown command \"", command, "\"")};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "collections-agent: %s (see --help)\n", e.message.c_str());
    return kBadUsage;
  }
}
