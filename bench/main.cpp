// quilt-bench: every headline figure of a Quilt node beside raw libzmq,
// measured in the same run (see bench/README.md).
//
//   quilt-bench SCENARIO... [options]
//   SCENARIO: link forward chain ping broadcast startup memory sim all
//
// Each scenario prints the raw-libzmq baseline, Quilt's figure and their
// ratio; the program ends with one line "QUILT_BENCH_JSON {...}" holding
// every figure, ratio and per-run list. Exit 0 when every scenario run
// completed (and passed the checks asked for), 1 otherwise, 2 on bad usage.
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "helpers.hpp"
#include "paths.hpp"

namespace bench {
namespace {

using json = nlohmann::ordered_json;

// -- options ------------------------------------------------------------------

struct options {
  std::vector<std::string> scenarios;
  std::string quiltd;
  std::string quilt_sim;
  std::vector<size_t> sizes{16, 1024};
  uint64_t n = 200000;
  int repeat = 5;
  uint64_t window = 20000;
  int pings = 2000;
  int startups = 10;
  size_t memory_nodes = 100;
  int broadcasts = 10;
  int broadcast_repeat = 3;
  std::vector<size_t> sim_sizes{100, 1000};
  std::vector<std::string> sim_transports{
      "inproc", "tcp", "direct", "deterministic", "det+timeline",
      "det+20ms", "det+20ms+1%"};
  double sim_max_rss_gib = 16;
  /// Fail a sim run whose peak RSS is above this (0: no check); the
  /// address-space cap above is looser (stacks, arenas reserved).
  double sim_rss_gib = 0;
  int processors = 0;
  int timeout_s = 60;
  double min_ratio = 0;
  bool check_targets = false;
  bool markdown = false;
};

const char* usage_text =
    "usage: quilt-bench SCENARIO... [options]\n"
    "  SCENARIO: link forward chain ping broadcast startup memory sim all\n"
    "  --quiltd PATH       quiltd binary (default $QUILTD, else next to this "
    "one)\n"
    "  --quilt-sim PATH    quilt-sim binary (default $QUILT_SIM, else next to "
    "this one)\n"
    "  --size LIST         payload bytes, e.g. 16 or 16,1024 (default "
    "16,1024)\n"
    "  -n N                messages per throughput run (default 200000)\n"
    "  --repeat R          measured runs per path, after one warm-up (default "
    "5)\n"
    "  --window W          messages in flight through a path (default 20000)\n"
    "  --pings K           round trips per path and size (default 2000)\n"
    "  --startups K        node starts per program (default 10)\n"
    "  --memory-nodes N    idle nodes in one process (default 100)\n"
    "  --broadcasts B      broadcasts per mesh run (default 10)\n"
    "  --sim-sizes LIST    quilt-sim mesh sizes (default 100,1000)\n"
    "  --sim-10k           add 10,000 nodes (direct and deterministic only;\n"
    "                      minutes, up to 8 GiB each)\n"
    "  --sim-rss-gib G     fail a sim run whose peak RSS is above G GiB\n"
    "  --sim-transports L  default inproc,tcp,direct,deterministic,\n"
    "                      det+timeline,det+20ms,det+20ms+1% (deterministic\n"
    "                      runs with a timeline, with 20 ms links, with 20 ms\n"
    "                      links that lose 1%: the cost of the network model)\n"
    "  --processors P      processors of each quiltd (default quiltd's)\n"
    "  --timeout-s S       bound of each throughput run (default 60)\n"
    "  --min-ratio R       fail when a throughput ratio (link, forward, chain) "
    "is below R\n"
    "  --check-targets     fail when a figure misses its target\n"
    "  --markdown          print the README's Performance table at the end\n";

[[noreturn]] void usage(int status) {
  std::fputs(usage_text, status ? stderr : stdout);
  std::exit(status);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in{s};
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty())
      out.push_back(item);
  return out;
}

std::string sibling(const std::string& rel) {
  auto self = self_path();
  auto dir = self.substr(0, self.rfind('/'));
  return dir + "/" + rel;
}

// -- results ------------------------------------------------------------------

/// One line of the Performance table.
struct row {
  std::string scenario;
  std::string raw;
  std::string quilt;
  std::string ratio;
  std::string target;
  std::optional<bool> met; ///< empty: no target
};

struct results {
  json doc = json::object();
  std::vector<row> rows;
  bool ok = true;        ///< Every scenario completed.
  bool checks_ok = true; ///< --min-ratio / --check-targets held.
  std::vector<std::string> failures;

  void fail(const std::string& why) {
    ok = false;
    failures.push_back(why);
    std::printf("  FAILED: %s\n", why.c_str());
    std::fflush(stdout);
  }
};

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, x);
  return buf;
}

std::string rate(double x) {
  if (x >= 1e6)
    return fmt("%.2fM/s", x / 1e6);
  return fmt("%.0fk/s", x / 1e3);
}

json list(const std::vector<double>& v, int digits = 0) {
  json out = json::array();
  double scale = std::pow(10.0, digits);
  for (double x : v)
    out.push_back(std::round(x * scale) / scale);
  return out;
}

double round_to(double x, int digits) {
  double scale = std::pow(10.0, digits);
  return std::round(x * scale) / scale;
}

void add_row(results& res, const options& opt, row r) {
  std::printf("  => %s: raw %s, quilt %s, ratio %s (target %s)%s\n",
              r.scenario.c_str(), r.raw.c_str(), r.quilt.c_str(),
              r.ratio.c_str(), r.target.c_str(),
              !r.met   ? ""
              : *r.met ? " met"
                       : " MISSED");
  std::fflush(stdout);
  if (opt.check_targets && r.met && !*r.met) {
    res.checks_ok = false;
    res.failures.push_back(r.scenario + " missed its target " + r.target);
  }
  res.rows.push_back(std::move(r));
}

