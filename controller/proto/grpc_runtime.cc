// grpc_runtime.cc - process-wide gRPC runtime settings (see grpc_runtime.h).
#include "controller/proto/grpc_runtime.h"

#include <absl/synchronization/mutex.h>

namespace hal::wire {

void tune_grpc_runtime() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace hal::wire
