// Reloading a running node's configuration (SPEC §15): what a changed file
// changes, worked out without actors so that tests can check it by hand.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "quilt/config.hpp"

namespace quilt {

/// The changes a reload applies to a running node. Everything else in the
/// file takes effect only at the next start (restart_needed names it).
struct reload_plan {
  /// `[[peers]]` entries new in the file (or whose public_key changed):
  /// dialled, and redialled for ever as configured peers.
  std::vector<peer_config> added;
  /// `[[peers]]` entries gone from the file (or whose public_key changed):
  /// their links are closed and they are no longer dialled.
  std::vector<peer_config> removed;
  /// Whether the CURVE client keys the listener admits (the
  /// authorized_keys file's and every peer's), the names bound to keys or
  /// dial_allow changed.
  bool trust_changed = false;
  /// Whether log.level changed.
  bool level_changed = false;
  /// Keys whose new value needs a restart ("node.port"), in SPEC §7 order.
  std::vector<std::string> restart_needed;

  /// Whether the reload changes anything at all in the running node.
  bool changes_anything() const {
    return !added.empty() || !removed.empty() || trust_changed
           || level_changed;
  }
};

/// Compares the file as it reads now (`loaded`) with what the node runs.
reload_plan plan_reload(const node_config& running, const node_config& loaded);

/// `running` with what a reload applies taken from `loaded` (peers, the
/// keys and dial policy of [security], log.level); the rest as it was,
/// because it only changes at a restart.
node_config apply_reload(const node_config& running,
                         const node_config& loaded);

/// reload_report::error of a node without a file (a simulated node).
inline constexpr const char* no_config_file =
  "this node has no config file to reload (a simulated node)";

/// What a reload did, as quilt-console `reload` and the log show it.
struct reload_report {
  /// False when the file failed to load: the running config stays.
  bool reloaded = false;
  /// "FILE:LINE: what is wrong" when it failed to load (or why the node
  /// cannot reload, e.g. a simulated node has no file).
  std::string error;
  std::vector<std::string> peers_added;   ///< "ADDRESS:PORT"
  std::vector<std::string> peers_removed; ///< "ADDRESS:PORT"
  /// Links closed because their peer's key is no longer authorized.
  uint32_t links_revoked = 0;
  /// The log level now in force.
  std::string log_level;
  /// Keys whose change waits for a restart.
  std::vector<std::string> restart_needed;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reload_report& x) {
  return f(caf::meta::type_name("quilt::reload_report"), x.reloaded, x.error,
           x.peers_added, x.peers_removed, x.links_revoked, x.log_level,
           x.restart_needed);
}

/// One line for the log: "reloaded: 1 peer added (127.0.0.1:5503), ...".
std::string describe(const reload_report& x);

} // namespace quilt
