// Plain words for the CAF errors that reach an operator (SPEC §11): what
// went wrong in terms of the console, the node and the network, never CAF's
// own rendering ("error(4, system)", "system_error(...)").
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

#include "quilt/error.hpp"

namespace quilt {

namespace {

std::string quilt_text(ec x) {
  switch (x) {
    case ec::none:
      return "no error";
    case ec::not_a_simulation:
      return "this is a single node, not a simulation";
    case ec::no_such_node:
      return "node not found";
    case ec::shutting_down:
      return "the node is shutting down";
    case ec::too_many_restarts:
      return "the node stopped after too many restarts of its parts";
    case ec::needs_node:
      return "this is a simulation: name a node with --node NAME";
  }
  return "unknown Quilt error";
}

std::string system_text(caf::sec x) {
  using caf::sec;
  switch (x) {
    case sec::request_timeout:
    case sec::connection_timeout:
      return "timed out";
    case sec::request_receiver_down:
    case sec::cannot_forward_to_invalid_actor:
    case sec::no_route_to_receiving_node:
      return "the node went away";
    case sec::cannot_connect_to_node:
      return "cannot connect";
    case sec::disconnect_during_handshake:
    case sec::socket_disconnected:
    case sec::end_of_stream:
      return "the connection closed";
    case sec::no_actor_published_at_port:
    case sec::unexpected_actor_messaging_interface:
    case sec::incompatible_versions:
    case sec::incompatible_application_ids:
    case sec::malformed_basp_message:
    case sec::unexpected_message:
    case sec::unexpected_response:
      return "not a Quilt console";
    case sec::cannot_open_port:
      return "cannot open the port";
    case sec::network_syscall_failed:
    case sec::socket_operation_failed:
      return "a network call failed";
    case sec::invalid_argument:
    case sec::invalid_protocol_family:
      return "not a usable address";
    default:
      return "an unexpected failure in the actor system (code "
             + std::to_string(static_cast<int>(x)) + ")";
  }
}

} // namespace

std::string describe(const caf::error& e) {
  if (!e)
    return "no error";
  if (e.category() == error_category)
    return quilt_text(static_cast<ec>(e.code()));
  if (e.category() == caf::atom("system"))
    return system_text(static_cast<caf::sec>(e.code()));
  if (e.category() == caf::atom("exit"))
    return "the node went away";
  return "an unexpected failure (code " + std::to_string(e.code()) + ")";
}

} // namespace quilt
