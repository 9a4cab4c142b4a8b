// End to end: the agent console (collections-agent) against the real
// collectionsd binary. Cases come in over gRPC; the console claims, shows
// and reports every outcome type, long-polls for a task that arrives later,
// and answers with its documented exit codes. The server runs on the real
// clock, so the borrowers live in a zone where it is midday now (the
// contact window is enforced).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "tests/e2e/collectionsd_process.h"
#include "tests/service/test_env.h"

#ifndef COLLECTIONS_AGENT_PATH
#error "COLLECTIONS_AGENT_PATH must name the collections-agent binary"
#endif

namespace collections {
namespace {

using testing::Collectionsd;
using ::testing::HasSubstr;

struct AgentRun {
  int exit = -1;
  std::string out, err;
};

// collections-agent as a child process, its output in files.
class Agent {
 public:
  Agent(std::string dir, std::string server) : dir_(std::move(dir)), server_(std::move(server)) {}

  pid_t Start(const std::vector<std::string>& args, int* id) {
    *id = ++runs_;
    // amy's token (tokens/agent.jwt), so the leases are hers, unless the
    // call brings its own credentials (they go before the command).
    std::vector<std::string> argv_s = {COLLECTIONS_AGENT_PATH, "--server=" + server_};
    std::vector<std::string> rest;
    bool own_token = false;
    for (const std::string& a : args) {
      if (a.rfind("--tls_", 0) == 0 || a.rfind("--token_file", 0) == 0) {
        own_token = own_token || a.rfind("--token_file", 0) == 0;
        argv_s.push_back(a);
      } else {
        rest.push_back(a);
      }
    }
    if (!own_token) {
      for (const std::string& flag : testing::ClientFlags("agent")) argv_s.push_back(flag);
    }
    argv_s.push_back("--worker=amy");
    argv_s.insert(argv_s.end(), rest.begin(), rest.end());
    std::vector<char*> argv;
    for (std::string& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, Path(*id, "out").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, Path(*id, "err").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    EXPECT_EQ(posix_spawn(&pid, COLLECTIONS_AGENT_PATH, &actions, nullptr, argv.data(), environ),
              0);
    posix_spawn_file_actions_destroy(&actions);
    return pid;
  }

  AgentRun Wait(pid_t pid, int id) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    AgentRun r;
    r.exit = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = Read(Path(id, "out"));
    r.err = Read(Path(id, "err"));
    return r;
  }

  AgentRun operator()(const std::vector<std::string>& args) {
    int id;
    pid_t pid = Start(args, &id);
    return Wait(pid, id);
  }

 private:
  std::string Path(int id, const char* what) const {
    return absl::StrCat(dir_, "/agent-", id, ".", what);
  }
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string dir_, server_;
  int runs_ = 0;
};

// "task 7 token 1 TASK_TYPE_SMS_REMINDER sms key K"
//   -> {"--task=7", "--token=1", "--key=K"}
std::vector<std::string> LeaseOf(const AgentRun& claimed) {
  std::vector<std::string> words =
      absl::StrSplit(claimed.out.substr(0, claimed.out.find('\n')), ' ');
  if (words.size() < 8 || words[0] != "task" || words[2] != "token" || words[6] != "key") {
    ADD_FAILURE() << "unexpected claim output: " << claimed.out;
    return {};
  }
  return {"--task=" + words[1], "--token=" + words[3], "--key=" + words[7]};
}

std::vector<std::string> With(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class AgentEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::Create("collections-agent-e2e");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    auto port = testing::PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status();
    address_ = absl::StrCat("127.0.0.1:", *port);
    process_ = std::make_unique<Collectionsd>(
        std::vector<std::string>{
            "--listen=" + address_,
            absl::StrCat("--db=sqlite3://db=", dir_->path(), "/c.db timeout=5"),
            "--daily_aging_time=off", "--log_level=debug"},
        absl::StrCat(dir_->path(), "/collectionsd.log"));
    ASSERT_TRUE(process_->started()) << process_->spawn_error();
    ASSERT_TRUE(testing::WaitUntilServing(*process_, address_, absl::Seconds(60)))
        << process_->Log();
    cases_ = v1::CaseService::NewStub(testing::SecureChannel(address_));
    agent_ = std::make_unique<Agent>(dir_->path(), address_);
  }

