# Golden test of the C++ Jinja engine: dynamo-template against Python's jinja2 configured as
# Hugging Face transformers configures it, over the public chat templates in chat_templates/.
if(TARGET dynamo-template)
  add_test(NAME golden_jinja
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/jinja_golden.py
            --tool $<TARGET_FILE:dynamo-template>
            --templates ${CMAKE_CURRENT_SOURCE_DIR}/chat_templates)
  set_tests_properties(golden_jinja PROPERTIES LABELS golden TIMEOUT 300)
endif()
