/* process_tune.cc - two process-wide settings of every server binary, made
 * before main: linked only into the executables that serve gRPC (see
 * accolade_server_binary in common/CMakeLists.txt), never into the library.
 *
 * Abseil's mutexes, as Debian builds them (without NDEBUG), look for lock
 * order cycles on every Lock: each acquisition goes through a process-wide
 * graph under one spin lock. gRPC core takes several absl::Mutex per call, so
 * under load that check was 8-9% of a server's samples (perf, h2load on
 * Health.Check). It is a debugging aid that gRPC's own release builds leave
 * off; so do we. The one C++ file of the project: the switch is a C++ call,
 * and its mangled name would tie the build to one Abseil release. */
#include <absl/synchronization/mutex.h>

__attribute__((constructor)) static void process_tune(void) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}
