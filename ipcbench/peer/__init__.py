"""What runs inside a peer process: its main loop (attach, handshake, timed repeats,
report back) and the roles it plays (sender, echo, consumer, incrementer, ...).

May import `system`, `core`, `payload` and the mechanisms' contract
(`ipcbench.mechanisms.base`); never the harness, which starts it. Every line here runs in
a child process, after the fork (or spawn), never in the harness.
"""
