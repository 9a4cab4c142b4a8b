// The storage suite: the access rules' versions (storage/access_rules.h,
// migration 15). See store_fixture.h for the backends and the fixture.
#include "storage/access_rules.h"

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "common/status_macros.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/storage/store_fixture.h"

namespace collections::storage {
namespace {

using google::protobuf::util::MessageDifferencer;

v1::AccessRules Rules(const std::string& principal, const std::string& method_roles) {
  v1::AccessRules rules;
  v1::CertificatePrincipal* cert = rules.add_certificates();
  cert->set_uri(absl::StrCat("spiffe://bank.example/", principal));
  cert->set_principal(principal);
  cert->add_roles("ingest");
  v1::MethodRoles* method = rules.add_methods();
  method->set_method("collections.v1.PolicyService/GetPolicy");
  method->add_roles(method_roles);
  rules.set_created_by("ada");
  rules.mutable_created_at()->set_seconds(1'795'917'600);
  return rules;
}

absl::StatusOr<v1::AccessRules> Insert(Store& store, v1::AccessRules rules) {
  RETURN_IF_ERROR(store.Write([&](UnitOfWork& uow) { return InsertAccessRules(uow, rules); }));
  return rules;
}

TEST_P(StoreTest, AccessRulesRoundTripAsVersionsThatOnlyGrow) {
  EXPECT_EQ(*NewestAccessRulesVersion(*store_), 0);
  EXPECT_FALSE(GetAccessRules(*store_, 0)->has_value());

  absl::StatusOr<v1::AccessRules> first = Insert(*store_, Rules("core-banking", "admin"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->version(), 1);
  absl::StatusOr<v1::AccessRules> second = Insert(*store_, Rules("core-banking-2", "manager"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->version(), 2);

  EXPECT_EQ(*NewestAccessRulesVersion(*store_), 2);
  absl::StatusOr<std::optional<v1::AccessRules>> newest = GetAccessRules(*store_, 0);
  ASSERT_TRUE(newest.ok() && newest->has_value()) << newest.status();
  EXPECT_TRUE(MessageDifferencer::Equals(**newest, *second)) << (*newest)->DebugString();
  absl::StatusOr<std::optional<v1::AccessRules>> old = GetAccessRules(*store_, 1);
  ASSERT_TRUE(old.ok() && old->has_value()) << old.status();
  EXPECT_TRUE(MessageDifferencer::Equals(**old, *first)) << (*old)->DebugString();
  EXPECT_FALSE(GetAccessRules(*store_, 3)->has_value());

  // Inside a command, the newest is what the batch sees, its own writes
  // included; a command that fails keeps nothing.
  absl::Status failed = store_->Write([](UnitOfWork& uow) -> absl::Status {
    v1::AccessRules third = Rules("someone", "admin");
    RETURN_IF_ERROR(InsertAccessRules(uow, third));
    ASSIGN_OR_RETURN(std::optional<v1::AccessRules> seen, NewestAccessRulesLocked(uow));
    EXPECT_TRUE(seen.has_value() && seen->version() == 3);
    return absl::FailedPreconditionError("changed my mind");
  });
  EXPECT_EQ(failed.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*NewestAccessRulesVersion(*store_), 2);

  // Reopened, the versions are still there.
  store_.reset();
  OpenStore();
  EXPECT_EQ(*NewestAccessRulesVersion(*store_), 2);
  EXPECT_EQ((*GetAccessRules(*store_, 0))->certificates(0).principal(), "core-banking-2");
}

TEST_P(StoreTest, AccessRulesStoredByParallelWritersEachGetTheirOwnVersion) {
  // On PostgreSQL, writers that read the same newest version race for the
  // next one: the loser's command runs again and takes the one after.
  StoreOptions options;
  options.writer_connections = 4;
  store_.reset();
  OpenStore(options);
  constexpr int kPuts = 8;
  absl::Mutex mu;
  std::set<int64_t> versions;
  std::vector<absl::Status> failures;
  absl::BlockingCounter done(kPuts);
  for (int i = 0; i < kPuts; ++i) {
    auto rules = std::make_shared<v1::AccessRules>(Rules(absl::StrCat("p", i), "admin"));
    store_->Submit([rules](UnitOfWork& uow) { return InsertAccessRules(uow, *rules); },
                   [&, rules](absl::Status status) {
                     absl::MutexLock lock(&mu);
                     if (status.ok()) {
                       versions.insert(rules->version());
                     } else {
                       failures.push_back(status);
                     }
                     done.DecrementCount();
                   });
  }
  done.Wait();
  EXPECT_TRUE(failures.empty()) << failures.front();
  EXPECT_EQ(versions.size(), static_cast<size_t>(kPuts));
  EXPECT_EQ(*NewestAccessRulesVersion(*store_), kPuts);
}

}  // namespace
}  // namespace collections::storage
