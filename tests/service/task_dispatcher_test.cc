// TaskDispatcher on its own: which waits a commit wakes (as many as tasks
// became ready, oldest first, by queue and type), the registration race,
// rechecks on the fake clock, deadlines, cancel, pass-on and stop. The
// store is a throwaway SQLite file (only Tick's lease reaping touches it).
#include "server/task_dispatcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/clock.h"
#include "storage/store.h"
#include "tests/service/test_env.h"

namespace collections::server {
namespace {

using Wake = TaskDispatcher::Wake;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class TaskDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::TempDir::Create("collections-dispatcher");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = *std::move(dir);
    storage::StoreOptions options;
    options.connection = absl::StrCat("sqlite3://db=", dir_->path(), "/d.db timeout=5");
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    dispatcher_ = std::make_unique<TaskDispatcher>(&clock_);
    // Its thread reaps every hour of real time: in these tests it only
    // serves deadlines; Tick() does the rest.
    dispatcher_->Start(store_.get(), absl::Hours(1));
  }
  void TearDown() override {
    dispatcher_.reset();
    store_.reset();
  }

  // Registers a wait on `queues`; its wake-up is recorded as "name:why".
  bool Wait(const std::string& name, std::vector<std::string> queues,
            std::vector<v1::TaskType> types = {}, std::optional<uint64_t> epoch = std::nullopt,
            absl::Time recheck = absl::InfiniteFuture(),
            absl::Time deadline = absl::InfiniteFuture(), Wake* now = nullptr) {
    TaskDispatcher::WaitSpec spec;
    spec.queues = std::move(queues);
    spec.types = std::move(types);
    spec.epoch = epoch.value_or(dispatcher_->epoch());
    spec.recheck = recheck;
    spec.deadline = deadline;
    Wake ignored;
    ids_[name] = dispatcher_->NewWaitId();
    return dispatcher_->Wait(
        ids_[name], std::move(spec),
        [this, name](Wake why) {
          absl::MutexLock lock(&mu_);
          fired_.push_back(Name(name, why));
        },
        now != nullptr ? now : &ignored);
  }

  static std::string Name(const std::string& name, Wake why) {
    switch (why) {
      case Wake::kReady:
        return name + ":ready";
      case Wake::kTimeout:
        return name + ":timeout";
      case Wake::kStopping:
        return name + ":stopping";
    }
    return name;
  }

  void Ready(const std::string& queue, v1::TaskType type, absl::Time at, int n = 1) {
    std::vector<storage::ReadyTask> ready(n, storage::ReadyTask{queue, type, at});
    dispatcher_->OnTasksReady(ready);
  }

  FakeClock clock_;
  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<TaskDispatcher> dispatcher_;
  std::map<std::string, uint64_t> ids_;
  absl::Mutex mu_;
  std::vector<std::string> fired_;  // in the order woken, by any thread

  std::vector<std::string> Fired() {
    absl::MutexLock lock(&mu_);
    return fired_;
  }
};

TEST_F(TaskDispatcherTest, WakesAsManyWaitsAsTasksBecameReadyOldestFirst) {
  ASSERT_TRUE(Wait("a", {"sms"}));
  ASSERT_TRUE(Wait("b", {"sms", "call"}));
  ASSERT_TRUE(Wait("c", {"sms"}));
  ASSERT_TRUE(Wait("d", {"call"}));
  Ready("sms", v1::TASK_TYPE_SMS_REMINDER, clock_.Now(), 2);
  EXPECT_THAT(Fired(), ElementsAre("a:ready", "b:ready"));
  EXPECT_EQ(dispatcher_->waiting(), 2u);
  Ready("other", v1::TASK_TYPE_SMS_REMINDER, clock_.Now());
  EXPECT_EQ(Fired().size(), 2u);
}

TEST_F(TaskDispatcherTest, AWaitWithTypesWakesOnlyForThoseTypes) {
  ASSERT_TRUE(Wait("visits", {"field"}, {v1::TASK_TYPE_HOME_VISIT}));
  ASSERT_TRUE(Wait("any", {"field"}));
  Ready("field", v1::TASK_TYPE_LEGAL_LETTER, clock_.Now());
  EXPECT_THAT(Fired(), ElementsAre("any:ready"));
  Ready("field", v1::TASK_TYPE_HOME_VISIT, clock_.Now());
  EXPECT_THAT(Fired(), ElementsAre("any:ready", "visits:ready"));
}

