// Every actor interface of a Quilt node, and the atoms they use.
//
// A message's path: the transport hands a batch (raw frames from ZeroMQ, or
// typed messages from a direct link) to the node's INCOMING LINK, which
// admits it (or rejects it when the node is overloaded) and passes it to the
// PROCESSOR that serves its sender; the processor validates and hands
// decoded messages to the PROTOCOL actor, which owns the node's state and
// gives what it sends to the OUTGOING PEER actor of each link. The NODE
// SUPERVISOR spawns every one of them, hands them each other's handles,
// replaces one that fails, and is the node's front door for users (quiltd's
// line interface, the console).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>
#include <caf/replies_to.hpp>

#include <caf/allowed_unsafe_message_type.hpp>

#include "quilt/config.hpp"
#include "quilt/link.hpp"
#include "quilt/reload.hpp"
#include "quilt/stats.hpp"
#include "quilt/types.hpp"

// -- atoms (at most 10 characters) --------------------------------------------

CAF_ADD_ATOM(quilt, quilt, tick_atom, "tick")
CAF_ADD_ATOM(quilt, quilt, connect_atom, "connect")
CAF_ADD_ATOM(quilt, quilt, ping_atom, "ping")
CAF_ADD_ATOM(quilt, quilt, send_atom, "send")
CAF_ADD_ATOM(quilt, quilt, peers_atom, "peers")
CAF_ADD_ATOM(quilt, quilt, inbox_atom, "inbox")
CAF_ADD_ATOM(quilt, quilt, stats_atom, "stats")
CAF_ADD_ATOM(quilt, quilt, status_atom, "status")
CAF_ADD_ATOM(quilt, quilt, subscribe_atom, "subscribe")
CAF_ADD_ATOM(quilt, quilt, shutdown_atom, "shutdown")
CAF_ADD_ATOM(quilt, quilt, timeout_atom, "timeout")
CAF_ADD_ATOM(quilt, quilt, routes_atom, "routes")
CAF_ADD_ATOM(quilt, quilt, children_atom, "children")
CAF_ADD_ATOM(quilt, quilt, nodes_atom, "nodes")
CAF_ADD_ATOM(quilt, quilt, select_atom, "select")
CAF_ADD_ATOM(quilt, quilt, topology_atom, "topology")
CAF_ADD_ATOM(quilt, quilt, summary_atom, "summary")
CAF_ADD_ATOM(quilt, quilt, open_atom, "open")
CAF_ADD_ATOM(quilt, quilt, close_atom, "close")
CAF_ADD_ATOM(quilt, quilt, link_atom, "link")
CAF_ADD_ATOM(quilt, quilt, wire_atom, "wire")
CAF_ADD_ATOM(quilt, quilt, every_atom, "every")
CAF_ADD_ATOM(quilt, quilt, stall_atom, "stall")
CAF_ADD_ATOM(quilt, quilt, confirm_atom, "confirm")
CAF_ADD_ATOM(quilt, quilt, reload_atom, "reload")

