// End to end: collectionsctl against the real collectionsd binary through a
// scripted month. A policy taken out, edited and put back (with a contact
// window of the whole day, so that agents can work whatever the hour); the
// feed imported from CSV with a bad row; agents completing tasks with mixed
// outcomes; payments, promises (two broken), a plan that breaks, a legal
// handoff; the business date advanced day by day for thirty days — and then
// every report through the CLI, compared with golden files in each output
// format. Dates in the output are written relative to the first business
// date ("D+7"), so the goldens hold on any day. The HTML page is opened in
// headless Chromium (when installed) and a screenshot taken.
//
// COLLECTIONS_UPDATE_GOLDEN=1 rewrites the golden files instead of
// comparing (review the diff before committing it).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "collections/v1/case_service.grpc.pb.h"
#include "collections/v1/plan_service.grpc.pb.h"
#include "collections/v1/report_service.grpc.pb.h"
#include "collections/v1/task_service.grpc.pb.h"
#include "soci/soci.h"
#include "soci/sqlite3/soci-sqlite3.h"
#include "tests/e2e/collectionsd_process.h"
#include "tests/service/test_env.h"

#ifndef COLLECTIONSCTL_PATH
#error "COLLECTIONSCTL_PATH must name the collectionsctl binary"
#endif
#ifndef COLLECTIONS_GOLDEN_DIR
#error "COLLECTIONS_GOLDEN_DIR must name tests/e2e/golden"
#endif

