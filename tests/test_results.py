"""Result rows, their CSV form, crash-safe appends and validated reads."""

from __future__ import annotations

import math

import pytest

from ipcbench.core.results import (
    CASE_KEYS,
    COLUMNS,
    SCHEMA_VERSION,
    CsvAppender,
    ResultRow,
    ResultsError,
    done_case_keys,
    read_results,
    rows_from_frame,
)

IDENTITY = {
    "schema_version": SCHEMA_VERSION,
    "run_id": "run42",
    "timestamp_utc": "2025-01-02T03:04:05Z",
    "machine_id": "box-1234abcd",
    "mechanism": "pipe",
    "variant": "bytes",
    "pattern": "pingpong",
    "size_bytes": 64,
    "procs": 1,
    "start_method": "fork",
    "python": "3.11.7",
    "ipcbench_version": "0.1.0",
}


def make_row(**changes) -> ResultRow:
    values = {
        **IDENTITY,
        "status": "ok",
        "repeats": 3,
        "warmup": 1,
        "messages": 300,
        "duration_ns": 3_000_000.0,
        "median_ns": 10_000.0,
        "mean_ns": 10_123.456789,
        "stdev_ns": 321.0,
        "min_ns": 9_000.0,
        "p50_ns": 10_000.0,
        "p90_ns": 11_000.5,
        "p99_ns": 12_000.25,
        "p999_ns": 12_999.875,
        "max_ns": 13_000.0,
        "cv": 0.0317,
        "bytes_per_s": 12_800_000.123456789,
        "msgs_per_s": 100_000.0,
        "verified": True,
    }
    values.update(changes)
    return ResultRow(**values)


def sample_rows() -> list[ResultRow]:
    return [
        make_row(),
        # Counter rows have no payload, so bytes_per_s is NaN.
        make_row(mechanism="value", variant="locked", pattern="counter", size_bytes=8, procs=2,
                 bytes_per_s=math.nan),
        make_row(pattern="stream", status="failed", reason='peer producer#0 raised "x", then, more',
                 verified=False, messages=0, median_ns=math.nan, mean_ns=math.nan),
        make_row(pattern="stream", procs=2, status="skipped", reason="not supported",
                 verified=False),
        make_row(procs=4, status="timeout", reason="deadline of 2.0s passed", verified=False),
    ]


def same(a: ResultRow, b: ResultRow) -> bool:
    """Field-by-field equality where NaN equals NaN."""
    for name in COLUMNS:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, float) and math.isnan(x):
            if not (isinstance(y, float) and math.isnan(y)):
                return False
        elif x != y:
            return False
    return True


def write(path, rows):
    appender = CsvAppender(path)
    for row in rows:
        appender.append(row)
    return path


def test_round_trip_preserves_every_field(tmp_path):
    rows = sample_rows()
    frame = read_results(write(tmp_path / "results.csv", rows))
    assert list(frame.columns) == list(COLUMNS)
    back = rows_from_frame(frame)
    assert len(back) == len(rows)
    for original, loaded in zip(rows, back, strict=True):
        assert same(original, loaded), (original, loaded)
    assert back[0].reason == ""
    assert back[2].reason == 'peer producer#0 raised "x", then, more'
    assert math.isnan(back[1].bytes_per_s)
    assert back[0].verified is True and back[2].verified is False


def test_round_trip_keeps_text_that_looks_like_a_number(tmp_path):
    # "3.10" must not come back as the float 3.1, nor a hex run id as a number.
    rows = [make_row(python="3.10", run_id="123e45678901", ipcbench_version="1.10")]
    back = rows_from_frame(read_results(write(tmp_path / "results.csv", rows)))
    loaded = (back[0].python, back[0].run_id, back[0].ipcbench_version)
    assert loaded == ("3.10", "123e45678901", "1.10")


def test_read_results_accepts_the_run_folder(tmp_path):
    write(tmp_path / "results.csv", sample_rows())
    assert len(read_results(tmp_path)) == len(sample_rows())


def test_done_case_keys(tmp_path):
    rows = sample_rows()[:2]
    frame = read_results(write(tmp_path / "results.csv", rows))
    assert done_case_keys(frame) == {tuple(getattr(r, k) for k in CASE_KEYS) for r in rows}
    assert ("pipe", "bytes", "pingpong", 64, 1, "fork") in {k[:6] for k in done_case_keys(frame)}


