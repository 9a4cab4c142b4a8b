// The storage suite: tasks (leases, fencing, holds, readiness, call counts) and due timers.
// See store_fixture.h for the backends and the fixture.
#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status_macros.h"
#include "google/protobuf/util/message_differencer.h"
#include "soci/soci.h"
#include "storage/schema.h"
#include "storage/sql_enums.h"
#include "tests/storage/store_fixture.h"
#include "workflow/compliance.h"
#include "workflow/dates.h"

namespace collections::storage {
namespace {

using google::protobuf::util::MessageDifferencer;

TEST_P(StoreTest, TasksAreLeasedFencedAndExpire) {
  v1::Case a = Open("L-a");  // tasks 1 (sms, 200, now), 2 (call, 100, +24h)
  workflow::Transition tb = Opening(2, "L-b");
  tb.create_tasks = {MakeTask(v1::TASK_TYPE_SMS_REMINDER, "sms", 300, kNow)};
  ASSERT_TRUE(Apply(tb, 0).ok());  // task 3

  auto claim = [&](ClaimSpec spec) {
    std::vector<v1::Task> got;
    absl::Status s = store_->Write([&](UnitOfWork& uow) -> absl::Status {
      absl::StatusOr<std::vector<v1::Task>> r = uow.ClaimTasks(spec);
      if (!r.ok()) return r.status();
      got = *r;
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return got;
  };
  ClaimSpec spec;
  spec.queues = {"sms"};
  spec.worker = "w1";
  spec.max_tasks = 10;
  spec.lease = absl::Minutes(5);
  spec.now = kNow;
  std::vector<v1::Task> leased = claim(spec);
  ASSERT_EQ(leased.size(), 2u);
  EXPECT_EQ(leased[0].task_id(), 3);  // the more urgent first
  EXPECT_EQ(leased[1].task_id(), 1);
  for (const v1::Task& t : leased) {
    EXPECT_EQ(t.state(), v1::TASK_STATE_LEASED);
    EXPECT_EQ(t.lease_owner(), "w1");
    EXPECT_EQ(t.lease_token(), 1);
    EXPECT_EQ(t.attempts(), 1);
    EXPECT_EQ(t.lease_expires_at().seconds(), absl::ToUnixSeconds(kNow + absl::Minutes(5)));
    absl::StatusOr<v1::Task> stored = store_->GetTask(t.task_id());
    ASSERT_TRUE(stored.ok());
    // The claim alone returns the lease's secret (128 bits, base64url).
    EXPECT_EQ(t.lease_key().size(), 22u);
    EXPECT_EQ(stored->lease_key(), "");
    v1::Task without_key = t;
    without_key.clear_lease_key();
    EXPECT_TRUE(MessageDifferencer::Equals(*stored, without_key)) << stored->DebugString();
  }
  EXPECT_TRUE(claim(spec).empty());  // nothing is handed out twice

  // Not before its time.
  spec.queues = {"call.early"};
  EXPECT_TRUE(claim(spec).empty());
  spec.now = kNow + absl::Hours(25);
  spec.types = {v1::TASK_TYPE_HOME_VISIT};
  EXPECT_TRUE(claim(spec).empty());
  spec.types = {v1::TASK_TYPE_REMINDER_CALL};
  // Compliance holds keep it in the queue, with the reason recorded.
  spec.hold = [](const v1::Task&) { return std::string("outside contact window"); };
  EXPECT_TRUE(claim(spec).empty());
  EXPECT_EQ(store_->GetTask(2)->hold_reason(), "outside contact window");
  EXPECT_EQ(store_->GetTask(2)->state(), v1::TASK_STATE_READY);
  spec.hold = nullptr;
  ASSERT_EQ(claim(spec).size(), 1u);
  EXPECT_EQ(store_->GetTask(2)->hold_reason(), "");

  auto write = [&](auto f) { return store_->Write(f); };
  v1::TaskOutcome outcome;
  outcome.mutable_sms()->set_delivered(true);
  const absl::Time t1 = kNow + absl::Minutes(1);
  // Stale token, unknown task, then the real completion, then again.
  EXPECT_EQ(write([&](UnitOfWork& u) { return u.CompleteTask(3, 2, outcome, t1).status(); }).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      write([&](UnitOfWork& u) { return u.CompleteTask(99, 1, outcome, t1).status(); }).code(),
      absl::StatusCode::kNotFound);
  v1::Task completed;
  ASSERT_TRUE(write([&](UnitOfWork& u) -> absl::Status {
                absl::StatusOr<v1::Task> r = u.CompleteTask(3, 1, outcome, t1);
                if (r.ok()) completed = *r;
                return r.status();
              }).ok());
  EXPECT_EQ(completed.type(), v1::TASK_TYPE_SMS_REMINDER);
  EXPECT_EQ(store_->GetTask(3)->state(), v1::TASK_STATE_COMPLETED);
  EXPECT_EQ(write([&](UnitOfWork& u) { return u.CompleteTask(3, 1, outcome, t1).status(); }).code(),
            absl::StatusCode::kFailedPrecondition);

  // Task 1: extend, then return it for a retry in an hour.
  ASSERT_TRUE(write([&](UnitOfWork& u) {
                return u.ExtendLease(1, 1, kNow + absl::Minutes(30), t1).status();
              }).ok());
  EXPECT_EQ(store_->GetTask(1)->lease_expires_at().seconds(),
            absl::ToUnixSeconds(kNow + absl::Minutes(30)));
  ASSERT_TRUE(
      write([&](UnitOfWork& u) {
        return u.ReturnTask(1, 1, kNow + absl::Hours(1), false, "gateway down", t1).status();
      }).ok());
  absl::StatusOr<v1::Task> returned = store_->GetTask(1);
  EXPECT_EQ(returned->state(), v1::TASK_STATE_READY);
  EXPECT_EQ(returned->hold_reason(), "gateway down");
  EXPECT_EQ(returned->lease_owner(), "");
  spec = ClaimSpec();
  spec.queues = {"sms"};
  spec.worker = "w2";
  spec.now = kNow + absl::Minutes(2);
  EXPECT_TRUE(claim(spec).empty());
  spec.now = kNow + absl::Hours(2);
  leased = claim(spec);
  ASSERT_EQ(leased.size(), 1u);
  EXPECT_EQ(leased[0].lease_token(), 2);  // a new token fences off w1
  EXPECT_EQ(leased[0].attempts(), 2);
  EXPECT_EQ(write([&](UnitOfWork& u) {
              return u.CheckLease(1, 1, kNow + absl::Hours(2), nullptr).status();
            }).code(),
            absl::StatusCode::kFailedPrecondition);

  // Its lease (5 minutes by default) runs out: back in the queue.
  std::vector<int64_t> expired;
  ASSERT_TRUE(write([&](UnitOfWork& u) -> absl::Status {
                absl::StatusOr<std::vector<int64_t>> r = u.ExpireLeases(kNow + absl::Hours(3), 100);
                if (r.ok()) expired = *r;
                return r.status();
              }).ok());
  EXPECT_EQ(expired, (std::vector<int64_t>{1}));
  EXPECT_EQ(store_->GetTask(1)->state(), v1::TASK_STATE_READY);
  EXPECT_EQ(write([&](UnitOfWork& u) {
              return u.CompleteTask(1, 2, outcome, kNow + absl::Hours(3)).status();
            }).code(),
            absl::StatusCode::kFailedPrecondition);
  // An expired lease cannot be completed even before the sweep.
  spec.now = kNow + absl::Hours(4);
  leased = claim(spec);
  ASSERT_EQ(leased.size(), 1u);
  EXPECT_EQ(write([&](UnitOfWork& u) {
              return u.CompleteTask(1, 3, outcome, kNow + absl::Hours(5)).status();
            }).code(),
            absl::StatusCode::kFailedPrecondition);
  // Failing too often: an incident.
  ASSERT_TRUE(write([&](UnitOfWork& u) {
                return u.ReturnTask(1, 3, kNow, true, "3 failures", kNow + absl::Hours(4)).status();
              }).ok());
  EXPECT_EQ(store_->GetTask(1)->state(), v1::TASK_STATE_INCIDENT);
  (void)a;
}

// With one writer, a claim that new tasks wake (a waiting stream's) runs in
// the transaction that created them: the worker gets the task after one
// commit, not two. Each joined command has a savepoint of its own, so one
// that fails leaves the tasks and the claim in place.
TEST_P(StoreTest, AClaimWokenByNewTasksJoinsTheirCommit) {
  store_.reset();
  StoreOptions options = OneWriter();
  std::promise<absl::StatusOr<std::vector<v1::Task>>> claimed;
  std::promise<absl::Status> refused;
  std::atomic<bool> armed{true};
  Store* store = nullptr;
  options.on_tasks_ready = [&](const std::vector<ReadyTask>&) {
    if (!armed.exchange(false)) return;
    // What a woken waiter does: submit a claim, without blocking.
    auto leased = std::make_shared<std::vector<v1::Task>>();
    store->Submit(
        [leased](UnitOfWork& u) -> absl::Status {
          ClaimSpec spec;
          spec.queues = {"sms"};
          spec.worker = "w1";
          spec.now = kNow;
          ASSIGN_OR_RETURN(*leased, u.ClaimTasks(spec));
          return absl::OkStatus();
        },
        [&claimed, leased](absl::Status s) {
          if (s.ok()) {
            claimed.set_value(*leased);
          } else {
            claimed.set_value(s);
          }
        },
        WriteLane::kAudited);
    store->Submit(
        [](UnitOfWork& u) -> absl::Status {
          EXPECT_TRUE(u.Apply(Opening(9, "L-refused"), 0).ok());
          return absl::FailedPreconditionError("refused after writing");
        },
        [&refused](absl::Status s) { refused.set_value(s); });
  };
  OpenStore(options);
  store = store_.get();
  const int64_t commits = store_->writer_stats().commits;
  v1::Case a = Open("L-a");  // tasks 1 (sms, now), 2 (call.early, +24h)

  absl::StatusOr<std::vector<v1::Task>> leased = claimed.get_future().get();
  ASSERT_TRUE(leased.ok()) << leased.status();
  ASSERT_EQ(leased->size(), 1u);
  EXPECT_EQ((*leased)[0].task_id(), 1);
  EXPECT_EQ((*leased)[0].case_id(), a.case_id());
  EXPECT_EQ(refused.get_future().get().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->writer_stats().commits, commits + 1);
  EXPECT_EQ(store_->GetTask(1)->state(), v1::TASK_STATE_LEASED);
  EXPECT_EQ(store_->GetTask(2)->state(), v1::TASK_STATE_READY);
  EXPECT_TRUE(store_->GetCase(a.case_id()).ok());
  // The refused command's writes went with its savepoint.
  EXPECT_EQ(store_->GetCase(9).status().code(), absl::StatusCode::kNotFound);
}

// What TaskService builds on: the ready-task report after commits, release,
// deferral, the next ready time, call counts and the supervisors' list.
TEST_P(StoreTest, ReadyTasksReleasesDeferralsAndCallCounts) {
  std::mutex mu;
  std::vector<ReadyTask> reported;
  store_.reset();
  StoreOptions options = OneWriter();
  options.on_tasks_ready = [&](const std::vector<ReadyTask>& ready) {
    std::lock_guard<std::mutex> lock(mu);
    reported.insert(reported.end(), ready.begin(), ready.end());
  };
  OpenStore(options);
  auto take = [&] {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> queues;
    for (const ReadyTask& r : reported) queues.push_back(r.queue);
    reported.clear();
    return queues;
  };
  // Created tasks are reported once committed; a rolled-back command's not.
  v1::Case a = Open("L-a");  // tasks 1 (sms, now), 2 (call.early, +24h)
  EXPECT_EQ(take(), (std::vector<std::string>{"sms", "call.early"}));
  EXPECT_EQ(store_
                ->Write([&](UnitOfWork& uow) -> absl::Status {
                  EXPECT_TRUE(uow.Apply(Opening(7, "L-b"), 0).ok());
                  return absl::AbortedError("changed my mind");
                })
                .code(),
            absl::StatusCode::kAborted);
  EXPECT_TRUE(take().empty());

  auto write = [&](auto f) { return store_->Write(f); };
  ClaimSpec spec;
  spec.queues = {"sms"};
  spec.worker = "w1";
  spec.now = kNow;
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.ClaimTasks(spec).status(); }).ok());
  EXPECT_EQ(store_->GetTask(1)->attempts(), 1);
  // A release gives the attempt back and makes the task ready again.
  v1::Task released;
  ASSERT_TRUE(write([&](UnitOfWork& u) -> absl::Status {
                absl::StatusOr<v1::Task> r = u.ReleaseTask(1, 1, kNow);
                if (r.ok()) released = *r;
                return r.status();
              }).ok());
  EXPECT_EQ(released.task_id(), 1);
  EXPECT_EQ(store_->GetTask(1)->state(), v1::TASK_STATE_READY);
  EXPECT_EQ(store_->GetTask(1)->attempts(), 0);
  EXPECT_EQ(take(), (std::vector<std::string>{"sms"}));
  EXPECT_EQ(write([&](UnitOfWork& u) { return u.ReleaseTask(1, 1, kNow).status(); }).code(),
            absl::StatusCode::kFailedPrecondition);

