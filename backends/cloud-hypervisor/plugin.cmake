# plugin.cmake - the cloud-hypervisor backend plugin (libhal-cloud-hypervisor.so + manifest),
# its tests, fuzzer and conformance run. Included from CMakeLists.txt after the emulator.

add_library(hal_ch_backend STATIC
  ${CMAKE_CURRENT_LIST_DIR}/rest_client.cc
  ${CMAKE_CURRENT_LIST_DIR}/vmm_argv.cc
  ${CMAKE_CURRENT_LIST_DIR}/event_monitor.cc
  ${CMAKE_CURRENT_LIST_DIR}/capabilities.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm_config.cc
  ${CMAKE_CURRENT_LIST_DIR}/migration.cc
  ${CMAKE_CURRENT_LIST_DIR}/send_outcome.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm_controller.cc
  ${CMAKE_CURRENT_LIST_DIR}/ch_backend.cc)
target_include_directories(hal_ch_backend PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(hal_ch_backend
  PUBLIC hal::headers hal_backend_common hal_backend_tls hal_ch_protocol hal_core_spec
         hal_core_host nlohmann_json::nlohmann_json Threads::Threads
  PRIVATE hal_warnings Boost::system)
set_target_properties(hal_ch_backend hal_ch_protocol PROPERTIES CXX_VISIBILITY_PRESET hidden
                                                                VISIBILITY_INLINES_HIDDEN ON)

# The plugin: a MODULE exporting only hal_plugin_negotiate.
add_library(hal-cloud-hypervisor MODULE ${CMAKE_CURRENT_LIST_DIR}/plugin_entry.cc)
set_target_properties(hal-cloud-hypervisor PROPERTIES PREFIX lib CXX_VISIBILITY_PRESET hidden
                                                      VISIBILITY_INLINES_HIDDEN ON)
target_link_libraries(hal-cloud-hypervisor PRIVATE hal_ch_backend hal_warnings)
target_link_options(hal-cloud-hypervisor PRIVATE ${HAL_NO_UNDEFINED} -Wl,--exclude-libs,ALL)
add_dependencies(hal-cloud-hypervisor hal-ch-emulator)
configure_file(${CMAKE_CURRENT_LIST_DIR}/cloud-hypervisor.hal.json
               ${CMAKE_CURRENT_BINARY_DIR}/cloud-hypervisor.hal.json COPYONLY)

# ---- tests
hal_add_test(hal_ch_protocol_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/protocol_test.cc
  LIBS hal_ch_protocol)

hal_add_test(hal_ch_migration_rules_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/migration_rules_test.cc
  LIBS hal_ch_backend)

hal_add_test(hal_ch_vm_config_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/vm_config_test.cc
  LIBS hal_ch_backend hal_ch_emulator_lib)

# Spawns VMMs (the emulator; a real cloud-hypervisor with HAL_CH_BINARY and /dev/kvm).
hal_add_test(hal_ch_api_contract_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/api_contract_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/tests/real_binary.cc
  LIBS hal_ch_backend hal_testing
  LABELS integration
  TIMEOUT 120)
add_dependencies(hal_ch_api_contract_test hal-ch-emulator)
target_compile_definitions(hal_ch_api_contract_test PRIVATE
  HAL_CH_EMULATOR="$<TARGET_FILE:hal-ch-emulator>")

# The plugin through its C table against the emulator at chosen releases: migration outcomes.
hal_add_test(hal_ch_migration_events_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/migration_events_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/tests/plugin_fixture.cc
          ${CMAKE_CURRENT_LIST_DIR}/tests/real_binary.cc
  LIBS hal::headers hal_testing_plugin hal_backend_common hal_core_host nlohmann_json::nlohmann_json
  LABELS integration
  TIMEOUT 180)
add_dependencies(hal_ch_migration_events_test hal-cloud-hypervisor hal-ch-emulator)
target_compile_definitions(hal_ch_migration_events_test PRIVATE
  HAL_CH_EMULATOR="$<TARGET_FILE:hal-ch-emulator>"
  HAL_CH_PLUGIN="$<TARGET_FILE:hal-cloud-hypervisor>")

# The plugin through its C table: panics, NICs, serial sockets as the VMM handles them.
hal_add_test(hal_ch_plugin_lifecycle_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/plugin_lifecycle_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/tests/plugin_fixture.cc
          ${CMAKE_CURRENT_LIST_DIR}/tests/real_binary.cc
  LIBS hal::headers hal_testing_plugin hal_backend_common hal_core_host nlohmann_json::nlohmann_json
  LABELS integration
  TIMEOUT 120)
add_dependencies(hal_ch_plugin_lifecycle_test hal-cloud-hypervisor hal-ch-emulator)
target_compile_definitions(hal_ch_plugin_lifecycle_test PRIVATE
  HAL_CH_EMULATOR="$<TARGET_FILE:hal-ch-emulator>"
  HAL_CH_PLUGIN="$<TARGET_FILE:hal-cloud-hypervisor>")

# libFuzzer target for HTTP replies and the event stream (instrumented sources compiled in).
hal_add_fuzzer(hal_ch_reply_fuzzer
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz/reply_fuzzer.cc ${CMAKE_CURRENT_LIST_DIR}/http_reply.cc
          ${CMAKE_CURRENT_LIST_DIR}/event_stream.cc
  LIBS hal::headers nlohmann_json::nlohmann_json Boost::system
  CORPUS ${CMAKE_CURRENT_LIST_DIR}/fuzz/corpus)

# ---- hal-conformance on this backend with the emulator as its binary (all four profiles).
add_test(NAME conformance_cloud_hypervisor_emulator
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/tests/run_conformance.sh $<TARGET_FILE:hal-conformance>
          $<TARGET_FILE:hal-cloud-hypervisor> $<TARGET_FILE:hal-ch-emulator>
          ${CMAKE_CURRENT_BINARY_DIR}/conformance-out)
set_tests_properties(conformance_cloud_hypervisor_emulator PROPERTIES
  LABELS "integration;conformance" TIMEOUT 1200 SKIP_RETURN_CODE 77)

# Migration over TLS between two emulated VMMs through the plugin (certificates from hal_pki).
hal_add_test(hal_ch_migration_tls_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/migration_tls_test.cc
  LIBS hal::headers hal_testing_plugin hal_testing hal_pki nlohmann_json::nlohmann_json
  LABELS integration
  TIMEOUT 120)
add_dependencies(hal_ch_migration_tls_test hal-cloud-hypervisor hal-ch-emulator)
target_compile_definitions(hal_ch_migration_tls_test PRIVATE
  HAL_CH_PLUGIN="$<TARGET_FILE:hal-cloud-hypervisor>"
  HAL_CH_EMULATOR="$<TARGET_FILE:hal-ch-emulator>")

# The same run against a real cloud-hypervisor ($HAL_CH_BINARY) booting the test guest
# ($HAL_TEST_GUEST_DIR); skipped, with the reason, where there is none or KVM cannot run it.
add_test(NAME conformance_cloud_hypervisor_binary
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/tests/run_conformance.sh $<TARGET_FILE:hal-conformance>
          $<TARGET_FILE:hal-cloud-hypervisor> $<TARGET_FILE:hal-ch-emulator>
          ${CMAKE_CURRENT_BINARY_DIR}/conformance-binary-out binary)
set_tests_properties(conformance_cloud_hypervisor_binary PROPERTIES
  LABELS "integration;conformance" TIMEOUT 1800 SKIP_RETURN_CODE 77)
