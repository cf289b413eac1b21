#include "quilt/reload.hpp"

#include <algorithm>

namespace quilt {

namespace {

bool same_peer(const peer_config& a, const peer_config& b) {
  return a.address == b.address && a.port == b.port
         && a.public_key == b.public_key;
}

bool listed(const std::vector<peer_config>& xs, const peer_config& x) {
  return std::any_of(xs.begin(), xs.end(),
                     [&](const auto& y) { return same_peer(x, y); });
}

std::string joined(const std::vector<std::string>& xs) {
  std::string out;
  for (const auto& x : xs)
    out += (out.empty() ? "" : ", ") + x;
  return out;
}

} // namespace

reload_plan plan_reload(const node_config& running, const node_config& loaded) {
  reload_plan plan;
  for (const auto& p : loaded.peers)
    if (!listed(running.peers, p) && !listed(plan.added, p))
      plan.added.push_back(p);
  for (const auto& p : running.peers)
    if (!listed(loaded.peers, p) && !listed(plan.removed, p))
      plan.removed.push_back(p);
  const auto& a = running.security;
  const auto& b = loaded.security;
  plan.trust_changed = a.authorized_keys != b.authorized_keys
                       || a.key_names != b.key_names
                       || a.dial_allow != b.dial_allow;
  plan.level_changed = running.level != loaded.level;
  auto& r = plan.restart_needed;
  auto check = [&](bool changed, const char* key) {
    if (changed)
      r.emplace_back(key);
  };
  const auto& x = running;
  const auto& y = loaded;
  check(x.name != y.name, "node.name");
  check(x.host != y.host, "node.host");
  check(x.port != y.port, "node.port");
  check(x.advertise != y.advertise, "node.advertise");
  check(x.processors != y.processors, "node.processors");
  check(x.console_host != y.console_host, "console.host");
  check(x.console_port != y.console_port, "console.port");
  check(x.console_tls_certificate != y.console_tls_certificate,
        "console.tls_certificate");
  check(x.console_tls_key != y.console_tls_key, "console.tls_key");
  check(x.console_tls_cafile != y.console_tls_cafile, "console.tls_cafile");
  check(x.heartbeat_ms != y.heartbeat_ms, "timing.heartbeat_ms");
  check(x.dead_after_ms != y.dead_after_ms, "timing.dead_after_ms");
  check(x.default_ttl != y.default_ttl, "limits.default_ttl");
  check(x.max_message_bytes != y.max_message_bytes,
        "limits.max_message_bytes");
  check(x.queue_limit != y.queue_limit, "limits.queue_limit");
  check(x.max_peers != y.max_peers, "limits.max_peers");
  check(x.delivery_timeout_ms != y.delivery_timeout_ms,
        "limits.delivery_timeout_ms");
  check(a.curve != b.curve, "security.curve");
  check(a.secret_key != b.secret_key, "security.secret_key_file");
  check(x.http_host != y.http_host, "http.host");
  check(x.http_port != y.http_port, "http.port");
  return plan;
}

node_config apply_reload(const node_config& running,
                         const node_config& loaded) {
  auto result = running;
  result.peers = loaded.peers;
  result.security.authorized_keys_file = loaded.security.authorized_keys_file;
  result.security.authorized_keys = loaded.security.authorized_keys;
  result.security.key_names = loaded.security.key_names;
  result.security.dial_allow = loaded.security.dial_allow;
  result.level = loaded.level;
  return result;
}

std::string describe(const reload_report& x) {
  if (!x.reloaded)
    return "reload failed, running configuration kept: " + x.error;
  std::string out = "reloaded";
  std::vector<std::string> parts;
  if (!x.peers_added.empty())
    parts.push_back("peers added: " + joined(x.peers_added));
  if (!x.peers_removed.empty())
    parts.push_back("peers removed: " + joined(x.peers_removed));
  if (x.links_revoked > 0)
    parts.push_back(std::to_string(x.links_revoked)
                    + " link(s) closed, their key no longer authorized");
  parts.push_back("log level " + x.log_level);
  for (const auto& p : parts)
    out += (out == "reloaded" ? ": " : "; ") + p;
  return out;
}

} // namespace quilt
