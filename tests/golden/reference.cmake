# The reference engine's forward pass against an independent NumPy implementation
# (reference_forward.py), on tiny models written by dynamo-synth (the script may edit their RoPE
# settings in config.json).
if(TARGET dynamo-logits AND TARGET dynamo-synth)
  set(DYNAMO_REFERENCE_GOLDEN_SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/reference_forward.py)
  set(DYNAMO_REFERENCE_GOLDEN_WORK ${CMAKE_CURRENT_BINARY_DIR}/reference)

  # dynamo_reference_golden(<name> <script arguments>...) registers golden_reference_<name>.
  function(dynamo_reference_golden name)
    add_test(NAME golden_reference_${name}
      COMMAND ${Python3_EXECUTABLE} ${DYNAMO_REFERENCE_GOLDEN_SCRIPT}
              --tool $<TARGET_FILE:dynamo-logits> --synth $<TARGET_FILE:dynamo-synth>
              --work ${DYNAMO_REFERENCE_GOLDEN_WORK}/${name} ${ARGN})
    set_tests_properties(golden_reference_${name} PROPERTIES LABELS golden TIMEOUT 300)
  endfunction()

  # Llama, bf16 weights, tied embeddings, llama3 RoPE scaling, GQA (4 heads / 2 kv heads).
  dynamo_reference_golden(llama_bf16 --synth-args "--dtype bf16")
  # Qwen2, f32 weights: q/k/v biases, tied embeddings; prefill in chunks of 5 tokens.
  dynamo_reference_golden(qwen2_f32 --synth-args "--arch qwen2 --dtype f32" --chunk 5)
  # Llama from two shards, untied lm_head, plain RoPE, a longer prompt over several blocks.
  dynamo_reference_golden(llama_untied_sharded --synth-args "--dtype f32 --shards 2 --untied"
                          --rope none --prompt-len 40 --decode 4)
  # Linear RoPE scaling, single compute thread.
  dynamo_reference_golden(llama_linear_rope --synth-args "--dtype bf16" --rope linear
                          --threads 1)
else()
  message(STATUS "dynamo: golden reference tests need dynamo-logits and dynamo-synth; skipped")
endif()