void check_min_ratio(results& res, const options& opt, const std::string& what,
                     double ratio) {
  if (opt.min_ratio > 0 && ratio < opt.min_ratio) {
    res.checks_ok = false;
    res.failures.push_back(what + fmt(" ratio %.3f", ratio) +
                           fmt(" below --min-ratio %.3f", opt.min_ratio));
  }
}

// -- throughput ---------------------------------------------------------------

/// Interleaved throughput runs over several paths: one warm-up each, then
/// --repeat rounds, each path once per round, so drift in the machine's
/// load touches every path alike. Fills runs[i] (msgs/s) per path.
bool run_throughput(const options& opt, const std::vector<path*>& paths,
                    const std::string& payload,
                    std::vector<std::vector<double>>& runs, results& res,
                    const std::string& what) {
  runs.assign(paths.size(), {});
  std::vector<uint64_t> next_id(paths.size(), 1000000);
  uint64_t t0 = 0, t1 = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    uint64_t warm = std::min<uint64_t>(20000, opt.n);
    auto got =
        paths[i]->pump(warm, next_id[i], opt.window, payload, 10000, t0, t1);
    next_id[i] += warm;
    if (got != warm) {
      res.fail(what + ": warm-up lost messages (" + std::to_string(got) + "/" +
               std::to_string(warm) + ")");
      return false;
    }
  }
  for (int r = 0; r < opt.repeat; ++r)
    for (size_t i = 0; i < paths.size(); ++i) {
      auto got = paths[i]->pump(opt.n, next_id[i], opt.window, payload,
                                opt.timeout_s * 1000, t0, t1);
      next_id[i] += opt.n;
      if (got != opt.n || t1 <= t0 || !paths[i]->alive()) {
        res.fail(what + ": a run lost messages or a process exited (" +
                 std::to_string(got) + "/" + std::to_string(opt.n) + ")");
        return false;
      }
      runs[i].push_back(double(opt.n) / (double(t1 - t0) / 1e9));
    }
  return true;
}

// -- link ---------------------------------------------------------------------

/// One link-layer round: a receiver process (raw ROUTER or Quilt listener)
/// and this process's sender (raw DEALER or Quilt link). msgs/s as the
/// receiver measured it, from its first message to its last; 0 on failure.
double link_round(const options& opt, bool quilt_side, uint64_t n,
                  const std::string& payload) {
  uint16_t port = free_port();
  auto rx = child::spawn({self_path(), "__link-recv",
                          quilt_side ? "quilt" : "raw", std::to_string(port),
                          std::to_string(n), std::to_string(opt.timeout_s)},
                         true);
  std::string line;
  if (!rx.read_line(line, 10000) || line != "ready")
    return 0;
  double result = 0;
  link_send(quilt_side, port, n, payload, [&] {
    if (rx.read_line(line, (opt.timeout_s + 5) * 1000) &&
        line.rfind("done ", 0) == 0)
      result = std::atof(line.c_str() + 5);
  });
  rx.wait(5000);
  return result;
}

/// One size's JSON figures of a path against its raw baseline: medians,
/// their ratio and every run.
json ratio_figures(const std::vector<double>& raw,
                   const std::vector<double>& quilt) {
  double r = median(raw), q = median(quilt);
  return {{"raw_msgs_per_s", std::round(r)},
          {"quilt_msgs_per_s", std::round(q)},
          {"ratio", round_to(q / r, 3)},
          {"raw_runs", list(raw)},
          {"quilt_runs", list(quilt)}};
}

void scenario_link(const options& opt, results& res) {
  std::printf("\n== link: a zmq_transport link -> listener against raw "
              "DEALER -> ROUTER, process to process over tcp loopback\n");
  json out = json::object();
  for (size_t size : opt.sizes) {
    std::string payload(size, 'x');
    std::vector<double> raw, quilt;
    // Warm-up round of each (discarded), then interleaved rounds.
    for (int r = -1; r < opt.repeat; ++r) {
      uint64_t n = r < 0 ? std::min<uint64_t>(opt.n, 50000) : opt.n;
      double a = link_round(opt, false, n, payload);
      double b = link_round(opt, true, n, payload);
      if (a <= 0 || b <= 0) {
        res.fail("link: a round did not complete (" + std::to_string(size) +
                 " B)");
        return;
      }
      if (r >= 0) {
        raw.push_back(a);
        quilt.push_back(b);
      }
    }
    double rm = median(raw), qm = median(quilt), ratio = qm / rm;
    std::printf("  %4zu B  raw %10.0f msgs/s  quilt link %10.0f msgs/s  "
                "ratio %.3f\n",
                size, rm, qm, ratio);
    out[std::to_string(size)] = ratio_figures(raw, quilt);
    add_row(res, opt,
            {"link, " + std::to_string(size) + " B", rate(rm), rate(qm),
             fmt("%.2f", ratio), "-", std::nullopt});
    check_min_ratio(res, opt, "link " + std::to_string(size) + " B", ratio);
  }
  res.doc["link"] = out;
}

// -- forward and chain --------------------------------------------------------

quiltd_options node_options(const options& opt) {
  return {opt.quiltd, opt.processors};
}

