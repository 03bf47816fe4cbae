"""What a message is: the behaviour each payload kind's record (core/payload_kinds.py)
selects. The spec (what the sender builds, how the receiver checks it), codecs, the
framing header (sequence, timestamp, checks), the wire that sends and receives a kind
over an endpoint, and the shm-view zero-copy regions.

May import `ipcbench.system` and `ipcbench.core`. Runs on both sides of the process
boundary: the harness builds specs, the peers build and check messages.
"""
