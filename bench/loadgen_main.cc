// collections-loadgen: a load generator for collectionsd. A separate process
// that speaks the public contract only (collections.v1 protos over gRPC);
// it includes nothing from server/, storage/ or workflow/.
//
//   collections-loadgen import --rows=N [--server=ADDR] [--as_of=YYYY-MM-DD]
//       [--dpd=D] [--amounts=spread|mild|moderate|severe] [--seed=S]
//       [--first_row=K] [--loan_prefix=L]
//     Streams a deterministic synthetic portfolio through
//     CaseService.ImportDelinquencies and prints rows/s and the server's
//     counts. Row i is a pure function of (seed, i): the same flags give
//     the same feed byte for byte.
//
//   collections-loadgen advance --to=YYYY-MM-DD [--server=ADDR]
//     Times one CaseService.AdvanceBusinessDate and prints its counts.
//
//   collections-loadgen census [--server=ADDR]
//     Counts cases per stage through CaseService.ListCases (paged), to check
//     what an import or an aging pass left behind.
//
// Every command takes the connection flags of the other clients
// (--tls_ca, --tls_cert, --tls_key, --token_file, --tls_server_name, or
// their COLLECTIONS_* variables; bench/connection_flags.h).
//
// Every result is printed as one `key=value ...` line on stdout (for
// scripts), preceded by a human-readable summary on stderr.
// Exit status: 0 on success, 1 when an RPC fails, 2 for bad usage.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/connection_flags.h"
#include "collections/v1/case_service.grpc.pb.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "collectionsd's host:port.");
ABSL_FLAG(int64_t, rows, 1000, "import: rows to stream.");
ABSL_FLAG(int64_t, first_row, 0,
          "import: index of the first row (rows first_row.. first_row+rows-1 "
          "of the synthetic portfolio).");
ABSL_FLAG(std::string, as_of, "",
          "import: the feed's as-of date, YYYY-MM-DD; empty: today in "
          "Asia/Shanghai (collectionsd's first business date by default).");
ABSL_FLAG(int32_t, dpd, -1,
          "import: days past due of every row; -1: a spread (60% 1-30, 25% "
          "31-90, 15% 91-180).");
ABSL_FLAG(std::string, amounts, "spread",
          "import: overdue amounts: spread (70% under 5,000 CNY, 20% "
          "5,000-20,000, 10% above) or all in one band: mild, moderate, "
          "severe.");
ABSL_FLAG(std::string, credit, "mixed",
          "import: credit records: mixed (about one in five poor enough to "
          "raise the class one level) or clean (none raises it).");
ABSL_FLAG(uint64_t, seed, 20260101, "import: seed of the synthetic portfolio.");
ABSL_FLAG(std::string, loan_prefix, "LN", "import: loan ids are PREFIX%010d.");
ABSL_FLAG(std::string, to, "", "advance: the business date to move to, YYYY-MM-DD.");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(30), "Deadline of each RPC.");

namespace {

namespace v1 = collections::v1;

// splitmix64: a tiny, well-mixed, reproducible generator.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi].
  int64_t Between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  int Percent() { return static_cast<int>(Next() % 100); }

 private:
  uint64_t state_;
};

enum class Amounts { kSpread, kMild, kModerate, kSevere };

struct FeedSpec {
  uint64_t seed = 0;
  absl::CivilDay as_of;
  int32_t dpd = -1;
  Amounts amounts = Amounts::kSpread;
  bool clean_credit = false;
  std::string loan_prefix;
};

constexpr const char* kRegions[] = {"110000", "310000", "440000", "320000",
                                    "330000", "510000", "420000", "370000"};
constexpr const char* kProducts[] = {"mortgage.first_home", "mortgage.second_home",
                                     "mortgage.commercial"};
constexpr const char* kSurnames[] = {"Wang", "Li",   "Zhang", "Liu",  "Chen",
                                     "Yang", "Zhao", "Huang", "Zhou", "Wu"};

v1::Date ToDate(absl::CivilDay d) {
  v1::Date out;
  out.set_year(static_cast<int32_t>(d.year()));
  out.set_month(d.month());
  out.set_day(d.day());
  return out;
}

