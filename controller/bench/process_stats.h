// process_stats.h - what the benchmarks read of processes and of the machine from /proc: a
// process's argv, CPU time and memory, the load average, and a wait for the machine to go quiet.
#ifndef HAL_CONTROLLER_BENCH_PROCESS_STATS_H
#define HAL_CONTROLLER_BENCH_PROCESS_STATS_H

#include <chrono>
#include <string>
#include <vector>

namespace hal::bench {

/** The argv of process `pid` (/proc/PID/cmdline); empty when it is gone. */
std::vector<std::string> process_cmdline(int pid);
/** CPU seconds (user + system) process `pid` has used so far, or -1 when it is gone. */
double process_cpu_seconds(int pid);
/** A memory field of /proc/PID/status in KiB ("VmRSS", "VmHWM"), or -1. */
long rss_kib(int pid, const std::string &field);
/** The 1-minute load average. */
double load_average();
/** Waits until the machine's CPUs were at least 90% idle over half a second (the processes of
 *  the scenario before have finished exiting), or `limit` passed; returns the seconds waited. */
double wait_until_quiet(std::chrono::seconds limit);
/** The p-th percentile (0-100, nearest rank) of `values`; 0 when empty. */
double percentile(std::vector<double> values, double p);

}  // namespace hal::bench

#endif  // HAL_CONTROLLER_BENCH_PROCESS_STATS_H
