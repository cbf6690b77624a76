// Generated text shown on a terminal: control characters cannot reach it as controls.
#include <gtest/gtest.h>

#include "cli/terminal_text.h"

using pensieve::cli::printable_on_terminal;

TEST(TerminalText, PlainTextTabsAndNewlinesPassUnchanged) {
  const std::string text = "Hello,\tworld.\nПривет 世界 🙂 é\n";
  EXPECT_EQ(printable_on_terminal(text), text);
}

TEST(TerminalText, C0ControlsAndDeleteShowInCaretNotation) {
  EXPECT_EQ(printable_on_terminal("a\x1b[2Jb"), "a^[[2Jb");  // clear screen
  EXPECT_EQ(printable_on_terminal("x\ry"), "x^My");
  EXPECT_EQ(printable_on_terminal(std::string("\0\x07\x08\x7f", 4)), "^@^G^H^?");
  EXPECT_EQ(printable_on_terminal("\x1f"), "^_");
}

TEST(TerminalText, C1ControlsBecomeReplacementCharacters) {
  // U+0090 (DCS) and U+009D (OSC) start strings a terminal swallows output into; U+0085 is NEL.
  EXPECT_EQ(printable_on_terminal("a\xc2\x90" "b\xc2\x9d" "c\xc2\x85"), "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd");
  // Its neighbours in the C2 lead byte's range are ordinary characters: U+00A0, U+00E9 (é).
  EXPECT_EQ(printable_on_terminal("\xc2\xa0\xc3\xa9\xc2\x7f"), "\xc2\xa0\xc3\xa9\xc2^?");
}

TEST(TerminalText, NoControlByteSurvives) {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all += static_cast<char>(c);
  for (int c = 0x80; c <= 0x9f; ++c) all += {'\xc2', static_cast<char>(c)};
  const std::string out = printable_on_terminal(all);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto c = static_cast<unsigned char>(out[i]);
    EXPECT_TRUE(c >= 0x20 || c == '\n' || c == '\t') << "byte " << int(c) << " at " << i;
    EXPECT_NE(c, 0x7f);
    if (c == 0xc2 && i + 1 < out.size()) {
      EXPECT_GT(static_cast<unsigned char>(out[i + 1]), 0x9f);
    }
  }
}
