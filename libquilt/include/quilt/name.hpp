// Node names (SPEC §2).
#pragma once

#include <string_view>

namespace quilt {

/// True for `[A-Za-z0-9][A-Za-z0-9._:-]{0,63}` and not a reserved word.
bool is_valid_name(std::string_view name);

/// True for a valid name or one of the broadcast names `all` and `*`.
bool is_valid_destination(std::string_view name);

} // namespace quilt
