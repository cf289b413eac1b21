// Simulation scenarios (SPEC §9, §13): a quilt-sim TOML file -> scenario.
//
// [defaults] goes through the node configuration's own checks
// (config_keys::read_section with key_set::tunables, then check_timing), so
// its keys have SPEC §7's ranges and messages. The other sections are
// checked here in the same style: "FILE:LINE: what is wrong", the problem on
// the earliest line reported (config_keys::problems), "X must be an
// integer, got string", "unknown key 'k' in [simulation]".
//
// Order of work: parse the TOML; sort the top-level entries into sections;
// read [simulation] (then apply --seed), [defaults], [topology] (generating
// the graph), [[nodes]] and [[links]] (building an explicit graph),
// [network] and [[network.links]] against the graph, the checks across
// sections (deterministic, tcp ports, the network's transport), and
// [[events]] against the resolved graph. Every problem is recorded; the
// earliest is reported.
//
// Rules SPEC §9 and §13 leave open, and what we chose:
//
//  1. Top level: only [simulation], [defaults], [topology], [[nodes]],
//     [[links]], [[events]] and [network] (with [[network.links]] inside
//     it). Another table is "unknown section [x]" (or
//     [[x]]), another key "unknown key 'x' outside any section", with
//     "(it belongs in [s])" when it is a key of a scenario section. An
//     unknown key in a section gets the same hint when it belongs to another.
//  2. [topology] is required ("FILE: [topology] is missing"): without it
//     there are no nodes. Every other section may be left out.
//  3. Names of choices (transport, kind, action, expect) are matched
//     exactly, lower case (log levels alone accept any case, SPEC §7).
//  4. simulation.seed: any TOML integer >= 0 (0..2^63-1). --seed replaces
//     it, after the file's value has been checked; any 64-bit value.
//     settle_ms: 0..3600000 (an hour). base_port: 1..65535.
//  5. deterministic = true needs transport = "direct", also when transport
//     is left at its default; the error names the deterministic line.
//  6. transport = "tcp": node i listens on base_port + i, so base_port +
//     nodes - 1 must be at most 65535. The error names base_port's line;
//     with base_port left at its default, the topology.nodes line
//     (generators) or the [[nodes]] entry of the first node left without a
//     port (explicit). Other transports are not held to it.
//  7. [defaults] starts from processors = 1 (SPEC §9's example), every other
//     key at its SPEC §7 default. dead_after_ms against heartbeat_ms is
//     checked only when the section has no other problem (an invalid value
//     is not stored).
//  8. topology.kind is required. topology.nodes (1..100000) is required by
//     the generators and refused for kind = "explicit". degree (random),
//     width (grid) and m (scale-free) are required by their kind; degree and
//     m are 1..nodes-1 (any value >= 1 for a single node), width
//     1..100000. Keys of another kind are accepted and ignored, as in
//     SPEC's own example, but must be integers.
//  9. A generated topology may have at most max_scenario_links (1000000)
//     links: full, random and scale-free can ask for more. The error names
//     the key that makes it too many (full: nodes; random: degree;
//     scale-free: m).
// 10. kind = "explicit": [[nodes]] must list at least one node (the error
//     names the kind line); names are valid node names (SPEC §2) and
//     unique. [[links]] a and b name [[nodes]] entries, differ, and each
//     link is listed once whichever way round (the duplicate's [[links]]
//     line is named). An explicit graph need not be connected: a scenario
//     may start partitioned. [[nodes]] or [[links]] with a generator: an
//     error at each entry.
// 11. [[events]]: at_ms 0..86400000 (a day) and action are required; from,
//     to, node, text, a, b are strings, side an array of strings, expect
//     delivered | unreachable | all. ping, traceroute and send need from
//     and to; broadcast from; kill and restart node; cut and heal a and b;
//     partition side; heal_all nothing; text may be left out (""). Keys the
//     action does not use are accepted and ignored, as in SPEC's example,
//     but type-checked. The names the action uses must be nodes of the
//     topology (n0..n{N-1} for generators); to cannot be all or * (that is
//     action = "broadcast"); from and to differ; cut/heal's a-b must be a
//     link of the topology (a and b the same node is said so); a partition's
//     side is non-empty, without repeats, and not every node. expect
//     delivered / unreachable is for ping, traceroute and send, all for
//     broadcast; the error names the expect line. A problem is reported on
//     the line of the key at fault (b's line for a pair, the entry's for a
//     missing key).
// 12. The loader does not run the scenario: killing a dead node, restarting
//     a live one or cutting a cut link are accepted (their outcome belongs
//     to the run's report).
// 13. A missing required key is reported at its table's header, except in a
//     table that has an unknown key: a misspelt key is reported rather than
//     the missing key it causes (as [[peers]] in the node config).
// 14. A check that depends on another value runs only when that value is
//     valid (names against a topology that is not, links to a [[nodes]]
//     entry that was itself rejected), so a mistake is reported once, where
//     it is.
// 15. A missing file says "FILE: cannot open: REASON", an unreadable one
//     "FILE: cannot read: REASON", a TOML syntax error "FILE:LINE: TOML
//     syntax error in ...", all worded as by load_node_config (shared
//     code: config_keys::read_file and syntax_error).
// 16. Inline tables and arrays of them (events = [{...}]) get the same
//     checks as [[events]] headers; an entry's line is its header's (or its
//     '{').
// 17. Events are sorted by at_ms, stably: file order for equal times.
// 18. simulation.sample_ms: 0 (no timeline) or 10..60000, default 100;
//     1..9 is rejected with the same range in the message.
// 19. [network] takes latency_ms and jitter_ms (0..60000), loss (0.0..1.0)
//     and bandwidth_kbps (0..10000000), each optional, and links; the same
//     four keys, with the same ranges, in [[network.links]] and degrade
//     events. loss is a TOML float; an integer 0 or 1 is accepted too
//     (loss = 1 is as plain as loss = 1.0), other integers are out of
//     range; nan and inf are out of range. A wrong type says "must be a
//     number". An unknown key or sub-table in [network] is "unknown key
//     'x' in [network]", with rule 1's hint.
// 20. [[network.links]]: a and b are required (rule 13), name nodes of the
//     topology, differ, and are a link of it (as a cut's a and b, with the
//     same messages and lines); at least one of the four keys is required,
//     reported at the entry's header ("needs one of ..."). A link listed
//     twice, either way round, names the line of its first entry. Only the
//     keys given are stored (network_link::change); the others follow
//     [network]. network.links that is not an array of tables is an error
//     at the links key.
// 21. network_model::given is true when the file has [network] at all,
//     also empty or with only [[network.links]].
// 22. The network model is for transport = "direct" (SPEC §13): with
//     another transport (also the default inproc), [network] is an error at
//     its header (or its first [[network.links]] entry when it has no
//     header of its own), each [[network.links]] entry at its header, and a
//     degrade event at its action key: "... needs transport = \"direct\"".
//     stall is not a link key: the conditioned transport wraps every
//     transport, so it is accepted on all of them.
// 23. Events: within_ms (1..600000, default 2000) on every action, checked
//     and stored for each. degrade: a and b both or neither (one alone is
//     a missing key, reported at the entry); given, they are a link of the
//     topology as for cut; at least one of the four keys, stored in
//     sim_event::change. stall: node (a node of the topology) and
//     duration_ms (1..600000) are required. As rule 11, keys an action does
//     not use (the four on anything but degrade, duration_ms on anything but
//     stall) are accepted, ignored (not stored: change stays empty,
//     duration_ms 0) and type-checked only.