void scenario_forward(void* ctx, const options& opt, results& res) {
  std::printf("\n== forward: one quiltd node against a raw two-hop forwarder "
              "(ROUTER -> DEALER, frames untouched) and one raw hop\n");
  auto hop = path::raw(ctx, 0);
  auto fwd = path::raw(ctx, 1);
  auto node = path::quilt(ctx, 1, node_options(opt));
  if (!node) {
    res.fail("forward: the quiltd node did not come up");
    return;
  }
  json out = json::object();
  for (size_t size : opt.sizes) {
    std::string payload(size, 'x');
    std::vector<std::vector<double>> runs;
    if (!run_throughput(opt, {hop.get(), fwd.get(), node.get()}, payload, runs,
                        res, "forward " + std::to_string(size) + " B"))
      return;
    double h = median(runs[0]), f = median(runs[1]), q = median(runs[2]);
    std::printf("  %4zu B  one raw hop %10.0f  raw forwarder %10.0f  quiltd "
                "%10.0f msgs/s  quilt/forwarder %.3f  quilt/one hop %.3f\n",
                size, h, f, q, q / f, q / h);
    out[std::to_string(size)] = {{"raw_one_hop_msgs_per_s", std::round(h)},
                                 {"raw_forwarder_msgs_per_s", std::round(f)},
                                 {"quilt_msgs_per_s", std::round(q)},
                                 {"ratio_vs_forwarder", round_to(q / f, 3)},
                                 {"ratio_vs_one_hop", round_to(q / h, 3)},
                                 {"raw_one_hop_runs", list(runs[0])},
                                 {"raw_forwarder_runs", list(runs[1])},
                                 {"quilt_runs", list(runs[2])}};
    add_row(res, opt,
            {"forward, 1 node, " + std::to_string(size) + " B",
             rate(f) + " (1 hop: " + rate(h) + ")", rate(q), fmt("%.2f", q / f),
             ">= 0.95", q / f >= 0.95});
    check_min_ratio(res, opt, "forward " + std::to_string(size) + " B", q / f);
  }
  res.doc["forward"] = out;
}

void scenario_chain(void* ctx, const options& opt, results& res) {
  std::printf("\n== chain: 4 quiltd nodes in a line against 4 raw forwarders "
              "in a line\n");
  auto raw = path::raw(ctx, 4);
  auto nodes = path::quilt(ctx, 4, node_options(opt));
  if (!nodes) {
    res.fail("chain: the quiltd nodes did not come up");
    return;
  }
  json out = json::object();
  for (size_t size : opt.sizes) {
    std::string payload(size, 'x');
    std::vector<std::vector<double>> runs;
    if (!run_throughput(opt, {raw.get(), nodes.get()}, payload, runs, res,
                        "chain " + std::to_string(size) + " B"))
      return;
    double r = median(runs[0]), q = median(runs[1]);
    std::printf("  %4zu B  raw 4-forwarder chain %10.0f  4 quiltd %10.0f "
                "msgs/s  ratio %.3f\n",
                size, r, q, q / r);
    out[std::to_string(size)] = ratio_figures(runs[0], runs[1]);
    add_row(res, opt,
            {"chain, 4 nodes, " + std::to_string(size) + " B", rate(r), rate(q),
             fmt("%.2f", q / r), ">= 0.9", q / r >= 0.9});
    check_min_ratio(res, opt, "chain " + std::to_string(size) + " B", q / r);
  }
  res.doc["chain"] = out;
}

// -- ping ---------------------------------------------------------------------

void scenario_ping(void* ctx, const options& opt, results& res) {
  std::printf("\n== ping: round trips through 1 and 4 quiltd nodes against "
              "raw echo through as many raw forwarders\n");
  auto raw1 = path::raw(ctx, 1);
  auto raw4 = path::raw(ctx, 4);
  auto q1 = path::quilt(ctx, 1, node_options(opt));
  auto q4 = path::quilt(ctx, 4, node_options(opt));
  if (!q1 || !q4) {
    res.fail("ping: the quiltd nodes did not come up");
    return;
  }
  json out = json::object();
  int block = std::max(1, opt.pings / std::max(1, opt.repeat));
  for (size_t size : opt.sizes) {
    json per_size = json::object();
    for (auto [raw, node, label] :
         {std::make_tuple(raw1.get(), q1.get(), "direct"),
          std::make_tuple(raw4.get(), q4.get(), "4 hops")}) {
      std::vector<double> warm, rs, qs, r50, q50;
      if (!raw->pings(200, size, warm) || !node->pings(200, size, warm)) {
        res.fail(std::string{"ping "} + label +
                 ": a warm-up ping got no answer");
        return;
      }
      // Blocks of pings alternate between the two paths.
      for (int b = 0; b < std::max(1, opt.repeat); ++b) {
        std::vector<double> a, q;
        if (!raw->pings(block, size, a) || !node->pings(block, size, q)) {
          res.fail(std::string{"ping "} + label + ": a ping got no answer");
          return;
        }
        r50.push_back(percentile(a, 0.5));
        q50.push_back(percentile(q, 0.5));
        rs.insert(rs.end(), a.begin(), a.end());
        qs.insert(qs.end(), q.begin(), q.end());
      }
      double rp50 = percentile(rs, 0.5), rp99 = percentile(rs, 0.99);
      double qp50 = percentile(qs, 0.5), qp99 = percentile(qs, 0.99);
      std::printf("  %4zu B  %-7s raw echo p50 %7.1f p99 %7.1f us  quilt p50 "
                  "%7.1f p99 %7.1f us  ratio p50 %.2f p99 %.2f\n",
                  size, label, rp50, rp99, qp50, qp99, qp50 / rp50,
                  qp99 / rp99);
      std::string key = std::string{label} == "direct" ? "direct" : "hops4";
      per_size[key] = {{"raw_p50_us", round_to(rp50, 1)},
                       {"raw_p99_us", round_to(rp99, 1)},
                       {"quilt_p50_us", round_to(qp50, 1)},
                       {"quilt_p99_us", round_to(qp99, 1)},
                       {"ratio_p50", round_to(qp50 / rp50, 3)},
                       {"ratio_p99", round_to(qp99 / rp99, 3)},
                       {"samples", rs.size()},
                       {"raw_block_p50_us", list(r50, 1)},
                       {"quilt_block_p50_us", list(q50, 1)}};
      add_row(res, opt,
              {std::string{"ping "} + label + ", " + std::to_string(size) +
                   " B, p50 (p99)",
               fmt("%.0f", rp50) + fmt(" (%.0f) us", rp99),
               fmt("%.0f", qp50) + fmt(" (%.0f) us", qp99),
               fmt("%.2f", qp50 / rp50), "<= 1.2", qp50 / rp50 <= 1.2});
    }
    out[std::to_string(size)] = per_size;
  }
  res.doc["ping"] = out;
}