namespace quilt {

/// The EVENT SINK actor interface: receives what a node wants to show, a
/// batch at a time. Its answer acknowledges the batch: the node sends the
/// next one only then, so a slow sink holds back the node's events (which
/// it bounds, see event_queue) instead of filling a mailbox or a socket.
using event_sink_actor =
  caf::typed_actor<caf::replies_to<event_batch>::with<bool>>;

/// The OUTGOING PEER actor interface: one per link, owns its bounded queue.
using peer_link_actor = caf::typed_actor<
  /// Queues messages for the link's peer, with their bytes in the budgets.
  caf::reacts_to<message_batch, bytes_credit>,
  /// From the supervisor: stop once what came before is on the link, so
  /// that the link counts whatever it then drops.
  caf::reacts_to<close_atom>>;

/// An outgoing peer actor as the protocol actor holds it: the actor, the
/// counters of its link, and the messages sent to it but not yet taken
/// (bounded by queue_limit).
struct peer_link_handle {
  peer_link_actor actor;
  link_counters_ptr counters;
  std::shared_ptr<std::atomic<int64_t>> inflight;
};

/// What a reload hands the protocol actor (SPEC §15): the plan, and the
/// configuration with it applied (its peers, keys and dial policy are the
/// protocol's from now on).
struct reload_changes {
  reload_plan plan;
  node_config cfg;
};

/// The requests a node answers for its users (line interface, console).
using node_requests_actor = caf::typed_actor<
  /// Dials a peer; false when address:port is this node.
  caf::replies_to<connect_atom, std::string, uint16_t>::with<bool>,
  /// Pings a node with the given ttl and waits up to the timeout (ms).
  caf::replies_to<ping_atom, std::string, uint8_t, uint32_t>::with<ping_result>,
  /// The same, collecting every answer that comes within the timeout (a
  /// ping to all: one per node that got it).
  caf::replies_to<ping_atom, std::string, uint8_t, uint32_t, every_atom>::with<
    std::vector<ping_result>>,
  /// Sends a text message to a node or `all`.
  caf::replies_to<send_atom, std::string, std::string>::with<send_result>,
  /// Waits for the outcome of msg `id` that this node originated (SPEC
  /// §14): answered when its destination confirms it or the node gives up
  /// on it (within delivery_timeout_ms), at once when that is known already
  /// or nothing waits for that id (send_result's error says which).
  caf::replies_to<confirm_atom, uint64_t>::with<send_result>,
  /// Lists peers.
  caf::replies_to<peers_atom>::with<std::vector<peer_info>>,
  /// Lists routes (neighbours with hops 1; not this node).
  caf::replies_to<routes_atom>::with<std::vector<route_entry>>,
  /// This node's view of the mesh.
  caf::replies_to<topology_atom>::with<mesh_topology>,
  /// Returns the last N inbox entries.
  caf::replies_to<inbox_atom, uint32_t>::with<std::vector<inbox_entry>>,
  /// Returns the node's counters, all stages summed.
  caf::replies_to<stats_atom>::with<node_stats>,
  /// Returns the node's summary.
  caf::replies_to<status_atom>::with<node_status>,
  /// Returns the node's name, peers up and routes (a simulation's `nodes`).
  /// With `want` > 0, a node holding fewer advertisements than that
  /// answers without computing routes (routes: a lower bound, hop_sum 0):
  /// a convergence check need not pay a route computation per node while
  /// the flood is still on its way.
  caf::replies_to<summary_atom, uint32_t>::with<node_summary>,
  /// Sends node events to the sink from now on, until it goes down (the
  /// node monitors it); answers once the events are on their way.
  caf::replies_to<subscribe_atom, event_sink_actor>::with<bool>>;

/// The PROTOCOL actor interface: owns the node's state (peers, inbox, dedupe,
/// counters) and runs quilt::protocol.
using protocol_actor = node_requests_actor::extend<
  /// Validated messages from a processor.
  caf::reacts_to<decoded_frames>,
  /// Messages from a direct link, passed on by the incoming link.
  caf::reacts_to<direct_batch>,
  /// From the supervisor: the outgoing peer actor serving link `id`.
  caf::reacts_to<link_atom, link_id, peer_link_handle>,
  /// Timer: heartbeats and dead-neighbour detection.
  caf::reacts_to<tick_atom, uint64_t>,
  /// Timer: a ping request with this id gave up waiting.
  caf::reacts_to<timeout_atom, uint64_t>,
  /// A simulation's `stall` (SPEC §13): the node's timers are held for
  /// this many ms, as under SIGSTOP (its network holds what is sent to it).
  caf::reacts_to<stall_atom, uint64_t>,
  /// From the supervisor, a reload: closes removed peers' links, dials
  /// added ones, takes the new dial policy and keys; answers how many
  /// links it closed because their key is no longer authorized.
  caf::replies_to<reload_atom, reload_changes>::with<uint32_t>>;

/// The PROCESSOR actor interface: decodes and validates raw frames.
using processor_actor = caf::typed_actor<
  /// Raw messages admitted by the incoming link.
  caf::reacts_to<inbound_frames>,
  /// From the supervisor: the protocol actor to hand messages to.
  caf::reacts_to<wire_atom, protocol_actor>>;

/// The INCOMING LINK actor interface: one per node, the listener's sink
/// (the original's incoming thread). It admits or rejects what arrives and
/// keeps each sender's messages in order on one processor; typed messages
/// from a direct link need no decoding and go to the protocol actor.
using incoming_link_actor = caf::typed_actor<
  /// Raw messages read from the listening socket.
  caf::reacts_to<inbound_frames>,
  /// Typed messages from a direct link.
  caf::reacts_to<direct_batch>,
  /// From the supervisor: the processors and the protocol actor.
  caf::reacts_to<wire_atom, std::vector<processor_actor>, protocol_actor>>;

/// The NODE SUPERVISOR actor interface: the node's front door. It answers
/// users' requests (by delegating to the protocol actor) and owns the
/// lifecycle; internal traffic never goes through it.
using node_actor = node_requests_actor::extend<
  /// Shuts the node down cleanly; answers true first.
  caf::replies_to<shutdown_atom>::with<bool>,
  /// The supervised children: the protocol actor, the processors, the
  /// incoming link, then the outgoing peer actors.
  caf::replies_to<children_atom>::with<std::vector<caf::actor>>,
  /// Simulation only: every node's summary. A single node answers
  /// ec::not_a_simulation.
  caf::replies_to<nodes_atom>::with<std::vector<node_summary>>,
  /// Simulation only: the node of that name, for `--node NAME`.
  caf::replies_to<select_atom, std::string>::with<caf::actor>,
  /// Reads the node's config file again and applies what may change while
  /// it runs (SPEC §15); a file that fails to load changes nothing.
  caf::replies_to<reload_atom>::with<reload_report>>;

/// The NODE SUPERVISOR's full interface: the front door plus what its own
/// protocol actor asks of it. Only node_actor is ever handed out.
using supervisor_actor = node_actor::extend<
  /// Spawns an outgoing peer actor for link `id` to the endpoint; answers
  /// the protocol actor with link_atom.
  caf::reacts_to<open_atom, link_id, std::string, std::string>,
  /// Stops the outgoing peer actor of link `id`.
  caf::reacts_to<close_atom, link_id>>;

} // namespace quilt

