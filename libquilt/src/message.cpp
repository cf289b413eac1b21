#include "quilt/message.hpp"

#include "quilt/packed.hpp"
#include "quilt/routing.hpp"

namespace quilt {

namespace {

/// Frames before the first arg: destination, command, origin, id, ttl.
constexpr size_t header_frames = 5;

} // namespace

size_t message::arg_count() const {
  if (!args.empty())
    return args.size();
  if (advert)
    return 1;
  auto n = unpack_frames(wire, nullptr, 0);
  return n > header_frames ? n - header_frames : 0;
}

std::string_view message::arg(size_t i) const {
  if (!args.empty())
    return args[i];
  if (advert)
    return advert->text;
  return packed_frame(wire, header_frames + i);
}

const char* to_string(command x) {
  switch (x) {
  case command::server_connect:
    return "server_connect";
  case command::ping:
    return "ping";
  case command::pong:
    return "pong";
  case command::msg:
    return "msg";
  case command::error:
    return "error";
  case command::link_state:
    return "link_state";
  case command::link_ack:
    return "link_ack";
  case command::link_summary:
    return "link_summary";
  case command::msg_ack:
    return "msg_ack";
  }
  return "?";
}

std::optional<command> parse_command(std::string_view token) {
  // Dispatch on the length first: one comparison for each known token.
  switch (token.size()) {
  case 3:
    if (token == "msg")
      return command::msg;
    break;
  case 4:
    if (token == "ping")
      return command::ping;
    if (token == "pong")
      return command::pong;
    break;
  case 5:
    if (token == "error")
      return command::error;
    break;
  case 7:
    if (token == "msg_ack")
      return command::msg_ack;
    break;
  case 8:
    if (token == "link_ack")
      return command::link_ack;
    break;
  case 10:
    if (token == "link_state")
      return command::link_state;
    break;
  case 12:
    if (token == "link_summary")
      return command::link_summary;
    break;
  case 14:
    if (token == "server_connect")
      return command::server_connect;
    break;
  default:
    break;
  }
  return std::nullopt;
}

} // namespace quilt
