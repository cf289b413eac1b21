// The text tables a person reads: quilt-console's and quiltd's line
// interface print peers and routes through the same code, so the two show
// the same columns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quilt/protocol.hpp"
#include "quilt/routing.hpp"

namespace quilt {

/// Rows as columns padded to their widest cell (two spaces between).
std::string text_table(const std::vector<std::vector<std::string>>& rows);

/// Microseconds as "1.234 ms".
std::string format_ms(uint64_t us);

/// NAME ADDRESS PORT STATE RTT LAST SEEN, or "no peers".
std::string peers_table(const std::vector<peer_info>& peers);

/// DESTINATION NEXT HOP HOPS, or "no routes".
std::string routes_table(const std::vector<route_entry>& routes);

} // namespace quilt
