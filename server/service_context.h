// What every service implementation is built with. Owned by Server; the
// pointers outlive the services.
#ifndef COLLECTIONS_SERVER_SERVICE_CONTEXT_H_
#define COLLECTIONS_SERVER_SERVICE_CONTEXT_H_

#include "security/call_gate.h"
#include "server/clock.h"
#include "server/executor.h"
#include "server/policy_registry.h"
#include "storage/store.h"

namespace collections::server {

class CaseEngine;
class ExperimentEngine;
class HandoffNotifier;
class TaskDispatcher;
class TaskEngine;

struct ServiceContext {
  storage::Store* store = nullptr;
  const Clock* clock = nullptr;
  PolicyRegistry* policies = nullptr;
  // Blocking work (database reads, aging runs) goes here, never on gRPC's
  // callback threads.
  Executor* executor = nullptr;
  CaseEngine* cases = nullptr;
  HandoffNotifier* handoffs = nullptr;
  // Outlive the store's last command (reactors refer to them until then).
  TaskDispatcher* task_dispatcher = nullptr;
  TaskEngine* tasks = nullptr;
  // Experiments (ExperimentService and ReportService.ExperimentReport).
  ExperimentEngine* experiments = nullptr;
  // Who is calling: every handler admits its caller here first.
  const security::CallGate* gate = nullptr;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_SERVICE_CONTEXT_H_
