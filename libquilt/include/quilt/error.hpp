// Quilt's error codes as CAF errors (category "quilt"), for requests that
// fail across an actor boundary, also between processes.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>

namespace quilt {

/// Why a user request failed.
enum class ec : uint8_t {
  /// Not an error.
  none = 0,
  /// `nodes` or `--node` sent to a single node, not a simulation.
  not_a_simulation,
  /// `--node NAME` names no node of the simulation.
  no_such_node,
  /// The node is shutting down.
  shutting_down,
  /// The node's supervisor replaced too many failed actors and stopped it.
  too_many_restarts,
  /// A node command sent to a simulation's console without `--node NAME`.
  needs_node,
};

/// The token of `x`, e.g. "not_a_simulation".
const char* to_string(ec x);

/// Plain words for `e`, any CAF error an operator may see ("timed out",
/// "not a Quilt console", "node not found"): never CAF's rendering of its
/// internals (SPEC §11). Callers add where and what was tried.
std::string describe(const caf::error& e);

/// The CAF error category of Quilt errors.
inline constexpr caf::atom_value error_category = caf::atom("quilt");

/// Makes a CAF error of category "quilt".
inline caf::error make_error(ec x) {
  return caf::error{static_cast<uint8_t>(x), error_category};
}

} // namespace quilt
