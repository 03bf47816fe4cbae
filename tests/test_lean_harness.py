"""`ipcbench run` forks its peers from a lean process: no pandas, scipy or matplotlib
before the last session ends. A harness holding them (200 MB instead of 40 MB) paid
~3 ms per fork and ~4 ms per peer exit, three quarters of the quick matrix's time; they
are imported by the commands that read results, and by `run` only once it has measured
(a resumed run reads its earlier rows with pandas first: it forks from a fuller harness,
which costs it time, not accuracy: the fork is outside every timed interval).
"""

from __future__ import annotations

import json
import subprocess
import sys

from ipcbench.core.settings import MATRICES
from ipcbench.harness.runner import REMEASURE_SHARE

HEAVY = ("pandas", "scipy", "matplotlib")

# Records which heavy modules the harness holds each time a session starts its peers,
# then runs the real command line on one small case.
_DRIVER = """
import json, sys
import ipcbench.harness.session as session
seen = []
original = session.CaseSession.start
def start(self):
    seen.append(sorted(m for m in {heavy!r} if m in sys.modules))
    original(self)
session.CaseSession.start = start
from ipcbench.cli import main
code = main(sys.argv[1:])
print(json.dumps({{"code": code, "seen": seen}}))
"""


def _run(tmp_path, *extra: str) -> dict:
    args = ["run", "-m", "pipe", "-p", "pingpong", "-s", "64", "-n", "1", "--variant", "bytes",
            "--payload", "bytes", "--placement", "same-core", "--sessions", "2", "--repeats",
            "1", "--no-progress", "--no-charts", "--no-baselines", *extra]
    done = subprocess.run([sys.executable, "-c", _DRIVER.format(heavy=HEAVY), *args],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_run_forks_its_peers_without_pandas_scipy_or_matplotlib(tmp_path):
    report = _run(tmp_path, "-o", str(tmp_path / "run"))
    assert report["code"] == 0
    # At least the two sessions asked for (a loaded machine's disagreeing sessions get
    # more, up to the matrix's maximum, and those under heavy interference are measured
    # again, within the runner's bound), every one started lean.
    settings = MATRICES["default"].settings
    most = settings.max_sessions + int(settings.max_sessions * REMEASURE_SHARE)
    assert 2 <= len(report["seen"]) <= most
    assert all(seen == [] for seen in report["seen"])


def test_the_parser_and_every_command_module_import_lean():
    code = ("import sys; from ipcbench.cli import build_parser; build_parser(); "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"