// -- quilt-sim runs
// -------------------------------------------------------------

/// Runs quilt-sim on `scenario_toml`; the parsed report, or null on failure
/// (with `why` set). `timeout_s` bounds the run.
json run_sim(const options& opt, const std::string& scenario_toml,
             int timeout_s, std::string& why, double& process_s,
             uint64_t& peak_rss) {
  char tmpl[] = "/tmp/quilt-bench-sim.XXXXXX";
  if (!mkdtemp(tmpl))
    die("mkdtemp failed");
  std::string dir = tmpl;
  std::string sc = dir + "/scenario.toml", rep = dir + "/report.json";
  {
    std::ofstream f{sc};
    f << scenario_toml;
  }
  auto cap = uint64_t(opt.sim_max_rss_gib * double(1ull << 30));
  uint64_t start = now_ns();
  auto sim =
      child::spawn({opt.quilt_sim, sc, "--report", rep}, false, true, cap);
  json report;
  // The report's peak_rss_bytes is getrusage's ru_maxrss, which Linux keeps
  // across exec: a child forked from this process starts with this
  // process's size. VmHWM of the running program is its own, so it is
  // sampled until the program ends.
  peak_rss = 0;
  uint64_t deadline = start + uint64_t(timeout_s) * 1000000000u;
  auto self = self_path();
  auto exe_link = "/proc/" + std::to_string(sim.pid()) + "/exe";
  while (sim.running() && now_ns() < deadline) {
    // Between fork and exec the child is a copy of this process: skip it.
    char buf[4096];
    ssize_t n = readlink(exe_link.c_str(), buf, sizeof(buf) - 1);
    if (n > 0 && std::string(buf, size_t(n)) != self)
      peak_rss = std::max(peak_rss, hwm_bytes(sim.pid()));
    usleep(5000);
  }
  if (sim.running()) {
    sim.stop(SIGKILL, 1000);
    why = "no report within " + std::to_string(timeout_s) + " s";
  } else {
    process_s = double(now_ns() - start) / 1e9;
    std::ifstream in{rep};
    if (!in) {
      why = "quilt-sim exited without a report (status " +
            std::to_string(WEXITSTATUS(sim.status())) + ")";
    } else {
      try {
        in >> report;
        if (WEXITSTATUS(sim.status()) != 0) {
          why = "an expectation failed (exit 1)";
          for (auto& e : report["events"])
            if (!e["ok"].get<bool>())
              why += "; " + e["action"].get<std::string>() + " at " +
                     std::to_string(e["at_ms"].get<uint64_t>()) +
                     " ms: " + e["detail"].get<std::string>();
          if (report["converged_ms"].is_null())
            why += "; routes never converged";
        }
      } catch (const std::exception& e) {
        why = std::string{"unreadable report: "} + e.what();
        report = json{};
      }
    }
  }
  unlink(sc.c_str());
  unlink(rep.c_str());
  rmdir(dir.c_str());
  return report;
}

uint64_t msg_count(const json& report, const char* command) {
  if (!report.contains("messages") || !report["messages"].contains(command))
    return 0;
  return report["messages"][command].get<uint64_t>();
}

// -- broadcast
// ------------------------------------------------------------------

void scenario_broadcast(const options& opt, results& res) {
  std::printf("\n== broadcast: transmissions per broadcast once routes are "
              "settled (quilt-sim, inproc ZeroMQ, the real node actors), "
              "against N-1 and flooding\n");
  struct mesh {
    const char* name;
    const char* kind;
    size_t nodes;
    const char* extra;
  };
  const mesh meshes[] = {{"ring", "ring", 32, ""},
                         {"grid", "grid", 64, "width = 8\n"},
                         {"random", "random", 48, "degree = 4\n"}};
  json out = json::object();
  for (const auto& m : meshes) {
    std::ostringstream toml;
    toml << "[simulation]\nseed = 7\ntransport = \"inproc\"\nsettle_ms = 300\n"
         << "\n[defaults]\nheartbeat_ms = 100\ndead_after_ms = 1000\n"
         << "\n[topology]\nkind = \"" << m.kind << "\"\nnodes = " << m.nodes
         << "\n"
         << m.extra;
    // Routes count as settled after two heartbeats without change; the
    // first broadcast goes out 1 s (ten heartbeats) after full routes.
    for (int b = 0; b < opt.broadcasts; ++b)
      toml << "\n[[events]]\nat_ms = " << 1000 + 100 * b
           << "\naction = \"broadcast\"\nfrom = \"n"
           << (size_t(b) * m.nodes / size_t(opt.broadcasts)) % m.nodes
           << "\"\ntext = \"" << std::string(16, 'b')
           << "\"\nexpect = \"all\"\n";
    std::vector<double> per_bcast;
    uint64_t links = 0;
    for (int r = 0; r < opt.broadcast_repeat; ++r) {
      std::string why;
      double secs = 0;
      uint64_t peak = 0;
      auto report = run_sim(opt, toml.str(), 120, why, secs, peak);
      if (report.is_null() || !why.empty()) {
        res.fail(std::string{"broadcast "} + m.name + ": " + why);
        return;
      }
      if (report["duplicate_deliveries"].get<uint64_t>() != 0) {
        res.fail(std::string{"broadcast "} + m.name + ": duplicate deliveries");
        return;
      }
      links = report["links"].get<uint64_t>();
      per_bcast.push_back(double(msg_count(report, "msg")) / opt.broadcasts);
    }
    double n1 = double(m.nodes - 1);
    double flood = 2.0 * double(links) - n1;
    double q = median(per_bcast);
    std::printf("  %-6s N=%zu L=%" PRIu64 "  minimum N-1 %.0f  flooding "
                "2L-(N-1) %.0f  quilt %.1f transmissions per broadcast  "
                "quilt/(N-1) %.3f  quilt/flooding %.3f\n",
                m.name, m.nodes, links, n1, flood, q, q / n1, q / flood);
    out[m.name] = {{"nodes", m.nodes},
                   {"links", links},
                   {"minimum", n1},
                   {"flooding", flood},
                   {"quilt_per_broadcast", round_to(q, 2)},
                   {"ratio_vs_minimum", round_to(q / n1, 3)},
                   {"ratio_vs_flooding", round_to(q / flood, 3)},
                   {"broadcasts_per_run", opt.broadcasts},
                   {"quilt_runs", list(per_bcast, 2)}};
    add_row(res, opt,
            {std::string{"broadcast, "} + m.name + " of " +
                 std::to_string(m.nodes) + ", copies per broadcast",
             fmt("N-1 = %.0f", n1) + fmt(" (flooding %.0f)", flood),
             fmt("%.1f", q), fmt("%.3f", q / n1), "<= 1.05", q / n1 <= 1.05});
  }
  res.doc["broadcast"] = out;
}