  // Deferred: out of the claimable set until then; the next ready time says when.
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.DeferTask(1, kNow + absl::Hours(2)); }).ok());
  EXPECT_EQ(write([&](UnitOfWork& u) { return u.ClaimTasks(spec).status(); }).code(),
            absl::StatusCode::kOk);
  EXPECT_EQ(store_->GetTask(1)->state(), v1::TASK_STATE_READY);
  std::optional<absl::Time> next;
  ASSERT_TRUE(
      write([&](UnitOfWork& u) -> absl::Status {
        absl::StatusOr<std::optional<absl::Time>> r = u.NextReadyTime({"sms", "call.early"}, kNow);
        if (r.ok()) next = *r;
        return r.status();
      }).ok());
  EXPECT_EQ(next, kNow + absl::Hours(2));

  // Calls per borrower: today, connected today, unreported today (each a
  // reservation against the connected cap), and the last 7 days.
  auto record = [&](int64_t task, int64_t token, v1::TaskType type, absl::Time at) {
    ContactRecord c{task, token, a.case_id(), "B-L-a", type, at};
    return write([&](UnitOfWork& u) { return u.RecordContact(c); });
  };
  ASSERT_TRUE(record(2, 1, v1::TASK_TYPE_REMINDER_CALL, kNow - absl::Hours(72)).ok());
  ASSERT_TRUE(record(2, 2, v1::TASK_TYPE_REMINDER_CALL, kNow).ok());
  ASSERT_TRUE(record(2, 3, v1::TASK_TYPE_COUNSELLING_CALL, kNow).ok());
  ASSERT_TRUE(record(2, 4, v1::TASK_TYPE_COUNSELLING_CALL, kNow).ok());
  ASSERT_TRUE(record(2, 5, v1::TASK_TYPE_COUNSELLING_CALL, kNow).ok());
  ASSERT_TRUE(record(1, 9, v1::TASK_TYPE_SMS_REMINDER, kNow).ok());  // not a call
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.EndContact(2, 2, true); }).ok());
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.DeleteContact(2, 3); }).ok());
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.EndContact(2, 5, false); }).ok());
  CallCounts counts;
  ASSERT_TRUE(write([&](UnitOfWork& u) -> absl::Status {
                absl::StatusOr<CallCounts> r =
                    u.CountCalls("B-L-a", kNow - absl::Hours(1), kNow - absl::Hours(24 * 6), kNow);
                if (r.ok()) counts = *r;
                return r.status();
              }).ok());
  EXPECT_EQ(counts.attempts_today, 3);
  EXPECT_EQ(counts.connected_today, 1);
  EXPECT_EQ(counts.unreported_today, 1);  // (2, 4); (2, 1) is not today's
  EXPECT_EQ(counts.attempts_in_7_days, 4);

  // Supervisors' list: held tasks, by state and queue.
  spec.queues = {"call.early"};
  spec.now = kNow + absl::Hours(25);
  spec.hold = [](const v1::Task&) { return std::string("cap reached"); };
  ASSERT_TRUE(write([&](UnitOfWork& u) { return u.ClaimTasks(spec).status(); }).ok());
  TaskFilter filter;
  filter.held_only = true;
  absl::StatusOr<std::vector<v1::Task>> held = store_->FindTasks(filter);
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ((*held)[0].task_id(), 2);
  filter = TaskFilter();
  filter.states = {v1::TASK_STATE_READY};
  filter.queues = {"sms"};
  filter.case_id = a.case_id();
  ASSERT_EQ(store_->FindTasks(filter)->size(), 1u);
  filter.after_task_id = 1;
  EXPECT_TRUE(store_->FindTasks(filter)->empty());
}