  // Polls the server's log until a line holds `text` (readiness, bounded by
  // `limit`; never waiting for time to pass) or the server exits.
  bool WaitForLogLine(const std::string& text, absl::Duration limit) {
    const absl::Time give_up = absl::Now() + limit;
    while (absl::Now() < give_up && !process_->Exited()) {
      if (process_->Log().find(text) != std::string::npos) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  }

  // A feed row as of the server's first business date (today in Shanghai).
  v1::DelinquencyRecord Row(const std::string& loan, int dpd, int64_t overdue_fen) {
    const absl::CivilDay today = absl::ToCivilDay(absl::Now(), Zone("Asia/Shanghai"));
    v1::DelinquencyRecord r;
    r.set_loan_id(loan);
    SetDay(today, r.mutable_as_of());
    SetDay(today - dpd, r.mutable_oldest_unpaid_due_date());
    r.mutable_borrower()->set_borrower_id("B-" + loan);
    r.mutable_borrower()->set_name("Wang Fang");
    r.mutable_borrower()->add_phones("+86 137 0000 0000");
    r.mutable_borrower()->set_address("9 Zhongshan Rd, Nanjing");
    r.mutable_borrower()->set_time_zone(zone_);
    r.set_principal_outstanding_fen(50'000'000);
    r.mutable_overdue()->set_principal_fen(overdue_fen);
    return r;
  }

  void Import(const std::vector<v1::DelinquencyRecord>& rows) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::ImportDelinquenciesResponse response;
    auto writer = cases_->ImportDelinquencies(&context, &response);
    for (const auto& r : rows) {
      v1::ImportDelinquenciesRequest request;
      *request.mutable_record() = r;
      ASSERT_TRUE(writer->Write(request));
    }
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
    ASSERT_EQ(response.rejected(), 0) << response.DebugString();
  }

  void Signal(const std::string& loan, const v1::Signal& signal) {
    grpc::ClientContext get_context, context;
    v1::GetCaseRequest get;
    get.set_loan_id(loan);
    v1::GetCaseResponse file;
    ASSERT_TRUE(cases_->GetCase(&get_context, get, &file).ok());
    v1::SignalCaseRequest request;
    request.set_case_id(file.case_().case_id());
    *request.mutable_signal() = signal;
    request.set_request_id(absl::StrCat("e2e-signal-", ++signals_sent_));
    v1::SignalCaseResponse out;
    ASSERT_TRUE(cases_->SignalCase(&context, request, &out).ok());
  }

  // Claims one task of `queue` and reports it with `outcome`.
  void ClaimAndComplete(const std::string& queue, const std::vector<std::string>& outcome,
                        const std::string& expect_stage) {
    const AgentRun claimed = (*agent_)({"claim", "--queues=" + queue});
    ASSERT_EQ(claimed.exit, 0) << queue << ": " << claimed.err;
    const AgentRun done = (*agent_)(With(With({"complete"}, LeaseOf(claimed)), outcome));
    EXPECT_EQ(done.exit, 0) << queue << ": " << done.err;
    EXPECT_THAT(done.out, HasSubstr("is now " + expect_stage)) << done.out;
  }

