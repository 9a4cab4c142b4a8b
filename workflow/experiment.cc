#include "workflow/experiment.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "workflow/dates.h"

namespace collections::workflow {
namespace {

constexpr int kMaxArms = 10;
constexpr int kMaxNameBytes = 100;
constexpr int kMaxArmNameBytes = 32;
constexpr int kMaxScopeEntries = 100;

bool IsArmName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxArmNameBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' || c == '-';
  });
}

template <typename List, typename Value>
bool Names(const List& list, const Value& value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

// The continued fraction of the regularized incomplete beta function
// (Numerical Recipes, 2nd ed., section 6.4, betacf).
double BetaContinuedFraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 300; ++m) {
    const int m2 = 2 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < 1e-15) break;
  }
  return h;
}

// I_x(a, b).
double RegularizedBeta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log(1 - x));
  if (x < (a + 1) / (a + b + 2)) return front * BetaContinuedFraction(a, b, x) / a;
  return 1 - front * BetaContinuedFraction(b, a, 1 - x) / b;
}

// P(T <= t) for Student's t with df degrees of freedom.
double StudentTCdf(double t, double df) {
  const double tail = 0.5 * RegularizedBeta(df / 2, 0.5, df / (df + t * t));
  return t >= 0 ? 1 - tail : tail;
}

}  // namespace

int AssignmentBucket(int64_t experiment_id, absl::string_view loan_id) {
  const std::string key = absl::StrCat(experiment_id, ":", loan_id);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(key.data(), key.size(), digest, &size, EVP_sha256(), nullptr);
  uint64_t head = 0;
  for (int i = 0; i < 8; ++i) head = (head << 8) | digest[i];
  return static_cast<int>(head % kAssignmentBuckets);
}

int ArmForBucket(const v1::Experiment& experiment, int bucket) {
  int upto = 0;
  for (int i = 0; i < experiment.arms_size(); ++i) {
    upto += experiment.arms(i).share_bp();
    if (bucket < upto) return i;
  }
  return experiment.arms_size() - 1;
}

bool TakesPart(const v1::Experiment& experiment, absl::CivilDay day, v1::CaseClass case_class,
               absl::string_view product, absl::string_view region) {
  if (experiment.state() != v1::EXPERIMENT_STATE_RUNNING) return false;
  if (!IsUnset(experiment.start_date())) {
    auto start = DayFromProto(experiment.start_date(), "start_date");
    if (!start.ok() || day < *start) return false;
  }
  if (!IsUnset(experiment.end_date())) {
    auto end = DayFromProto(experiment.end_date(), "end_date");
    if (!end.ok() || day > *end) return false;
  }
  const v1::ExperimentScope& scope = experiment.scope();
  return Names(scope.classes(), case_class) && Names(scope.products(), std::string(product)) &&
         Names(scope.regions(), std::string(region));
}

absl::Status ValidateNewExperiment(v1::Experiment& experiment) {
  if (experiment.name().empty() || experiment.name().size() > kMaxNameBytes) {
    return absl::InvalidArgumentError("experiment.name is required (1..100 bytes)");
  }
  if (experiment.arms_size() < 2 || experiment.arms_size() > kMaxArms) {
    return absl::InvalidArgumentError(
        "experiment.arms: the champion and 1..9 challengers are required");
  }
  std::set<std::string> names;
  int total = 0;
  for (int i = 0; i < experiment.arms_size(); ++i) {
    v1::ExperimentArm& arm = *experiment.mutable_arms(i);
    if (arm.name().empty()) arm.set_name(i == 0 ? "champion" : absl::StrCat("challenger-", i));
    if (!IsArmName(arm.name())) {
      return absl::InvalidArgumentError(absl::StrCat("experiment.arms[", i, "].name \"", arm.name(),
                                                     "\" must be 1..32 of [a-z0-9_-]"));
    }
    if (!names.insert(arm.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("experiment.arms[", i, "].name \"", arm.name(), "\" is used twice"));
    }
    if (arm.policy_version() < 0 || (i > 0 && arm.policy_version() == 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("experiment.arms[", i,
                       "].policy_version is required (a stored version; 0 only for the "
                       "champion, meaning the current one)"));
    }
    if (arm.share_bp() < 1 || arm.share_bp() > kAssignmentBuckets) {
      return absl::InvalidArgumentError(
          absl::StrCat("experiment.arms[", i, "].share_bp must be 1..10000"));
    }
    total += arm.share_bp();
  }
  if (total != kAssignmentBuckets) {
    return absl::InvalidArgumentError(
        absl::StrCat("experiment.arms: the shares sum to ", total, " basis points, not 10000"));
  }
  const v1::ExperimentScope& scope = experiment.scope();
  if (scope.classes_size() > kMaxScopeEntries || scope.products_size() > kMaxScopeEntries ||
      scope.regions_size() > kMaxScopeEntries) {
    return absl::InvalidArgumentError("experiment.scope: at most 100 entries per list");
  }
  for (int c : scope.classes()) {
    if (c == v1::CASE_CLASS_UNSPECIFIED || !v1::CaseClass_IsValid(c)) {
      return absl::InvalidArgumentError("experiment.scope.classes: a known class is required");
    }
  }
  std::optional<absl::CivilDay> start, end;
  if (!IsUnset(experiment.start_date())) {
    auto day = DayFromProto(experiment.start_date(), "experiment.start_date");
    if (!day.ok()) return day.status();
    start = *day;
  }
  if (!IsUnset(experiment.end_date())) {
    auto day = DayFromProto(experiment.end_date(), "experiment.end_date");
    if (!day.ok()) return day.status();
    end = *day;
  }
  if (start && end && *end < *start) {
    return absl::InvalidArgumentError("experiment.end_date is before experiment.start_date");
  }
  return absl::OkStatus();
}

