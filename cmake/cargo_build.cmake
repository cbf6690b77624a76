# Script run at build time by grammar.cmake: builds the llguidance wrapper crate and copies
# llguidance.h (shipped inside the crate) next to the library.
execute_process(
  COMMAND "${CARGO}" build --release --locked --quiet
          --manifest-path "${CRATE_DIR}/Cargo.toml" --target-dir "${TARGET_DIR}"
  RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cargo build of ${CRATE_DIR} failed (${_rc})")
endif()

# Not --offline: metadata resolves the dependencies of every platform (bitflags for Redox's
# syscalls, say), which the build above never downloads on a machine whose cargo cache is empty.
execute_process(
  COMMAND "${CARGO}" metadata --format-version 1 --locked
          --manifest-path "${CRATE_DIR}/Cargo.toml"
  OUTPUT_VARIABLE _metadata RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cargo metadata of ${CRATE_DIR} failed (${_rc})")
endif()
string(JSON _count LENGTH "${_metadata}" packages)
math(EXPR _last "${_count} - 1")
foreach(_i RANGE ${_last})
  string(JSON _name GET "${_metadata}" packages ${_i} name)
  if(_name STREQUAL "llguidance")
    string(JSON _manifest GET "${_metadata}" packages ${_i} manifest_path)
    get_filename_component(_dir "${_manifest}" DIRECTORY)
    file(COPY_FILE "${_dir}/llguidance.h" "${INCLUDE_DIR}/llguidance.h" ONLY_IF_DIFFERENT)
    # The library's mtime tells the build that it is fresh, even when cargo had nothing to do.
    file(TOUCH_NOCREATE "${TARGET_DIR}/release/libpensieve_llguidance.a")
    return()
  endif()
endforeach()
message(FATAL_ERROR "llguidance not found in the metadata of ${CRATE_DIR}")
