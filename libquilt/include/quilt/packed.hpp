// A multipart message packed into one contiguous buffer: each frame is a
// 4-byte little-endian length followed by its bytes. One allocation per
// message instead of one per frame, on every hop between actors and sockets.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "quilt/message.hpp"

namespace quilt {

/// Appends one frame to a packed buffer.
inline void pack_frame(std::string& buf, std::string_view frame) {
  auto n = static_cast<uint32_t>(frame.size());
  char len[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                 static_cast<char>((n >> 16) & 0xff),
                 static_cast<char>((n >> 24) & 0xff)};
  buf.append(len, 4);
  buf.append(frame.data(), frame.size());
}

/// The length prefix of the frame at `pos` (room for it checked).
inline uint32_t frame_length(std::string_view buf, size_t pos) {
  auto p = reinterpret_cast<const unsigned char*>(buf.data() + pos);
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16
         | uint32_t{p[3]} << 24;
}

/// Splits a packed buffer into at most `max` frame views; returns the frame
/// count (which may exceed `max`: views past it are not written).
inline size_t unpack_frames(std::string_view buf, std::string_view* out,
                            size_t max) {
  size_t count = 0;
  size_t pos = 0;
  while (pos + 4 <= buf.size()) {
    uint32_t n = frame_length(buf, pos);
    pos += 4;
    if (n > buf.size() - pos)
      break; // truncated: never produced by pack_frame
    if (count < max)
      out[count] = buf.substr(pos, n);
    ++count;
    pos += n;
  }
  return count;
}

/// Frame `i` of a packed buffer; empty past the last one.
inline std::string_view packed_frame(std::string_view buf, size_t i) {
  size_t pos = 0;
  for (size_t k = 0; pos + 4 <= buf.size(); ++k) {
    uint32_t n = frame_length(buf, pos);
    pos += 4;
    if (n > buf.size() - pos)
      break;
    if (k == i)
      return buf.substr(pos, n);
    pos += n;
  }
  return {};
}

/// Packs the frames of `x` (destination first) into `out`, replacing it.
void pack_message(const message& x, std::string& out);

/// The same, for a message that is not needed afterwards: one that still
/// matches the frames it arrived as (message::wire) is sent as those frames
/// with the ttl rewritten, without copying them.
void pack_message(message&& x, std::string& out);

/// Packs a list of frames, for tests and foreign input.
std::string pack_frames(const std::vector<std::string>& frames);

} // namespace quilt