#include "quilt/scenario.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include "quilt/config_keys.hpp"
#include "quilt/name.hpp"

namespace quilt {

namespace {

using config_keys::problems;
using config_keys::quoted;
using config_keys::type_name;

/// Concatenates strings, string views and C strings.
template <class... Ts> std::string cat(const Ts&... xs) {
  std::string result;
  (result.append(std::string_view{xs}), ...);
  return result;
}

std::string num(int64_t x) {
  return std::to_string(x);
}

std::string num(uint64_t x) {
  return std::to_string(x);
}

uint32_t line_of(const toml::node& x) {
  return x.source().begin.line;
}

uint32_t line_of(const toml::key& k, const toml::node& x) {
  auto line = k.source().begin.line;
  return line != 0 ? line : line_of(x);
}

// -- names --------------------------------------------------------------------

constexpr std::array<const char*, 3> transport_names = {"inproc", "tcp",
                                                        "direct"};

constexpr std::array<const char*, 12> action_names = {
    "ping", "traceroute", "send",      "broadcast", "kill",    "restart",
    "cut",  "heal",       "partition", "heal_all",  "degrade", "stall"};

constexpr std::array<const char*, 4> expect_names = {"none", "delivered",
                                                     "unreachable", "all"};

constexpr std::array<const char*, 8> kind_names = {
    "explicit", "line", "ring", "star", "grid", "full", "random", "scale-free"};

enum kind_index : size_t {
  kind_explicit,
  kind_line,
  kind_ring,
  kind_star,
  kind_grid,
  kind_full,
  kind_random,
  kind_scale_free,
};

/// "a, b, c" from names[first..].
template <size_t N>
std::string list(const std::array<const char*, N>& names, size_t first = 0) {
  std::string result;
  for (size_t i = first; i < N; ++i) {
    if (i > first)
      result += ", ";
    result += names[i];
  }
  return result;
}

/// Every key of every scenario section, for "(it belongs in [s])" hints.
constexpr std::pair<std::string_view, std::string_view> all_keys[] = {
    {"[simulation]", "seed"},
    {"[simulation]", "transport"},
    {"[simulation]", "deterministic"},
    {"[simulation]", "settle_ms"},
    {"[simulation]", "base_port"},
    {"[simulation]", "sample_ms"},
    {"[defaults]", "processors"},
    {"[defaults]", "heartbeat_ms"},
    {"[defaults]", "dead_after_ms"},
    {"[defaults]", "default_ttl"},
    {"[defaults]", "max_message_bytes"},
    {"[defaults]", "queue_limit"},
    {"[defaults]", "delivery_timeout_ms"},
    {"[topology]", "kind"},
    {"[topology]", "nodes"},
    {"[topology]", "degree"},
    {"[topology]", "width"},
    {"[topology]", "m"},
    {"[[nodes]]", "name"},
    {"[[links]]", "a"},
    {"[[links]]", "b"},
    {"[[events]]", "at_ms"},
    {"[[events]]", "action"},
    {"[[events]]", "from"},
    {"[[events]]", "to"},
    {"[[events]]", "node"},
    {"[[events]]", "text"},
    {"[[events]]", "a"},
    {"[[events]]", "b"},
    {"[[events]]", "side"},
    {"[[events]]", "expect"},
    {"[[events]]", "within_ms"},
    {"[[events]]", "duration_ms"},
    {"[[events]]", "latency_ms"},
    {"[[events]]", "jitter_ms"},
    {"[[events]]", "loss"},
    {"[[events]]", "bandwidth_kbps"},
    {"[network]", "latency_ms"},
    {"[network]", "jitter_ms"},
    {"[network]", "loss"},
    {"[network]", "bandwidth_kbps"},
    {"[[network.links]]", "a"},
    {"[[network.links]]", "b"},
    {"[[network.links]]", "latency_ms"},
    {"[[network.links]]", "jitter_ms"},
    {"[[network.links]]", "loss"},
    {"[[network.links]]", "bandwidth_kbps"},
};

/// " (it belongs in [topology])" for a key of a section other than `here`,
/// else "".
std::string belongs_hint(std::string_view key, std::string_view here) {
  std::vector<std::string> sections;
  for (auto& [section, k] : all_keys)
    if (k == key && section != here)
      sections.emplace_back(section);
  return config_keys::belongs_in(sections);
}

// -- values -------------------------------------------------------------------

/// An integer in [lo, hi]; `range` replaces "LO..HI" in messages if set.
std::optional<int64_t> read_integer(const toml::node& x, std::string_view label,
                                    int64_t lo, int64_t hi, problems& out,
                                    std::string range = {}) {
  const auto* value = x.as_integer();
  if (value == nullptr) {
    out.add(line_of(x), cat(label, " must be an integer, got ", type_name(x)));
    return std::nullopt;
  }
  int64_t n = value->get();
  if (n < lo || n > hi) {
    if (range.empty())
      range = cat(num(lo), "..", num(hi));
    out.add(line_of(x), cat(label, " must be ", range, ", got ", num(n)));
    return std::nullopt;
  }
  return n;
}

std::optional<std::string> read_string(const toml::node& x,
                                       std::string_view label, problems& out) {
  const auto* value = x.as_string();
  if (value == nullptr) {
    out.add(line_of(x), cat(label, " must be a string, got ", type_name(x)));
    return std::nullopt;
  }
  return value->get();
}

/// Reports `x` unless it is an integer (a key that is accepted and ignored).
void check_integer(const toml::node& x, std::string_view label, problems& out) {
  if (!x.is_integer())
    out.add(line_of(x), cat(label, " must be an integer, got ", type_name(x)));
}

std::optional<bool> read_boolean(const toml::node& x, std::string_view label,
                                 problems& out) {
  const auto* value = x.as_boolean();
  if (value == nullptr) {
    out.add(line_of(x), cat(label, " must be a boolean, got ", type_name(x)));
    return std::nullopt;
  }
  return value->get();
}

/// `x` as the file could have written it: the shortest text that reads
/// back as `x`, with ".0" when it would look like an integer.
std::string float_text(double x) {
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), x);
  std::string text(buf.data(), ec == std::errc{} ? end : buf.data());
  if (text.find_first_of(".eEn") == std::string::npos) // n: nan and inf
    text += ".0";
  return text;
}