namespace collections {
namespace {

using testing::Collectionsd;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Day(absl::CivilDay d) {
  return absl::StrFormat("%04d-%02d-%02d", d.year(), d.month(), d.day());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Ran {
  int exit = -1;
  std::string out, err;
};

// Runs a program with its output in files under `dir`.
Ran Spawn(const std::string& dir, const std::vector<std::string>& argv_s) {
  static int runs = 0;
  const std::string out = absl::StrCat(dir, "/run", ++runs, ".out");
  const std::string err = absl::StrCat(dir, "/run", runs, ".err");
  std::vector<std::string> copy = argv_s;
  std::vector<char*> argv;
  for (std::string& s : copy) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  Ran ran;
  if (posix_spawnp(&pid, copy[0].c_str(), &actions, nullptr, argv.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    ran.err = "cannot start " + copy[0];
    return ran;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ran.exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  ran.out = ReadFile(out);
  ran.err = ReadFile(err);
  return ran;
}

class CtlEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::Create("collections-ctl-e2e");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    auto port = testing::PickFreePort();
    ASSERT_TRUE(port.ok()) << port.status();
    address_ = absl::StrCat("127.0.0.1:", *port);
    server_ = std::make_unique<Collectionsd>(
        std::vector<std::string>{
            "--listen=" + address_,
            absl::StrCat("--db=sqlite3://db=", dir_->path(), "/c.db timeout=5"),
            "--daily_aging_time=off", "--log_level=debug"},
        absl::StrCat(dir_->path(), "/server.log"));
    ASSERT_TRUE(server_->started()) << server_->spawn_error();
    ASSERT_TRUE(testing::WaitUntilServing(*server_, address_, absl::Seconds(60))) << server_->Log();
    channel_ = testing::SecureChannel(address_);
    // The first business date is today in the business time zone; running
    // it again fixes D0 whatever the clock did meanwhile.
    absl::TimeZone shanghai;
    ASSERT_TRUE(absl::LoadTimeZone("Asia/Shanghai", &shanghai));
    d0_ = absl::ToCivilDay(absl::Now(), shanghai);
    Ran r = Ctl({"date", "advance", "--to=" + Day(d0_)});
    ASSERT_EQ(r.exit, 0) << r.err << server_->Log();
  }

  void TearDown() override {
    channel_.reset();
    if (server_ != nullptr) {
      server_->Signal(SIGTERM);
      server_->Wait();
    }
  }

  Ran Ctl(std::vector<std::string> args, bool with_server = true) {
    args.insert(args.begin(), COLLECTIONSCTL_PATH);
    if (with_server) {
      args.push_back("--server=" + address_);
      for (const std::string& flag : testing::ClientFlags()) args.push_back(flag);
    }
    return Spawn(dir_->path(), args);
  }

  // `out` with every date near D0 written as D+k, for the goldens.
  std::string Relative(std::string out) const {
    std::vector<std::pair<std::string, std::string>> dates;
    for (int k = -400; k <= 400; ++k) {
      dates.push_back({Day(d0_ + k), k == 0 ? "D" : absl::StrCat("D", k > 0 ? "+" : "", k)});
    }
    dates.push_back({dir_->path(), "TMP"});
    return absl::StrReplaceAll(out, dates);
  }

  // Compares with (or, under COLLECTIONS_UPDATE_GOLDEN, writes) a golden.
  void Golden(const std::string& name, const Ran& r) {
    EXPECT_EQ(r.exit, 0) << name << ": " << r.err;
    const std::string got = Relative(r.out);
    const std::string path = absl::StrCat(COLLECTIONS_GOLDEN_DIR, "/", name);
    const char* update = std::getenv("COLLECTIONS_UPDATE_GOLDEN");
    if (update != nullptr && std::string(update) == "1") {
      std::ofstream(path, std::ios::binary | std::ios::trunc) << got;
      return;
    }
    EXPECT_EQ(got, ReadFile(path))
        << "golden " << path << " differs (COLLECTIONS_UPDATE_GOLDEN=1 rewrites it)";
  }

  int64_t CaseId(const std::string& loan) {
    auto stub = v1::CaseService::NewStub(channel_);
    grpc::ClientContext context;
    v1::GetCaseRequest request;
    request.set_loan_id(loan);
    v1::GetCaseResponse out;
    EXPECT_TRUE(stub->GetCase(&context, request, &out).ok()) << loan;
    return out.case_().case_id();
  }

  // An agent's round in `queue`: each task of the loans in `outcomes` is
  // completed with its outcome, the others go back.
  void Work(const std::string& queue, const std::string& worker,
            const std::map<std::string, v1::TaskOutcome>& outcomes) {
    std::map<int64_t, v1::TaskOutcome> by_case;
    for (const auto& [loan, o] : outcomes) by_case[CaseId(loan)] = o;
    // The worker works as itself (an agent's token): its leases, its row in
    // the agents report.
    auto tasks = v1::TaskService::NewStub(testing::SecureChannel(address_, /*as_tester=*/false));
    grpc::ClientContext context;
    testing::SetCaller(context, worker, "agent");
    v1::ClaimTasksRequest claim;
    claim.set_worker_id(worker);
    claim.add_queues(queue);
    claim.set_max_tasks(100);
    v1::ClaimTasksResponse claimed;
    ASSERT_TRUE(tasks->ClaimTasks(&context, claim, &claimed).ok());
    size_t done = 0;
    for (const v1::Task& t : claimed.tasks()) {
      auto it = by_case.find(t.case_id());
      grpc::ClientContext c;
      testing::SetCaller(c, worker, "agent");
      if (it == by_case.end()) {
        v1::ReleaseTaskRequest release;
        release.set_task_id(t.task_id());
        release.set_lease_token(t.lease_token());
        release.set_lease_key(t.lease_key());
        v1::ReleaseTaskResponse ignored;
        EXPECT_TRUE(tasks->ReleaseTask(&c, release, &ignored).ok());
        continue;
      }
      v1::CompleteTaskRequest complete;
      complete.set_task_id(t.task_id());
      complete.set_lease_token(t.lease_token());
      complete.set_lease_key(t.lease_key());
      complete.set_request_id(absl::StrCat("e2e-", t.task_id()));
      *complete.mutable_outcome() = it->second;
      v1::CompleteTaskResponse out;
      grpc::Status s = tasks->CompleteTask(&c, complete, &out);
      EXPECT_TRUE(s.ok()) << s.error_message();
      by_case.erase(it);
      ++done;
    }
    EXPECT_TRUE(by_case.empty()) << queue << ": " << by_case.size() << " tasks not found";
  }

  void AdvanceTo(int k) {
    Ran r = Ctl({"date", "advance", "--to=" + Day(d0_ + k)});
    ASSERT_EQ(r.exit, 0) << r.err;
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::string address_;
  std::unique_ptr<Collectionsd> server_;
  std::shared_ptr<grpc::Channel> channel_;
  absl::CivilDay d0_;
};

v1::TaskOutcome Call(v1::CallResult result,
                     v1::OverdueReason reason = v1::OVERDUE_REASON_UNSPECIFIED) {
  v1::TaskOutcome o;
  o.mutable_call()->set_result(result);
  o.mutable_call()->set_right_party_contact(result == v1::CALL_RESULT_REACHED);
  o.mutable_call()->set_overdue_reason(reason);
  return o;
}
v1::TaskOutcome Sms() {
  v1::TaskOutcome o;
  o.mutable_sms()->set_delivered(true);
  o.mutable_sms()->set_gateway_reference("gw");
  return o;
}
v1::TaskOutcome Visit(v1::VisitResult result, v1::OverdueReason reason) {
  v1::TaskOutcome o;
  o.mutable_visit()->set_result(result);
  o.mutable_visit()->set_overdue_reason(reason);
  return o;
}

TEST_F(CtlEndToEnd, ExitCodesAndMessagesScriptsCanTrust) {
  Ran help = Ctl({"--help"}, false);
  EXPECT_EQ(help.exit, 0);
  EXPECT_THAT(help.out, HasSubstr("report roll-rates"));
  EXPECT_THAT(help.out, HasSubstr("Exit status"));
  for (const char* cmd : {"report portfolio", "case show", "import", "pay", "signal",
                          "policy migrate", "date advance"}) {
    std::vector<std::string> words = absl::StrSplit(cmd, ' ');
    words.push_back("--help");
    Ran r = Ctl(words, false);
    EXPECT_EQ(r.exit, 0) << cmd;
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("collectionsctl ", cmd))) << cmd;
  }

  Ran bad_flag = Ctl({"report", "funnel", "--form=2026-01-01"});
  EXPECT_EQ(bad_flag.exit, 2);
  EXPECT_THAT(bad_flag.err, HasSubstr("unknown flag --form"));
  Ran bad_date = Ctl({"report", "funnel", "--from=2026-02-30"});
  EXPECT_EQ(bad_date.exit, 2);
  EXPECT_THAT(bad_date.err, HasSubstr("--from must be a date"));
  Ran no_file = Ctl({"import", absl::StrCat(dir_->path(), "/missing.csv")});
  EXPECT_EQ(no_file.exit, 2);
  EXPECT_THAT(no_file.err, HasSubstr("cannot read"));
  Ran refused = Ctl({"case", "show", "--loan=NOPE"});
  EXPECT_EQ(refused.exit, 1);
  EXPECT_THAT(refused.err, HasSubstr("NOT_FOUND"));
  Ran future = Ctl({"report", "sla", "--to=" + Day(d0_ + 3)});
  EXPECT_EQ(future.exit, 1);
  EXPECT_THAT(future.err, HasSubstr("INVALID_ARGUMENT: to: "));
  Ran away =
      Spawn(dir_->path(), {COLLECTIONSCTL_PATH, "report", "portfolio", "--server=127.0.0.1:1"});
  EXPECT_EQ(away.exit, 4);
  EXPECT_THAT(away.err, HasSubstr("is collectionsd running at 127.0.0.1:1"));
}

// The access rules through the CLI (issue 13): shown as a file ready to
// edit, put back with a change that applies to the next command, refused
// with the rule named when wrong.
TEST_F(CtlEndToEnd, AccessRulesThroughTheCli) {
  Ran shown = Ctl({"access", "show"});
  ASSERT_EQ(shown.exit, 0) << shown.err;
  EXPECT_THAT(shown.out, HasSubstr("# access rules version 1, stored by system:startup"));
  EXPECT_THAT(shown.out, HasSubstr("principal: \"core-banking\""));
  const std::string original = absl::StrCat(dir_->path(), "/access.textproto");
  std::ofstream(original) << shown.out;
  ASSERT_EQ(Ctl({"report", "portfolio"}).exit, 0);

  // The portfolio report closed to all but legal firms: the operator's
  // very next report is refused.
  const std::string closed = absl::StrCat(dir_->path(), "/closed.textproto");
  std::ofstream(closed) << shown.out
                        << "methods { method: \"collections.v1.ReportService/Portfolio\" "
                           "roles: \"legal\" }\n";
  Ran put = Ctl({"access", "put", "--file=" + closed, "--format=csv"});
  ASSERT_EQ(put.exit, 0) << put.err;
  EXPECT_EQ(put.out, "version,certificates,methods,stored\r\n2,3,1,yes\r\n");
  Ran refused = Ctl({"report", "portfolio"});
  EXPECT_EQ(refused.exit, 1);
  EXPECT_THAT(refused.err, HasSubstr("needs the role legal"));

  // Back as it was: a new version, equal to the first.
  Ran back = Ctl({"access", "put", "--file=" + original, "--format=csv"});
  ASSERT_EQ(back.exit, 0) << back.err;
  EXPECT_EQ(back.out, "version,certificates,methods,stored\r\n3,3,0,yes\r\n");
  EXPECT_EQ(Ctl({"report", "portfolio"}).exit, 0);
  Ran again = Ctl({"access", "put", "--file=" + original, "--format=csv"});
  EXPECT_EQ(again.out,
            "version,certificates,methods,stored\r\n3,3,0,no (equal to the current version)\r\n");

  const std::string wrong = absl::StrCat(dir_->path(), "/wrong.textproto");
  std::ofstream(wrong) << "methods { method: \"collections.v1.CaseService/GetCase\" roles: "
                          "\"janitor\" }\n";
  Ran bad = Ctl({"access", "put", "--file=" + wrong});
  EXPECT_EQ(bad.exit, 1);
  EXPECT_THAT(bad.err, HasSubstr("unknown role \"janitor\""));
  Ran unparsable = Ctl({"access", "put", "--file=" + original + ".missing"});
  EXPECT_EQ(unparsable.exit, 2);
  Ran old = Ctl({"access", "show", "--version=2"});
  EXPECT_THAT(old.out, HasSubstr("# access rules version 2, stored by "));
}

// `access show` and `policy get` print a stored message the same way: as a
// textproto ready to put again (what the server sets only in the comment
// line), as the whole message in JSON, never as CSV; --version picks one.
TEST_F(CtlEndToEnd, StoredAccessRulesAndPoliciesPrintAsTextprotoOrJson) {
  Ran rules = Ctl({"access", "show"});
  ASSERT_EQ(rules.exit, 0) << rules.err;
  EXPECT_THAT(rules.out.substr(0, rules.out.find('\n')),
              ::testing::MatchesRegex("# access rules version 1, stored by system:startup at "
                                      "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} UTC"));
  EXPECT_THAT(rules.out, Not(HasSubstr("\nversion:")));
  EXPECT_THAT(rules.out, Not(HasSubstr("created_by:")));
  EXPECT_THAT(rules.out, Not(HasSubstr("created_at")));
  Ran rules_json = Ctl({"access", "show", "--format=json", "--version=1"});
  ASSERT_EQ(rules_json.exit, 0) << rules_json.err;
  EXPECT_EQ(rules_json.out.substr(0, 2), "{\n");
  EXPECT_THAT(rules_json.out, HasSubstr("\"version\": \"1\""));
  EXPECT_THAT(rules_json.out, HasSubstr("\"created_by\": \"system:startup\""));
  EXPECT_THAT(rules_json.out, HasSubstr("\"principal\": \"core-banking\""));
  Ran rules_csv = Ctl({"access", "show", "--format=csv"});
  EXPECT_EQ(rules_csv.exit, 2);
  EXPECT_THAT(rules_csv.err, HasSubstr("access rules print as textproto or json"));
  EXPECT_EQ(Ctl({"access", "show", "--version=one"}).exit, 2);

  Ran policy = Ctl({"policy", "get"});
  ASSERT_EQ(policy.exit, 0) << policy.err;
  EXPECT_EQ(policy.out.substr(0, policy.out.find('\n') + 1), "# policy version 1\n");
  EXPECT_THAT(policy.out, Not(HasSubstr("\nversion:")));
  EXPECT_THAT(policy.out, HasSubstr("name: \"default collection strategy\""));
  Ran policy_json = Ctl({"policy", "get", "--format=json", "--version=1"});
  ASSERT_EQ(policy_json.exit, 0) << policy_json.err;
  EXPECT_EQ(policy_json.out.substr(0, 2), "{\n");
  EXPECT_THAT(policy_json.out, HasSubstr("\"version\": \"1\""));
  EXPECT_THAT(policy_json.out, HasSubstr("\"name\": \"default collection strategy\""));
  Ran policy_csv = Ctl({"policy", "get", "--format=csv"});
  EXPECT_EQ(policy_csv.exit, 2);
  EXPECT_THAT(policy_csv.err, HasSubstr("a policy prints as textproto (table) or json"));
  EXPECT_EQ(Ctl({"policy", "get", "--version=one"}).exit, 2);
  Ran missing = Ctl({"policy", "get", "--version=99"});
  EXPECT_EQ(missing.exit, 1);
  EXPECT_EQ(missing.out, "");
}

// Champion/challenger through the CLI (issue 16): a stricter challenger
// stored, an experiment created on half the new cases, a month of dates
// and payments, the experiment report in every format, then pause, resume
// and end.
TEST_F(CtlEndToEnd, AnExperimentThroughTheCli) {
  // The challenger: the shipped policy with fewer call attempts a day.
  const std::string policy = absl::StrCat(dir_->path(), "/challenger.textproto");
  ASSERT_EQ(Ctl({"policy", "get", "--out=" + policy}).exit, 0);
  std::string text = ReadFile(policy);
  ASSERT_THAT(text, HasSubstr("max_call_attempts_per_day: 6"));
  text = absl::StrReplaceAll(
      text, {{"max_call_attempts_per_day: 6", "max_call_attempts_per_day: 4"},
             {"name: \"default collection strategy\"", "name: \"challenger: fewer calls\""}});
  std::ofstream(policy, std::ios::trunc) << text;
  ASSERT_EQ(Ctl({"policy", "put", policy}).exit, 0);

  // A looser one is refused with the rule named.
  const std::string looser = absl::StrCat(dir_->path(), "/looser.textproto");
  std::ofstream(looser) << absl::StrReplaceAll(
      text, {{"max_call_attempts_per_day: 4", "max_call_attempts_per_day: 9"},
             {"challenger: fewer calls", "looser"}});
  ASSERT_EQ(Ctl({"policy", "put", looser}).exit, 0);
  Ran refused =
      Ctl({"experiment", "create", "--name=more calls", "--champion=1", "--challengers=3:5000"});
  EXPECT_EQ(refused.exit, 1);
  EXPECT_THAT(refused.err, HasSubstr("loosens contact.max_call_attempts_per_day"));
  Ran bad = Ctl({"experiment", "create", "--name=x", "--challengers=2"});
  EXPECT_EQ(bad.exit, 2);
  EXPECT_THAT(bad.err, HasSubstr("VERSION:BASIS_POINTS"));

  Ran created = Ctl({"experiment", "create", "--name=fewer calls", "--champion=1",
                     "--challengers=2:5000", "--products=mortgage", "--format=csv"});
  ASSERT_EQ(created.exit, 0) << created.err;
  EXPECT_THAT(created.out, HasSubstr("1,fewer calls,running,"));

  // Forty new mortgage cases, and one consumer loan outside the scope.
  const std::string header =
      "loan_id,as_of,oldest_unpaid_due_date,borrower_id,borrower_name,phones,address,region,"
      "product,principal_outstanding_cny,overdue_principal_cny,overdue_interest_cny,"
      "overdue_penalty_cny,credit_band\n";
  std::string rows = header;
  for (int i = 0; i < 40; ++i) {
    absl::StrAppend(&rows, "E", i, ",", Day(d0_), ",", Day(d0_ - 5 - i % 20), ",B-E", i,
                    ",Borrower E", i, ",+86 138 0000 0000,\"1 Road, Shanghai\",SH,mortgage,500000,",
                    1000 + 100 * i, ",0,0,good\n");
  }
  absl::StrAppend(&rows, "OUT,", Day(d0_), ",", Day(d0_ - 5),
                  ",B-OUT,Borrower,+86 138 0000 0000,\"1 Road\",SH,consumer,5000,1000,0,0,good\n");
  const std::string feed = absl::StrCat(dir_->path(), "/experiment.csv");
  std::ofstream(feed) << rows;
  ASSERT_EQ(Ctl({"import", feed}).exit, 0);
  Ran out_of_scope = Ctl({"case", "show", "--loan=OUT", "--format=json"});
  ASSERT_EQ(out_of_scope.exit, 0) << out_of_scope.err;
  EXPECT_THAT(out_of_scope.out, Not(HasSubstr("experiment_assigned")));
  Ran in_scope = Ctl({"case", "show", "--loan=E0", "--format=json"});
  ASSERT_EQ(in_scope.exit, 0) << in_scope.err;
  EXPECT_THAT(in_scope.out, HasSubstr("experiment_assigned"));

  // The month: every fourth loan pays in full on day 3, every fifth half on
  // day 10; the date moves day by day.
  for (int k = 1; k <= 30; ++k) {
    ASSERT_NO_FATAL_FAILURE(AdvanceTo(k));
    for (int i = 0; i < 40; ++i) {
      if (k == 3 && i % 4 == 0) {
        ASSERT_EQ(Ctl({"pay", absl::StrCat("--loan=E", i), absl::StrCat("--payment_id=P-E", i),
                       absl::StrCat("--amount=", 1000 + 100 * i)})
                      .exit,
                  0);
      }
      if (k == 10 && i % 5 == 0 && i % 4 != 0) {
        ASSERT_EQ(Ctl({"pay", absl::StrCat("--loan=E", i), absl::StrCat("--payment_id=H-E", i),
                       absl::StrCat("--amount=", (1000 + 100 * i) / 2)})
                      .exit,
                  0);
      }
    }
  }

  Ran table = Ctl({"report", "experiment", "--id=1"});
  ASSERT_EQ(table.exit, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("Experiment 1: fewer calls"));
  EXPECT_THAT(table.out, HasSubstr("challenger-1"));
  EXPECT_THAT(table.out, HasSubstr("cure_rate"));
  Ran csv = Ctl({"report", "experiment", "--id=1", "--format=csv"});
  ASSERT_EQ(csv.exit, 0) << csv.err;
  std::vector<std::string> lines = absl::StrSplit(csv.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << csv.out;  // the header and two arms
  EXPECT_THAT(lines[0], HasSubstr("arm,policy_version,cases,cured,cure_rate"));
  // Every case of the scope is in one arm; ten of them paid in full.
  int cases = 0, cured = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> cells = absl::StrSplit(lines[i], ',');
    ASSERT_GE(cells.size(), 4u) << lines[i];
    cases += std::stoi(cells[2]);
    cured += std::stoi(cells[3]);
  }
  EXPECT_EQ(cases, 40);
  EXPECT_EQ(cured, 10);
  Ran comparisons =
      Ctl({"report", "experiment", "--id=1", "--format=csv", "--section=comparisons"});
  ASSERT_EQ(comparisons.exit, 0) << comparisons.err;
  EXPECT_THAT(comparisons.out, HasSubstr("challenger-1,recovered_per_case_fen,CNY,"));
  Ran json = Ctl({"report", "experiment", "--id=1", "--format=json"});
  ASSERT_EQ(json.exit, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"verdict\": \""));
  EXPECT_THAT(json.out, HasSubstr("\"cure_window_days\": \"30\""));
  const std::string html = absl::StrCat(dir_->path(), "/experiment.html");
  Ran page = Ctl({"report", "experiment", "--id=1", "--html=" + html});
  ASSERT_EQ(page.exit, 0) << page.err;
  const std::string body = ReadFile(html);
  for (const char* metric : {"cure_rate", "roll_rate", "recovered_per_case_fen",
                             "cost_per_case_fen", "legal_handoff_rate", "dispute_rate"}) {
    EXPECT_THAT(body, HasSubstr(absl::StrCat("aria-label=\"Experiment: ", metric, "\"")));
  }

