# Golden check of the model synthesizer: the checkpoints dynamo-synth writes are read back with
# the `safetensors` and `tokenizers` packages and jinja2 (check_checkpoint.py).
if(TARGET dynamo-synth)
  add_test(NAME golden_model_checkpoint
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/check_checkpoint.py
            --tool $<TARGET_FILE:dynamo-synth>
            --work ${CMAKE_CURRENT_BINARY_DIR}/model_checkpoint)
  set_tests_properties(golden_model_checkpoint PROPERTIES LABELS golden TIMEOUT 300)
endif()