// -- startup
// ----------------------------------------------------------------------

/// Starts `argv` (which listens on `port`) and times it to the first pong on
/// a ROUTER of ours, after a server_connect and a ping queued on a DEALER
/// that redials every millisecond. Also reads the process's RSS then.
bool one_start(void* ctx, const std::vector<std::string>& argv, uint16_t port,
               const std::string& target, double& ms, uint64_t& rss) {
  void* r = zmq_socket(ctx, ZMQ_ROUTER);
  set_int(r, ZMQ_LINGER, 0);
  if (zmq_bind(r, "tcp://127.0.0.1:*") != 0)
    die("cannot bind");
  uint16_t back = bound_port(r);
  void* d = zmq_socket(ctx, ZMQ_DEALER);
  zmq_setsockopt(d, ZMQ_ROUTING_ID, "bench-b", 7);
  set_int(d, ZMQ_LINGER, 0);
  set_int(d, ZMQ_RECONNECT_IVL, 1);
  auto ep = "tcp://127.0.0.1:" + std::to_string(port);
  zmq_connect(d, ep.c_str());
  send_frames(d, {target, "server_connect", "bench-b", "1", "1", "127.0.0.1",
                  std::to_string(back), "quilt/1"});
  uint64_t t0 = now_ns();
  auto proc = child::spawn(argv, false);
  uint64_t id = 2, next_ping = 0;
  bool got = false;
  frames f;
  while (!got && now_ns() - t0 < 10000000000u && proc.running()) {
    if (now_ns() >= next_ping) {
      // A ping every 20 ms: the first answered one ends the wait.
      send_frames(
          d, {target, "ping", "bench-b", std::to_string(id++), "8", "start"});
      next_ping = now_ns() + 20000000u;
    }
    wait_readable(r, 1);
    while (recv_frames(r, f, ZMQ_DONTWAIT))
      if (f.size() >= 8 && f[2] == "pong") {
        ms = double(now_ns() - t0) / 1e6;
        got = true;
      }
  }
  if (got)
    rss = rss_bytes(proc.pid());
  proc.stop();
  zmq_close(d);
  zmq_close(r);
  return got;
}

void scenario_startup(void* ctx, const options& opt, results& res) {
  std::printf("\n== startup: process start to first pong, quiltd against a "
              "raw libzmq responder (this program's __raw-node)\n");
  char tmpl[] = "/tmp/quilt-bench-start.XXXXXX";
  if (!mkdtemp(tmpl))
    die("mkdtemp failed");
  std::string dir = tmpl, file = dir + "/a.toml";
  std::vector<double> raw, quilt;
  std::vector<double> raw_rss, quilt_rss;
  bool ok = true;
  for (int i = -1; i < opt.startups && ok; ++i) {
    uint16_t port = free_port();
    {
      std::ofstream toml{file};
      toml << "[node]\nname = \"bench-a\"\nhost = \"127.0.0.1\"\nport = "
           << port << "\n";
      if (opt.processors > 0)
        toml << "processors = " << opt.processors << "\n";
      toml << "\n[console]\nport = 0\n\n[log]\nlevel = \"warning\"\n";
    }
    double a = 0, b = 0;
    uint64_t ra = 0, rb = 0;
    ok = one_start(ctx, {self_path(), "__raw-node", std::to_string(port)}, port,
                   "bench-a", a, ra);
    port = free_port();
    {
      std::ofstream toml{file};
      toml << "[node]\nname = \"bench-a\"\nhost = \"127.0.0.1\"\nport = "
           << port << "\n";
      if (opt.processors > 0)
        toml << "processors = " << opt.processors << "\n";
      toml << "\n[console]\nport = 0\n\n[log]\nlevel = \"warning\"\n";
    }
    ok = ok && one_start(ctx, {opt.quiltd, file}, port, "bench-a", b, rb);
    if (ok && i >= 0) { // the first start of each warms the page cache
      raw.push_back(a);
      quilt.push_back(b);
      raw_rss.push_back(double(ra) / 1048576.0);
      quilt_rss.push_back(double(rb) / 1048576.0);
    }
  }
  unlink(file.c_str());
  rmdir(dir.c_str());
  if (!ok) {
    res.fail("startup: a process never answered its ping within 10 s");
    return;
  }
  double rm = median(raw), qm = median(quilt);
  std::printf("  raw responder %.2f ms (RSS %.1f MiB)  quiltd %.2f ms (RSS "
              "%.1f MiB)  ratio %.2f\n",
              rm, median(raw_rss), qm, median(quilt_rss), qm / rm);
  res.doc["startup"] = {{"raw_ms", round_to(rm, 2)},
                        {"quilt_ms", round_to(qm, 2)},
                        {"ratio", round_to(qm / rm, 3)},
                        {"raw_rss_mib", round_to(median(raw_rss), 1)},
                        {"quilt_rss_mib", round_to(median(quilt_rss), 1)},
                        {"raw_runs_ms", list(raw, 2)},
                        {"quilt_runs_ms", list(quilt, 2)}};
  add_row(res, opt,
          {"startup, start to first pong", fmt("%.1f ms", rm),
           fmt("%.1f ms", qm), fmt("%.2f", qm / rm), "< 50 ms", qm < 50});
}

