// Money is int64 fen, never floating point. Pure; thread-safe.
#ifndef COLLECTIONS_WORKFLOW_MONEY_H_
#define COLLECTIONS_WORKFLOW_MONEY_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "collections/v1/common.pb.h"

namespace collections::workflow {

// Largest amount the server accepts anywhere: 10^15 fen (10 trillion CNY).
// Far above any mortgage, and sums of a few million such amounts stay far
// below INT64_MAX, so totals never overflow.
inline constexpr int64_t kMaxFen = 1'000'000'000'000'000;

// INVALID_ARGUMENT naming `field` when fen is negative or above kMaxFen.
absl::Status ValidateFen(int64_t fen, absl::string_view field);
absl::Status ValidateAmounts(const v1::OverdueAmounts& amounts, absl::string_view field);

int64_t OverdueTotal(const v1::OverdueAmounts& amounts);

// "20,000.01 CNY".
std::string FormatFen(int64_t fen);

}  // namespace collections::workflow

#endif  // COLLECTIONS_WORKFLOW_MONEY_H_
