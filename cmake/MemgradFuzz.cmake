# MEMGRAD_FUZZ: every C++ file is compiled with libFuzzer's coverage instrumentation and with
# AddressSanitizer + UndefinedBehaviorSanitizer (a UB report aborts, so libFuzzer keeps the input);
# the targets in fuzz/ then link libFuzzer's main (-fsanitize=fuzzer). Needs clang (Debian: clang,
# libclang-rt-14-dev for the runtimes, libomp-dev for OpenMP); scripts/fuzz.sh installs them.
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "MEMGRAD_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++ "
                      "(scripts/fuzz.sh does), not ${CMAKE_CXX_COMPILER_ID}")
endif()
set(MEMGRAD_FUZZ_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer -gline-tables-only
    -Wno-pass-failed)  # instrumented `omp simd` loops do not vectorise: expected here, not a defect

add_compile_options(${MEMGRAD_FUZZ_FLAGS})  # C++ only: the fuzz build has no CUDA
add_link_options(-fsanitize=address,undefined)
