#include "workflow/money.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace collections::workflow {

absl::Status ValidateFen(int64_t fen, absl::string_view field) {
  if (fen < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must not be negative (got ", fen, " fen)"));
  }
  if (fen > kMaxFen) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is too large (got ", fen, " fen, at most ", kMaxFen, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAmounts(const v1::OverdueAmounts& amounts, absl::string_view field) {
  if (auto s = ValidateFen(amounts.principal_fen(), absl::StrCat(field, ".principal_fen"));
      !s.ok()) {
    return s;
  }
  if (auto s = ValidateFen(amounts.interest_fen(), absl::StrCat(field, ".interest_fen")); !s.ok()) {
    return s;
  }
  return ValidateFen(amounts.penalty_fen(), absl::StrCat(field, ".penalty_fen"));
}

int64_t OverdueTotal(const v1::OverdueAmounts& amounts) {
  return amounts.principal_fen() + amounts.interest_fen() + amounts.penalty_fen();
}

std::string FormatFen(int64_t fen) {
  const bool negative = fen < 0;
  // Work in unsigned to format INT64_MIN safely.
  uint64_t abs = negative ? 0 - static_cast<uint64_t>(fen) : static_cast<uint64_t>(fen);
  std::string yuan = absl::StrCat(abs / 100);
  std::string grouped;
  for (size_t i = 0; i < yuan.size(); ++i) {
    if (i > 0 && (yuan.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(yuan[i]);
  }
  return absl::StrFormat("%s%s.%02d CNY", negative ? "-" : "", grouped,
                         static_cast<int>(abs % 100));
}

}  // namespace collections::workflow