// -- memory
// -----------------------------------------------------------------------

/// One memory worker: RSS per node beyond the process's baseline, in bytes;
/// negative on failure.
double memory_round(const std::string& kind, size_t n, std::string& why) {
  auto w =
      child::spawn({self_path(), "__memory", kind, std::to_string(n)}, true);
  std::string line;
  uint64_t base = 0, idle = 0;
  while (w.read_line(line, 90000)) {
    if (line.rfind("base ", 0) == 0)
      base = std::strtoull(line.c_str() + 5, nullptr, 10);
    else if (line.rfind("idle ", 0) == 0) {
      idle = std::strtoull(line.c_str() + 5, nullptr, 10);
      break;
    } else if (line.rfind("error ", 0) == 0) {
      why = line.substr(6);
      break;
    }
  }
  w.wait(5000);
  if (idle == 0 || base == 0) {
    if (why.empty())
      why = "the worker did not report";
    return -1;
  }
  return (double(idle) - double(base)) / double(n);
}

void scenario_memory(const options& opt, results& res) {
  std::printf("\n== memory: RSS per idle node beyond the process's baseline, "
              "%zu nodes on a ring over tcp in one process\n",
              opt.memory_nodes);
  std::vector<double> raw, quilt;
  int rounds = std::min(3, std::max(1, opt.repeat));
  for (int r = 0; r < rounds; ++r) {
    std::string why;
    double a = memory_round("raw", opt.memory_nodes, why);
    double b = a < 0 ? -1 : memory_round("quilt", opt.memory_nodes, why);
    if (a < 0 || b < 0) {
      res.fail("memory: " + why);
      return;
    }
    raw.push_back(a / 1024);
    quilt.push_back(b / 1024);
  }
  double rm = median(raw), qm = median(quilt);
  std::printf("  raw sockets %.1f KiB/node  quilt node %.1f KiB/node  ratio "
              "%.2f\n",
              rm, qm, qm / rm);
  res.doc["memory"] = {{"nodes", opt.memory_nodes},
                       {"raw_kib_per_node", round_to(rm, 1)},
                       {"quilt_kib_per_node", round_to(qm, 1)},
                       {"ratio", round_to(qm / rm, 3)},
                       {"raw_runs_kib", list(raw, 1)},
                       {"quilt_runs_kib", list(quilt, 1)}};
  add_row(
      res, opt,
      {"memory, idle node (ring of " + std::to_string(opt.memory_nodes) + ")",
       fmt("%.0f KiB", rm), fmt("%.0f KiB", qm), fmt("%.2f", qm / rm),
       "< 1 MiB", qm < 1024});
}

// -- sim
// ----------------------------------------------------------------------------

