// The storage suite: idempotent responses, policy versions, the business date.
// See store_fixture.h for the backends and the fixture.
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/storage/store_fixture.h"
#include "workflow/policy.h"

namespace collections::storage {
namespace {

using google::protobuf::util::MessageDifferencer;

TEST_P(StoreTest, IdempotentResponses) {
  const std::string bytes("\x00\x01\xff response \n", 14);
  absl::StatusOr<std::optional<StoredResponse>> found;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("CompleteTask", "req-1");
                    if (!found.ok()) return found.status();
                    EXPECT_FALSE(found->has_value());
                    return u.SaveResponse("CompleteTask", "req-1", bytes, "digest-1");
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("CompleteTask", "req-1");
                    EXPECT_TRUE(found.ok() && found->has_value() && (*found)->response == bytes &&
                                (*found)->request_digest == "digest-1");
                    found = u.FindResponse("RecordPayment", "req-1");
                    EXPECT_TRUE(found.ok() && !found->has_value());
                    return u.SaveResponse("CompleteTask", "req-1", "second", "digest-2");
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("CompleteTask", "req-1");
                    EXPECT_TRUE(found.ok() && found->has_value() &&
                                (*found)->response == "second" &&
                                (*found)->request_digest == "digest-2");
                    return found.status();
                  })
                  .ok());
  // A response saved by a failed command is not kept.
  EXPECT_FALSE(store_
                   ->Write([&](UnitOfWork& u) -> absl::Status {
                     if (auto s = u.SaveResponse("CompleteTask", "req-2", "x", "d"); !s.ok()) {
                       return s;
                     }
                     return absl::AbortedError("retry");
                   })
                   .ok());
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("CompleteTask", "req-2");
                    EXPECT_TRUE(found.ok() && !found->has_value());
                    return found.status();
                  })
                  .ok());
}

// Rows stored before schema version 9 have no digest: they read back with an
// empty one (the server then replays them as before).
TEST_P(StoreTest, ResponsesFromBeforeDigestsHaveNone) {
  {
    auto sql = Raw();
    *sql << "INSERT INTO idempotency (scope, key, response, created_at_us) "
            "VALUES ('signal', 'old', 'AAE=', 1)";
  }
  absl::StatusOr<std::optional<StoredResponse>> found;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("signal", "old");
                    return found.status();
                  })
                  .ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->response, std::string("\x00\x01", 2));
  EXPECT_EQ((*found)->request_digest, "");
}

// Expired answers go in bounded batches, oldest first; newer ones stay.
TEST_P(StoreTest, PurgeResponsesDeletesOnlyOlderRowsInBatches) {
  absl::Time now = kNow;
  StoreOptions options = OneWriter();
  options.now = [&now] { return now; };
  OpenStore(options);
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    for (int i = 0; i < 5; ++i) {
                      RETURN_IF_ERROR(u.SaveResponse("s", absl::StrCat("old-", i), "answer", "d"));
                    }
                    return absl::OkStatus();
                  })
                  .ok());
  now = kNow + absl::Hours(48);
  ASSERT_TRUE(
      store_->Write([&](UnitOfWork& u) { return u.SaveResponse("s", "new", "answer", "d"); }).ok());
  auto count = [&] {
    long long n = 0;
    *Raw() << "SELECT COUNT(*) FROM idempotency", soci::into(n);
    return n;
  };
  EXPECT_EQ(count(), 6);
  std::vector<int> purged;
  for (int round = 0; round < 4; ++round) {
    absl::StatusOr<int> n;
    ASSERT_TRUE(store_
                    ->Write([&](UnitOfWork& u) -> absl::Status {
                      n = u.PurgeResponses(kNow + absl::Hours(24), 2);
                      return n.status();
                    })
                    .ok());
    purged.push_back(*n);
  }
  EXPECT_EQ(purged, (std::vector<int>{2, 2, 1, 0}));
  EXPECT_EQ(count(), 1);
  absl::StatusOr<std::optional<StoredResponse>> found;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("s", "new");
                    return found.status();
                  })
                  .ok());
  EXPECT_TRUE(found->has_value());
}

TEST_P(StoreTest, PoliciesAreVersioned) {
  EXPECT_EQ(*store_->CurrentPolicyVersion(), 0);
  EXPECT_EQ(store_->GetPolicy(1).status().code(), absl::StatusCode::kNotFound);
  v1::Policy p1 = workflow::DefaultPolicy();
  v1::Policy p2 = workflow::DefaultPolicy();
  p2.set_name("stricter");
  p2.mutable_day_bands()->set_mild_max_days(20);
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    absl::StatusOr<int64_t> v1 = u.PutPolicy(p1);
                    if (!v1.ok()) return v1.status();
                    EXPECT_EQ(*v1, 1);
                    absl::StatusOr<int64_t> v2 = u.PutPolicy(p2);
                    if (!v2.ok()) return v2.status();
                    EXPECT_EQ(*v2, 2);
                    absl::StatusOr<std::optional<v1::Policy>> back = u.LoadPolicy(2);
                    EXPECT_TRUE(back.ok() && back->has_value() && (*back)->name() == "stricter");
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(p1.version(), 1);
  EXPECT_EQ(p2.version(), 2);
  EXPECT_EQ(*store_->CurrentPolicyVersion(), 2);
  EXPECT_EQ(*store_->ListPolicyVersions(), (std::vector<int64_t>{1, 2}));
  absl::StatusOr<v1::Policy> got = store_->GetPolicy(1);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*got, p1));
  got = store_->GetPolicy(2);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*got, p2));
  EXPECT_EQ(store_->GetPolicy(3).status().code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, BusinessDate) {
  EXPECT_EQ(store_->BusinessDate().status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_
                  ->Write([](UnitOfWork& u) {
                    EXPECT_EQ(u.BusinessDate().status().code(), absl::StatusCode::kNotFound);
                    return u.SetBusinessDate(absl::CivilDay(2026, 11, 1));
                  })
                  .ok());
  EXPECT_EQ(*store_->BusinessDate(), absl::CivilDay(2026, 11, 1));
  ASSERT_TRUE(store_
                  ->Write([](UnitOfWork& u) -> absl::Status {
                    EXPECT_EQ(*u.BusinessDate(), absl::CivilDay(2026, 11, 1));
                    return u.SetBusinessDate(absl::CivilDay(2026, 12, 31));
                  })
                  .ok());
  EXPECT_EQ(*store_->BusinessDate(), absl::CivilDay(2026, 12, 31));
}

}  // namespace
}  // namespace collections::storage
