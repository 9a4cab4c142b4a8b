// collectionsd's server: opens the store, loads and stores the policy, and
// serves the collections.v1 services plus gRPC health checking and
// server reflection on the callback API. main() and the in-process service
// tests both use this class.
#ifndef COLLECTIONS_SERVER_SERVER_H_
#define COLLECTIONS_SERVER_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "collections/v1/policy.pb.h"
#include "security/call_gate.h"
#include "server/config.h"
#include "storage/peer_link.h"
#include "storage/store.h"

namespace collections::server {

class AccessEngine;
class AccessServiceImpl;
class CaseEngine;
class CaseServiceImpl;
class DailyAging;
class Executor;
class Metrics;
class HandoffNotifier;
class PolicyRegistry;
class TaskDispatcher;
class TaskEngine;
class TaskServiceImpl;
class PlanServiceImpl;
class LegalServiceImpl;
class ReportServiceImpl;
class ServingHealth;
class PolicyServiceImpl;
class AuditServiceImpl;
class ExperimentEngine;
class ExperimentRegistry;
class ExperimentServiceImpl;

// The fully qualified names of the services collectionsd serves (besides
// grpc.health.v1.Health and grpc.reflection.v1alpha.ServerReflection).
const std::vector<std::string>& CollectionsServiceNames();

class Server {
 public:
  // Opens the store (applying migrations), loads and validates the policy,
  // stores it as a new version if it differs from the newest stored one,
  // and starts serving. Errors name what failed: the database, the policy
  // file, or the listen address.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerConfig config);

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();  // Shutdown(config.shutdown_grace) if not done yet.

  // Reports NOT_SERVING on health, stops accepting RPCs, lets running ones
  // finish until `grace` has passed (then cancels them), and closes the
  // store after its writer has drained. Idempotent; thread-safe.
  void Shutdown(absl::Duration grace);
  void Shutdown();  // with config.shutdown_grace

  // Waits up to `timeout` for the start-up catch-up (finishing the business
  // date's run, in the background after the server listens) to end; true
  // when it has.
  bool WaitForCatchUp(absl::Duration timeout) {
    return catch_up_done_.WaitForNotificationWithTimeout(timeout);
  }

  // The port actually bound (useful with port 0) and "host:port".
  int port() const { return port_; }
  const std::string& address() const { return address_; }
  // The metrics endpoint's port; 0 when metrics are off.
  int metrics_port() const;

  // The policy version in force after start-up and whether start-up stored
  // it as a new version.
  int64_t policy_version() const { return policy_version_; }
  bool policy_added() const { return policy_added_; }
  // That policy, with its version set.
  const v1::Policy& policy() const { return policy_; }

  // Null after Shutdown().
  storage::Store* store() { return store_.get(); }
  CaseEngine* cases() { return case_engine_.get(); }
  DailyAging* daily_aging() { return daily_aging_.get(); }
  // Waiting claims and the lease reaper; tests call Tick() on it.
  TaskDispatcher* task_dispatcher() { return task_dispatcher_.get(); }
  const Clock& clock() const { return *clock_; }

 private:
  // PostgreSQL: joins the replicas (storage::PeerLink).
  absl::Status StartPeerLink(const std::string& replica_id);
  // Re-reads the business date, the current policy, the live experiment and
  // the access rules (another replica changed them).
  void RefreshSharedState();
  // PostgreSQL: looks for a newer access rules version every
  // config_.access_rules_interval until Shutdown (the fallback for a
  // notification not heard).
  void WatchAccessRules();
  explicit Server(ServerConfig config);

  ServerConfig config_;
  std::shared_ptr<const Clock> clock_;
  // Before the store: its writer calls them until it is closed.
  std::unique_ptr<ServingHealth> health_;
  std::unique_ptr<TaskDispatcher> task_dispatcher_;
  std::unique_ptr<HandoffNotifier> handoff_notifier_;
  std::unique_ptr<storage::Store> store_;
  v1::Policy policy_;
  int64_t policy_version_ = 0;
  bool policy_added_ = false;

  std::unique_ptr<PolicyRegistry> policies_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<security::CallGate> gate_;
  std::unique_ptr<Metrics> metrics_;  // null without --metrics_listen
  std::unique_ptr<CaseEngine> case_engine_;
  std::unique_ptr<TaskEngine> task_engine_;
  std::unique_ptr<DailyAging> daily_aging_;
  std::unique_ptr<CaseServiceImpl> case_service_;
  std::unique_ptr<TaskServiceImpl> task_service_;
  std::unique_ptr<PlanServiceImpl> plan_service_;
  std::unique_ptr<LegalServiceImpl> legal_service_;
  std::unique_ptr<ReportServiceImpl> report_service_;
  std::unique_ptr<PolicyServiceImpl> policy_service_;
  std::unique_ptr<AuditServiceImpl> audit_service_;
  // The live experiment for imports; the experiments' logic (it uses
  // policy_service_'s engine to make a winner current) and service.
  std::unique_ptr<ExperimentRegistry> experiment_registry_;
  std::unique_ptr<ExperimentEngine> experiment_engine_;
  std::unique_ptr<ExperimentServiceImpl> experiment_service_;
  std::unique_ptr<AccessEngine> access_engine_;
  std::unique_ptr<AccessServiceImpl> access_service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  // PostgreSQL: the other replicas' wake-ups and the leader election.
  std::unique_ptr<storage::PeerLink> peer_link_;
  std::string replica_id_;
  int port_ = 0;
  std::string address_;
  // Finishes the business date's run after the server listens.
  std::thread catch_up_;
  absl::Notification catch_up_done_;
  // WatchAccessRules, and what stops it.
  std::thread access_watch_;
  absl::Notification access_watch_stop_;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_SERVER_H_