// Row `i` of the synthetic portfolio: a function of (spec, i) only.
void MakeRecord(const FeedSpec& spec, int64_t i, v1::DelinquencyRecord* r) {
  Rng rng(spec.seed ^ (static_cast<uint64_t>(i) * 0x2545f4914f6cdd1dULL));
  r->Clear();
  r->set_loan_id(absl::StrFormat("%s%010d", spec.loan_prefix, i));
  *r->mutable_as_of() = ToDate(spec.as_of);
  v1::Borrower* b = r->mutable_borrower();
  b->set_borrower_id(absl::StrFormat("B%010d", i));
  b->set_name(absl::StrCat(kSurnames[rng.Next() % 10], " ", rng.Between(1, 99999)));
  b->add_phones(absl::StrFormat("+86138%08d", rng.Between(0, 99999999)));
  if (rng.Percent() < 30) {
    b->add_phones(absl::StrFormat("+86139%08d", rng.Between(0, 99999999)));
  }
  b->set_address(absl::StrCat(rng.Between(1, 999), " Renmin Road, Unit ", rng.Between(1, 3000)));
  b->set_time_zone("Asia/Shanghai");
  b->set_region(kRegions[rng.Next() % 8]);
  r->set_product(kProducts[rng.Next() % 3]);

  // Days past due.
  int32_t dpd = spec.dpd;
  if (dpd < 0) {
    const int p = rng.Percent();
    dpd = static_cast<int32_t>(p < 60   ? rng.Between(1, 30)
                               : p < 85 ? rng.Between(31, 90)
                                        : rng.Between(91, 180));
  }
  *r->mutable_oldest_unpaid_due_date() = ToDate(spec.as_of - dpd);

  // Overdue total in fen, by amount band (bands: < 500,000 mild,
  // 500,000..2,000,000 moderate, > 2,000,000 severe).
  Amounts band = spec.amounts;
  if (band == Amounts::kSpread) {
    const int p = rng.Percent();
    band = p < 70 ? Amounts::kMild : p < 90 ? Amounts::kModerate : Amounts::kSevere;
  }
  int64_t total = 0;
  switch (band) {
    case Amounts::kMild:
      total = rng.Between(50'000, 499'999);
      break;
    case Amounts::kModerate:
      total = rng.Between(500'000, 2'000'000);
      break;
    default:
      total = rng.Between(2'000'001, 20'000'000);
      break;
  }
  const int64_t penalty = total / 50;
  const int64_t interest = total / 5;
  v1::OverdueAmounts* o = r->mutable_overdue();
  o->set_principal_fen(total - penalty - interest);
  o->set_interest_fen(interest);
  o->set_penalty_fen(penalty);
  r->set_principal_outstanding_fen(total * rng.Between(20, 120));
  // Mostly good credit. Mixed: about 8% in a poor band and 15% with 3+
  // prior delinquencies, either of which raises the class (default policy).
  v1::CreditRecord* credit = r->mutable_credit();
  const int p = rng.Percent();
  const int q = rng.Percent();
  if (spec.clean_credit) {
    credit->set_score_band(p < 50 ? v1::CREDIT_BAND_EXCELLENT : v1::CREDIT_BAND_GOOD);
    credit->set_prior_delinquencies(q < 70 ? 0 : q < 90 ? 1 : 2);
  } else {
    credit->set_score_band(p < 40   ? v1::CREDIT_BAND_EXCELLENT
                           : p < 75 ? v1::CREDIT_BAND_GOOD
                           : p < 92 ? v1::CREDIT_BAND_FAIR
                           : p < 97 ? v1::CREDIT_BAND_POOR
                                    : v1::CREDIT_BAND_VERY_POOR);
    credit->set_prior_delinquencies(q < 60   ? 0
                                    : q < 75 ? 1
                                    : q < 85 ? 2
                                             : static_cast<int32_t>(rng.Between(3, 6)));
  }
}

bool ParseDay(const std::string& text, absl::CivilDay* day) {
  return absl::ParseCivilTime(text, day);
}

std::unique_ptr<v1::CaseService::Stub> Connect() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);  // a response listing many errors
  return v1::CaseService::NewStub(
      collections::bench::OpenChannelOrExit(absl::GetFlag(FLAGS_server), args));
}