/// A fraction in 0.0..1.0 (a chance): a TOML float, or the integer 0 or 1
/// (rule 19).
std::optional<double> read_fraction(const toml::node& x, std::string_view label,
                                    problems& out) {
  double value = 0.0;
  std::string shown;
  if (const auto* f = x.as_floating_point()) {
    value = f->get();
    shown = float_text(value);
  } else if (const auto* i = x.as_integer()) {
    value = static_cast<double>(i->get());
    shown = num(i->get());
  } else {
    out.add(line_of(x), cat(label, " must be a number, got ", type_name(x)));
    return std::nullopt;
  }
  if (!(value >= 0.0 && value <= 1.0)) { // also false for nan
    out.add(line_of(x), cat(label, " must be 0.0..1.0, got ", shown));
    return std::nullopt;
  }
  return value + 0.0; // -0.0 is 0.0
}

/// Reports `x` unless it is a number (a fraction that is accepted and
/// ignored).
void check_number(const toml::node& x, std::string_view label, problems& out) {
  if (!x.is_number())
    out.add(line_of(x), cat(label, " must be a number, got ", type_name(x)));
}

/// The keys of a link's parameters (SPEC §13) found in one table:
/// [network], a [[network.links]] entry or a degrade event.
struct link_keys {
  const toml::node* latency_ms = nullptr;
  const toml::node* jitter_ms = nullptr;
  const toml::node* loss = nullptr;
  const toml::node* bandwidth_kbps = nullptr;

  /// Keeps `x` when `key` is one of the four; false when it is not.
  bool take(std::string_view key, const toml::node& x) {
    const toml::node** slot = key == "latency_ms"       ? &latency_ms
                              : key == "jitter_ms"      ? &jitter_ms
                              : key == "loss"           ? &loss
                              : key == "bandwidth_kbps" ? &bandwidth_kbps
                                                        : nullptr;
    if (slot == nullptr)
      return false;
    *slot = &x;
    return true;
  }

  bool any() const { return latency_ms || jitter_ms || loss || bandwidth_kbps; }

  /// Checks the keys present (labels `prefix` + key) and stores them in
  /// `into`.
  void read(std::string_view prefix, link_change& into, problems& out) const {
    auto integer = [&](const toml::node* x, std::string_view key, int64_t hi,
                       std::optional<uint64_t>& slot) {
      if (x != nullptr)
        if (auto v = read_integer(*x, cat(prefix, key), 0, hi, out))
          slot = static_cast<uint64_t>(*v);
    };
    integer(latency_ms, "latency_ms", 60000, into.latency_ms);
    integer(jitter_ms, "jitter_ms", 60000, into.jitter_ms);
    if (loss != nullptr)
      into.loss = read_fraction(*loss, cat(prefix, "loss"), out);
    integer(bandwidth_kbps, "bandwidth_kbps", 10000000, into.bandwidth_kbps);
  }

  /// Type checks only, for keys an event's action does not use.
  void check_types(std::string_view prefix, problems& out) const {
    for (auto [x, key] : {std::pair{latency_ms, "latency_ms"},
                          std::pair{jitter_ms, "jitter_ms"},
                          std::pair{bandwidth_kbps, "bandwidth_kbps"}})
      if (x != nullptr)
        check_integer(*x, cat(prefix, key), out);
    if (loss != nullptr)
      check_number(*loss, cat(prefix, "loss"), out);
  }
};

/// A string that is one of names[first..]; returns its index in `names`.
template <size_t N>
std::optional<size_t> read_choice(const toml::node& x, std::string_view label,
                                  const std::array<const char*, N>& names,
                                  problems& out, size_t first = 0) {
  auto text = read_string(x, label, out);
  if (!text)
    return std::nullopt;
  for (size_t i = first; i < N; ++i)
    if (*text == names[i])
      return i;
  out.add(line_of(x), cat(label, " must be one of ", list(names, first),
                          ", got ", quoted(*text)));
  return std::nullopt;
}

// -- the loader ---------------------------------------------------------------

/// One scenario file being read: the sections found, what has been checked
/// so far, and the problems.
class loader {
public:
  loader(const std::string& path, std::optional<uint64_t> seed_override)
      : seed_override_(seed_override) {
    sc_.path = path;
  }

  std::variant<scenario, config_error> run(const toml::table& root) {
    sort_sections(root);
    read_simulation();
    read_defaults();
    read_topology();
    read_nodes();
    read_links();
    finish_explicit();
    read_network();
    check_across();
    read_events();
    if (!out_.empty())
      return out_.error(sc_.path);
    std::stable_sort(sc_.events.begin(), sc_.events.end(),
                     [](const sim_event& x, const sim_event& y) {
                       return x.at_ms < y.at_ms;
                     });
    return std::move(sc_);
  }

private:
  // -- sections ---------------------------------------------------------------