  static absl::TimeZone Zone(const std::string& name) {
    absl::TimeZone tz;
    EXPECT_TRUE(absl::LoadTimeZone(name, &tz));
    return tz;
  }
  static void SetDay(absl::CivilDay d, v1::Date* out) {
    out->set_year(static_cast<int32_t>(d.year()));
    out->set_month(d.month());
    out->set_day(d.day());
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::string address_;
  std::string zone_ = testing::NoonZone();
  std::unique_ptr<Collectionsd> process_;
  std::unique_ptr<v1::CaseService::Stub> cases_;
  int signals_sent_ = 0;
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentEndToEnd, ClaimsShowsAndReportsEveryOutcomeType) {
  Import({Row("MILD", 5, 200'000), Row("MODERATE", 45, 200'000), Row("SEVERE", 120, 3'000'000)});
  Agent& agent = *agent_;

  // What to do, and how to report it.
  const AgentRun sms = agent({"claim", "--queues=sms"});
  ASSERT_EQ(sms.exit, 0) << sms.err;
  EXPECT_THAT(sms.out, HasSubstr("TASK_TYPE_SMS_REMINDER sms"));
  EXPECT_THAT(sms.out, HasSubstr("Wang Fang"));
  EXPECT_THAT(sms.out, HasSubstr("+86 137 0000 0000"));
  EXPECT_THAT(sms.out, HasSubstr("2000.00 CNY"));
  EXPECT_THAT(sms.out, HasSubstr("reminder.sms.friendly"));
  EXPECT_THAT(sms.out, HasSubstr("complete --task="));
  const std::vector<std::string> lease = LeaseOf(sms);
  AgentRun done = agent(With(With({"complete"}, lease), {"--sms=delivered", "--reference=gw-77"}));
  ASSERT_EQ(done.exit, 0) << done.err;
  EXPECT_THAT(done.out, HasSubstr("is now reminder"));
  // The same command again (an answer lost on the way) is safe.
  done = agent(With(With({"complete"}, lease), {"--sms=delivered", "--reference=gw-77"}));
  EXPECT_EQ(done.exit, 0) << done.err;
  EXPECT_THAT(done.out, HasSubstr("already reported"));
  // Nothing more to claim there.
  EXPECT_EQ(agent({"claim", "--queues=sms"}).exit, 3);

  const absl::CivilDay in_a_week = absl::ToCivilDay(absl::Now(), Zone("Asia/Shanghai")) + 7;
  ClaimAndComplete(
      "call.counselling",
      {"--call=reached", "--right_party", "--reason=income_drop",
       absl::StrCat("--promise=1500.50@", absl::FormatCivilTime(in_a_week)), "--plan_requested",
       "--waiver_requested", "--hardship=lost a second job", "--notes=call back Friday"},
      "counselling");
  ClaimAndComplete("hardship", {"--assessment=genuine", "--notes=payslips seen"}, "counselling");
  ClaimAndComplete("field", {"--visit=not_home", "--notes=neighbour says away"}, "legal_action");
  ClaimAndComplete("letters", {"--letter=sent", "--reference=EMS-123"}, "legal_action");
  v1::Signal bankrupt;
  bankrupt.mutable_bankruptcy()->set_court_reference("(2026) Hu 01 Po 12");
  Signal("SEVERE", bankrupt);
  ClaimAndComplete("supervisor", {"--review=pause and file a claim in the bankruptcy"},
                   "legal_action");

  // A second reminder case's SMS: given back untouched, then failed with a
  // retry, which supervisors see.
  Import({Row("RETRY", 3, 100'000)});
  const AgentRun retry_sms = agent({"claim", "--queues=sms"});
  ASSERT_EQ(retry_sms.exit, 0) << retry_sms.err;
  EXPECT_EQ(agent(With({"release"}, LeaseOf(retry_sms))).exit, 0);
  const AgentRun again = agent({"claim", "--queues=sms", "--lease=10m"});
  ASSERT_EQ(again.exit, 0) << again.err;
  EXPECT_EQ(agent(With(With({"extend"}, LeaseOf(again)), {"--by=20m"})).exit, 0);
  const AgentRun failed =
      agent(With(With({"fail"}, LeaseOf(again)), {"--reason=gateway timeout", "--retry_after=1h"}));
  EXPECT_EQ(failed.exit, 0) << failed.err;
  // Listing held work is a supervisor's (tokens/supervisor.jwt).
  std::vector<std::string> as_supervisor = testing::ClientFlags("supervisor");
  as_supervisor.insert(as_supervisor.begin(), {"list", "--held"});
  const AgentRun held = agent(as_supervisor);
  EXPECT_EQ(held.exit, 0) << held.err;
  EXPECT_THAT(held.out, HasSubstr("gateway timeout"));
  // The old lease is fenced off: the server refuses, exit 1.
  const AgentRun stale = agent(With(With({"complete"}, LeaseOf(again)), {"--sms=delivered"}));
  EXPECT_EQ(stale.exit, 1);
  EXPECT_THAT(stale.err, HasSubstr("FAILED_PRECONDITION"));
}

TEST_F(AgentEndToEnd, LongPollReturnsWhenWorkArrives) {
  int id;
  const pid_t pid = agent_->Start({"claim", "--queues=sms", "--wait=60s"}, &id);
  // The claim is held open on the server (its debug line says so) before
  // any work exists; so only a wake-up can answer it before its 60 s are up.
  ASSERT_TRUE(WaitForLogLine("registered on queues sms", absl::Seconds(60))) << process_->Log();
  const absl::Time imported = absl::Now();
  Import({Row("LATE", 5, 100'000)});
  const AgentRun claimed = agent_->Wait(pid, id);
  EXPECT_EQ(claimed.exit, 0) << claimed.err;
  EXPECT_THAT(claimed.out, HasSubstr("TASK_TYPE_SMS_REMINDER"));
  EXPECT_LT(absl::Now() - imported, absl::Seconds(20));
}

TEST_F(AgentEndToEnd, ExitCodesForBadUsageAndAnUnreachableServer) {
  const AgentRun usage = (*agent_)({"claim"});
  EXPECT_EQ(usage.exit, 2);
  EXPECT_THAT(usage.err, HasSubstr("--queues is required"));
  const AgentRun outcome =
      (*agent_)({"complete", "--task=1", "--token=1", "--key=k", "--call=maybe"});
  EXPECT_EQ(outcome.exit, 2);
  const AgentRun two =
      (*agent_)({"complete", "--task=1", "--token=1", "--key=k", "--sms=failed", "--letter=sent"});
  EXPECT_EQ(two.exit, 2);
  EXPECT_THAT(two.err, HasSubstr("one outcome only"));
  EXPECT_EQ((*agent_)({"--help"}).exit, 0);

  process_->Signal(SIGTERM);
  process_->Wait();
  const AgentRun down = (*agent_)({"claim", "--queues=sms"});
  EXPECT_EQ(down.exit, 4);
  EXPECT_THAT(down.err, HasSubstr("UNAVAILABLE"));
}

}  // namespace
}  // namespace collections