void SetDeadline(grpc::ClientContext& ctx) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   absl::ToChronoSeconds(absl::GetFlag(FLAGS_timeout)));
}

int Fail(const char* what, const grpc::Status& s) {
  std::fprintf(stderr, "%s failed: %d %s\n", what, static_cast<int>(s.error_code()),
               s.error_message().c_str());
  return 1;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int Import() {
  FeedSpec spec;
  spec.seed = absl::GetFlag(FLAGS_seed);
  spec.dpd = absl::GetFlag(FLAGS_dpd);
  spec.loan_prefix = absl::GetFlag(FLAGS_loan_prefix);
  const std::string amounts = absl::GetFlag(FLAGS_amounts);
  if (amounts == "spread")
    spec.amounts = Amounts::kSpread;
  else if (amounts == "mild")
    spec.amounts = Amounts::kMild;
  else if (amounts == "moderate")
    spec.amounts = Amounts::kModerate;
  else if (amounts == "severe")
    spec.amounts = Amounts::kSevere;
  else {
    std::fprintf(stderr, "--amounts: spread, mild, moderate or severe\n");
    return 2;
  }
  const std::string credit = absl::GetFlag(FLAGS_credit);
  if (credit != "mixed" && credit != "clean") {
    std::fprintf(stderr, "--credit: mixed or clean\n");
    return 2;
  }
  spec.clean_credit = credit == "clean";
  if (spec.dpd > 3650) {
    std::fprintf(stderr, "--dpd: at most 3650\n");
    return 2;
  }
  const std::string as_of = absl::GetFlag(FLAGS_as_of);
  if (as_of.empty()) {
    absl::TimeZone tz;
    if (!absl::LoadTimeZone("Asia/Shanghai", &tz)) {
      std::fprintf(stderr, "cannot load Asia/Shanghai (install tzdata)\n");
      return 1;
    }
    spec.as_of = absl::ToCivilDay(absl::Now(), tz);
  } else if (!ParseDay(as_of, &spec.as_of)) {
    std::fprintf(stderr, "--as_of: expected YYYY-MM-DD, got %s\n", as_of.c_str());
    return 2;
  }
  const int64_t rows = absl::GetFlag(FLAGS_rows);
  const int64_t first = absl::GetFlag(FLAGS_first_row);
  if (rows < 1 || first < 0) {
    std::fprintf(stderr, "--rows must be positive and --first_row not negative\n");
    return 2;
  }

  auto stub = Connect();
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::ImportDelinquenciesResponse response;
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<grpc::ClientWriter<v1::ImportDelinquenciesRequest>> writer =
      stub->ImportDelinquencies(&ctx, &response);
  v1::ImportDelinquenciesRequest request;
  int64_t sent = 0;
  double next_report = 10;
  for (int64_t i = first; i < first + rows; ++i) {
    MakeRecord(spec, i, request.mutable_record());
    if (!writer->Write(request)) break;  // the server ended the call
    ++sent;
    if ((sent & 0x3fff) == 0) {
      const double t = SecondsSince(start);
      if (t >= next_report) {
        std::fprintf(stderr, "  %.0f s: %lld rows sent (%.0f rows/s)\n", t,
                     static_cast<long long>(sent), sent / t);
        next_report += 10;
      }
    }
  }
  const double sent_seconds = SecondsSince(start);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  const double seconds = SecondsSince(start);
  if (!status.ok()) return Fail("ImportDelinquencies", status);
  std::fprintf(
      stderr,
      "import: %lld rows in %.2f s = %.0f rows/s (last row sent at %.2f s)\n"
      "        opened %lld, updated %lld, unchanged %lld, rejected %lld\n",
      static_cast<long long>(sent), seconds, sent / seconds, sent_seconds,
      static_cast<long long>(response.opened()), static_cast<long long>(response.updated()),
      static_cast<long long>(response.unchanged()), static_cast<long long>(response.rejected()));
  for (int i = 0; i < response.errors_size() && i < 5; ++i) {
    const v1::ImportRowError& e = response.errors(i);
    std::fprintf(stderr, "        row %lld (%s): %s\n", static_cast<long long>(e.index()),
                 e.loan_id().c_str(), e.message().c_str());
  }
  std::printf(
      "import rows=%lld seconds=%.3f rows_per_s=%.0f as_of=%s dpd=%d amounts=%s credit=%s "
      "opened=%lld updated=%lld unchanged=%lld rejected=%lld\n",
      static_cast<long long>(sent), seconds, sent / seconds,
      absl::FormatCivilTime(spec.as_of).c_str(), spec.dpd, amounts.c_str(), credit.c_str(),
      static_cast<long long>(response.opened()), static_cast<long long>(response.updated()),
      static_cast<long long>(response.unchanged()), static_cast<long long>(response.rejected()));
  return sent == rows ? 0 : 1;
}

int Advance() {
  absl::CivilDay to;
  if (!ParseDay(absl::GetFlag(FLAGS_to), &to)) {
    std::fprintf(stderr, "--to: expected YYYY-MM-DD\n");
    return 2;
  }
  auto stub = Connect();
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::AdvanceBusinessDateRequest request;
  *request.mutable_to() = ToDate(to);
  v1::AdvanceBusinessDateResponse response;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status status = stub->AdvanceBusinessDate(&ctx, request, &response);
  const double seconds = SecondsSince(start);
  if (!status.ok()) return Fail("AdvanceBusinessDate", status);
  std::fprintf(stderr,
               "advance to %s: %.2f s; %lld cases aged, %lld stage changes, "
               "%lld timers fired\n",
               absl::FormatCivilTime(to).c_str(), seconds,
               static_cast<long long>(response.cases_aged()),
               static_cast<long long>(response.stage_changes()),
               static_cast<long long>(response.timers_fired()));
  std::printf(
      "advance to=%s seconds=%.3f cases_aged=%lld stage_changes=%lld "
      "timers_fired=%lld\n",
      absl::FormatCivilTime(to).c_str(), seconds, static_cast<long long>(response.cases_aged()),
      static_cast<long long>(response.stage_changes()),
      static_cast<long long>(response.timers_fired()));
  return 0;
}

int Census() {
  auto stub = Connect();
  std::map<int, int64_t> by_stage;
  int64_t total = 0;
  const auto start = std::chrono::steady_clock::now();
  std::string token;
  do {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::ListCasesRequest request;
    // Not 1000: ListCases asks the store for page_size + 1 rows to tell
    // whether another page exists, and the store clamps to 1000, so a
    // 1000-row page never returns a next_page_token.
    request.set_page_size(999);
    request.set_page_token(token);
    v1::ListCasesResponse response;
    grpc::Status status = stub->ListCases(&ctx, request, &response);
    if (!status.ok()) return Fail("ListCases", status);
    for (const v1::CaseSummary& c : response.cases()) {
      ++by_stage[c.stage()];
      ++total;
    }
    token = response.next_page_token();
  } while (!token.empty());
  std::string line = absl::StrCat("census cases=", total);
  for (const auto& [stage, n] : by_stage) {
    absl::StrAppend(&line, " ", v1::Stage_Name(static_cast<v1::Stage>(stage)), "=", n);
  }
  std::fprintf(stderr, "census: %lld cases in %.2f s\n", static_cast<long long>(total),
               SecondsSince(start));
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "load generator for collectionsd.\n"
      "Usage: collections-loadgen import --rows=N [--server=ADDR] [--as_of=DATE] "
      "[--dpd=D] [--amounts=spread|mild|moderate|severe] [--credit=mixed|clean]\n"
      "       collections-loadgen advance --to=YYYY-MM-DD [--server=ADDR]\n"
      "       collections-loadgen census [--server=ADDR]\n"
      "Every command: [--token_file=FILE] [--tls_ca=FILE [--tls_cert=FILE --tls_key=FILE] "
      "[--tls_server_name=NAME]]");
  // --help lists this file's flags (the binary's name does not match it).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "loadgen_main") || absl::StrContains(file, "connection_flags");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) {
    std::fprintf(stderr, "expected one subcommand: import, advance or census (see --help)\n");
    return 2;
  }
  const std::string command = args[1];
  if (command == "import") return Import();
  if (command == "advance") return Advance();
  if (command == "census") return Census();
  std::fprintf(stderr, "unknown subcommand %s: import, advance or census\n", command.c_str());
  return 2;
}
