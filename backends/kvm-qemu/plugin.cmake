# plugin.cmake - the kvm-qemu backend plugin (libhal-kvm-qemu.so + manifest) and its tests.
# Included from backends/kvm-qemu/CMakeLists.txt after the QMP client targets are defined.

# Everything but the exported entry, as a static library so tests can use the pieces directly.
add_library(hal_kvm_qemu_backend STATIC
  ${CMAKE_CURRENT_LIST_DIR}/accelerator.cc
  ${CMAKE_CURRENT_LIST_DIR}/command_line.cc
  ${CMAKE_CURRENT_LIST_DIR}/machine_type.cc
  ${CMAKE_CURRENT_LIST_DIR}/qemu_probe.cc
  ${CMAKE_CURRENT_LIST_DIR}/run_as.cc
  ${CMAKE_CURRENT_LIST_DIR}/vcpu_pinning.cc
  ${CMAKE_CURRENT_LIST_DIR}/migration.cc
  ${CMAKE_CURRENT_LIST_DIR}/migration_tls.cc
  ${CMAKE_CURRENT_LIST_DIR}/vm_controller.cc
  ${CMAKE_CURRENT_LIST_DIR}/kvm_qemu_backend.cc)
target_include_directories(hal_kvm_qemu_backend PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(hal_kvm_qemu_backend
  PUBLIC hal::headers hal_backend_common hal_kvm_qemu_qmp hal_core_spec hal_core_host
         nlohmann_json::nlohmann_json Threads::Threads
  PRIVATE hal_warnings)
set_target_properties(hal_kvm_qemu_backend PROPERTIES CXX_VISIBILITY_PRESET hidden
                                                      VISIBILITY_INLINES_HIDDEN ON)

# The plugin: a MODULE exporting only hal_plugin_negotiate.
add_library(hal-kvm-qemu MODULE ${CMAKE_CURRENT_LIST_DIR}/plugin_entry.cc)
set_target_properties(hal-kvm-qemu PROPERTIES PREFIX lib CXX_VISIBILITY_PRESET hidden
                                              VISIBILITY_INLINES_HIDDEN ON)
target_link_libraries(hal-kvm-qemu PRIVATE hal_kvm_qemu_backend hal_warnings)
target_link_options(hal-kvm-qemu PRIVATE ${HAL_NO_UNDEFINED} -Wl,--exclude-libs,ALL)
# The manifest next to the library lets hosts discover it on their plugin search path.
configure_file(${CMAKE_CURRENT_LIST_DIR}/kvm-qemu.hal.json
               ${CMAKE_CURRENT_BINARY_DIR}/kvm-qemu.hal.json COPYONLY)

hal_add_test(hal_kvm_qemu_command_line_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/command_line_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/tests/migration_params_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/tests/migration_tls_test.cc
  LIBS hal_kvm_qemu_backend hal_core_spec hal_testing)

hal_add_test(hal_kvm_qemu_probe_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/qemu_probe_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/tests/accelerator_test.cc
  LIBS hal_kvm_qemu_backend hal_testing
  TIMEOUT 60)

hal_add_test(hal_kvm_qemu_plugin_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/plugin_integration_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/tests/plugin_fixture.cc
  LIBS hal::headers hal_core_spec hal_core_host hal_testing_plugin
       nlohmann_json::nlohmann_json Threads::Threads
  LABELS integration
  TIMEOUT 300)
add_dependencies(hal_kvm_qemu_plugin_test hal-kvm-qemu)
target_include_directories(hal_kvm_qemu_plugin_test PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(hal_kvm_qemu_plugin_test PRIVATE
  HAL_KVM_QEMU_PLUGIN="$<TARGET_FILE:hal-kvm-qemu>")

# What the benchmarks comparing HAL with a baseline share (here and controller/bench): one
# accelerator decision for both sides, and the test guest's ready marker on a console log.
if(HAL_BUILD_BENCHMARKS)
  add_library(hal_kvm_qemu_bench_support STATIC
    ${CMAKE_CURRENT_LIST_DIR}/bench/bench_accelerator.cc
    ${CMAKE_CURRENT_LIST_DIR}/bench/guest_console.cc)
  target_include_directories(hal_kvm_qemu_bench_support PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(hal_kvm_qemu_bench_support
    PUBLIC hal_kvm_qemu_backend hal_testing
    PRIVATE hal_warnings)
endif()

# create->running side by side: raw QEMU spawn + cont, the backend, and `virsh start` through a
# private libvirtd + virtlogd the benchmark starts itself (prints ratios).
hal_add_benchmark(hal_kvm_qemu_create_bench
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench/create_to_running_bench.cc
          ${CMAKE_CURRENT_LIST_DIR}/bench/private_libvirtd.cc
  LIBS hal_kvm_qemu_bench_support hal_kvm_qemu_backend hal_testing)

# Live migration of a 512 MiB guest through the backend vs raw QEMU migrate (prints the ratio).
hal_add_benchmark(hal_kvm_qemu_migration_bench
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/bench/migration_bench.cc
  LIBS hal_kvm_qemu_bench_support hal_kvm_qemu_backend hal_testing)

# Live migration over TLS with real QEMU: who the target lets in (certificates from hal_pki).
hal_add_test(hal_kvm_qemu_migration_tls_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tests/migration_tls_qemu_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/tests/plugin_fixture.cc
  LIBS hal::headers hal_core_spec hal_core_host hal_testing_plugin hal_pki
       nlohmann_json::nlohmann_json Threads::Threads
  LABELS integration
  TIMEOUT 600)
add_dependencies(hal_kvm_qemu_migration_tls_test hal-kvm-qemu)
target_include_directories(hal_kvm_qemu_migration_tls_test PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_definitions(hal_kvm_qemu_migration_tls_test PRIVATE
  HAL_KVM_QEMU_PLUGIN="$<TARGET_FILE:hal-kvm-qemu>")
