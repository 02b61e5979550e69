# One function per kind of target. Sources are globbed so that adding a file never needs a
# CMake edit: every *.cpp under a library folder is part of the library, every *.test.cpp is
# part of that library's unit-test executable.

# GCC 12 at -O3 reports -Wmaybe-uninitialized false positives deep inside kj promise and CAF
# expected<T> templates (third-party code inlined into ours), so that check is off for GCC.
set(DYNAMO_WARNINGS -Wall -Wextra -Wpedantic $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>
    $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>
    -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual -Wno-missing-field-initializers)

# Applies warnings, -Werror and sanitizers to a target.
function(dynamo_target_flags target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${DYNAMO_WARNINGS}>)
  if(DYNAMO_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
  endif()
endfunction()

if(DYNAMO_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# dynamo_add_library(NAME <name> DIR <folder> [PUBLIC_DEPS ...] [PRIVATE_DEPS ...] [TEST_DEPS ...])
# Creates dynamo_<name> with alias dynamo::<name>. The include root is <DIR>; headers live in
# <DIR>/dynamo/... so that include paths mirror the namespace. Builds dynamo_<name>_tests from
# the *.test.cpp files and registers them with CTest (label "unit").
function(dynamo_add_library)
  cmake_parse_arguments(A "" "NAME;DIR" "PUBLIC_DEPS;PRIVATE_DEPS;TEST_DEPS;EXCLUDE" ${ARGN})
  file(GLOB_RECURSE all_cpp CONFIGURE_DEPENDS ${A_DIR}/*.cpp)
  set(srcs "")
  set(tests "")
  foreach(f IN LISTS all_cpp)
    if(f MATCHES "\\.test\\.cpp$")
      list(APPEND tests ${f})
    elseif(f MATCHES "\\.fail\\.cpp$")
      # compile-fail sources are driven by tests/compile_fail
    else()
      list(APPEND srcs ${f})
    endif()
  endforeach()
  set(lib dynamo_${A_NAME})
  if(NOT srcs)
    message(STATUS "dynamo: ${A_NAME} has no sources yet; skipped")
    return()
  endif()
  add_library(${lib} ${srcs})
  add_library(dynamo::${A_NAME} ALIAS ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${A_NAME} OUTPUT_NAME dynamo_${A_NAME})
  target_include_directories(${lib} PUBLIC
    $<BUILD_INTERFACE:${A_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${lib} PUBLIC ${A_PUBLIC_DEPS} PRIVATE ${A_PRIVATE_DEPS})
  dynamo_target_flags(${lib})
  set_property(GLOBAL APPEND PROPERTY DYNAMO_LIBRARIES ${lib})
  set_property(GLOBAL APPEND PROPERTY DYNAMO_HEADER_DIRS ${A_DIR})
  if(DYNAMO_BUILD_TESTS AND tests)
    add_executable(${lib}_tests ${tests})
    target_link_libraries(${lib}_tests PRIVATE ${lib} ${A_TEST_DEPS} dynamo::testing GTest::gmock_main GTest::gtest GTest::gmock)
    dynamo_target_flags(${lib}_tests)
    gtest_discover_tests(${lib}_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit TIMEOUT 120)
  endif()
endfunction()

# dynamo_add_executable(NAME <name> SOURCES ... DEPS ...)
function(dynamo_add_executable)
  cmake_parse_arguments(A "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_executable(${A_NAME} ${A_SOURCES})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS})
  dynamo_target_flags(${A_NAME})
endfunction()

# dynamo_add_test(NAME <name> SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s])
# A cross-module gtest executable under tests/.
function(dynamo_add_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  add_executable(${A_NAME} ${A_SOURCES})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} dynamo::testing GTest::gmock_main GTest::gtest GTest::gmock)
  dynamo_target_flags(${A_NAME})
  gtest_discover_tests(${A_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT})
endfunction()