  void sort_sections(const toml::table& root) {
    for (auto&& [k, v] : root) {
      auto name = k.str();
      auto line = line_of(k, v);
      const toml::table** table = name == "simulation" ? &simulation_
                                  : name == "defaults" ? &defaults_
                                  : name == "topology" ? &topology_
                                  : name == "network"  ? &network_
                                                       : nullptr;
      const toml::array** array = name == "nodes"    ? &nodes_
                                  : name == "links"  ? &links_
                                  : name == "events" ? &events_
                                                     : nullptr;
      if (table != nullptr) {
        *table = v.as_table();
        if (*table == nullptr)
          out_.add(line, cat(name, " must be a table, got ", type_name(v)));
        else if (name == "topology")
          topology_line_ = line;
        else if (name == "network")
          network_line_ = line;
        if (name == "topology")
          has_topology_key_ = true;
      } else if (array != nullptr) {
        *array = v.as_array();
        if (*array == nullptr) {
          out_.add(line, cat(name, " must be an array of tables ([[", name,
                             "]]), got ", type_name(v)));
          if (name == "nodes")
            bad_nodes_key_ = true;
        }
      } else if (v.is_table()) {
        out_.add(line,
                 cat("unknown section [", config_keys::escaped(name), "]"));
      } else if (v.is_array_of_tables()) {
        out_.add(line,
                 cat("unknown section [[", config_keys::escaped(name), "]]"));
      } else {
        out_.add(line, cat("unknown key ", quoted(name), " outside any section",
                           belongs_hint(name, "")));
      }
    }
  }

  void unknown_key(const toml::key& k, const toml::node& v,
                   std::string_view header) {
    out_.add(line_of(k, v), cat("unknown key ", quoted(k.str()), " in ", header,
                                belongs_hint(k.str(), header)));
  }

  // -- [simulation] -----------------------------------------------------------

  void read_simulation() {
    if (simulation_ != nullptr) {
      for (auto&& [k, v] : *simulation_) {
        auto key = k.str();
        if (key == "seed") {
          if (auto x = read_integer(v, "simulation.seed", 0,
                                    std::numeric_limits<int64_t>::max(), out_,
                                    "at least 0"))
            sc_.seed = static_cast<uint64_t>(*x);
        } else if (key == "transport") {
          transport_ok_ = false;
          if (auto x = read_choice(v, "simulation.transport", transport_names,
                                   out_)) {
            sc_.transport = static_cast<sim_transport>(*x);
            transport_ok_ = true;
          }
        } else if (key == "deterministic") {
          if (auto x = read_boolean(v, "simulation.deterministic", out_)) {
            sc_.deterministic = *x;
            deterministic_line_ = line_of(v);
          }
        } else if (key == "settle_ms") {
          if (auto x =
                  read_integer(v, "simulation.settle_ms", 0, 3600000, out_))
            sc_.settle_ms = static_cast<uint64_t>(*x);
        } else if (key == "base_port") {
          base_port_ok_ = false;
          if (auto x =
                  read_integer(v, "simulation.base_port", 1, 65535, out_)) {
            sc_.base_port = static_cast<uint16_t>(*x);
            base_port_ok_ = true;
            base_port_line_ = line_of(v);
          }
        } else if (key == "sample_ms") {
          read_sample_ms(v);
        } else {
          unknown_key(k, v, "[simulation]");
        }
      }
    }
    if (seed_override_)
      sc_.seed = *seed_override_;
  }

  /// Rule 18: 0, or 10..60000.
  void read_sample_ms(const toml::node& v) {
    constexpr std::string_view range = "0 or 10..60000";
    auto x = read_integer(v, "simulation.sample_ms", 0, 60000, out_,
                          std::string{range});
    if (!x)
      return;
    if (*x > 0 && *x < 10) {
      out_.add(line_of(v),
               cat("simulation.sample_ms must be ", range, ", got ", num(*x)));
      return;
    }
    sc_.sample_ms = static_cast<uint64_t>(*x);
  }

  // -- [defaults] -------------------------------------------------------------

  void read_defaults() {
    sc_.defaults.processors = 1;
    if (defaults_ == nullptr)
      return;
    config_keys::key_lines lines;
    problems found;
    config_keys::read_section(*defaults_, "defaults",
                              config_keys::key_set::tunables, sc_.defaults,
                              lines, found);
    if (found.empty())
      config_keys::check_timing(sc_.defaults, lines, "defaults", found);
    out_.add(found);
  }

  // -- [topology] -------------------------------------------------------------

  void read_topology() {
    if (topology_ == nullptr) {
      // A topology that is not a table is reported where it is.
      if (!has_topology_key_)
        out_.add(0, "[topology] is missing");
      return;
    }
    const toml::node* kind = nullptr;
    const toml::node* nodes = nullptr;
    const toml::node* degree = nullptr;
    const toml::node* width = nullptr;
    const toml::node* m = nullptr;
    bool unknown = false;
    for (auto&& [k, v] : *topology_) {
      auto key = k.str();
      const toml::node** slot = key == "kind"     ? &kind
                                : key == "nodes"  ? &nodes
                                : key == "degree" ? &degree
                                : key == "width"  ? &width
                                : key == "m"      ? &m
                                                  : nullptr;
      if (slot == nullptr) {
        unknown = true;
        unknown_key(k, v, "[topology]");
      } else {
        *slot = &v;
      }
    }
    auto missing = [&](std::string_view key) {
      if (!unknown)
        out_.add(topology_line_,
                 cat("missing required key topology.", key,
                     kind_ ? cat(" for kind = \"", kind_names[*kind_], "\"")
                           : std::string{}));
    };

    if (kind == nullptr) {
      missing("kind");
    } else if (auto i = read_choice(*kind, "topology.kind", kind_names, out_)) {
      kind_ = *i;
      kind_line_ = line_of(*kind);
      sc_.kind = kind_names[*i];
    }
    bool generator = kind_ && *kind_ != kind_explicit;

    std::optional<size_t> n;
    if (nodes != nullptr) {
      if (kind_ == kind_explicit) {
        out_.add(line_of(*nodes),
                 "topology.nodes is for generators; list [[nodes]] instead");
      } else if (auto x =
                     read_integer(*nodes, "topology.nodes", 1, 100000, out_)) {
        n = static_cast<size_t>(*x);
        nodes_line_ = line_of(*nodes);
      }
    } else if (generator) {
      missing("nodes");
    }

    // degree and m: 1..nodes-1 for their kind; an integer for the others.
    auto below_nodes = [&](const toml::node* x, std::string_view key,
                           size_t for_kind) -> std::optional<size_t> {
      auto label = cat("topology.", key);
      if (x == nullptr) {
        if (kind_ == for_kind)
          missing(key);
        return std::nullopt;
      }
      if (kind_ != for_kind) {
        check_integer(*x, label, out_);
        return std::nullopt;
      }
      std::optional<int64_t> v;
      if (n && *n >= 2)
        v = read_integer(
            *x, label, 1, static_cast<int64_t>(*n - 1), out_,
            cat("1..", num(uint64_t{*n - 1}), " (less than topology.nodes)"));
      else
        v = read_integer(*x, label, 1, std::numeric_limits<int64_t>::max(),
                         out_, "at least 1");
      if (!v)
        return std::nullopt;
      return static_cast<size_t>(*v);
    };
    auto d = below_nodes(degree, "degree", kind_random);
    auto mm = below_nodes(m, "m", kind_scale_free);

    std::optional<size_t> w;
    if (width == nullptr) {
      if (kind_ == kind_grid)
        missing("width");
    } else if (kind_ != kind_grid) {
      check_integer(*width, "topology.width", out_);
    } else if (auto x =
                   read_integer(*width, "topology.width", 1, 100000, out_)) {
      w = static_cast<size_t>(*x);
    }

    if (!generator || !n)
      return;
    if ((*kind_ == kind_random && !d) || (*kind_ == kind_scale_free && !mm) ||
        (*kind_ == kind_grid && !w))
      return;
    if (!within_link_limit(*n, d, mm, degree, m))
      return;
    sc_.graph = make_topology(sc_.kind, *n, d.value_or(0), w.value_or(0),
                              mm.value_or(0), sc_.seed);
    for (size_t i = 0; i < sc_.graph.nodes.size(); ++i)
      index_.emplace(sc_.graph.nodes[i], i);
    graph_ok_ = true;
  }

