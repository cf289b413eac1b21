#include "quilt/tables.hpp"

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace quilt {

std::string text_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i)
        width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size())
        out.append(width[i] - r[i].size() + 2, ' ');
    }
    out += '\n';
  }
  return out;
}

std::string format_ms(uint64_t us) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(3) << static_cast<double>(us) / 1000.0
     << " ms";
  return os.str();
}

std::string peers_table(const std::vector<peer_info>& peers) {
  if (peers.empty())
    return "no peers\n";
  std::vector<std::vector<std::string>> rows{
    {"NAME", "ADDRESS", "PORT", "STATE", "RTT", "LAST SEEN"}};
  for (auto& p : peers)
    rows.push_back(
      {p.name.empty() ? "-" : p.name, p.address.empty() ? "-" : p.address,
       p.port == 0 ? "-" : std::to_string(p.port), to_string(p.state),
       p.rtt_us ? format_ms(*p.rtt_us) : "-",
       p.last_seen_ms ? std::to_string(*p.last_seen_ms) + " ms ago" : "never"});
  return text_table(rows);
}

std::string routes_table(const std::vector<route_entry>& routes) {
  if (routes.empty())
    return "no routes\n";
  std::vector<std::vector<std::string>> rows{{"DESTINATION", "NEXT HOP", "HOPS"}};
  for (auto& r : routes)
    rows.push_back({r.destination, r.next_hop, std::to_string(r.hops)});
  return text_table(rows);
}

} // namespace quilt
