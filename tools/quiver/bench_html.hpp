#pragma once
// `quiver bench --html FILE` and `quiver bench report ... --html FILE`: one self-contained page (no
// network fetch: its script and styles are inline) with, for one run or several overlaid,
//   - the latency by percentile on a log scale (HdrHistogram's plot: p0 ... p99.999), from the
//     histogram of the succeeded requests;
//   - succeeded and failed requests per second over the run;
//   - the summary figures of each run.
// The data is embedded as JSON and the charts are drawn as SVG by the page's script when it loads:
// every series is a <path class="series ..."> in <svg id="latency-chart"> or <svg id="rate-chart">.

#include <string>
#include <vector>

#include "bench_report.hpp"

namespace quiver::cli {

struct HtmlRun {
  std::string label;  // a file name, or the target
  LoadedBenchReport report;
};

std::string bench_html(const std::vector<HtmlRun>& runs);

}  // namespace quiver::cli
