// Error-propagation macros for absl::Status / absl::StatusOr. Abseil
// 20220623 (Debian 12) ships no status_macros.h, so the project keeps these.
#ifndef COLLECTIONS_COMMON_STATUS_MACROS_H_
#define COLLECTIONS_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define COLLECTIONS_CONCAT_INNER(a, b) a##b
#define COLLECTIONS_CONCAT(a, b) COLLECTIONS_CONCAT_INNER(a, b)

// Returns from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)          \
  do {                                 \
    ::absl::Status _status = (expr);   \
    if (!_status.ok()) return _status; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, Foo());` assigns the value or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(COLLECTIONS_CONCAT(_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#endif  // COLLECTIONS_COMMON_STATUS_MACROS_H_
