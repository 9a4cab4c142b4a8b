// collectionsctl import: streams the overdue feed from a CSV file.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/feed_csv.h"
#include "collections/v1/case_service.grpc.pb.h"

namespace collections::ctl {

int Import(Run& run) {
  if (run.args.positional().size() != 1) {
    return run.Usage("name one CSV file (or - for standard input)");
  }
  const std::string path = run.args.positional()[0];
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) {
      run.err << "collectionsctl import: cannot read " << path << "\n";
      return kBadUsage;
    }
  }
  std::istream& in = path == "-" ? std::cin : file;
  FeedReader feed(in);
  if (absl::Status s = feed.Start(); !s.ok()) {
    run.err << "collectionsctl import: " << path << ": " << s.message() << "\n" << kFeedColumnsHelp;
    return kBadUsage;
  }

  auto stub = v1::CaseService::NewStub(run.Channel());
  v1::ImportDelinquenciesResponse response;
  auto context = run.Context(absl::Hours(24));
  auto writer = stub->ImportDelinquencies(context.get(), &response);
  std::vector<int64_t> line_of;  // stream index -> line in the file
  std::vector<RowProblem> problems;
  const bool tty = isatty(STDERR_FILENO);
  const absl::Time start = absl::Now();
  absl::Time shown = start;
  int64_t rows = 0;
  v1::ImportDelinquenciesRequest request;
  RowProblem problem;
  int64_t line = 0;
  bool sent_all = true;
  while (feed.Next(request.mutable_record(), &problem, &line)) {
    ++rows;
    if (!problem.message.empty()) {
      problems.push_back(problem);
      continue;
    }
    if (!writer->Write(request)) {
      sent_all = false;  // the stream broke; Finish says why
      break;
    }
    line_of.push_back(line);
    // Progress: a line rewritten in place on a terminal, else one line
    // every 100,000 rows.
    const absl::Time now = absl::Now();
    if ((tty && now - shown > absl::Milliseconds(250)) || (!tty && rows % 100000 == 0)) {
      shown = now;
      run.err << (tty ? "\r" : "") << "import: " << rows << " rows read, " << line_of.size()
              << " sent ("
              << static_cast<int64_t>(rows / std::max(1e-3, absl::ToDoubleSeconds(now - start)))
              << " rows/s)" << (tty ? "" : "\n") << std::flush;
    }
  }
  if (tty && rows > 0) run.err << "\r" << std::string(60, ' ') << "\r" << std::flush;
  if (sent_all) writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) {
    // A row the server could not decode: it names the row's place in the
    // stream, which maps back to a line of the file.
    const auto& trailers = context->GetServerTrailingMetadata();
    auto bad = trailers.find("collections-import-bad-frame");
    int64_t frame = -1;
    if (bad != trailers.end() &&
        absl::SimpleAtoi(absl::string_view(bad->second.data(), bad->second.size()), &frame) &&
        frame >= 0 && frame < static_cast<int64_t>(line_of.size())) {
      run.err << "collectionsctl import: the server could not decode line " << line_of[frame]
              << " of " << path
              << " (is the file UTF-8?) and stopped there: nothing from that line on was "
                 "imported; the lines before it were (see the counts below). Fix that line "
                 "and import the file again (rows already imported are unchanged)\n";
      return run.Failed(s);
    }
    run.err << "collectionsctl import: the server stopped the import after " << line_of.size()
            << " rows were sent; rows it acknowledged before are stored and importing the file "
               "again is safe\n";
    return run.Failed(s);
  }
  if (!feed.ok()) problems.push_back({line, "", "", feed.fatal()});

  for (const v1::ImportRowError& e : response.errors()) {
    const int64_t at =
        e.index() >= 0 && e.index() < static_cast<int64_t>(line_of.size()) ? line_of[e.index()] : 0;
    problems.push_back({at, e.loan_id(), e.field(), e.message()});
  }
  std::sort(problems.begin(), problems.end(),
            [](const RowProblem& a, const RowProblem& b) { return a.line < b.line; });
  const int64_t rejected =
      response.rejected() + (static_cast<int64_t>(problems.size()) - response.errors_size());
  Table summary{{{"rows", Kind::kInt},
                 {"opened", Kind::kInt},
                 {"updated", Kind::kInt},
                 {"unchanged", Kind::kInt},
                 {"rejected", Kind::kInt}},
                {}};
  summary.Add({Cell::Int(rows), Cell::Int(response.opened()), Cell::Int(response.updated()),
               Cell::Int(response.unchanged()), Cell::Int(rejected)});
  Table listed{{{"line", Kind::kInt},
                {"loan_id", Kind::kText},
                {"field", Kind::kText},
                {"problem", Kind::kText}},
               {}};
  for (const RowProblem& p : problems) {
    listed.Add(
        {Cell::Int(p.line), Cell::Text(p.loan_id), Cell::Text(p.field), Cell::Text(p.message)});
  }
  Document doc{"import",
               absl::StrCat("Import of ", path),
               {},
               {{"summary", "", summary}, {"rejected", "Rejected rows", listed}}};
  if (int printed = run.Print(doc); printed != kOk) return printed;
  return rejected > 0 || !feed.ok() ? kRejectedRows : kOk;
}

}  // namespace collections::ctl
