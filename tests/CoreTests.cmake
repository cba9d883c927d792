# The tests of a core-only build (G4_ENGINE_CORE_ONLY), included from tests/CMakeLists.txt: the
# Arm cross build runs them under qemu-aarch64 (scripts/test_arm.sh), on CI's two cores after
# the x86-64 tests, so the set is chosen to stay within a few minutes there. Measured with
# scripts/test_arm.sh in a fresh clone on the 2-core dev VM, shared (load average about 3):
# configure + build 3 min 12 s, tests 2 min 7 s under qemu (each golden pass about 60 s of CPU);
# at load average about 2: 2 min 39 s and 1 min 35 s.
# Left out: memory_estimate_test (it measures the RSS of qemu, not of g4), batch_decode_test
# (51 s under qemu; the kernels' batch invariance is checked by batch_invariance_test),
# safetensors_test, model_config_test and model_load_test (the golden test's cases load GGUF
# files and HF checkpoints), the chat-text tests (chat_template_test, output_parser_test,
# gemma_call_grammar_test) and gguf_writer_test, for their build time, and
# the tests that need media decoding, the CLI, the server, the hub or the fetched vocabulary.
set(G4_CORE_UNIT_TESTS
  # The kernels against their scalar twins at every SIMD level the CPU has, and in use.
  matmul_kernel_test ops_test attention_test dequantize_test batch_invariance_test bidirectional_attention_test
  # Model files (bounds and byte handling, where char's signedness differs between x86-64 and
  # Arm), the KV cache, sampling, constrained decoding over bytes.
  gguf_test gguf_corruption_test kv_cache_test sampler_test grammar_test)
list(TRANSFORM G4_CORE_UNIT_TESTS REPLACE "(.+)" "${CMAKE_CURRENT_SOURCE_DIR}/unit/\\1.cc")
# With the core build's own: media refused by no_media_decoding.cc.
g4_test_program(g4_unit_tests ${G4_CORE_UNIT_TESTS} ${CMAKE_CURRENT_SOURCE_DIR}/core/no_media_decoding_test.cc)
gtest_discover_tests(g4_unit_tests DISCOVERY_TIMEOUT 120 PROPERTIES TIMEOUT 600)

# Text logits of the tiny random models against their references at every Arm level qemu's
# `-cpu max` offers: the best (neon-dotprod) one test per process, then plain NEON and the
# scalar kernels forced, one process per suite (sparing qemu's start for each of the 49 tests).
g4_test_program(g4_golden_tests ${CMAKE_CURRENT_SOURCE_DIR}/golden/golden_test.cc)
gtest_discover_tests(g4_golden_tests DISCOVERY_TIMEOUT 120 PROPERTIES TIMEOUT 600)
foreach(level scalar neon)
  g4_golden_at_level(g4_golden_tests ${level} GoldenF32 GoldenKl)
endforeach()