// Local-only messages: they carry shared pointers and never cross a process.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quilt::direct_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quilt::inbound_frames)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quilt::decoded_frames)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quilt::peer_link_handle)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quilt::bytes_credit)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(quilt::reload_changes)

// -- type IDs -----------------------------------------------------------------

CAF_BEGIN_TYPE_ID_BLOCK(quilt, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(quilt, (quilt::message))
  CAF_ADD_TYPE_ID(quilt, (quilt::decoded))
  CAF_ADD_TYPE_ID(quilt, (quilt::decoded_batch))
  CAF_ADD_TYPE_ID(quilt, (quilt::message_batch))
  CAF_ADD_TYPE_ID(quilt, (quilt::inbound_batch))
  CAF_ADD_TYPE_ID(quilt, (quilt::ping_result))
  CAF_ADD_TYPE_ID(quilt, (std::vector<quilt::ping_result>))
  CAF_ADD_TYPE_ID(quilt, (quilt::send_result))
  CAF_ADD_TYPE_ID(quilt, (quilt::node_status))
  CAF_ADD_TYPE_ID(quilt, (quilt::node_event))
  CAF_ADD_TYPE_ID(quilt, (quilt::node_stats))
  CAF_ADD_TYPE_ID(quilt, (quilt::peer_info))
  CAF_ADD_TYPE_ID(quilt, (std::vector<quilt::peer_info>))
  CAF_ADD_TYPE_ID(quilt, (quilt::inbox_entry))
  CAF_ADD_TYPE_ID(quilt, (std::vector<quilt::inbox_entry>))
  CAF_ADD_TYPE_ID(quilt, (quilt::event_sink_actor))
  CAF_ADD_TYPE_ID(quilt, (quilt::route_entry))
  CAF_ADD_TYPE_ID(quilt, (std::vector<quilt::route_entry>))
  CAF_ADD_TYPE_ID(quilt, (quilt::mesh_topology))
  CAF_ADD_TYPE_ID(quilt, (quilt::node_summary))
  CAF_ADD_TYPE_ID(quilt, (std::vector<quilt::node_summary>))
  CAF_ADD_TYPE_ID(quilt, (quilt::event_batch))
  CAF_ADD_TYPE_ID(quilt, (std::vector<quilt::node_event>))
  CAF_ADD_TYPE_ID(quilt, (quilt::reload_report))
CAF_END_TYPE_ID_BLOCK(quilt)
