// The collection policy: parsing from textproto, validation, the shipped
// default, and lookups. Pure; thread-safe (all functions are stateless).
#ifndef COLLECTIONS_WORKFLOW_POLICY_H_
#define COLLECTIONS_WORKFLOW_POLICY_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "collections/v1/policy.pb.h"

namespace collections::workflow {

// Parses a textproto `Policy` and validates it. INVALID_ARGUMENT with the
// parser's line and column, or with the rule that failed.
absl::StatusOr<v1::Policy> ParsePolicy(absl::string_view textproto);

// Every threshold ordered, every class present once with a stage and
// actions, the allocation order a permutation, contact rules sane.
absl::Status ValidatePolicy(const v1::Policy& policy);

// The shipped default (workflow/default_policy.textproto), reproducing the
// collection strategy (docs/strategy.md). Version 0 until stored.
const v1::Policy& DefaultPolicy();
absl::string_view DefaultPolicyText();

// Bounds with their defaults applied (a policy stored before they existed
// carries 0): IntakeRules and CaseFileRules in policy.proto.
int MaxYearsOverdue(const v1::Policy& policy);   // default 30
int MaxAsOfDaysAhead(const v1::Policy& policy);  // default 31
int MaxNotesPerDay(const v1::Policy& policy);    // default 50
// AuditRules: the years an audit record is kept at least.
int AuditRetentionYears(const v1::Policy& policy);  // default 5

// The entry for `case_class`; the policy must be valid.
// Where a stage stands in the escalation order (reminder 1, counselling 2,
// legal action 3); 0 for the stages outside it. Class policies may only
// escalate, and an open case only moves up.
int StageRank(v1::Stage stage);

const v1::ClassPolicy& ClassPolicyFor(const v1::Policy& policy, v1::CaseClass case_class);

}  // namespace collections::workflow

#endif  // COLLECTIONS_WORKFLOW_POLICY_H_