TEST_F(TaskDispatcherTest, TasksReadyBetweenTheClaimAndTheWaitAreNotMissed) {
  const uint64_t before_claim = dispatcher_->epoch();
  Ready("sms", v1::TASK_TYPE_SMS_REMINDER, clock_.Now());  // nobody waits yet
  Wake now;
  EXPECT_FALSE(Wait("late", {"sms"}, {}, before_claim, absl::InfiniteFuture(),
                    absl::InfiniteFuture(), &now));
  EXPECT_EQ(now, Wake::kReady);
  // Another queue's tasks do not count.
  const uint64_t epoch = dispatcher_->epoch();
  Ready("call", v1::TASK_TYPE_REMINDER_CALL, clock_.Now());
  EXPECT_TRUE(Wait("sms-only", {"sms"}, {}, epoch));
}

TEST_F(TaskDispatcherTest, FutureTasksAndRecheckTimesWakeOnTheClock) {
  ASSERT_TRUE(Wait("w", {"call"}));
  // Ready tomorrow: nobody wakes now...
  Ready("call", v1::TASK_TYPE_REMINDER_CALL, clock_.Now() + absl::Hours(24));
  EXPECT_THAT(Fired(), IsEmpty());
  ASSERT_TRUE(Wait("r", {"sms"}, {}, std::nullopt, clock_.Now() + absl::Hours(2)));
  ASSERT_TRUE(dispatcher_->Tick().ok());
  EXPECT_THAT(Fired(), IsEmpty());
  // ... but when the clock gets there.
  clock_.Advance(absl::Hours(2));
  ASSERT_TRUE(dispatcher_->Tick().ok());
  EXPECT_THAT(Fired(), ElementsAre("r:ready"));
  clock_.Advance(absl::Hours(22));
  ASSERT_TRUE(dispatcher_->Tick().ok());
  EXPECT_THAT(Fired(), ElementsAre("r:ready", "w:ready"));
}

TEST_F(TaskDispatcherTest, DeadlinesFireFromTheThread) {
  std::promise<Wake> woke;
  TaskDispatcher::WaitSpec spec;
  spec.queues = {"sms"};
  spec.epoch = dispatcher_->epoch();
  spec.deadline = absl::Now() + absl::Milliseconds(50);
  Wake now;
  ASSERT_TRUE(dispatcher_->Wait(
      dispatcher_->NewWaitId(), spec, [&woke](Wake why) { woke.set_value(why); }, &now));
  auto result = woke.get_future();
  ASSERT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(result.get(), Wake::kTimeout);
  // A deadline already past does not wait at all.
  spec.deadline = absl::Now() - absl::Milliseconds(1);
  EXPECT_FALSE(dispatcher_->Wait(
      dispatcher_->NewWaitId(), spec, [](Wake) {}, &now));
  EXPECT_EQ(now, Wake::kTimeout);
}

TEST_F(TaskDispatcherTest, CancelPassOnAndStop) {
  ASSERT_TRUE(Wait("a", {"sms"}));
  ASSERT_TRUE(Wait("b", {"sms"}));
  ASSERT_TRUE(Wait("c", {"sms"}));
  EXPECT_TRUE(dispatcher_->Cancel(ids_["a"]));
  EXPECT_FALSE(dispatcher_->Cancel(ids_["a"]));
  // A wake-up its claim could not use goes to the oldest other wait.
  dispatcher_->PassOn({"sms"});
  EXPECT_THAT(Fired(), ElementsAre("b:ready"));
  dispatcher_->Stop();
  EXPECT_THAT(Fired(), ElementsAre("b:ready", "c:stopping"));
  Wake now;
  EXPECT_FALSE(Wait("late", {"sms"}, {}, std::nullopt, absl::InfiniteFuture(),
                    absl::InfiniteFuture(), &now));
  EXPECT_EQ(now, Wake::kStopping);
}

}  // namespace
}  // namespace collections::server
