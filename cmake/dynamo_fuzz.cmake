# Fuzz targets (docs/design/fuzzing.md). A fuzz source defines
#   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
# dynamo_add_fuzz_target() always builds fuzz_smoke_<name>: the source linked with our driver
# (tests/fuzz/driver.cpp: every seed, then deterministic mutations), registered with ctest
# (label "fuzz"). With -DDYNAMO_FUZZ=ON and clang it also builds fuzz_<name>, a libFuzzer
# binary (-fsanitize=fuzzer,address,undefined), which ctest does not run.

option(DYNAMO_FUZZ "Build libFuzzer binaries fuzz_<name> (needs clang and libclang-rt-*-dev)" OFF)
set(DYNAMO_FUZZ_SMOKE_RUNS 10000 CACHE STRING "Mutated inputs each fuzz_smoke_* test runs")

set(DYNAMO_FUZZ_DRIVER ${CMAKE_CURRENT_LIST_DIR}/../tests/fuzz/driver.cpp)
set(DYNAMO_FUZZ_SUPPORT ${CMAKE_CURRENT_LIST_DIR}/../tests/fuzz/support)

if(DYNAMO_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DYNAMO_FUZZ=ON needs clang (CXX=clang++-14), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  # Coverage feedback for every library the fuzz binaries link; libFuzzer's main comes only
  # with -fsanitize=fuzzer on the fuzz binaries themselves. The sanitizer runtimes satisfy the
  # coverage hooks of every other executable.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# dynamo_add_fuzz_target(NAME <name> SOURCES <files> DEPS <libs> [SEEDS <dir>])
# SEEDS defaults to tests/fuzz/seeds/<name> when that folder exists.
function(dynamo_add_fuzz_target)
  cmake_parse_arguments(A "" "NAME;SEEDS" "SOURCES;DEPS" ${ARGN})
  if(NOT A_NAME OR NOT A_SOURCES)
    message(FATAL_ERROR "dynamo_add_fuzz_target needs NAME and SOURCES")
  endif()
  foreach(dep IN LISTS A_DEPS)
    if(dep MATCHES "::" AND NOT TARGET ${dep})
      message(STATUS "dynamo: fuzz target ${A_NAME} skipped (${dep} is not built)")
      return()
    endif()
  endforeach()
  if(NOT A_SEEDS AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/seeds/${A_NAME})
    set(A_SEEDS ${CMAKE_CURRENT_SOURCE_DIR}/seeds/${A_NAME})
  endif()

  set(smoke fuzz_smoke_${A_NAME})
  add_executable(${smoke} ${A_SOURCES} ${DYNAMO_FUZZ_DRIVER})
  target_include_directories(${smoke} PRIVATE ${DYNAMO_FUZZ_SUPPORT})
  target_link_libraries(${smoke} PRIVATE ${A_DEPS})
  dynamo_target_flags(${smoke})
  set_property(GLOBAL APPEND PROPERTY DYNAMO_FUZZ_TARGETS ${smoke})
  if(DYNAMO_BUILD_TESTS)
    set(artifacts ${CMAKE_CURRENT_BINARY_DIR}/artifacts/${A_NAME})
    file(MAKE_DIRECTORY ${artifacts})
    add_test(NAME ${smoke}
             COMMAND ${smoke} --runs ${DYNAMO_FUZZ_SMOKE_RUNS} --seed 1
                     --artifact-prefix ${artifacts}/ ${A_SEEDS})
    set_tests_properties(${smoke} PROPERTIES LABELS fuzz TIMEOUT 120)
  endif()

  if(DYNAMO_FUZZ)
    set(real fuzz_${A_NAME})
    add_executable(${real} ${A_SOURCES})
    target_include_directories(${real} PRIVATE ${DYNAMO_FUZZ_SUPPORT})
    target_link_libraries(${real} PRIVATE ${A_DEPS})
    target_compile_options(${real} PRIVATE -fsanitize=fuzzer)
    target_link_options(${real} PRIVATE -fsanitize=fuzzer)
    set_property(GLOBAL APPEND PROPERTY DYNAMO_FUZZ_TARGETS ${real})
  endif()
endfunction()
