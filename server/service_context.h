// What every service implementation is built with. Owned by Server; the
// pointers outlive the services.
#ifndef COLLECTIONS_SERVER_SERVICE_CONTEXT_H_
#define COLLECTIONS_SERVER_SERVICE_CONTEXT_H_

#include "server/clock.h"
#include "storage/store.h"

namespace collections::server {

struct ServiceContext {
  storage::Store* store = nullptr;
  const Clock* clock = nullptr;
};

}  // namespace collections::server

#endif  // COLLECTIONS_SERVER_SERVICE_CONTEXT_H_