  /// Rule 9: generated graphs have at most max_scenario_links links.
  bool within_link_limit(size_t n, std::optional<size_t> d,
                         std::optional<size_t> m, const toml::node* degree,
                         const toml::node* m_key) {
    uint64_t pairs = uint64_t{n} * (n - 1) / 2;
    uint64_t links = 0;
    uint32_t line = 0;
    std::string key; // the value that asks for too many, "topology.nodes 5"
    std::string with;
    switch (*kind_) {
    case kind_full:
      links = pairs;
      line = nodes_line_;
      key = cat("topology.nodes ", num(uint64_t{n}));
      with = "kind = \"full\"";
      break;
    case kind_random:
      links = std::max<uint64_t>(
          n - 1, std::min<uint64_t>(uint64_t{n} * *d / 2, pairs));
      line = line_of(*degree);
      key = cat("topology.degree ", num(uint64_t{*d}));
      with = cat(num(uint64_t{n}), " nodes");
      break;
    case kind_scale_free: {
      uint64_t core = std::min<uint64_t>(n, uint64_t{*m} + 1);
      links = core * (core - 1) / 2 + (n - core) * uint64_t{*m};
      line = line_of(*m_key);
      key = cat("topology.m ", num(uint64_t{*m}));
      with = cat(num(uint64_t{n}), " nodes");
      break;
    }
    default:
      return true; // at most 2 links a node
    }
    if (links <= max_scenario_links)
      return true;
    out_.add(line, cat(key, " makes ", num(links), " links with ", with,
                       "; a scenario may have at most ",
                       num(uint64_t{max_scenario_links})));
    return false;
  }

  // -- [[nodes]] and [[links]] ------------------------------------------------

  bool is_generator() const { return kind_ && *kind_ != kind_explicit; }

  void read_nodes() {
    if (nodes_ == nullptr)
      return;
    for (const auto& entry : *nodes_) {
      auto line = line_of(entry);
      ++node_entries_;
      const auto* table = entry.as_table();
      if (table == nullptr) {
        out_.add(line, cat("each nodes entry must be a table, got ",
                           type_name(entry)));
        continue;
      }
      if (is_generator()) {
        out_.add(line, "[[nodes]] needs topology.kind = \"explicit\"");
        continue;
      }
      const toml::node* name = nullptr;
      bool unknown = false;
      for (auto&& [k, v] : *table) {
        if (k.str() == "name") {
          name = &v;
        } else {
          unknown = true;
          unknown_key(k, v, "[[nodes]]");
        }
      }
      if (name == nullptr) {
        if (!unknown)
          out_.add(line, "missing required key nodes.name");
        continue;
      }
      auto text = read_string(*name, "nodes.name", out_);
      if (!text)
        continue;
      if (!is_valid_name(*text)) {
        out_.add(line_of(*name),
                 cat("nodes.name must be a valid node name (",
                     config_keys::name_rule, "), got ", quoted(*text)));
        rejected_.insert(*text);
        continue;
      }
      if (index_.count(*text) > 0) {
        out_.add(line_of(*name), cat("duplicate node name ", quoted(*text)));
        continue;
      }
      index_.emplace(*text, names_.size());
      names_.push_back(*text);
      node_lines_.push_back(line);
    }
  }

  /// The index of the [[nodes]] entry `name` (given in `label` at `x`), or
  /// nullopt after reporting it unknown. Without [[nodes]] entries there is
  /// nothing to check against: nullopt, reported elsewhere.
  std::optional<size_t> listed_node(const toml::node& x,
                                    const std::string& name,
                                    std::string_view label) {
    if (auto i = index_.find(name); i != index_.end())
      return i->second;
    if (node_entries_ > 0 && rejected_.count(name) == 0)
      out_.add(line_of(x), cat("unknown node ", quoted(name), " in ", label));
    return std::nullopt;
  }

  void read_links() {
    if (links_ == nullptr)
      return;
    std::map<std::pair<size_t, size_t>, uint32_t> seen; // link -> its line
    for (const auto& entry : *links_) {
      auto line = line_of(entry);
      const auto* table = entry.as_table();
      if (table == nullptr) {
        out_.add(line, cat("each links entry must be a table, got ",
                           type_name(entry)));
        continue;
      }
      if (is_generator()) {
        out_.add(line, "[[links]] needs topology.kind = \"explicit\"");
        continue;
      }
      const toml::node* a = nullptr;
      const toml::node* b = nullptr;
      bool unknown = false;
      for (auto&& [k, v] : *table) {
        if (k.str() == "a") {
          a = &v;
        } else if (k.str() == "b") {
          b = &v;
        } else {
          unknown = true;
          unknown_key(k, v, "[[links]]");
        }
      }
      if (!unknown && a == nullptr)
        out_.add(line, "missing required key links.a");
      if (!unknown && b == nullptr)
        out_.add(line, "missing required key links.b");
      std::optional<std::string> x, y;
      if (a != nullptr)
        x = read_string(*a, "links.a", out_);
      if (b != nullptr)
        y = read_string(*b, "links.b", out_);
      std::optional<size_t> i, j;
      if (x)
        i = listed_node(*a, *x, "links.a");
      if (y)
        j = listed_node(*b, *y, "links.b");
      if (!i || !j)
        continue;
      if (*i == *j) {
        out_.add(line_of(*b),
                 cat("links.a and links.b are the same node ", quoted(*x)));
        continue;
      }
      std::pair<size_t, size_t> key{std::min(*i, *j), std::max(*i, *j)};
      auto [at, fresh] = seen.emplace(key, line);
      if (!fresh) {
        out_.add(line, cat("duplicate link ", *x, "-", *y,
                           " (already listed at line ",
                           num(uint64_t{at->second}), ")"));
        continue;
      }
      explicit_links_.emplace_back(key);
    }
  }