// Migration 7: a call in progress at the upgrade keeps its reservation
// against the connected cap; calls that ended before do not get one.
TEST_P(StoreTest, CallsInProgressAtTheUpgradeKeepTheirReservation) {
  const v1::Case a = Open("L-a");  // task 2: a call, ready from +24h
  const absl::Time at = kNow + absl::Hours(25);
  ClaimSpec spec;
  spec.queues = {"call.early"};
  spec.worker = "w1";
  spec.now = at;
  std::vector<v1::Task> leased;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    absl::StatusOr<std::vector<v1::Task>> r = u.ClaimTasks(spec);
                    if (r.ok()) leased = *r;
                    return r.status();
                  })
                  .ok());
  ASSERT_EQ(leased.size(), 1u);
  const int64_t token = leased[0].lease_token();

  // Back to the contacts of schema 5, as a server before the upgrade left
  // them: the leased call, and an earlier lease of it that ended unconnected.
  store_.reset();
  {
    auto sql = Raw();
    UndoMigrationsSince9(*sql);
    // Migrations after 7 go too, so that reopening applies 7 again.
    *sql << "DELETE FROM schema_migrations WHERE version >= 7";
    *sql << "DROP TABLE audit_log";
    *sql << "DROP TABLE contact_borrowers";
    *sql << "ALTER TABLE contacts DROP COLUMN ended";
    const long long at_us = absl::ToUnixMicros(at);
    const long long case_id = a.case_id();
    for (long long t : {token, token - 1}) {
      *sql << "INSERT INTO contacts (task_id, lease_token, case_id, borrower_id, task_type, "
              "at_us, connected) VALUES (2, :token, :case_id, 'B-up', 2, :at, 0)",
          soci::use(t), soci::use(case_id), soci::use(at_us);
    }
  }
  OpenStore();
  EXPECT_EQ(store_->schema_version(), LatestSchemaVersion());
  CallCounts counts;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    absl::StatusOr<CallCounts> r =
                        u.CountCalls("B-up", at - absl::Hours(1), at - absl::Hours(24 * 6), at);
                    if (r.ok()) counts = *r;
                    return r.status();
                  })
                  .ok());
  EXPECT_EQ(counts.attempts_today, 2);
  EXPECT_EQ(counts.connected_today, 0);
  EXPECT_EQ(counts.unreported_today, 1);
}

