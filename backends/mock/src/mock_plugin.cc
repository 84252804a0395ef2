// mock_plugin.cc - libhal-mock.so's exported entry: the mock classes behind the HAL C ABI.
#include "hal/plugin.hpp"
#include "mock_backend.h"

HAL_DEFINE_PLUGIN(hal::mock::MockBackend, hal::mock::MockVm,
                  R"({"name":"mock","vendor":"HAL project","version":"1.0.0",)"
                  R"("description":"In-memory mock hypervisor for tests and demos",)"
                  R"("hypervisor":"mock"})");
