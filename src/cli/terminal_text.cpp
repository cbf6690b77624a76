#include "cli/terminal_text.h"

#include <unistd.h>

namespace pensieve::cli {

std::string printable_on_terminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n' || c == '\t') {
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += '^';
      out += static_cast<char>(c ^ 0x40);  // ^@ .. ^_, and ^? for DEL
    } else if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      out += "\xef\xbf\xbd";  // U+FFFD for the two-byte encoding of a C1 control
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool stdout_is_terminal() { return isatty(STDOUT_FILENO) != 0; }

}  // namespace pensieve::cli