  Ran list = Ctl({"experiment", "list", "--format=csv"});
  EXPECT_THAT(list.out, HasSubstr("1,fewer calls,running,"));
  EXPECT_EQ(Ctl({"experiment", "pause", "--id=1"}).exit, 0);
  EXPECT_THAT(Ctl({"experiment", "show", "1"}).out, HasSubstr("paused"));
  EXPECT_EQ(Ctl({"experiment", "resume", "--id=1"}).exit, 0);
  Ran ended = Ctl({"experiment", "end", "--id=1", "--winner=challenger-1", "--format=csv"});
  ASSERT_EQ(ended.exit, 0) << ended.err;
  EXPECT_THAT(ended.out, HasSubstr("ended"));
}

// A stand-in server whose answers are either larger than gRPC's default
// 4 MiB message limit (a real oversized answer: the client's gRPC refuses
// it) or RESOURCE_EXHAUSTED for a real, passing shortage.
class OversizeServer final : public v1::ReportService::Service, public v1::TaskService::Service {
 public:
  static std::string Huge() { return std::string(5 << 20, 'x'); }
  grpc::Status Portfolio(grpc::ServerContext*, const v1::ReportRequest*,
                         v1::PortfolioReport* out) override {
    out->add_cells()->set_dpd_bucket(Huge());
    return grpc::Status::OK;
  }
  grpc::Status StageFunnel(grpc::ServerContext*, const v1::ReportRequest*,
                           v1::StageFunnelReport*) override {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "report slots are all in use");
  }
  grpc::Status ListTasks(grpc::ServerContext*, const v1::ListTasksRequest*,
                         v1::ListTasksResponse* out) override {
    out->add_tasks()->set_hold_reason(Huge());
    return grpc::Status::OK;
  }
  grpc::Status ClaimTasks(grpc::ServerContext*, const v1::ClaimTasksRequest*,
                          v1::ClaimTasksResponse*) override {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many waiting claims");
  }
};

