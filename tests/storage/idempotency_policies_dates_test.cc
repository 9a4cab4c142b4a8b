// The storage suite: idempotent responses, policy versions, the business date.
// See store_fixture.h for the backends and the fixture.
#include <optional>
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "tests/storage/store_fixture.h"
#include "workflow/policy.h"

namespace collections::storage {
namespace {

using google::protobuf::util::MessageDifferencer;

TEST_P(StoreTest, IdempotentResponses) {
  const std::string bytes("\x00\x01\xff response \n", 14);
  absl::StatusOr<std::optional<std::string>> found;
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("CompleteTask", "req-1");
                    if (!found.ok()) return found.status();
                    EXPECT_FALSE(found->has_value());
                    return u.SaveResponse("CompleteTask", "req-1", bytes);
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("CompleteTask", "req-1");
                    EXPECT_TRUE(found.ok() && found->has_value() && **found == bytes);
                    found = u.FindResponse("RecordPayment", "req-1");
                    EXPECT_TRUE(found.ok() && !found->has_value());
                    return u.SaveResponse("CompleteTask", "req-1", "second");
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->Write([&](UnitOfWork& u) -> absl::Status {
                    found = u.FindResponse("CompleteTask", "req-1");
                    EXPECT_TRUE(found.ok() && found->has_value() && **found == "second");
                    return found.status();
                  })
                  .ok());
  // A response saved by a failed command is not kept.
  EXPECT_FALSE(store_
                   ->Write([&](UnitOfWork& u) -> absl::Status {
                     if (auto s = u.SaveResponse("CompleteTask", "req-2", "x"); !s.ok()) return s;
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
