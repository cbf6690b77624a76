# x86 kernel variants: each file gets its own instruction-set flags, and the dispatcher picks one
# at run time from the CPU's features (qmm_cpu.cpp), so the binary still runs on CPUs without
# AVX2 or AVX-512.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i.86)$")
  set(_k "${CMAKE_SOURCE_DIR}/src/kernels")
  target_sources(pensieve_kernels PRIVATE
    "${_k}/avx2/qmm_avx2.cpp"
    "${_k}/avx2/qmm_avx2_tiled.cpp"
    "${_k}/avx512/qmm_avx512vnni.cpp"
    "${_k}/avx2/attention_avx2.cpp"
    "${_k}/avx2/swiglu_avx2.cpp")
  set_source_files_properties("${_k}/avx2/qmm_avx2.cpp" "${_k}/avx2/qmm_avx2_tiled.cpp"
    "${_k}/avx2/attention_avx2.cpp" "${_k}/avx2/swiglu_avx2.cpp" PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
  set_source_files_properties("${_k}/avx512/qmm_avx512vnni.cpp" PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl;-mavx512vnni")
  # Attention's decode path for AVX-512 CPUs (kernels/attention_cpu.cpp picks it at run time).
  target_sources(pensieve_kernels PRIVATE "${_k}/avx512/attention_avx512.cpp")
  set_source_files_properties("${_k}/avx512/attention_avx512.cpp" PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl")
  target_compile_definitions(pensieve_kernels PRIVATE PENSIEVE_X86_KERNELS)
endif()

# Timing of the quantized matmul kernels against MLX's own op (bench/README.md).
add_executable(pensieve_kernels_bench "${CMAKE_SOURCE_DIR}/bench/kernels_bench.cpp")
target_link_libraries(pensieve_kernels_bench PRIVATE pensieve_kernels nlohmann_json::nlohmann_json
  pensieve_warnings)

# Decode-step attention alone over deep contexts, as GB/s of KV read (bench/README.md).
add_executable(pensieve_attention_bench "${CMAKE_SOURCE_DIR}/bench/attention_bench.cpp")
target_link_libraries(pensieve_attention_bench PRIVATE pensieve_model pensieve_kernels
  nlohmann_json::nlohmann_json pensieve_warnings)