// RESOURCE_EXHAUSTED for an answer over the message limit is permanent
// (exit 1, saying what to do); a real shortage is "try again" (exit 4). The
// same for the agent console.
TEST(CtlExitCodes, AnswerOverTheMessageLimitIsNotTryAgain) {
  auto dir = testing::TempDir::Create("collections-ctl-oversize");
  ASSERT_TRUE(dir.ok()) << dir.status();
  OversizeServer service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(static_cast<v1::ReportService::Service*>(&service));
  builder.RegisterService(static_cast<v1::TaskService::Service*>(&service));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  const std::string address = absl::StrCat("--server=127.0.0.1:", port);

  Ran big = Spawn((*dir)->path(), {COLLECTIONSCTL_PATH, "report", "portfolio", address});
  EXPECT_EQ(big.exit, 1) << big.err;
  EXPECT_THAT(big.err, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_THAT(big.err, HasSubstr("the answer is larger than the gRPC message limit"));
  EXPECT_THAT(big.err, HasSubstr("narrow the request"));
  Ran busy = Spawn((*dir)->path(), {COLLECTIONSCTL_PATH, "report", "funnel", address});
  EXPECT_EQ(busy.exit, 4) << busy.err;
  EXPECT_THAT(busy.err, HasSubstr("report slots are all in use"));
  EXPECT_THAT(busy.err, HasSubstr("try again"));
  Ran help = Spawn((*dir)->path(), {COLLECTIONSCTL_PATH, "--help"});
  EXPECT_THAT(help.out, HasSubstr("larger than the gRPC message limit"));

  Ran list = Spawn((*dir)->path(), {COLLECTIONS_AGENT_PATH, address, "list"});
  EXPECT_EQ(list.exit, 1) << list.err;
  EXPECT_THAT(list.err, HasSubstr("the answer is larger than the gRPC message limit"));
  Ran claim = Spawn((*dir)->path(),
                    {COLLECTIONS_AGENT_PATH, address, "--worker=amy", "claim", "--queues=sms"});
  EXPECT_EQ(claim.exit, 4) << claim.err;
  EXPECT_THAT(claim.err, HasSubstr("too many waiting claims"));
  Ran agent_help = Spawn((*dir)->path(), {COLLECTIONS_AGENT_PATH, "--help"});
  EXPECT_THAT(agent_help.out + agent_help.err, HasSubstr("larger than the gRPC message limit"));
  server->Shutdown();
}

TEST_F(CtlEndToEnd, AScriptedMonthThroughTheCli) {
  // One case under the shipped policy, before the change.
  const std::string header =
      "loan_id,as_of,oldest_unpaid_due_date,borrower_id,borrower_name,phones,address,region,"
      "product,principal_outstanding_cny,overdue_principal_cny,overdue_interest_cny,"
      "overdue_penalty_cny,credit_band\n";
  auto row = [&](const std::string& loan, int dpd, const std::string& overdue,
                 const std::string& product = "mortgage") {
    return absl::StrCat(loan, ",", Day(d0_), ",", Day(d0_ - dpd), ",B-", loan, ",Borrower ", loan,
                        ",+86 138 0000 0000,\"1 Road, Shanghai\",SH,", product, ",500000,", overdue,
                        ",0,0,good\n");
  };
  const std::string early = absl::StrCat(dir_->path(), "/early.csv");
  std::ofstream(early) << header << row("X1", 20, "3000");
  ASSERT_EQ(Ctl({"import", early}).exit, 0);

  // The policy, taken out, given a whole-day contact window, put back.
  const std::string policy = absl::StrCat(dir_->path(), "/policy.textproto");
  Ran got = Ctl({"policy", "get", "--out=" + policy});
  ASSERT_EQ(got.exit, 0) << got.err;
  std::string text = ReadFile(policy);
  ASSERT_THAT(text, HasSubstr("window_start_minute: 480"));
  text = absl::StrReplaceAll(
      text, {{"window_start_minute: 480", "window_start_minute: 0"},
             {"window_end_minute: 1260", "window_end_minute: 1440"},
             {"name: \"default collection strategy\"", "name: \"default, contact at any hour\""}});
  std::ofstream(policy, std::ios::trunc) << text;
  Golden("policy_put.txt", Ctl({"policy", "put", policy}));
  Ran again = Ctl({"policy", "put", policy});
  EXPECT_THAT(again.out, HasSubstr("no (equal to the current version)"));
  Golden("policy_migrate.txt", Ctl({"policy", "migrate", "--from=1", "--to=2"}));
  Ran versions = Ctl({"policy", "versions", "--format=csv"});
  EXPECT_THAT(versions.out, HasSubstr("2,\"default, contact at any hour\",1,yes,"));

  // The feed: mild M*, moderate C*, severe S*, and a row with a bad date.
  const std::string feed = absl::StrCat(dir_->path(), "/feed.csv");
  std::ofstream(feed) << header << row("M1", 5, "2000") << row("M2", 12, "3500")
                      << row("M3", 25, "4000") << row("C1", 40, "8000") << row("C2", 50, "12000")
                      << row("C3", 8, "9000", "consumer") << row("S1", 100, "30000")
                      << row("S2", 190, "45000")
                      << "BAD,2026-02-30,2026-01-01,B-BAD,x,,,SH,mortgage,1,1,0,0,good\n";
  Ran imported = Ctl({"import", feed});
  EXPECT_EQ(imported.exit, 3) << imported.err;  // one row rejected
  Golden("import.txt", {0, imported.out, ""});

  // The day of the import, today's book already holds the feed (computed
  // live, not the snapshot the day's run took before it).
  Ran book = Ctl({"report", "portfolio", "--format=json"});
  ASSERT_EQ(book.exit, 0) << book.err;
  EXPECT_THAT(Relative(book.out), HasSubstr("\"as_of\": \"D\",\n  \"data_from\": \"D\",\n  "
                                            "\"data_to\": \"D\",\n  \"book\": \"live\""));
  EXPECT_THAT(book.out, HasSubstr("\"totals\": [\n    {\"cases\": 9,"));

  // Day 0: the agents' round.
  ASSERT_NO_FATAL_FAILURE(
      Work("sms", "gw-sms", {{"M1", Sms()}, {"M2", Sms()}, {"M3", Sms()}, {"X1", Sms()}}));
  v1::TaskOutcome promise = Call(v1::CALL_RESULT_REACHED, v1::OVERDUE_REASON_INCOME_DROP);
  promise.mutable_call()->mutable_promise()->set_amount_fen(200'000);
  promise.mutable_call()->mutable_promise()->mutable_due_date()->set_year((d0_ + 4).year());
  promise.mutable_call()->mutable_promise()->mutable_due_date()->set_month((d0_ + 4).month());
  promise.mutable_call()->mutable_promise()->mutable_due_date()->set_day((d0_ + 4).day());
  v1::TaskOutcome plan_call = Call(v1::CALL_RESULT_REACHED, v1::OVERDUE_REASON_UNEMPLOYMENT);
  plan_call.mutable_call()->set_plan_requested(true);
  ASSERT_NO_FATAL_FAILURE(
      Work("call.counselling", "agent-li",
           {{"C1", promise}, {"C2", plan_call}, {"C3", Call(v1::CALL_RESULT_NO_ANSWER)}}));
  ASSERT_NO_FATAL_FAILURE(
      Work("field", "field-wang",
           {{"S1", Visit(v1::VISIT_RESULT_MET, v1::OVERDUE_REASON_BUSINESS_FAILURE)},
            {"S2", Visit(v1::VISIT_RESULT_NOT_HOME, v1::OVERDUE_REASON_UNSPECIFIED)}}));
  v1::TaskOutcome letter;
  letter.mutable_letter()->set_sent(true);
  letter.mutable_letter()->set_reference("EMS-1");
  ASSERT_NO_FATAL_FAILURE(Work("letters", "letters-bot", {{"S1", letter}}));

  // C2: a catch-up plan in three instalments, the first due on day 7.
  {
    // Two people: each call says who is calling, so no token on the channel.
    auto plans = v1::PlanService::NewStub(testing::SecureChannel(address_, /*as_tester=*/false));
    v1::ProposePlanRequest propose;
    propose.set_case_id(CaseId("C2"));
    propose.set_kind(v1::PLAN_KIND_CATCH_UP);
    propose.set_periods(3);
    propose.mutable_first_due_date()->set_year((d0_ + 7).year());
    propose.mutable_first_due_date()->set_month((d0_ + 7).month());
    propose.mutable_first_due_date()->set_day((d0_ + 7).day());
    propose.set_request_id("plan-C2");
    v1::ProposePlanResponse proposed;
    grpc::Status s = plans->ProposePlan(testing::ContextAs("alice").get(), propose, &proposed);
    ASSERT_TRUE(s.ok()) << s.error_message();
    v1::ApprovePlanRequest approve;
    approve.set_plan_id(proposed.plan().plan_id());
    v1::ApprovePlanResponse approved;
    s = plans->ApprovePlan(testing::ContextAs("bob").get(), approve, &approved);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // M2 promises 1,000 for day 5 (by phone banking: a signal).
  Ran signal = Ctl({"signal", "promise", absl::StrCat("--case=", CaseId("M2")), "--amount=1000",
                    "--due=" + Day(d0_ + 5)});
  ASSERT_EQ(signal.exit, 0) << signal.err;

  // The month, day by day: M1 pays in full on day 3, C1 keeps its promise
  // on day 4, M2 breaks two promises, C2 misses its first instalment, S1 is
  // handed to counsel once the letter's 15 days have passed.
  for (int k = 1; k <= 30; ++k) {
    ASSERT_NO_FATAL_FAILURE(AdvanceTo(k));
    if (k == 3) {
      Ran pay = Ctl({"pay", "--loan=M1", "--payment_id=PAY-M1", "--amount=2000"});
      ASSERT_EQ(pay.exit, 0) << pay.err;
      Golden("pay.txt", pay);
      EXPECT_EQ(Ctl({"pay", "--loan=M1", "--payment_id=PAY-M1", "--amount=2000"}).exit, 0);
    }
    if (k == 4) {
      ASSERT_EQ(Ctl({"pay", "--loan=C1", "--payment_id=PAY-C1", "--amount=2000.00",
                     "--channel=bank_transfer"})
                    .exit,
                0);
    }
    if (k == 8) {
      ASSERT_EQ(Ctl({"signal", "promise", absl::StrCat("--case=", CaseId("M2")), "--amount=500",
                     "--due=" + Day(d0_ + 10)})
                    .exit,
                0);
    }
  }
  // Day 30 again, so that its snapshot has everything of the day.
  ASSERT_NO_FATAL_FAILURE(AdvanceTo(30));

  Ran s1 = Ctl({"case", "show", "--loan=S1"});
  ASSERT_EQ(s1.exit, 0) << s1.err;
  EXPECT_THAT(s1.out, HasSubstr("handed_off"));
  Ran c2 = Ctl({"case", "show", "--loan=C2", "--format=csv", "--section=plans"});
  EXPECT_THAT(c2.out, HasSubstr(",catch_up,broken,"));

  // The reports, each format at least once.
  const std::string month = "--from=" + Day(d0_);
  Golden("portfolio.txt", Ctl({"report", "portfolio"}));
  Golden("portfolio.json", Ctl({"report", "portfolio", "--format=json"}));
  Golden("funnel.csv", Ctl({"report", "funnel", month, "--format=csv"}));
  Golden("roll_rates.txt", Ctl({"report", "roll-rates", month}));
  Golden("roll_rates.csv", Ctl({"report", "roll-rates", month, "--format=csv", "--section=cells"}));
  Golden("effectiveness.txt", Ctl({"report", "effectiveness", month}));
  Golden("effectiveness.json", Ctl({"report", "effectiveness", month, "--format=json"}));
  Golden("reasons.txt", Ctl({"report", "reasons", month}));
  Golden("agents.csv", Ctl({"report", "agents", month, "--format=csv"}));
  Golden("sla.json", Ctl({"report", "sla", month, "--format=json"}));
  Golden("cases.txt", Ctl({"case", "list", "--stage=counselling,legal_action"}));
  Golden("portfolio_consumer.csv",
         Ctl({"report", "portfolio", "--product=consumer", "--format=csv", "--section=cells"}));

  // One page with every chart, self-contained.
  const std::string page = absl::StrCat(::testing::TempDir(), "collections-report.html");
  Ran html = Ctl({"report", "all", month, "--html=" + page});
  ASSERT_EQ(html.exit, 0) << html.err;
  const std::string body = ReadFile(page);
  for (const char* chart : {"Stage funnel", "Roll-rate heat map", "Recovery and cure trend",
                            "Overdue reasons", "Overdue by days past due"}) {
    EXPECT_THAT(body, HasSubstr(absl::StrCat("aria-label=\"", chart, "\""))) << chart;
  }
  EXPECT_THAT(body, HasSubstr("@media print"));
  EXPECT_THAT(body, ::testing::Not(HasSubstr("src=")));   // nothing loaded
  EXPECT_THAT(body, ::testing::Not(HasSubstr("href=")));  // from anywhere

  // Headless Chromium renders it.
  Ran which = Spawn(dir_->path(), {"sh", "-c", "command -v chromium"});
  if (which.exit != 0) {
    GTEST_SKIP() << "chromium is not installed (apt-get install chromium): the page was "
                    "written but not rendered";
  }
  // A month of work at the most talkative log level, and the server's log
  // holds no borrower's phone, name or address, and no bearer token.
  const std::string log = server_->Log();
  for (const std::string& secret :
       {std::string("138 0000 0000"), std::string("Borrower X1"), std::string("Borrower M2"),
        std::string("1 Road, Shanghai"),
        ReadFile(testing::CredentialsDir() + "/tokens/operator.jwt").substr(0, 40)}) {
    EXPECT_FALSE(absl::StrContains(log, secret)) << "the server log contains \"" << secret << "\"";
  }

  const std::string shot = absl::StrCat(::testing::TempDir(), "collections-report.png");
  std::remove(shot.c_str());
  Ran chromium =
      Spawn(dir_->path(), {"timeout", "120", "chromium", "--headless=new", "--no-sandbox",
                           "--disable-gpu", "--hide-scrollbars", "--window-size=1100,4000",
                           "--screenshot=" + shot, "file://" + page});
  ASSERT_EQ(chromium.exit, 0) << chromium.err;
  const std::string png = ReadFile(shot);
  ASSERT_GT(png.size(), 10000u) << chromium.err;
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::cout << "report page: " << page << "\nscreenshot: " << shot << "\n";
}

TEST_F(CtlEndToEnd, AnImportTheServerCannotDecodeFailsNamingTheLine) {
  // The second row's name is GBK, not UTF-8: the server cannot decode that
  // row, so the import fails there (the first row stays imported, the third
  // is never read) instead of answering as if the file had ended.
  const std::string feed = absl::StrCat(dir_->path(), "/gbk.csv");
  const std::string rest = ",+86 138 0000 0000,Shanghai,SH,mortgage,500000,3000,0,0,good\n";
  std::ofstream(feed, std::ios::binary)
      << "loan_id,as_of,oldest_unpaid_due_date,borrower_id,borrower_name,phones,address,"
         "region,product,principal_outstanding_cny,overdue_principal_cny,"
         "overdue_interest_cny,overdue_penalty_cny,credit_band\n"
      << "G1," << Day(d0_) << "," << Day(d0_ - 10) << ",B-G1,Li Lei" << rest << "G2," << Day(d0_)
      << "," << Day(d0_ - 10) << ",B-G2,\xc0\xee\xc0\xd7" << rest << "G3," << Day(d0_) << ","
      << Day(d0_ - 10) << ",B-G3,Han Meimei" << rest;
  Ran imported = Ctl({"import", feed});
  EXPECT_EQ(imported.exit, 1) << imported.err;
  EXPECT_THAT(imported.err, HasSubstr("line 3"));
  EXPECT_THAT(imported.err, HasSubstr("INVALID_ARGUMENT: frame 1 "));
  EXPECT_THAT(imported.err, HasSubstr("1 opened"));
  EXPECT_EQ(Ctl({"case", "show", "--loan=G1"}).exit, 0);
  Ran g3 = Ctl({"case", "show", "--loan=G3"});
  EXPECT_EQ(g3.exit, 1);
  EXPECT_THAT(g3.err, HasSubstr("NOT_FOUND"));
}

TEST_F(CtlEndToEnd, CaseShowPagesThroughALongHistory) {
  const std::string feed = absl::StrCat(dir_->path(), "/one.csv");
  std::ofstream(feed) << "loan_id,as_of,oldest_unpaid_due_date,borrower_id,borrower_name,phones,"
                         "address,region,product,principal_outstanding_cny,"
                         "overdue_principal_cny,overdue_interest_cny,overdue_penalty_cny,"
                         "credit_band\n"
                      << "H1," << Day(d0_) << "," << Day(d0_ - 10)
                      << ",B-H1,Li Lei,,Shanghai,SH,mortgage,500000,3000,0,0,good\n";
  ASSERT_EQ(Ctl({"import", feed}).exit, 0);
  const int64_t id = CaseId("H1");
  for (int i = 0; i < 50; ++i) {
    Ran noted = Ctl(
        {"signal", "note", absl::StrCat("--case=", id), absl::StrCat("--text=note number ", i)});
    ASSERT_EQ(noted.exit, 0) << noted.err;
  }
  // The 51st note of the day is past the cap: refused, not "try again".
  Ran capped = Ctl({"signal", "note", absl::StrCat("--case=", id), "--text=one too many"});
  EXPECT_EQ(capped.exit, 1) << capped.err;
  EXPECT_THAT(capped.err, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(capped.err, HasSubstr("next business date"));

  // 51 events, fetched 7 at a time: every one shown once.
  Ran shown = Ctl({"case", "show", absl::StrCat("--case=", id), "--page_size=7", "--format=csv",
                   "--section=events"});
  ASSERT_EQ(shown.exit, 0) << shown.err;
  for (int i = 0; i < 50; ++i) {
    EXPECT_THAT(shown.out, HasSubstr(absl::StrCat("\n", i + 2, ",", Day(d0_), ",signal.note,")))
        << i;
  }
  EXPECT_EQ(std::count(shown.out.begin(), shown.out.end(), '\n'), 52) << shown.out;
  Ran recent = Ctl({"case", "show", absl::StrCat("--case=", id), "--events=5", "--page_size=7"});
  ASSERT_EQ(recent.exit, 0) << recent.err;
  EXPECT_THAT(recent.out, HasSubstr("the last 5 of 51 events"));
}

// The what-if simulation through the CLI: a candidate policy from a file
// against the current one on today's book, in each format; the same seed
// prints the same figures; bad input is refused with the usual exit codes.
TEST_F(CtlEndToEnd, PolicySimulateComparesACandidateWithTheCurrentPolicy) {
  const std::string feed = absl::StrCat(dir_->path(), "/book.csv");
  std::ofstream rows(feed);
  rows << "loan_id,as_of,oldest_unpaid_due_date,borrower_id,borrower_name,phones,address,"
          "region,product,principal_outstanding_cny,overdue_principal_cny,"
          "overdue_interest_cny,overdue_penalty_cny,credit_band\n";
  for (int i = 0; i < 12; ++i) {
    rows << "S" << i << "," << Day(d0_) << "," << Day(d0_ - (5 + i * 9)) << ",B-S" << i
         << ",Li Lei,+86 138 0000 0000,Shanghai,SH,mortgage,500000," << 1000 + i * 700
         << ",0,0,good\n";
  }
  rows.close();
  ASSERT_EQ(Ctl({"import", feed}).exit, 0);
  // The candidate: at most two call attempts a day, counselling calls
  // taking 20 minutes.
  const std::string policy = absl::StrCat(dir_->path(), "/candidate.textproto");
  ASSERT_EQ(Ctl({"policy", "get", "--out=" + policy}).exit, 0);
  std::string text = ReadFile(policy);
  text = absl::StrReplaceAll(
      text, {{"max_call_attempts_per_day: 6", "max_call_attempts_per_day: 2"},
             {"queue: \"call.counselling\"", "queue: \"call.counselling\" handling_minutes: 20"}});
  std::ofstream(policy, std::ios::trunc) << text;

  Ran table = Ctl({"policy", "simulate", "--policy=" + policy, "--days=20", "--seed=3"});
  ASSERT_EQ(table.exit, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("What-if simulation: candidate vs current policy"));
  EXPECT_THAT(table.out, HasSubstr("cases 12"));
  EXPECT_THAT(table.out, HasSubstr("call_cap_per_day_candidate 2"));
  EXPECT_THAT(table.out, HasSubstr("Per day and queue"));
  EXPECT_THAT(table.out, HasSubstr(Day(d0_ + 20)));

  Ran csv =
      Ctl({"policy", "simulate", "--policy=" + policy, "--days=20", "--seed=3", "--format=csv"});
  ASSERT_EQ(csv.exit, 0) << csv.err;
  EXPECT_EQ(csv.out.substr(0, csv.out.find("\r\n")),
            "day,tasks_candidate,tasks_current,agents_candidate,agents_current,cost_candidate_cny,"
            "cost_current_cny,max_contacts_per_borrower_candidate,"
            "max_contacts_per_borrower_current,deferred_by_caps_candidate,"
            "deferred_by_caps_current,entered_legal_candidate,entered_legal_current,"
            "handoffs_candidate,handoffs_current,recovered_candidate_cny,recovered_current_cny,"
            "open_cases_candidate,open_cases_current");
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 21);
  Ran again =
      Ctl({"policy", "simulate", "--policy=" + policy, "--days=20", "--seed=3", "--format=csv"});
  EXPECT_EQ(again.out, csv.out);
  Ran queues = Ctl({"policy", "simulate", "--policy=" + policy, "--days=20", "--seed=3",
                    "--format=csv", "--section=queues"});
  ASSERT_EQ(queues.exit, 0) << queues.err;
  EXPECT_THAT(queues.out, HasSubstr(",call.early,"));
  Ran json = Ctl({"policy", "simulate", "--policy=" + policy, "--days=5", "--format=json"});
  ASSERT_EQ(json.exit, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"policy-simulation\""));
  EXPECT_THAT(json.out, HasSubstr("\"rates\""));

  Ran no_days = Ctl({"policy", "simulate", "--policy=" + policy, "--days=0"});
  EXPECT_EQ(no_days.exit, 1);
  EXPECT_THAT(no_days.err, HasSubstr("INVALID_ARGUMENT: days must be 1..366"));
  Ran no_policy = Ctl({"policy", "simulate", "--days=5"});
  EXPECT_EQ(no_policy.exit, 2);
  EXPECT_THAT(no_policy.err, HasSubstr("--policy=FILE"));
}

// The audit log through the CLI: `audit verify` exits 0 while the chain is
// intact and 1 naming the row once a row is edited in the database behind
// the server's back; `audit list` filters by principal and case.
TEST_F(CtlEndToEnd, AuditVerifyNamesTheFirstBrokenRow) {
  // Rows: the start-up policy, the set-up's date run (no move: no row),
  // three moves of the business date.
  for (int k = 1; k <= 3; ++k) ASSERT_NO_FATAL_FAILURE(AdvanceTo(k));
  Ran listed = Ctl({"audit", "list", "--principal=operator", "--format=csv"});
  ASSERT_EQ(listed.exit, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("AdvanceBusinessDate"));
  EXPECT_THAT(listed.out, HasSubstr("127.0.0.1"));
  EXPECT_THAT(listed.out, Not(HasSubstr("StartupPolicy")));  // system:startup's
  Ran nobody = Ctl({"audit", "list", "--principal=nobody", "--format=json"});
  ASSERT_EQ(nobody.exit, 0) << nobody.err;
  EXPECT_THAT(nobody.out, Not(HasSubstr("AdvanceBusinessDate")));
  Ran bad = Ctl({"audit", "list", "--from=yesterday"});
  EXPECT_EQ(bad.exit, 2);
  EXPECT_THAT(bad.err, HasSubstr("--from"));

  Ran intact = Ctl({"audit", "verify"});
  EXPECT_EQ(intact.exit, 0) << intact.err;
  EXPECT_THAT(intact.out, HasSubstr("yes"));

  {
    soci::session sql(soci::sqlite3, absl::StrCat("db=", dir_->path(), "/c.db timeout=5"));
    sql << "UPDATE audit_log SET detail = 'business date moved by nobody' WHERE id = 3";
  }
  Ran broken = Ctl({"audit", "verify"});
  EXPECT_EQ(broken.exit, 1) << broken.out << broken.err;
  EXPECT_THAT(broken.err, HasSubstr("broken at row 3 (edited)"));
  EXPECT_THAT(broken.out, HasSubstr("row 3 was edited"));
}

}  // namespace
}  // namespace collections
