# The Hugging Face BPE tokenizer (dynamo-tokenize) against the `tokenizers` package, on
# tokenizer.json files trained by our trainer and by `tokenizers` itself (tokenizer_golden.py).
if(TARGET dynamo-tokenize)
  add_test(NAME golden_tokenizer
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer_golden.py
            --tool $<TARGET_FILE:dynamo-tokenize> --workdir ${CMAKE_CURRENT_BINARY_DIR}/tokenizer)
  set_tests_properties(golden_tokenizer PROPERTIES LABELS golden TIMEOUT 300)
else()
  message(STATUS "dynamo: golden tokenizer test needs dynamo-tokenize; skipped")
endif()
