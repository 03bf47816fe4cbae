"""The operating system and the machine: CPU affinity, bounded waits and process ends,
the glibc heap policy, run-named system resources (shared-memory segments, temp folders,
locks) and the sweep of a dead run's leftovers, CPU-time disturbance signals, machine
metadata and fitness, and safe file writes.

The lowest floor: it may import nothing of ipcbench but itself (and `ipcbench.__version__`),
so every other floor can use it. It knows nothing of cases, patterns or payloads.
"""