absl::Status CheckSafeguards(const v1::Policy& champion, const v1::Policy& challenger,
                             absl::string_view arm) {
  auto refuse = [&](absl::string_view rule, auto theirs, auto ours) {
    return absl::FailedPreconditionError(
        absl::StrCat("challenger ", arm, " (policy version ", challenger.version(), ") loosens ",
                     rule, ": ", theirs, " against the champion's ", ours,
                     "; contact rules and legal safeguards may only be as strict or stricter"));
  };
  const v1::ContactRules& c = challenger.contact();
  const v1::ContactRules& min = champion.contact();
  if (c.window_start_minute() < min.window_start_minute()) {
    return refuse("contact.window_start_minute", c.window_start_minute(),
                  min.window_start_minute());
  }
  if (c.window_end_minute() > min.window_end_minute()) {
    return refuse("contact.window_end_minute", c.window_end_minute(), min.window_end_minute());
  }
  if (c.max_connected_calls_per_day() > min.max_connected_calls_per_day()) {
    return refuse("contact.max_connected_calls_per_day", c.max_connected_calls_per_day(),
                  min.max_connected_calls_per_day());
  }
  if (c.max_call_attempts_per_day() > min.max_call_attempts_per_day()) {
    return refuse("contact.max_call_attempts_per_day", c.max_call_attempts_per_day(),
                  min.max_call_attempts_per_day());
  }
  if (c.max_call_attempts_per_7_days() > min.max_call_attempts_per_7_days()) {
    return refuse("contact.max_call_attempts_per_7_days", c.max_call_attempts_per_7_days(),
                  min.max_call_attempts_per_7_days());
  }
  if (c.default_time_zone() != min.default_time_zone()) {
    return refuse("contact.default_time_zone", absl::StrCat("\"", c.default_time_zone(), "\""),
                  absl::StrCat("\"", min.default_time_zone(), "\""));
  }
  const v1::LegalRule& l = challenger.legal();
  const v1::LegalRule& lmin = champion.legal();
  if (l.min_days_past_due() < lmin.min_days_past_due()) {
    return refuse("legal.min_days_past_due", l.min_days_past_due(), lmin.min_days_past_due());
  }
  if (l.letter_wait_days() < lmin.letter_wait_days()) {
    return refuse("legal.letter_wait_days", l.letter_wait_days(), lmin.letter_wait_days());
  }
  if (lmin.require_home_visit() && !l.require_home_visit()) {
    return refuse("legal.require_home_visit", "false", "true");
  }
  // Hardship: every plan kind the champion diverts a genuine hardship to
  // stays open to it.
  for (const std::string& kind : champion.hardship().divert_to()) {
    const auto& theirs = challenger.hardship().divert_to();
    if (std::find(theirs.begin(), theirs.end(), kind) == theirs.end()) {
      return refuse("hardship.divert_to", absl::StrCat("no ", kind), kind);
    }
  }
  return absl::OkStatus();
}

Interval ProportionDifference(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double z) {
  const double p1 = static_cast<double>(x1) / n1;
  const double p2 = static_cast<double>(x2) / n2;
  const double se = std::sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2);
  const double d = p2 - p1;
  return {d, d - z * se, d + z * se};
}

double Moments::Mean() const { return n == 0 ? 0 : sum / n; }

double Moments::Variance() const {
  if (n < 2) return 0;
  const double mean = Mean();
  return std::max(0.0, (sum_squares - n * mean * mean) / (n - 1));
}

WelchResult WelchDifference(const Moments& a, const Moments& b, double confidence) {
  WelchResult r;
  const double va = a.Variance() / a.n, vb = b.Variance() / b.n;
  r.difference = b.Mean() - a.Mean();
  r.standard_error = std::sqrt(va + vb);
  if (r.standard_error == 0) {
    r.degrees_of_freedom = static_cast<double>(a.n + b.n - 2);
    r.interval = {r.difference, r.difference, r.difference};
    return r;
  }
  r.degrees_of_freedom = (va + vb) * (va + vb) / (va * va / (a.n - 1) + vb * vb / (b.n - 1));
  r.t = r.difference / r.standard_error;
  const double q = StudentTQuantile(1 - (1 - confidence) / 2, r.degrees_of_freedom);
  r.interval = {r.difference, r.difference - q * r.standard_error,
                r.difference + q * r.standard_error};
  return r;
}

double StudentTQuantile(double p, double df) {
  if (p == 0.5) return 0;
  if (p < 0.5) return -StudentTQuantile(1 - p, df);
  double low = 0, high = 1;
  while (StudentTCdf(high, df) < p && high < 1e12) high *= 2;
  for (int i = 0; i < 200 && high - low > 1e-12 * high; ++i) {
    const double mid = (low + high) / 2;
    (StudentTCdf(mid, df) < p ? low : high) = mid;
  }
  return (low + high) / 2;
}

std::string Verdict(const Interval& interval, bool higher_is_better) {
  if (interval.low <= 0 && interval.high >= 0) return "not yet significant";
  const bool higher = interval.estimate > 0;
  return higher == higher_is_better ? "challenger better" : "challenger worse";
}

}  // namespace collections::workflow
