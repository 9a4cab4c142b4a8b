// Classification of an overdue loan by days past due, overdue amount and
// credit record, as the policy says. Pure; thread-safe.
#ifndef COLLECTIONS_WORKFLOW_CLASSIFY_H_
#define COLLECTIONS_WORKFLOW_CLASSIFY_H_

#include <cstdint>

#include "collections/v1/case.pb.h"
#include "collections/v1/policy.pb.h"

namespace collections::workflow {

struct LoanFacts {
  int32_t days_past_due = 0;
  int64_t overdue_total_fen = 0;
  v1::CreditRecord credit;
};

// The class and why: both bands, the combination rule, the credit raise.
v1::Classification Classify(const LoanFacts& facts, const v1::Policy& policy);

// MILD < MODERATE < SEVERE.
int ClassRank(v1::CaseClass c);

}  // namespace collections::workflow

#endif  // COLLECTIONS_WORKFLOW_CLASSIFY_H_