def test_appender_writes_header_once_and_whole_lines(tmp_path):
    path = tmp_path / "results.csv"
    appender = CsvAppender(path)
    assert path.read_text() == ",".join(COLUMNS) + "\n"
    for count, row in enumerate(sample_rows(), start=1):
        appender.append(row)
        text = path.read_text()
        assert text.endswith("\n")
        assert len(text.splitlines()) == 1 + count
    # A second appender on the same file continues it without a second header.
    CsvAppender(path).append(make_row(procs=8))
    assert path.read_text().count("schema_version") == 1
    assert len(read_results(path)) == len(sample_rows()) + 1


def test_appender_repairs_a_torn_last_line(tmp_path):
    path = write(tmp_path / "results.csv", sample_rows()[:2])
    whole = path.read_bytes()
    with open(path, "ab") as handle:
        handle.write(b"1,run42,2025-01-02T03:04:05Z,box,pipe,by")  # a crash mid-row
    CsvAppender(path).append(make_row(procs=16))
    assert path.read_bytes().startswith(whole)
    back = rows_from_frame(read_results(path))
    assert [r.procs for r in back] == [1, 2, 16]


def _one_line_error(path) -> str:
    with pytest.raises(ResultsError) as info:
        read_results(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_read_refuses_newer_schema(tmp_path):
    path = write(tmp_path / "results.csv", [make_row()])
    lines = path.read_text().splitlines()
    newer = SCHEMA_VERSION + 1
    lines[1] = f"{newer}," + lines[1].split(",", 1)[1]
    path.write_text("\n".join(lines) + "\n")
    message = _one_line_error(path)
    assert f"schema_version {newer}" in message
    assert "upgrade ipcbench" in message


def test_read_refuses_foreign_csv(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("name,score\nalice,3\n")
    assert "not an ipcbench results CSV" in _one_line_error(path)


def test_read_refuses_empty_file(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("")
    assert str(path) in _one_line_error(path)


def test_read_refuses_header_only_file(tmp_path):
    path = tmp_path / "results.csv"
    CsvAppender(path)
    assert "no result rows" in _one_line_error(path)


def test_read_refuses_missing_file(tmp_path):
    assert "no results file" in _one_line_error(tmp_path / "nothing.csv")


def test_appender_refuses_to_append_to_a_foreign_csv(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("name,score\nalice,3\n")
    with pytest.raises(ResultsError):
        CsvAppender(path)
    assert path.read_text() == "name,score\nalice,3\n"


def test_ok_row_must_be_verified():
    with pytest.raises(ValueError, match="verified"):
        make_row(verified=False)


def test_ok_row_needs_messages_and_median():
    with pytest.raises(ValueError, match="timed messages"):
        make_row(messages=0)
    with pytest.raises(ValueError, match="timed messages"):
        make_row(median_ns=math.nan)


@pytest.mark.parametrize("status", ["failed", "timeout", "skipped"])
def test_non_ok_row_needs_a_reason(status):
    with pytest.raises(ValueError, match=f"a {status} row needs a reason"):
        make_row(status=status, verified=False)


def test_bad_status_rejected():
    with pytest.raises(ValueError, match="invalid status 'great'"):
        make_row(status="great")


def test_a_schema_3_run_reads_as_one_session_per_case():
    # results/sample was written by ipcbench with schema 3 (one session, CI over repeats).
    from pathlib import Path

    sample = Path(__file__).parent.parent / "results" / "sample"
    assert "\n3," in (sample / "results.csv").read_text()[:4000]
    frame = read_results(sample)
    assert set(frame["schema_version"]) == {SCHEMA_VERSION}
    ok = frame[frame["status"] == "ok"]
    assert set(ok["sessions"]) == {1} and set(frame.loc[frame["status"] != "ok", "sessions"]) <= {0}
    assert (ok["noise"] == ok["noisy"].map({True: "within-session", False: ""})).all()
    assert ok["foreign_cpu_frac"].isna().all() and ok["steal_frac"].isna().all()
    assert list(frame.columns) == list(COLUMNS)


def test_every_older_schema_version_has_an_upgrade_step():
    # A SCHEMA_VERSION bump without its step would leave the newest files unreadable.
    from ipcbench.core.migrations import _MIGRATIONS

    assert sorted(_MIGRATIONS) == list(range(1, SCHEMA_VERSION))


def test_a_schema_6_run_reads_as_processes_under_the_gil():
    from pathlib import Path

    sample = Path(__file__).parent.parent / "results" / "sample"
    frame = read_results(sample)
    assert set(frame["peer_kind"]) == {"processes"}
    assert frame["gil_enabled"].all() and not frame["free_threaded"].any()


def test_a_schema_8_run_reads_as_medians_with_efficiency_from_its_baselines(tmp_path):
    # Schema 8's figure was the fastest session's (median_ns), with the median over
    # sessions in typical_ns; it and schema 7 also divided ping-pong by the baseline
    # row's round trips per second (request-reply's anchor in the same row), so a round
    # trip of twice the raw one read 7.8 instead of 0.5.
    import pandas as pd

    from ipcbench.core.results import write_rows

    rows = [
        make_row(mechanism="baseline", variant="os-pipe", p50_ns=8_000.0, median_ns=8_000.0,
                 msgs_per_s=125_000.0, efficiency=1.0, placement="same-core", sessions=5,
                 floor_ns=8_000.0, middle_spread=0.0),
        make_row(p50_ns=12_000.0, median_ns=12_000.0, msgs_per_s=80_000.0,
                 efficiency=10.4, placement="same-core", sessions=4, floor_ns=16_000.0,
                 middle_spread=0.02),
        make_row(pattern="stream", median_ns=9_000.0, p50_ns=9_000.0, efficiency=0.3,
                 placement="same-core", sessions=4, floor_ns=10_000.0, middle_spread=0.1),
        make_row(p50_ns=16_000.0, median_ns=16_000.0, efficiency=0.9, sessions=3,
                 placement="cross-core", floor_ns=16_000.0),  # upgraded from v7: no floor
        make_row(status="failed", reason="x", verified=False, messages=0, median_ns=math.nan,
                 p50_ns=math.nan, size_bytes=128, placement="same-core"),
    ]
    path = tmp_path / "results.csv"
    write_rows(path, rows)
    old = pd.read_csv(path).rename(columns={"floor_ns": "typical_ns",
                                            "middle_spread": "floor_spread"})
    old.assign(schema_version=8).to_csv(path, index=False)

    frame = read_results(tmp_path)
    assert set(frame["schema_version"]) == {SCHEMA_VERSION}
    assert list(frame.columns) == list(COLUMNS)
    assert frame["median_ns"].iloc[:4].tolist() == [8_000.0, 16_000.0, 10_000.0, 16_000.0]
    assert frame["p50_ns"].iloc[1] == 16_000.0
    assert frame["msgs_per_s"].iloc[1] == pytest.approx(60_000.0)  # the median session's
    assert frame["floor_ns"].iloc[:3].tolist() == [8_000.0, 12_000.0, 9_000.0]
    assert math.isnan(frame["floor_ns"].iloc[3]) and frame["middle_spread"].isna().all()
    # Ping-pong from the baseline's p50; the stream row has no memcpy baseline in the
    # file: scaled by floor / typical; the cross-core row has no baseline: kept.
    assert frame["efficiency"].iloc[:4].tolist() == pytest.approx([1.0, 0.5, 0.27, 0.9])
    assert math.isnan(frame["efficiency"].iloc[4])


def test_a_schema_9_run_reads_with_its_times_as_measured(tmp_path):
    # Schema 10 gives a row's times at the host's reference state (probe_ref_ns); a
    # schema 9 row's were as measured: they load unchanged, with probe_ref_ns = 0.
    import pandas as pd

    from ipcbench.core.results import write_rows

    path = tmp_path / "results.csv"
    write_rows(path, [make_row(p50_ns=12_000.0, median_ns=12_000.0, msgs_per_s=80_000.0)])
    old = pd.read_csv(path).drop(columns=["probe_ref_ns"])
    old.assign(schema_version=9).to_csv(path, index=False)

    frame = read_results(tmp_path)
    assert list(frame.columns) == list(COLUMNS)
    assert set(frame["schema_version"]) == {SCHEMA_VERSION}
    assert frame["probe_ref_ns"].tolist() == [0.0]
    assert (frame["median_ns"].iloc[0], frame["msgs_per_s"].iloc[0]) == (12_000.0, 80_000.0)