void scenario_sim(const options& opt, results& res) {
  std::printf("\n== sim: quilt-sim on random meshes of degree 4 (heartbeat "
              "1 s): time to full routes and peak RSS per node; no raw "
              "baseline\n");
  // The largest size each transport runs at: ZeroMQ needs file
  // descriptors and ports per node; real-time direct links run 10,000
  // within the process's byte budget (README, "How far it scales").
  auto limit = [](const std::string& t) -> size_t {
    if (t == "inproc" || t == "tcp")
      return 1000;
    if (t == "direct")
      return 10000;
    if (t != "deterministic")
      return 3000; // the model's cost shows at 1,000 nodes already
    return 100000;
  };
  std::mt19937 rng{std::random_device{}()};
  json rows = json::array();
  std::map<size_t, double> det_wall;
  for (size_t n : opt.sim_sizes)
    for (const auto& t : opt.sim_transports) {
      if (n > limit(t))
        continue;
      // Deterministic variants: the same run with the report's timeline,
      // and under the network model (SPEC §13), to show what each costs.
      bool det = t == "deterministic" || t.rfind("det+", 0) == 0;
      std::string extra;
      if (t == "det+20ms" || t == "det+20ms+1%")
        extra = "\n[network]\nlatency_ms = 20\n";
      // Copies of a lost broadcast or ping are not sent again (yet): a
      // lossy run states no expectations, it measures.
      bool lossy = t == "det+20ms+1%";
      if (lossy)
        extra += "loss = 0.01\n";
      size_t base = t == "tcp" ? 20000 + rng() % (32767 - 20000 - n) : 30000;
      std::ostringstream toml;
      toml << "[simulation]\nseed = " << n << "\ntransport = \""
           << (det ? "direct" : t)
           << "\"\ndeterministic = " << (det ? "true" : "false")
           << "\nsettle_ms = 500\nsample_ms = "
           << (t == "det+timeline" ? 100 : 0) << "\nbase_port = " << base
           << "\n\n[defaults]\nheartbeat_ms = 1000\n"
           << "dead_after_ms = 5000\n\n[topology]\nkind = \"random\"\nnodes = "
           << n << "\ndegree = 4\n" << extra
           << "\n[[events]]\nat_ms = 0\naction = \"ping\"\n"
           << "from = \"n0\"\nto = \"n" << n - 1 << "\"\n"
           << (lossy ? "" : "expect = \"delivered\"\n")
           << "\n[[events]]\nat_ms = 100\naction = \"broadcast\"\nfrom = \"n"
           << n / 2 << "\"\ntext = \"bench\"\n"
           << (lossy ? "" : "expect = \"all\"\n");
      std::string why;
      double secs = 0;
      uint64_t peak = 0;
      auto report =
          run_sim(opt, toml.str(), n >= 10000 ? 900 : 300, why, secs, peak);
      if (report.is_null() || !why.empty()) {
        res.fail("sim " + std::to_string(n) + " " + t + ": " + why);
        rows.push_back({{"nodes", n}, {"transport", t}, {"outcome", why}});
        continue;
      }
      if (opt.sim_rss_gib > 0
          && double(peak) > opt.sim_rss_gib * double(1ull << 30))
        res.fail("sim " + std::to_string(n) + " " + t + ": peak RSS "
                 + fmt("%.2f", double(peak) / double(1ull << 30))
                 + " GiB, above " + fmt("%.1f", opt.sim_rss_gib) + " GiB");
      uint64_t sent = 0;
      for (auto& item : report["messages"].items())
        sent += item.value().get<uint64_t>();
      double conv = report["converged_ms"].is_null()
                        ? -1
                        : report["converged_ms"].get<double>();
      double rss_kib = double(peak) / double(n) / 1024;
      std::printf("  %6zu nodes %-13s converged %8.0f ms%s  wall %7.2f s  "
                  "peak RSS %7.1f KiB/node  %8.1f msgs/node\n",
                  n, t.c_str(), conv, det ? " virtual" : "", secs, rss_kib,
                  double(sent) / double(n));
      // The model's and the timeline's cost: wall time against the plain
      // deterministic run of the same size (run first, same process).
      if (t == "deterministic")
        det_wall[n] = secs;
      std::optional<double> vs_det;
      if (t != "deterministic" && det && det_wall.count(n) > 0)
        vs_det = secs / det_wall[n];
      if (vs_det)
        std::printf("  %6zu nodes %-13s wall %.2fx the plain deterministic "
                    "run\n", n, t.c_str(), *vs_det);
      rows.push_back({{"nodes", n},
                      {"transport", t},
                      {"outcome", "ok"},
                      {"converged_ms", conv},
                      {"wall_ms", report["wall_ms"]},
                      {"process_wall_s", round_to(secs, 2)},
                      {"peak_rss_bytes", peak},
                      {"report_peak_rss_bytes", report["peak_rss_bytes"]},
                      {"rss_per_node_kib", round_to(rss_kib, 1)},
                      {"messages_per_node", round_to(double(sent) / n, 1)},
                      {"wall_vs_deterministic",
                       vs_det ? json(round_to(*vs_det, 2)) : json(nullptr)}});
      add_row(res, opt,
              {"sim, " + std::to_string(n) + " nodes, " + t +
                   ", converge / peak RSS per node",
               "-",
               fmt("%.0f ms", conv) + (det ? " virtual" : "") +
                   fmt(" / %.0f KiB", rss_kib),
               "-", "-", std::nullopt});
    }
  res.doc["sim"] = rows;
}

// -- main
// -----------------------------------------------------------------------------

void on_signal(int) {
  stop_all_children();
  _exit(130);
}

double loadavg1() {
  std::ifstream in{"/proc/loadavg"};
  double x = 0;
  in >> x;
  return x;
}