TEST_P(StoreTest, DueTimersComeEarliestFirst) {
  v1::Case a = Open("L-a");  // timer due 2026-11-10
  workflow::Transition tb = Opening(2, "L-b");
  tb.set_timers = {{{workflow::TimerKind::kInstalmentDue, 5001}, absl::CivilDay(2026, 11, 12)},
                   {{workflow::TimerKind::kPromiseDue, 3}, absl::CivilDay(2026, 11, 9)}};
  ASSERT_TRUE(Apply(tb, 0).ok());
  auto due = [&](absl::CivilDay day) {
    std::vector<DueTimer> out;
    EXPECT_TRUE(store_
                    ->Write([&](UnitOfWork& u) -> absl::Status {
                      absl::StatusOr<std::vector<DueTimer>> r = u.DueTimers(day, 10);
                      if (r.ok()) out = *r;
                      return r.status();
                    })
                    .ok());
    return out;
  };
  EXPECT_TRUE(due(absl::CivilDay(2026, 11, 8)).empty());
  std::vector<DueTimer> d = due(absl::CivilDay(2026, 11, 10));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].case_id, 2);
  EXPECT_EQ(d[0].timer.timer.ref, 3);
  EXPECT_EQ(d[0].timer.due, absl::CivilDay(2026, 11, 9));
  EXPECT_EQ(d[1].case_id, a.case_id());
  d = due(absl::CivilDay(2027, 1, 1));
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[2].timer.timer.kind, workflow::TimerKind::kInstalmentDue);
  EXPECT_EQ(d[2].timer.timer.ref, 5001);

  // Clearing one and re-setting another (an upsert moves its date).
  workflow::Transition t = Following(tb.next);
  t.clear_timers = {{workflow::TimerKind::kPromiseDue, 3}};
  t.set_timers = {{{workflow::TimerKind::kInstalmentDue, 5001}, absl::CivilDay(2026, 12, 12)}};
  ASSERT_TRUE(Apply(t, 1).ok());
  std::vector<workflow::TimerSpec> timers = *store_->ListTimers(2);
  ASSERT_EQ(timers.size(), 1u);
  EXPECT_EQ(timers[0].due, absl::CivilDay(2026, 12, 12));
}

