# cmake -DIN=file -DOUT=header.h -DSYMBOL=kName -P embed_file.cmake
# Writes a header holding IN's bytes as `inline constexpr std::string_view SYMBOL`. A char array
# rather than one string literal: literals past 64 KiB draw -Woverlength-strings under -Wpedantic,
# and no byte of the file needs escaping this way.
file(READ "${IN}" _hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," _bytes "${_hex}")
string(REGEX REPLACE "(('\\\\x..',){16})" "\\1\n" _bytes "${_bytes}")
get_filename_component(_name "${IN}" NAME)
file(WRITE "${OUT}"
  "// Generated at build time from ${_name} (cmake/embed_file.cmake); do not edit.\n"
  "#pragma once\n#include <string_view>\n\n"
  "namespace pensieve::embedded {\n"
  "inline constexpr char ${SYMBOL}Bytes[] = {\n${_bytes}};\n"
  "inline constexpr std::string_view ${SYMBOL}{${SYMBOL}Bytes, sizeof ${SYMBOL}Bytes};\n"
  "}  // namespace pensieve::embedded\n")