int run(int argc, char** argv) {
  options opt;
  if (auto e = std::getenv("QUILTD"))
    opt.quiltd = e;
  if (auto e = std::getenv("QUILT_SIM"))
    opt.quilt_sim = e;
  bool sim_10k = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc)
        usage(2);
      return argv[++i];
    };
    try {
      if (a == "--quiltd")
        opt.quiltd = next();
      else if (a == "--quilt-sim")
        opt.quilt_sim = next();
      else if (a == "--size") {
        opt.sizes.clear();
        for (auto& s : split(next()))
          opt.sizes.push_back(std::stoul(s));
      } else if (a == "-n" || a == "--count")
        opt.n = std::stoull(next());
      else if (a == "--repeat")
        opt.repeat = std::stoi(next());
      else if (a == "--window")
        opt.window = std::stoull(next());
      else if (a == "--pings")
        opt.pings = std::stoi(next());
      else if (a == "--startups")
        opt.startups = std::stoi(next());
      else if (a == "--memory-nodes")
        opt.memory_nodes = std::stoul(next());
      else if (a == "--broadcasts")
        opt.broadcasts = std::stoi(next());
      else if (a == "--sim-sizes") {
        opt.sim_sizes.clear();
        for (auto& s : split(next()))
          opt.sim_sizes.push_back(std::stoul(s));
      } else if (a == "--sim-10k")
        sim_10k = true;
      else if (a == "--sim-rss-gib")
        opt.sim_rss_gib = std::stod(next());
      else if (a == "--sim-transports")
        opt.sim_transports = split(next());
      else if (a == "--processors")
        opt.processors = std::stoi(next());
      else if (a == "--timeout-s")
        opt.timeout_s = std::stoi(next());
      else if (a == "--min-ratio")
        opt.min_ratio = std::stod(next());
      else if (a == "--check-targets")
        opt.check_targets = true;
      else if (a == "--markdown")
        opt.markdown = true;
      else if (a == "-h" || a == "--help")
        usage(0);
      else if (!a.empty() && a[0] != '-')
        opt.scenarios.push_back(a);
      else
        usage(2);
    } catch (const std::exception&) {
      usage(2);
    }
  }
  const std::vector<std::string> known{"link",      "forward", "chain",  "ping",
                                       "broadcast", "startup", "memory", "sim"};
  std::vector<std::string> chosen;
  for (auto& s : opt.scenarios) {
    if (s == "all") {
      chosen = known;
      continue;
    }
    if (std::find(known.begin(), known.end(), s) == known.end()) {
      std::fprintf(stderr, "quilt-bench: unknown scenario %s\n", s.c_str());
      usage(2);
    }
    if (std::find(chosen.begin(), chosen.end(), s) == chosen.end())
      chosen.push_back(s);
  }
  if (chosen.empty())
    usage(2);
  if (sim_10k)
    opt.sim_sizes.push_back(10000);
  for (size_t s : opt.sizes)
    if (s == 0 || s > 60000)
      usage(2);
  if (opt.n < 2 || opt.repeat <= 0 || opt.window == 0 || opt.pings <= 0 ||
      opt.startups <= 0 || opt.memory_nodes < 3 || opt.broadcasts <= 0 ||
      opt.timeout_s <= 0)
    usage(2);
  if (opt.quiltd.empty())
    opt.quiltd = sibling("../apps/quiltd/quiltd");
  if (opt.quilt_sim.empty())
    opt.quilt_sim = sibling("../apps/quilt-sim/quilt-sim");
  auto needs = [&](const char* s) {
    return std::find(chosen.begin(), chosen.end(), s) != chosen.end();
  };
  if ((needs("forward") || needs("chain") || needs("ping") ||
       needs("startup")) &&
      access(opt.quiltd.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "quilt-bench: no quiltd at %s (--quiltd PATH)\n",
                 opt.quiltd.c_str());
    return 2;
  }
  if ((needs("broadcast") || needs("sim")) &&
      access(opt.quilt_sim.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "quilt-bench: no quilt-sim at %s (--quilt-sim PATH)\n",
                 opt.quilt_sim.c_str());
    return 2;
  }

  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  results res;
  utsname u{};
  uname(&u);
  std::time_t t = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  double load_start = loadavg1();
  std::printf("quilt-bench: %s, %ld cores, load average %.2f at start; %" PRIu64
              " messages per run, %d runs after a warm-up, window %" PRIu64
              "\n",
              when, cores, load_start, opt.n, opt.repeat, opt.window);
  std::fflush(stdout);
  json sizes = json::array();
  for (size_t s : opt.sizes)
    sizes.push_back(s);
  res.doc["machine"] = {{"time", when},
                        {"cores", cores},
                        {"kernel", u.release},
                        {"load_avg_1min_start", load_start}};
  res.doc["options"] = {{"n", opt.n},
                        {"repeat", opt.repeat},
                        {"window", opt.window},
                        {"sizes", sizes},
                        {"pings", opt.pings},
                        {"startups", opt.startups},
                        {"memory_nodes", opt.memory_nodes},
                        {"broadcasts", opt.broadcasts},
                        {"processors", opt.processors}};
  void* ctx = zmq_ctx_new();
  for (auto& s : chosen) {
    uint64_t t0 = now_ns();
    if (s == "link")
      scenario_link(opt, res);
    else if (s == "forward")
      scenario_forward(ctx, opt, res);
    else if (s == "chain")
      scenario_chain(ctx, opt, res);
    else if (s == "ping")
      scenario_ping(ctx, opt, res);
    else if (s == "broadcast")
      scenario_broadcast(opt, res);
    else if (s == "startup")
      scenario_startup(ctx, opt, res);
    else if (s == "memory")
      scenario_memory(opt, res);
    else if (s == "sim")
      scenario_sim(opt, res);
    std::printf("  (%s took %.1f s)\n", s.c_str(), double(now_ns() - t0) / 1e9);
    std::fflush(stdout);
  }
  zmq_ctx_term(ctx);
  res.doc["machine"]["load_avg_1min_end"] = loadavg1();

  json targets = json::array();
  for (auto& r : res.rows)
    if (r.met)
      targets.push_back(
          {{"figure", r.scenario}, {"target", r.target}, {"met", *r.met}});
  res.doc["targets"] = targets;
  res.doc["completed"] = res.ok;
  res.doc["failures"] = res.failures;
  if (opt.markdown) {
    std::printf("\nMeasured %s on %ld cores (load average %.2f at start, %.2f "
                "at end):\n\n",
                when, cores, load_start,
                res.doc["machine"]["load_avg_1min_end"].get<double>());
    std::printf("| scenario | raw libzmq | Quilt | ratio | target |\n"
                "|---|---:|---:|---:|---|\n");
    for (auto& r : res.rows)
      std::printf("| %s | %s | %s | %s | %s%s |\n", r.scenario.c_str(),
                  r.raw.c_str(), r.quilt.c_str(), r.ratio.c_str(),
                  r.target.c_str(),
                  !r.met   ? ""
                  : *r.met ? " (met)"
                           : " (**missed**)");
    std::printf("\n");
  }
  for (auto& f : res.failures)
    std::fprintf(stderr, "quilt-bench: %s\n", f.c_str());
  std::printf("QUILT_BENCH_JSON %s\n", res.doc.dump().c_str());
  std::fflush(stdout);
  stop_all_children();
  return res.ok && res.checks_ok ? 0 : 1;
}

} // namespace
} // namespace bench

int main(int argc, char** argv) {
  if (argc >= 2 && std::string{argv[1]}.rfind("__", 0) == 0)
    return bench::run_helper(std::vector<std::string>(argv + 1, argv + argc));
  return bench::run(argc, argv);
}
