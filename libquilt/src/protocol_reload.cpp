// What a reload (SPEC §15) changes in the protocol: configured peers
// removed, the dial policy and key names replaced, revoked keys' links
// closed. Kept apart from protocol.cpp, whose hot paths change often.
#include <algorithm>
#include <unordered_set>

#include "quilt/protocol.hpp"

namespace quilt {

bool protocol::disconnect(const std::string& address, uint16_t port,
                          time_point now) {
  auto p = find_by_endpoint(address, port);
  if (!p)
    return false;
  QUILT_INFO(cfg_.name, "closing the link to " << address << ':' << port
                                               << ": no longer in [[peers]]");
  // Down first: the mesh hears that the link is gone (a new advertisement)
  // before the peer is forgotten.
  if (p->info.state == peer_state::up) {
    p->last_seen = std::max(p->last_seen, now);
    set_state(*p, peer_state::down);
  }
  remove_peer(p);
  recompute_wakeup(now);
  return true;
}

void protocol::set_trust(
  dial_policy dial, std::unordered_map<std::string, std::string> name_keys) {
  cfg_.dial = std::move(dial);
  cfg_.name_keys = std::move(name_keys);
}

size_t protocol::revoke(const std::vector<std::string>& keys, time_point now) {
  std::unordered_set<std::string> allowed(keys.begin(), keys.end());
  std::vector<std::pair<std::string, uint16_t>> revoked;
  std::vector<peer*> incoming_only;
  for (auto& p : peers_) {
    const auto& info = p->info;
    if (info.configured || info.public_key.empty()
        || allowed.count(info.public_key) > 0)
      continue;
    if (info.address.empty() || info.port == 0)
      incoming_only.push_back(p.get());
    else
      revoked.emplace_back(info.address, info.port);
  }
  for (auto p : incoming_only) {
    if (p->info.state == peer_state::up) {
      p->last_seen = std::max(p->last_seen, now);
      set_state(*p, peer_state::down);
    }
    remove_peer(p);
  }
  size_t n = incoming_only.size();
  for (auto& [address, port] : revoked) {
    QUILT_INFO(cfg_.name, "closing the link to " << address << ':' << port
                                                 << ": its key is no longer "
                                                    "authorized");
    auto p = find_by_endpoint(address, port);
    if (!p)
      continue;
    if (p->info.state == peer_state::up) {
      p->last_seen = std::max(p->last_seen, now);
      set_state(*p, peer_state::down);
    }
    remove_peer(p);
    ++n;
  }
  recompute_wakeup(now);
  return n;
}

} // namespace quilt