  void finish_explicit() {
    if (kind_ != kind_explicit)
      return;
    if (node_entries_ == 0 && !bad_nodes_key_) {
      out_.add(kind_line_,
               "topology.kind = \"explicit\" needs [[nodes]] entries");
      return;
    }
    if (names_.empty())
      return; // every entry was rejected
    sc_.graph = make_explicit(names_, explicit_links_);
    graph_ok_ = true;
  }

  // -- [network] and [[network.links]] ---------------------------------------

  void read_network() {
    if (network_ == nullptr)
      return;
    sc_.network.given = true;
    link_keys keys;
    const toml::node* links = nullptr;
    uint32_t links_line = 0;
    for (auto&& [k, v] : *network_) {
      if (k.str() == "links") {
        links = &v;
        links_line = line_of(k, v);
      } else if (!keys.take(k.str(), v)) {
        unknown_key(k, v, "[network]");
      }
    }
    link_change defaults;
    keys.read("network.", defaults, out_);
    sc_.network.defaults = defaults.applied_to({});
    if (links == nullptr)
      return;
    const auto* entries = links->as_array();
    if (entries == nullptr) {
      out_.add(links_line, cat("network.links must be an array of tables "
                               "([[network.links]]), got ",
                               type_name(*links)));
      return;
    }
    std::map<std::pair<size_t, size_t>, uint32_t> seen; // link -> its line
    for (const auto& entry : *entries) {
      if (const auto* table = entry.as_table())
        read_network_link(*table, line_of(entry), seen);
      else
        out_.add(line_of(entry),
                 cat("each network.links entry must be a table, got ",
                     type_name(entry)));
    }
  }

  void read_network_link(const toml::table& table, uint32_t line,
                         std::map<std::pair<size_t, size_t>, uint32_t>& seen) {
    network_link_lines_.push_back(line);
    const toml::node* a = nullptr;
    const toml::node* b = nullptr;
    link_keys keys;
    bool unknown = false;
    for (auto&& [k, v] : table) {
      if (k.str() == "a") {
        a = &v;
      } else if (k.str() == "b") {
        b = &v;
      } else if (!keys.take(k.str(), v)) {
        unknown = true;
        unknown_key(k, v, "[[network.links]]");
      }
    }
    if (!unknown && a == nullptr)
      out_.add(line, "missing required key network.links.a");
    if (!unknown && b == nullptr)
      out_.add(line, "missing required key network.links.b");
    if (!unknown && !keys.any())
      out_.add(line, "[[network.links]] needs one of latency_ms, jitter_ms, "
                     "loss, bandwidth_kbps");
    network_link link;
    link.line = line;
    keys.read("network.links.", link.change, out_);
    std::optional<std::string> x, y;
    if (a != nullptr)
      x = read_string(*a, "network.links.a", out_);
    if (b != nullptr)
      y = read_string(*b, "network.links.b", out_);
    if (!x || !y || !check_link(*a, *x, *b, *y, "network.links."))
      return;
    auto i = index_.at(*x);
    auto j = index_.at(*y);
    auto [at, fresh] =
        seen.emplace(std::pair{std::min(i, j), std::max(i, j)}, line);
    if (!fresh) {
      out_.add(line,
               cat("duplicate link ", *x, "-", *y, " (already listed at line ",
                   num(uint64_t{at->second}), ")"));
      return;
    }
    link.a = std::move(*x);
    link.b = std::move(*y);
    sc_.network.links.push_back(std::move(link));
  }

  // -- across sections --------------------------------------------------------

  void check_across() {
    if (sc_.deterministic && transport_ok_ &&
        sc_.transport != sim_transport::direct)
      out_.add(deterministic_line_,
               "simulation.deterministic = true needs transport = \"direct\"");
    check_network_transport();
    if (!graph_ok_ || !transport_ok_ || !base_port_ok_ ||
        sc_.transport != sim_transport::tcp)
      return;
    size_t count = sc_.graph.nodes.size();
    if (size_t{sc_.base_port} + count - 1 <= 65535)
      return;
    size_t first = size_t{65536} - sc_.base_port; // the first without a port
    uint32_t line = base_port_line_;
    if (line == 0)
      line = is_generator() ? nodes_line_ : node_lines_[first];
    out_.add(line, cat("simulation.base_port ", num(uint64_t{sc_.base_port}),
                       base_port_line_ == 0 ? " (default)" : "",
                       " leaves no port for node ", sc_.graph.nodes[first],
                       " (ports go up to 65535)"));
  }

  /// Rule 22: the link model is the direct transport's. The entries come
  /// first: a [network] made only by [[network.links]] headers has no line
  /// of its own but its first entry's, and the entry is what the user wrote.
  void check_network_transport() {
    if (!sc_.network.given || !transport_ok_ ||
        sc_.transport == sim_transport::direct)
      return;
    for (auto line : network_link_lines_)
      out_.add(line, "[[network.links]] needs transport = \"direct\"");
    out_.add(network_line_, "[network] needs transport = \"direct\"");
  }

  // -- [[events]] -------------------------------------------------------------

  /// Whether `name` (given in `label` at `x`) is a node of the topology;
  /// reports it if not. False without a valid topology, unreported.
  bool known_node(const toml::node& x, const std::string& name,
                  std::string_view label) {
    if (!graph_ok_)
      return false;
    if (index_.count(name) > 0)
      return true;
    if (rejected_.count(name) == 0)
      out_.add(line_of(x), cat("unknown node ", quoted(name), " in ", label));
    return false;
  }

