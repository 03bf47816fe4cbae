"""--json PATH of run, compare and advise: where the JSON document goes, checked before
the command does any work (a run must not measure for minutes, then fail to write it).

`--json -` writes the document to stdout and nothing else (a script pipes it on), so
the command's human output goes to stderr meanwhile. Standard library only: `run`
imports this before it measures (tests/test_lean_harness.py). The documents themselves
are render/json_out.py's.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ipcbench.system.safefile import refuse_link, write_atomic

STDOUT = "-"
JSON_HELP = ("also write the facts it prints to PATH as JSON; PATH '-' is stdout, the "
             "text then goes to stderr (fields: docs/json.md)")


def check_target(text: str | None) -> Path | str | None:
    """None (no --json), STDOUT, or a path whose folder exists and takes a new file;
    a one-line error naming the path otherwise."""
    if text is None or text == STDOUT:
        return text
    if not text.strip():
        raise ValueError(f"invalid --json {text!r}: expected a file path or -")
    path = Path(text)
    if path.is_dir():
        raise ValueError(f"invalid --json {text!r}: it is a folder, expected a file path")
    refuse_link(path)
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"cannot write --json {text!r}: folder {str(folder)!r} does not exist")
    try:  # what writing it will need: a new file beside it (written whole, then renamed)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ValueError(f"cannot write --json {text!r}: {exc.strerror or exc}") from None
    return path


@dataclass(frozen=True)
class JsonSink:
    target: Path | str | None  # check_target's answer
    stream: TextIO  # the real stdout, for STDOUT

    @property
    def wanted(self) -> bool:
        return self.target is not None

    def write(self, text: str) -> None:
        if self.target is None:
            return
        if self.target == STDOUT:
            self.stream.write(text)
            self.stream.flush()
            return
        try:
            write_atomic(Path(self.target), text.encode("utf-8"))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot write {self.target}: {exc.strerror or exc}"
                          ) from None


# No --json: what a caller that never asks for a document (a library call) passes.
NO_JSON = JsonSink(None, sys.stdout)


@contextmanager
def json_output(text: str | None) -> Iterator[JsonSink]:
    """The sink for --json `text` (checked now); with `-`, stdout is redirected to
    stderr inside the block, the sink keeping the real one."""
    sink = JsonSink(check_target(text), sys.stdout)
    if sink.target != STDOUT:
        yield sink
        return
    with redirect_stdout(sys.stderr):
        yield sink
