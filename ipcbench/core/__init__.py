"""The vocabulary every floor shares: a case and its axes (schema), patterns, payload
kinds (what each holds, how it goes on the wire, what it needs installed), named
matrices and run settings, the result row and its versioned CSV format (with migrations),
the raw-latency file, session statistics, units, sizes and pure statistics.

May import `ipcbench.system` only (safe file writes, disturbance records). No processes,
no channels: the harness side and the analysis side meet here and nowhere else.
"""