  /// Whether x-y (given at `a` and `b`, keys `prefix` a and b) is a link
  /// of the topology, as a cut's a and b must be; reports why not (b's
  /// line when the pair is at fault). False without a valid topology.
  bool check_link(const toml::node& a, const std::string& x,
                  const toml::node& b, const std::string& y,
                  std::string_view prefix) {
    bool a_ok = known_node(a, x, cat(prefix, "a"));
    bool b_ok = known_node(b, y, cat(prefix, "b"));
    if (!a_ok || !b_ok)
      return false;
    if (x == y) {
      out_.add(line_of(b), cat(prefix, "a and ", prefix, "b are the same node ",
                               quoted(x)));
      return false;
    }
    if (!is_link(x, y)) {
      out_.add(line_of(b), cat(x, "-", y, " is not a link of the topology"));
      return false;
    }
    return true;
  }

  bool is_link(const std::string& a, const std::string& b) const {
    auto i = index_.at(a);
    auto j = index_.at(b);
    std::pair<size_t, size_t> key{std::min(i, j), std::max(i, j)};
    return std::binary_search(sc_.graph.links.begin(), sc_.graph.links.end(),
                              key);
  }

  void read_events() {
    if (events_ == nullptr)
      return;
    for (const auto& entry : *events_) {
      const auto* table = entry.as_table();
      if (table == nullptr) {
        out_.add(line_of(entry), cat("each events entry must be a table, got ",
                                     type_name(entry)));
        continue;
      }
      sc_.events.push_back(read_event(*table, line_of(entry)));
    }
  }

  sim_event read_event(const toml::table& table, uint32_t line) {
    sim_event ev;
    ev.line = line;
    const toml::node* at = nullptr;
    const toml::node* action = nullptr;
    const toml::node* from = nullptr;
    const toml::node* to = nullptr;
    const toml::node* node = nullptr;
    const toml::node* text = nullptr;
    const toml::node* a = nullptr;
    const toml::node* b = nullptr;
    const toml::node* side = nullptr;
    const toml::node* expect = nullptr;
    const toml::node* within = nullptr;
    const toml::node* duration = nullptr;
    link_keys link; // degrade
    bool unknown = false;
    for (auto&& [k, v] : table) {
      auto key = k.str();
      if (link.take(key, v))
        continue;
      const toml::node** slot = key == "at_ms"         ? &at
                                : key == "action"      ? &action
                                : key == "from"        ? &from
                                : key == "to"          ? &to
                                : key == "node"        ? &node
                                : key == "text"        ? &text
                                : key == "a"           ? &a
                                : key == "b"           ? &b
                                : key == "side"        ? &side
                                : key == "expect"      ? &expect
                                : key == "within_ms"   ? &within
                                : key == "duration_ms" ? &duration
                                                       : nullptr;
      if (slot == nullptr) {
        unknown = true;
        unknown_key(k, v, "[[events]]");
      } else {
        *slot = &v;
      }
    }

    // Types first, for every key present.
    if (at == nullptr) {
      if (!unknown)
        out_.add(line, "missing required key events.at_ms");
    } else if (auto x = read_integer(*at, "events.at_ms", 0, 86400000, out_)) {
      ev.at_ms = static_cast<uint64_t>(*x);
    }
    std::optional<sim_action> act;
    if (action == nullptr) {
      if (!unknown)
        out_.add(line, "missing required key events.action");
    } else if (auto x =
                   read_choice(*action, "events.action", action_names, out_)) {
      act = static_cast<sim_action>(*x);
      ev.action = *act;
    }
    auto string_key = [&](const toml::node* x, std::string_view key,
                          std::string& into) {
      if (x == nullptr)
        return false;
      auto s = read_string(*x, cat("events.", key), out_);
      if (!s)
        return false;
      into = std::move(*s);
      return true;
    };
    bool has_from = string_key(from, "from", ev.from);
    bool has_to = string_key(to, "to", ev.to);
    bool has_node = string_key(node, "node", ev.node);
    string_key(text, "text", ev.text);
    bool has_a = string_key(a, "a", ev.a);
    bool has_b = string_key(b, "b", ev.b);
    bool has_side = false;
    std::vector<const toml::node*> side_nodes; // for their lines
    if (side != nullptr) {
      if (const auto* entries = side->as_array()) {
        has_side = true;
        for (const auto& s : *entries) {
          if (const auto* name = s.as_string()) {
            ev.side.push_back(name->get());
            side_nodes.push_back(&s);
          } else {
            has_side = false;
            out_.add(line_of(s), cat("each events.side entry must be a "
                                     "string, got ",
                                     type_name(s)));
          }
        }
      } else {
        out_.add(line_of(*side),
                 cat("events.side must be an array of strings, got ",
                     type_name(*side)));
      }
    }
    std::optional<sim_expect> exp;
    if (expect != nullptr)
      if (auto x =
              read_choice(*expect, "events.expect", expect_names, out_, 1)) {
        exp = static_cast<sim_expect>(*x);
        ev.expect = *exp;
      }
    if (within != nullptr)
      if (auto x = read_integer(*within, "events.within_ms", 1, 600000, out_))
        ev.within_ms = static_cast<uint64_t>(*x);
    if (!act)
      return ev;
    // Rule 23: keys the action does not use, type-checked only.
    if (*act != sim_action::degrade)
      link.check_types("events.", out_);
    if (*act != sim_action::stall && duration != nullptr)
      check_integer(*duration, "events.duration_ms", out_);

    // What the action needs.
    auto need = [&](const toml::node* x, std::string_view key) {
      if (x == nullptr && !unknown)
        out_.add(line, cat("missing required key events.", key,
                           " for action = \"", to_string(*act), "\""));
    };
    switch (*act) {
    case sim_action::ping:
    case sim_action::traceroute:
    case sim_action::send: {
      need(from, "from");
      need(to, "to");
      bool from_ok = has_from && known_node(*from, ev.from, "events.from");
      bool to_ok = false;
      if (has_to) {
        if (ev.to == "all" || ev.to == "*")
          out_.add(line_of(*to), cat("events.to cannot be ", quoted(ev.to),
                                     ": use action = \"broadcast\""));
        else
          to_ok = known_node(*to, ev.to, "events.to");
      }
      if (from_ok && to_ok && ev.from == ev.to)
        out_.add(line_of(*to), cat("events.from and events.to are the "
                                   "same node ",
                                   quoted(ev.to)));
      break;
    }
    case sim_action::broadcast:
      need(from, "from");
      if (has_from)
        known_node(*from, ev.from, "events.from");
      break;
    case sim_action::kill:
    case sim_action::restart:
      need(node, "node");
      if (has_node)
        known_node(*node, ev.node, "events.node");
      break;
    case sim_action::cut:
    case sim_action::heal: {
      need(a, "a");
      need(b, "b");
      if (has_a && has_b)
        check_link(*a, ev.a, *b, ev.b, "events.");
      break;
    }
    case sim_action::partition:
      need(side, "side");
      if (has_side)
        check_side(*side, ev.side, side_nodes);
      break;
    case sim_action::heal_all:
      break;
    case sim_action::degrade:
      read_degrade(ev, *action, a != nullptr, b != nullptr, has_a ? a : nullptr,
                   has_b ? b : nullptr, link, unknown);
      break;
    case sim_action::stall:
      need(node, "node");
      if (has_node)
        known_node(*node, ev.node, "events.node");
      need(duration, "duration_ms");
      if (duration != nullptr)
        if (auto x =
                read_integer(*duration, "events.duration_ms", 1, 600000, out_))
          ev.duration_ms = static_cast<uint64_t>(*x);
      break;
    }

    if (exp) {
      bool unicast = *act == sim_action::ping ||
                     *act == sim_action::traceroute || *act == sim_action::send;
      if ((*exp == sim_expect::delivered || *exp == sim_expect::unreachable) &&
          !unicast)
        out_.add(line_of(*expect),
                 cat("events.expect = \"", to_string(*exp),
                     "\" is for action = \"ping\", \"traceroute\" or "
                     "\"send\" only"));
      if (*exp == sim_expect::all && *act != sim_action::broadcast)
        out_.add(line_of(*expect), "events.expect = \"all\" is for action = "
                                   "\"broadcast\" only");
    }
    return ev;
  }

