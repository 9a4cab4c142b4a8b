// PeerLink: the replicas' coordination session. Its notices round-trip;
// on PostgreSQL a commit through one store wakes another replica's link,
// exactly one link leads, a leader's successor gets the next epoch, and
// the deposed leader's fenced write is refused.
#include "storage/peer_link.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tests/storage/store_fixture.h"

namespace collections::storage {
namespace {

TEST(PeerNotice, RoundTripsWithCountsAndStaysUnderTheLimit) {
  const absl::Time at = absl::FromUnixSeconds(1'800'000'000);
  std::vector<ReadyTask> ready = {
      {"sms", v1::TASK_TYPE_SMS_REMINDER, at},
      {"sms", v1::TASK_TYPE_SMS_REMINDER, at},
      {"calls\tlate", v1::TASK_TYPE_REMINDER_CALL, at + absl::Hours(1)}};
  absl::StatusOr<PeerNotice> notice =
      DecodePeerNotice(EncodePeerNotice("host-1-abc", ready, true, false));
  ASSERT_TRUE(notice.ok()) << notice.status();
  EXPECT_EQ(notice->replica_id, "host-1-abc");
  EXPECT_TRUE(notice->handoffs);
  EXPECT_FALSE(notice->shared_state);
  ASSERT_EQ(notice->ready.size(), 3u);
  int sms = 0;
  for (const ReadyTask& r : notice->ready) {
    if (r.queue == "sms") {
      ++sms;
      EXPECT_EQ(r.not_before, at);
    } else {
      EXPECT_EQ(r.queue, "calls\tlate");
      EXPECT_EQ(r.type, v1::TASK_TYPE_REMINDER_CALL);
    }
  }
  EXPECT_EQ(sms, 2);

  std::vector<ReadyTask> many;
  for (int i = 0; i < 1000; ++i)
    many.push_back({absl::StrCat("queue-", i), v1::TASK_TYPE_SMS_REMINDER, at});
  const std::string big = EncodePeerNotice("r", many, false, true);
  EXPECT_LE(big.size(), 7000u);
  ASSERT_TRUE(DecodePeerNotice(big).ok());
  EXPECT_TRUE(DecodePeerNotice(big)->shared_state);

  EXPECT_EQ(DecodePeerNotice("hello").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePeerNotice("v1\nr\nT\tx\n").status().code(), absl::StatusCode::kInvalidArgument);
}

// What a link heard, for the test thread to wait on.
struct Heard {
  std::mutex mu;
  std::condition_variable changed;
  std::vector<PeerNotice> notices;
  int64_t epoch = 0;
  bool connected = false;

  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock<std::mutex> lock(mu);
    return changed.wait_for(lock, std::chrono::seconds(20), [&] { return pred(); });
  }
};

std::unique_ptr<PeerLink> StartLink(const std::string& connection, const std::string& id,
                                    Heard* heard) {
  PeerLink::Options options;
  options.connection = connection;
  options.replica_id = id;
  options.retry = absl::Milliseconds(50);
  options.on_notice = [heard](const PeerNotice& n) {
    std::lock_guard<std::mutex> lock(heard->mu);
    heard->notices.push_back(n);
    heard->changed.notify_all();
  };
  options.on_connection = [heard](bool connected) {
    std::lock_guard<std::mutex> lock(heard->mu);
    heard->connected = connected;
    heard->changed.notify_all();
  };
  options.on_leadership = [heard](int64_t epoch) {
    std::lock_guard<std::mutex> lock(heard->mu);
    heard->epoch = epoch;
    heard->changed.notify_all();
  };
  absl::StatusOr<std::unique_ptr<PeerLink>> link = PeerLink::Start(std::move(options));
  EXPECT_TRUE(link.ok()) << link.status();
  return link.ok() ? *std::move(link) : nullptr;
}

TEST_P(StoreTest, ReplicasHearEachOthersCommitsAndElectOneFencedLeader) {
  if (GetParam() != Backend::kPostgres) GTEST_SKIP() << "replicas share PostgreSQL only";
  Heard heard_a, heard_b;
  std::unique_ptr<PeerLink> a = StartLink(db_->connection(), "replica-a", &heard_a);
  ASSERT_TRUE(heard_a.WaitFor([&] { return heard_a.epoch != 0; })) << "a never led";
  std::unique_ptr<PeerLink> b = StartLink(db_->connection(), "replica-b", &heard_b);
  ASSERT_TRUE(heard_b.WaitFor([&] { return heard_b.connected; }));
  const int64_t first_epoch = a->leader_epoch();
  EXPECT_EQ(b->leader_epoch(), 0);  // the lock is a's

  // A commit through a store that says it is replica a: b hears its ready
  // task and the moved date; a does not hear itself.
  StoreOptions options = OneWriter();
  options.replica_id = "replica-a";
  store_.reset();
  OpenStore(options);
  Open("L-1");  // an SMS task (and a call task for later)
  ASSERT_TRUE(
      store_->Write([](UnitOfWork& uow) { return uow.SetBusinessDate(absl::CivilDay(2026, 3, 2)); })
          .ok());
  ASSERT_TRUE(heard_b.WaitFor([&] {
    bool ready = false, state = false;
    for (const PeerNotice& n : heard_b.notices) {
      for (const ReadyTask& r : n.ready) ready = ready || r.queue == "sms";
      state = state || n.shared_state;
    }
    return ready && state;
  })) <<
      [&] {
        std::string heard;
        for (const PeerNotice& n : heard_b.notices) {
          heard += absl::StrCat(n.replica_id, " ready=", n.ready.size(), " state=", n.shared_state,
                                n.ready.empty() ? "" : " queue=" + n.ready[0].queue, "; ");
        }
        return heard;
      }();
  {
    std::lock_guard<std::mutex> lock(heard_a.mu);
    EXPECT_TRUE(heard_a.notices.empty());
  }

  // The leader's fence holds for its epoch only.
  EXPECT_TRUE(
      store_->Write([&](UnitOfWork& uow) { return uow.CheckLeaderEpoch(kJobsRole, first_epoch); })
          .ok());
  a.reset();  // the leader goes away: b takes over with the next epoch
  ASSERT_TRUE(heard_b.WaitFor([&] { return heard_b.epoch != 0; })) << "b never took over";
  EXPECT_EQ(b->leader_epoch(), first_epoch + 1);
  absl::Status late = store_->Write([&](UnitOfWork& uow) -> absl::Status {
    RETURN_IF_ERROR(uow.CheckLeaderEpoch(kJobsRole, first_epoch));
    return uow.SetBusinessDate(absl::CivilDay(2026, 3, 1));
  });
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition) << late;
  EXPECT_EQ(*store_->BusinessDate(), absl::CivilDay(2026, 3, 2));  // unchanged
  EXPECT_TRUE(
      store_
          ->Write([&](UnitOfWork& uow) { return uow.CheckLeaderEpoch(kJobsRole, first_epoch + 1); })
          .ok());
  b.reset();
}

}  // namespace
}  // namespace collections::storage
