# The web chat page is served from the binary: src/server/web/chat.html becomes a char array in
# a generated header, rebuilt whenever the page changes.
set(_chat_page "${CMAKE_SOURCE_DIR}/src/server/web/chat.html")
set(_chat_header "${CMAKE_BINARY_DIR}/generated/server/web/chat_html.h")
add_custom_command(OUTPUT "${_chat_header}"
  COMMAND ${CMAKE_COMMAND} -DIN=${_chat_page} -DOUT=${_chat_header} -DSYMBOL=kChatHtml
          -P "${CMAKE_SOURCE_DIR}/cmake/embed_file.cmake"
  DEPENDS "${_chat_page}" "${CMAKE_SOURCE_DIR}/cmake/embed_file.cmake"
  COMMENT "Embedding the web chat page")
target_sources(pensieve_server PRIVATE "${_chat_header}")
target_include_directories(pensieve_server PRIVATE "${CMAKE_BINARY_DIR}/generated")
