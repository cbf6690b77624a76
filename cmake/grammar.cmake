# Constrained decoding (src/grammar) on llguidance, a Rust crate with a C API. Cargo builds it
# from crates.io at the versions pinned in third_party/llguidance/Cargo.lock, into this build
# folder; the C++ side links the resulting static library.
#
# PENSIEVE_LLGUIDANCE_DIR: a folder holding a prebuilt libpensieve_llguidance.a and
# include/llguidance.h (as a build folder's cargo/release and cargo/include hold them), for
# machines that cannot reach crates.io; cargo is then not needed.
set(PENSIEVE_LLGUIDANCE_DIR "" CACHE PATH "Prebuilt llguidance (skips cargo)")
if(PENSIEVE_LLGUIDANCE_DIR)
  add_library(llguidance STATIC IMPORTED GLOBAL)
  set_target_properties(llguidance PROPERTIES
    IMPORTED_LOCATION "${PENSIEVE_LLGUIDANCE_DIR}/libpensieve_llguidance.a"
    INTERFACE_INCLUDE_DIRECTORIES "${PENSIEVE_LLGUIDANCE_DIR}/include"
    INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m")
  pensieve_module(pensieve_grammar grammar pensieve_common llguidance)
  target_link_libraries(pensieve_engine PUBLIC pensieve_grammar)
  return()
endif()

find_program(CARGO cargo HINTS "$ENV{CARGO_HOME}/bin" "$ENV{HOME}/.cargo/bin")
if(NOT CARGO)
  message(FATAL_ERROR "cargo (Rust >= 1.87) is needed to build llguidance: run scripts/setup.sh")
endif()

set(_llg_crate "${CMAKE_SOURCE_DIR}/third_party/llguidance")
# One cargo target folder for every build configuration: the library is built once.
set(_llg_target "${CMAKE_SOURCE_DIR}/.cache/cargo-target")
set(_llg_include "${CMAKE_BINARY_DIR}/cargo/include")
set(_llg_lib "${_llg_target}/release/libpensieve_llguidance.a")
file(MAKE_DIRECTORY "${_llg_include}")

add_custom_command(
  OUTPUT "${_llg_lib}" "${_llg_include}/llguidance.h"
  COMMAND "${CMAKE_COMMAND}" "-DCARGO=${CARGO}" "-DCRATE_DIR=${_llg_crate}"
          "-DTARGET_DIR=${_llg_target}" "-DINCLUDE_DIR=${_llg_include}"
          -P "${CMAKE_SOURCE_DIR}/cmake/cargo_build.cmake"
  DEPENDS "${_llg_crate}/Cargo.toml" "${_llg_crate}/Cargo.lock" "${_llg_crate}/src/lib.rs"
          "${CMAKE_SOURCE_DIR}/cmake/cargo_build.cmake"
  COMMENT "Building llguidance with cargo"
  USES_TERMINAL)
add_custom_target(llguidance_cargo DEPENDS "${_llg_lib}" "${_llg_include}/llguidance.h")

add_library(llguidance STATIC IMPORTED GLOBAL)
set_target_properties(llguidance PROPERTIES
  IMPORTED_LOCATION "${_llg_lib}"
  INTERFACE_INCLUDE_DIRECTORIES "${_llg_include}"
  INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m")
add_dependencies(llguidance llguidance_cargo)

pensieve_module(pensieve_grammar grammar pensieve_common llguidance)
add_dependencies(pensieve_grammar llguidance_cargo)
target_link_libraries(pensieve_engine PUBLIC pensieve_grammar)