  /// Rule 23: one link or every link, at least one key; rule 22: direct
  /// only.
  /// `a_key`, `b_key`: whether the keys are there; `a`, `b`: those that
  /// are valid strings.
  void read_degrade(sim_event& ev, const toml::node& action, bool a_key,
                    bool b_key, const toml::node* a, const toml::node* b,
                    const link_keys& link, bool unknown) {
    if (transport_ok_ && sc_.transport != sim_transport::direct)
      out_.add(line_of(action),
               "events.action = \"degrade\" needs transport = \"direct\"");
    if (!unknown && !link.any())
      out_.add(ev.line, "action = \"degrade\" needs one of events.latency_ms, "
                        "events.jitter_ms, events.loss, "
                        "events.bandwidth_kbps");
    link.read("events.", ev.change, out_);
    if (a_key != b_key) {
      if (!unknown)
        out_.add(ev.line,
                 cat("missing required key events.", a_key ? "b" : "a",
                     " for action = \"degrade\" with events.",
                     a_key ? "a" : "b", " (leave both out for every link)"));
      return;
    }
    if (a != nullptr && b != nullptr)
      check_link(*a, ev.a, *b, ev.b, "events.");
  }

  void check_side(const toml::node& side, const std::vector<std::string>& names,
                  const std::vector<const toml::node*>& lines) {
    if (names.empty()) {
      out_.add(line_of(side), "events.side must not be empty");
      return;
    }
    std::set<std::string> seen;
    bool all_known = true;
    for (size_t i = 0; i < names.size(); ++i) {
      if (!seen.insert(names[i]).second) {
        out_.add(line_of(*lines[i]),
                 cat("duplicate node ", quoted(names[i]), " in events.side"));
        continue;
      }
      all_known = known_node(*lines[i], names[i], "events.side") && all_known;
    }
    if (graph_ok_ && all_known && seen.size() == sc_.graph.nodes.size())
      out_.add(line_of(side),
               "events.side lists every node; the other side would be empty");
  }

  // -- state ------------------------------------------------------------------

  std::optional<uint64_t> seed_override_;
  scenario sc_;
  problems out_;

  const toml::table* simulation_ = nullptr;
  const toml::table* defaults_ = nullptr;
  const toml::table* topology_ = nullptr;
  const toml::array* nodes_ = nullptr;
  const toml::array* links_ = nullptr;
  const toml::array* events_ = nullptr;
  uint32_t topology_line_ = 0;
  const toml::table* network_ = nullptr;
  uint32_t network_line_ = 0;
  std::vector<uint32_t> network_link_lines_; ///< Each entry's header.
  bool has_topology_key_ = false;

  bool transport_ok_ = true;    ///< Valid or defaulted.
  bool base_port_ok_ = true;    ///< Valid or defaulted.
  uint32_t base_port_line_ = 0; ///< 0: defaulted.
  uint32_t deterministic_line_ = 0;

  std::optional<size_t> kind_; ///< Index in kind_names, when valid.
  uint32_t kind_line_ = 0;
  uint32_t nodes_line_ = 0; ///< topology.nodes, when valid.

  bool bad_nodes_key_ = false;       ///< `nodes` is not an array.
  size_t node_entries_ = 0;          ///< [[nodes]] entries, valid or not.
  std::vector<std::string> names_;   ///< Valid [[nodes]] names, in order.
  std::vector<uint32_t> node_lines_; ///< Their entries' lines.
  std::set<std::string> rejected_;   ///< Invalid [[nodes]] names.
  std::vector<std::pair<size_t, size_t>> explicit_links_;

  bool graph_ok_ = false; ///< sc_.graph is the topology; index_ its names.
  std::unordered_map<std::string, size_t> index_;
};

} // namespace

const char* to_string(sim_transport x) {
  return transport_names[static_cast<size_t>(x)];
}

const char* to_string(sim_action x) {
  return action_names[static_cast<size_t>(x)];
}

const char* to_string(sim_expect x) {
  return expect_names[static_cast<size_t>(x)];
}

std::variant<scenario, config_error>
parse_scenario(std::string_view toml_text, const std::string& path,
               std::optional<uint64_t> seed_override) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string_view{path});
  } catch (const toml::parse_error& e) {
    return config_keys::syntax_error(path, e);
  }
  return loader{path, seed_override}.run(root);
}

std::variant<scenario, config_error>
load_scenario(const std::string& path, std::optional<uint64_t> seed_override) {
  auto text = config_keys::read_file(path);
  if (auto* e = std::get_if<config_error>(&text))
    return std::move(*e);
  return parse_scenario(std::get<std::string>(text), path, seed_override);
}

} // namespace quilt