// The SQL that counts calls against the contact caps names the call task
// types as a list (storage/sql_enums.h); it must be exactly the types the
// workflow's caps treat as calls.
TEST(SqlEnumsTest, CallTaskTypesAreTheWorkflowsCalls) {
  std::string calls = "(";
  for (int type = v1::TaskType_MIN; type <= v1::TaskType_MAX; ++type) {
    if (!v1::TaskType_IsValid(type) || !workflow::IsCallTask(static_cast<v1::TaskType>(type))) {
      continue;
    }
    if (calls.size() > 1) calls += ", ";
    calls += std::to_string(type);
  }
  calls += ")";
  EXPECT_EQ(calls, kSqlCallTaskTypes);
}

TEST_P(StoreTest, OpenWorkIsCountedByQueueHoldAndFirm) {
  v1::Case a = Open("L-a");  // tasks 1 (sms, now), 2 (call.early, +24h)
  v1::Case b = Open("L-b");  // tasks 3 (sms, now), 4 (call.early, +24h)
  auto claim = [&](ClaimSpec spec) {
    ASSERT_TRUE(store_->Write([&](UnitOfWork& uow) { return uow.ClaimTasks(spec).status(); }).ok());
  };
  ClaimSpec sms;
  sms.queues = {"sms"};
  sms.worker = "w1";
  sms.now = kNow;
  claim(sms);  // task 1 leased
  const absl::Time later = kNow + absl::Hours(25);
  ClaimSpec calls;
  calls.queues = {"call.early"};
  calls.worker = "w1";
  calls.now = later;
  calls.hold = [](const v1::Task& t) {
    return t.task_id() == 4 ? std::string("outside the contact window 08:00-20:00") : "";
  };
  claim(calls);  // task 2 leased, task 4 held
  // Task 2 fails: back to READY, its retry an hour away.
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) {
                    return uow
                        .ReturnTask(2, 1, later + absl::Hours(1), false,
                                    "attempt 1 of 3 failed: busy", later)
                        .status();
                  })
                  .ok());
  // Handoffs 1 and 2 to firm-a (1 acknowledged), 3 to firm-b.
  auto hand_off = [&](v1::Case& c, const std::string& firm, absl::Time at) {
    workflow::Transition t = Following(c, at);
    t.handoff = workflow::HandoffSpec{v1::HANDOFF_KIND_NEW_CASE, "severe", firm};
    ASSERT_TRUE(Apply(t, c.version()).ok());
    c = t.next;
  };
  hand_off(a, "firm-a", kNow + absl::Minutes(1));
  hand_off(b, "firm-a", kNow + absl::Minutes(2));
  hand_off(a, "firm-b", kNow + absl::Minutes(3));
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& uow) {
                    return uow.AcknowledgeHandoff(1, true, "", kNow + absl::Minutes(5));
                  })
                  .ok());

  absl::StatusOr<OpenWork> work = store_->CountOpenWork(later, 16);
  ASSERT_TRUE(work.ok()) << work.status();
  ASSERT_EQ(work->tasks.size(), 4u);
  const OpenTaskGroup& retry = work->tasks[0];
  EXPECT_EQ(retry.queue, "call.early");
  EXPECT_FALSE(retry.leased);
  EXPECT_EQ(retry.hold_prefix, "attempt 1 of 3 f");
  EXPECT_EQ(retry.tasks, 1);
  EXPECT_EQ(retry.not_yet_due, 1);
  EXPECT_EQ(retry.oldest_due, absl::InfiniteFuture());
  const OpenTaskGroup& held = work->tasks[1];
  EXPECT_EQ(held.hold_prefix, "outside the cont");
  EXPECT_EQ(held.tasks, 1);
  EXPECT_EQ(held.not_yet_due, 0);
  EXPECT_EQ(held.oldest_due, kNow + absl::Hours(24));  // its not_before, after its creation
  const OpenTaskGroup& ready = work->tasks[2];
  EXPECT_EQ(ready.queue, "sms");
  EXPECT_FALSE(ready.leased);
  EXPECT_EQ(ready.hold_prefix, "");
  EXPECT_EQ(ready.tasks, 1);  // task 3
  EXPECT_EQ(ready.oldest_due, kNow);
  const OpenTaskGroup& leased = work->tasks[3];
  EXPECT_EQ(leased.queue, "sms");
  EXPECT_TRUE(leased.leased);
  EXPECT_EQ(leased.tasks, 1);  // task 1

  ASSERT_EQ(work->handoffs.size(), 2u);
  const FirmHandoffCounts& firm_a = work->handoffs[0];
  EXPECT_EQ(firm_a.firm_id, "firm-a");
  EXPECT_EQ(firm_a.unacknowledged, 1);
  EXPECT_EQ(firm_a.oldest_unacknowledged, kNow + absl::Minutes(2));
  EXPECT_EQ(firm_a.newest_sequence, 2);
  EXPECT_EQ(firm_a.newest_acknowledged_sequence, 1);
  const FirmHandoffCounts& firm_b = work->handoffs[1];
  EXPECT_EQ(firm_b.firm_id, "firm-b");
  EXPECT_EQ(firm_b.unacknowledged, 1);
  EXPECT_EQ(firm_b.newest_sequence, 3);
  EXPECT_EQ(firm_b.newest_acknowledged_sequence, 0);
}

}  // namespace
}  // namespace collections::storage
