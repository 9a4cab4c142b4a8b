// Checks on an imported delinquency record, before it touches a case.
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "workflow/dates.h"
#include "workflow/money.h"
#include "workflow/policy.h"
#include "workflow/state_machine.h"

namespace collections::workflow {
namespace {

absl::Status CheckLength(const std::string& value, size_t max, absl::string_view field) {
  if (value.size() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is too long (", value.size(), " bytes, at most ", max, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateDelinquencyRecord(const v1::DelinquencyRecord& r, const v1::Policy& policy,
                                       absl::CivilDay business_date) {
  if (r.loan_id().empty()) return absl::InvalidArgumentError("loan_id is required");
  RETURN_IF_ERROR(CheckLength(r.loan_id(), kMaxIdLength, "loan_id"));
  RETURN_IF_ERROR(CheckLength(r.product(), kMaxIdLength, "product"));
  const v1::Borrower& b = r.borrower();
  if (b.borrower_id().empty()) {
    return absl::InvalidArgumentError("borrower.borrower_id is required");
  }
  RETURN_IF_ERROR(CheckLength(b.borrower_id(), kMaxIdLength, "borrower.borrower_id"));
  RETURN_IF_ERROR(CheckLength(b.name(), kMaxTextLength, "borrower.name"));
  RETURN_IF_ERROR(CheckLength(b.address(), kMaxTextLength, "borrower.address"));
  RETURN_IF_ERROR(CheckLength(b.time_zone(), kMaxIdLength, "borrower.time_zone"));
  RETURN_IF_ERROR(CheckLength(b.region(), kMaxIdLength, "borrower.region"));
  if (b.phones_size() > 10) {
    return absl::InvalidArgumentError("borrower.phones: at most 10 numbers");
  }
  for (const std::string& phone : b.phones()) {
    RETURN_IF_ERROR(CheckLength(phone, 32, "borrower.phones"));
  }
  ASSIGN_OR_RETURN(absl::CivilDay as_of, DayFromProto(r.as_of(), "as_of"));
  ASSIGN_OR_RETURN(absl::CivilDay due,
                   DayFromProto(r.oldest_unpaid_due_date(), "oldest_unpaid_due_date"));
  if (due > as_of) {
    return absl::InvalidArgumentError(absl::StrCat("oldest_unpaid_due_date ", FormatDay(due),
                                                   " is after as_of ", FormatDay(as_of)));
  }
  // Plausibility: a placeholder or garbled date would otherwise open a case
  // tens of thousands of days past due, or age a case into the far future.
  const int ahead = MaxAsOfDaysAhead(policy);
  if (as_of - business_date > ahead) {
    return absl::InvalidArgumentError(absl::StrCat(
        "as_of ", FormatDay(as_of), " is more than ", ahead, " days after the business date ",
        FormatDay(business_date), " (policy intake.max_as_of_days_ahead); check the feed's dates"));
  }
  const absl::CivilDay lands_on = std::max(as_of, business_date);
  const int years = MaxYearsOverdue(policy);
  const absl::CivilDay earliest(lands_on.year() - years, lands_on.month(), lands_on.day());
  if (due < earliest) {
    return absl::InvalidArgumentError(
        absl::StrCat("oldest_unpaid_due_date ", FormatDay(due), " is more than ", years,
                     " years before ", FormatDay(lands_on), " (", lands_on - due,
                     " days past due; policy intake.max_years_overdue); check the feed's dates"));
  }
  RETURN_IF_ERROR(ValidateAmounts(r.overdue(), "overdue"));
  RETURN_IF_ERROR(ValidateFen(r.principal_outstanding_fen(), "principal_outstanding_fen"));
  if (r.credit().prior_delinquencies() < 0) {
    return absl::InvalidArgumentError("credit.prior_delinquencies must not be negative");
  }
  if (!v1::CreditBand_IsValid(r.credit().score_band())) {
    return absl::InvalidArgumentError("credit.score_band is not a known band");
  }
  return absl::OkStatus();
}

}  // namespace collections::workflow
