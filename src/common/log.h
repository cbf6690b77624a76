#pragma once
// Minimal leveled logging to stderr (DESIGN.md: logs go to stderr; stdout is for results).
#include <string_view>

namespace pensieve::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_level(Level level);
Level level();
Level parse_level(std::string_view name);  // throws pensieve::Error on an unknown name
void write(Level level, std::string_view message);

inline void debug(std::string_view m) { write(Level::debug, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void warn(std::string_view m) { write(Level::warn, m); }
inline void error(std::string_view m) { write(Level::error, m); }

}  // namespace pensieve::log
