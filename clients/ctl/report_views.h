// The managers' reports as collectionsctl shows them: each ReportService
// answer as a Document (for table, CSV and JSON output), and a set of
// answers as one self-contained HTML page with inline SVG charts (stage
// funnel, roll-rate heat map, recovery and cure trend, overdue reasons,
// the book by days past due, an experiment's differences with their
// intervals). The page loads nothing from anywhere, so it
// reads offline and prints. Pure: protos in, text out.
#ifndef COLLECTIONS_CLIENTS_CTL_REPORT_VIEWS_H_
#define COLLECTIONS_CLIENTS_CTL_REPORT_VIEWS_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clients/ctl/output.h"
#include "collections/v1/report_service.pb.h"

namespace collections::ctl {

Document View(const v1::PortfolioReport& r);
Document View(const v1::StageFunnelReport& r);
Document View(const v1::RollRateReport& r);
Document View(const v1::EffectivenessReport& r);
Document View(const v1::OverdueReasonsReport& r);
Document View(const v1::AgentProductivityReport& r);
Document View(const v1::SlaReport& r);
// Sections: arms, comparisons.
Document View(const v1::ExperimentReportAnswer& r);

// The answers a page shows; a report that failed carries its error.
struct ReportSet {
  std::optional<v1::PortfolioReport> portfolio;
  std::optional<v1::StageFunnelReport> funnel;
  std::optional<v1::RollRateReport> roll_rates;
  std::optional<v1::EffectivenessReport> effectiveness;
  std::optional<v1::OverdueReasonsReport> reasons;
  std::optional<v1::AgentProductivityReport> agents;
  std::optional<v1::SlaReport> sla;
  // A champion/challenger experiment: a chart per metric with intervals.
  std::optional<v1::ExperimentReportAnswer> experiment;
  std::vector<std::pair<std::string, std::string>> errors;  // report, message
};

// One HTML page. `filters` are shown under the title ("region SH", ...);
// `generated` says when and from where (the caller's clock and server).
std::string HtmlPage(const ReportSet& reports, const std::vector<std::string>& filters,
                     const std::string& generated);

// "2026-11-29".
std::string DateText(const v1::Date& d);
// Enum names without their prefix, lower case: "mild", "counselling".
std::string ClassText(int c);
std::string StageText(int s);
std::string ActionText(int t);
std::string ReasonText(int r);

}  // namespace collections::ctl

#endif  // COLLECTIONS_CLIENTS_CTL_REPORT_VIEWS_H_
