#pragma once
// Generated text on its way to a terminal. A model can emit any byte-fallback token, control
// characters included, and a terminal acts on those: ESC and the C1 controls (U+0080-U+009F)
// begin sequences that move the cursor, switch screens, or swallow all later output until a
// terminator (DCS, OSC, APC...). Shown instead: C0 controls and DEL in caret notation (^[ for
// ESC, as the terminal echoes ^C), C1 controls as U+FFFD. Tabs and newlines pass. Text written
// to a pipe or a file is left exact; only a terminal gets this.
#include <string>
#include <string_view>

namespace pensieve::cli {

// `text` is whole UTF-8 characters (the stream decoder never splits one).
std::string printable_on_terminal(std::string_view text);

// Whether standard output is a terminal (then generated text goes through the above).
bool stdout_is_terminal();

}  // namespace pensieve::cli
