#include "bench_html.hpp"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "units.hpp"

namespace quiver::cli {

namespace {

using Json = nlohmann::ordered_json;

// The curve of one histogram: [percentile, ms] at points evenly spaced on the log scale of
// 1 / (1 - p), up to the last percentile the sample count can tell apart from the max.
Json percentile_curve(const LatencyHistogram& h) {
  Json points = Json::array();
  if (h.count() == 0) return points;
  const double last_x = std::min(1e5, static_cast<double>(h.count()));
  constexpr int steps_per_decade = 20;
  for (int step = 0;; ++step) {
    const double x = std::pow(10.0, static_cast<double>(step) / steps_per_decade);
    if (x > last_x) break;
    const double percent = 100.0 * (1.0 - 1.0 / x);
    points.push_back({percent, std::chrono::duration<double, std::milli>(h.percentile(percent)).count()});
  }
  points.push_back({100.0 * (1.0 - 1.0 / last_x), std::chrono::duration<double, std::milli>(h.max()).count()});
  return points;
}

Json run_json(const HtmlRun& run) {
  const BenchResult& r = run.report.result;
  Json timeline = Json::array();
  for (const TimelineSecond& second : r.timeline) timeline.push_back({second.succeeded, second.failed});
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  return {{"label", run.label},
          {"target", run.report.what.target},
          {"curve", percentile_curve(r.latency)},
          {"timeline", std::move(timeline)},
          {"summary",
           {{"req/s", fmt::format("{:.0f}", r.requests_per_second())},
            {"succeeded", r.ok},
            {"failed", r.error_count()},
            {"not finished", r.not_finished},
            {"p50 ms", format_ms(r.latency.percentile(50))},
            {"p99 ms", format_ms(r.latency.percentile(99))},
            {"p99.9 ms", format_ms(r.latency.percentile(99.9))},
            {"max ms", format_ms(r.latency.max())},
            {"mean ms", fmt::format("{:.3f}", ms(r.latency.mean()))},
            {"seconds", fmt::format("{:.2f}", r.elapsed.count())},
            {"load", r.open_loop ? fmt::format("open loop {:g} req/s", r.open_loop->rps) : std::string("closed loop")}}}};
}

constexpr std::string_view page_head = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>quiver bench</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
svg { background: #fafafa; border: 1px solid #ddd; }
.axis line, .grid line { stroke: #ccc; } .axis text { font-size: 11px; fill: #555; }
table { border-collapse: collapse; margin-top: 12px; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.legend span { display: inline-block; margin-right: 16px; } .swatch { display: inline-block; width: 14px; height: 4px; margin-right: 4px; vertical-align: middle; }
</style></head><body>
<h1>quiver bench</h1>
<div class="legend" id="legend"></div>
<h2>Latency by percentile (succeeded requests)</h2>
<svg id="latency-chart" width="900" height="360"></svg>
<h2>Requests per second (solid: succeeded, dashed: failed)</h2>
<svg id="rate-chart" width="900" height="260"></svg>
<h2>Summary</h2>
<table id="summary"></table>
<script>
const RUNS = )HTML";

constexpr std::string_view page_script = R"JS(;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
const NS = "http://www.w3.org/2000/svg";
function el(parent, name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}
const M = {left: 60, right: 20, top: 14, bottom: 34};
function frame(svg) {
  const w = +svg.getAttribute("width") - M.left - M.right, h = +svg.getAttribute("height") - M.top - M.bottom;
  return {w, h, g: el(svg, "g", {transform: `translate(${M.left},${M.top})`})};
}
function niceMax(v) { if (!(v > 0)) return 1; const p = Math.pow(10, Math.floor(Math.log10(v))); for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p; return 10 * p; }
function yAxis(f, max, unit) {
  const axis = el(f.g, "g", {class: "axis"});
  for (let i = 0; i <= 4; i++) {
    const y = f.h - f.h * i / 4;
    el(axis, "line", {x1: 0, x2: f.w, y1: y, y2: y});
    el(axis, "text", {x: -6, y: y + 4, "text-anchor": "end"}, +(max * i / 4).toPrecision(3) + unit);
  }
}
function drawLatency() {
  const svg = document.getElementById("latency-chart"), f = frame(svg);
  const maxX = 5, maxY = niceMax(Math.max(0, ...RUNS.flatMap(r => r.curve.map(p => p[1]))));
  const x = p => f.w * Math.min(maxX, Math.log10(1 / Math.max(1e-9, 1 - p / 100))) / maxX;
  const y = v => f.h - f.h * v / maxY;
  yAxis(f, maxY, " ms");
  const axis = el(f.g, "g", {class: "axis"});
  ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"].forEach((label, i) => {
    const px = f.w * i / maxX;
    el(axis, "line", {x1: px, x2: px, y1: 0, y2: f.h});
    el(axis, "text", {x: px, y: f.h + 16, "text-anchor": "middle"}, label);
  });
  RUNS.forEach((run, i) => {
    if (run.curve.length === 0) return;
    const d = run.curve.map((p, k) => `${k ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    el(f.g, "path", {class: "series latency", d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2});
  });
}
function drawRates() {
  const svg = document.getElementById("rate-chart"), f = frame(svg);
  const seconds = Math.max(1, ...RUNS.map(r => r.timeline.length));
  const maxY = niceMax(Math.max(0, ...RUNS.flatMap(r => r.timeline.flat())));
  const x = s => f.w * (s + 0.5) / seconds, y = v => f.h - f.h * v / maxY;
  yAxis(f, maxY, "");
  const axis = el(f.g, "g", {class: "axis"});
  const every = Math.max(1, Math.ceil(seconds / 10));
  for (let s = 0; s < seconds; s += every) el(axis, "text", {x: x(s), y: f.h + 16, "text-anchor": "middle"}, s + " s");
  RUNS.forEach((run, i) => {
    [[0, "succeeded", ""], [1, "failed", "5,4"]].forEach(([column, kind, dash]) => {
      if (run.timeline.length === 0) return;
      const d = run.timeline.map((t, s) => `${s ? "L" : "M"}${x(s).toFixed(1)},${y(t[column]).toFixed(1)}`).join("");
      el(f.g, "path", {class: `series rate ${kind}`, d, fill: "none", stroke: COLORS[i % COLORS.length],
                       "stroke-width": 2, "stroke-dasharray": dash});
    });
  });
}
function fillSummary() {
  const legend = document.getElementById("legend"), table = document.getElementById("summary");
  RUNS.forEach((run, i) => {
    const item = document.createElement("span");
    item.innerHTML = `<i class="swatch" style="background:${COLORS[i % COLORS.length]}"></i>`;
    item.appendChild(document.createTextNode(`${run.label} (${run.target})`));
    legend.appendChild(item);
  });
  const keys = Object.keys(RUNS[0].summary);
  const head = table.insertRow();
  ["run", ...keys].forEach(k => { const th = document.createElement("th"); th.textContent = k; head.appendChild(th); });
  RUNS.forEach(run => { const row = table.insertRow(); [run.label, ...keys.map(k => run.summary[k])].forEach(v => { row.insertCell().textContent = v; }); });
}
drawLatency(); drawRates(); fillSummary();
</script></body></html>
)JS";

}  // namespace

std::string bench_html(const std::vector<HtmlRun>& runs) {
  Json data = Json::array();
  for (const HtmlRun& run : runs) data.push_back(run_json(run));
  std::string json = data.dump();
  // Inside <script>, "</" could end the element: JSON allows "\/" for "/".
  for (std::size_t at = json.find("</"); at != std::string::npos; at = json.find("</", at + 3)) json.replace(at, 2, "<\\/");
  return std::string(page_head) + json + std::string(page_script);
}

}  // namespace quiver::cli
