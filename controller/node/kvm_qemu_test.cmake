# The real-process test: the hal-node binary with the kvm-qemu backend and the test guest
# (QEMU under TCG). Included from CMakeLists.txt when the kvm-qemu targets exist.
if(TARGET hal-kvm-qemu)
  hal_add_test(hal_node_kvm_qemu_test
    SOURCES tests/kvm_qemu_node_test.cc tests/node_process.cc
    LIBS hal_node_test_support hal_testing
    LABELS integration
    TIMEOUT 600)
  add_dependencies(hal_node_kvm_qemu_test hal-node hal-kvm-qemu)
  target_compile_definitions(hal_node_kvm_qemu_test PRIVATE
    HAL_NODE_BINARY="$<TARGET_FILE:hal-node>"
    HAL_NODE_KVM_QEMU_PLUGIN_DIR="$<TARGET_FILE_DIR:hal-kvm-qemu>")
endif()

# Issue 25's must-show for migration traffic: two hal-node programs migrate the test guest over
# TLS through a byte-capturing relay (no QEMU stream on the wire), and in clear as the control.
if(TARGET hal-kvm-qemu)
  hal_add_test(hal_node_kvm_qemu_migration_tls_test
    SOURCES tests/kvm_qemu_migration_tls_test.cc tests/capturing_relay.cc tests/node_process.cc
    LIBS hal_node_test_support hal_testing
    LABELS integration
    TIMEOUT 600)
  add_dependencies(hal_node_kvm_qemu_migration_tls_test hal-node hal-kvm-qemu)
  target_compile_definitions(hal_node_kvm_qemu_migration_tls_test PRIVATE
    HAL_NODE_BINARY="$<TARGET_FILE:hal-node>"
    HAL_NODE_KVM_QEMU_PLUGIN_DIR="$<TARGET_FILE_DIR:hal-kvm-qemu>")
endif()
