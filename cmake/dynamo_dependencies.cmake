# Finds every third-party dependency once and exposes it as an imported target.
# All of them come from Debian packages installed by scripts/setup.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(spdlog 1.10 REQUIRED)
find_package(fmt 9 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CapnProto 0.9 REQUIRED)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)    # tokenizer pre-tokenization regexes
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)  # tokenizer NFC normalization
if(DYNAMO_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
include(FindCAF)
