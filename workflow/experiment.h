// Champion/challenger experiments (issue 16, docs/experiments.md): which arm
// a new case gets, which cases take part, what a challenger may not loosen,
// and the statistics that compare an arm with the champion.
//
// Pure; thread-safe (all functions are stateless).
#ifndef COLLECTIONS_WORKFLOW_EXPERIMENT_H_
#define COLLECTIONS_WORKFLOW_EXPERIMENT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "collections/v1/experiment_service.pb.h"
#include "collections/v1/policy.pb.h"

namespace collections::workflow {

// Assignment buckets: a loan falls in one of [0, kAssignmentBuckets), and
// an arm takes share_bp consecutive buckets.
inline constexpr int kAssignmentBuckets = 10000;

// The loan's bucket in `experiment_id`: the first 8 bytes of
// SHA-256("<experiment_id>:<loan_id>") read big-endian, mod 10000. The same
// on every platform and after every restart; independent of arrival order.
int AssignmentBucket(int64_t experiment_id, absl::string_view loan_id);

// The index in experiment.arms of the arm owning `bucket`: the arms take
// consecutive ranges in their order. The shares must sum to 10000.
int ArmForBucket(const v1::Experiment& experiment, int bucket);

// Whether a case opened on `day` with this class, product and region takes
// part: the experiment is RUNNING, `day` inside its dates, and each
// non-empty scope list names the case's value.
bool TakesPart(const v1::Experiment& experiment, absl::CivilDay day, v1::CaseClass case_class,
               absl::string_view product, absl::string_view region);

// The checks on a new experiment's shape, before any policy is read:
// INVALID_ARGUMENT naming the field. Fills empty arm names ("champion",
// "challenger-1", ...) first.
absl::Status ValidateNewExperiment(v1::Experiment& experiment);

// Contact rules and legal safeguards a challenger may not loosen below the
// champion's (the institution's minimum): FAILED_PRECONDITION naming the
// arm and the rule, OK when the challenger is as strict or stricter.
absl::Status CheckSafeguards(const v1::Policy& champion, const v1::Policy& challenger,
                             absl::string_view arm);

// --- Statistics --------------------------------------------------------------

// An estimate with its two-sided confidence interval.
struct Interval {
  double estimate = 0;
  double low = 0;
  double high = 0;
};

// z for a two-sided 95 % interval.
inline constexpr double kZ95 = 1.959963984540054;

// p2 - p1 for x1 of n1 and x2 of n2, with the unpooled (Wald) interval
// estimate +- z * sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2). n1, n2 > 0.
Interval ProportionDifference(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double z = kZ95);

// A sample by its count, sum and sum of squares.
struct Moments {
  int64_t n = 0;
  double sum = 0;
  double sum_squares = 0;
  double Mean() const;
  double Variance() const;  // the unbiased sample variance; n >= 2
};

// Welch's two-sample comparison of means: mean(b) - mean(a), its standard
// error, the Welch-Satterthwaite degrees of freedom, t = difference / se,
// and the interval difference +- t_{df, 1 - alpha/2} * se. n >= 2 each.
struct WelchResult {
  double difference = 0;
  double standard_error = 0;
  double degrees_of_freedom = 0;
  double t = 0;
  Interval interval;
};
WelchResult WelchDifference(const Moments& a, const Moments& b, double confidence = 0.95);

// The quantile of Student's t distribution with `df` > 0 degrees of
// freedom, p in (0, 1).
double StudentTQuantile(double p, double df);

// The plain sentence for a challenger's difference: "not yet significant"
// while the interval holds 0, else "challenger better" or "challenger worse"
// by the sign of the estimate and which way is better.
std::string Verdict(const Interval& interval, bool higher_is_better);

}  // namespace collections::workflow

#endif  // COLLECTIONS_WORKFLOW_EXPERIMENT_H_
