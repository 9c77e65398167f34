"""Smoke test of ``python -m benchmarks --small``: every row runs on tiny sizes and reports sane ratios.

The benchmark itself is not part of the test suite (``nox -s bench``); this runs each row once at tiny sizes,
each in its own process as the real run does, and checks the report.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROWS = ["memory", "data_path", "data_wait", "encoders", "kernels", "lstm_lanes", "losses", "streaming", "onnx",
        "decode_features", "transcribe_length"]


def run_benchmarks(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def small_report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "small.json"
    done = run_benchmarks("--small", "--out", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_every_row_reports_finite_positive_ratios(small_report):
    assert list(small_report["rows"]) == ROWS
    for row, outcome in small_report["rows"].items():
        assert "error" not in outcome, (row, outcome)
        assert outcome["results"], row
        for result in outcome["results"]:
            assert math.isfinite(result["ratio"]) and result["ratio"] > 0, (row, result)
            assert result["name"] and result["description"], (row, result)
        assert outcome["peak_rss_mib"] > 0 and outcome["seconds"] > 0


@pytest.mark.slow
def test_report_names_the_machine(small_report):
    machine = small_report["machine"]
    assert small_report["small"] is True
    assert machine["cores"] >= 1 and machine["torch"] and machine["cpu"]


@pytest.mark.slow
def test_stateful_memory_is_flat_and_full_sequence_is_not_smaller(small_report):
    results = {r["name"]: r for r in small_report["rows"]["memory"]["results"]}
    assert results["stateful 1 min / 0.25 min"]["ratio"] < 1.1
    assert results["1 min: full-sequence / stateful"]["ratio"] >= 1.0


@pytest.mark.slow
def test_encoders_are_compared_at_equal_parameter_count(small_report):
    results = small_report["rows"]["encoders"]["results"]
    assert {r["name"] for r in results} == {"xlstm / lstm", "xlstm m-only / lstm", "xlstm l-only / lstm",
                                            "rwkv7 chunkwise / lstm", "rwkv7 recurrent / lstm",
                                            "lucyrnn chunkwise / lstm", "lucyrnn recurrent / lstm",
                                            "rwkv7 chunkwise / recurrent",
                                            "lucyrnn chunkwise / recurrent"}
    assert all(1.8e6 < r["params"] < 2.1e6 for r in results)


def test_unknown_row_is_an_error_naming_the_rows():
    done = run_benchmarks("nosuchrow", "--small")
    assert done.returncode == 2
    assert "nosuchrow" in done.stderr and "memory" in done.stderr


@pytest.mark.slow
def test_keep_alive_is_measured_over_plain_http_and_over_https_through_the_latency_proxy(small_report):
    names = {result["name"] for result in small_report["rows"]["data_path"]["results"]}
    for round_trip in ("5 ms", "20 ms"):
        for scheme in ("", "https, "):
            assert f"{round_trip}, {scheme}keep-alive / no keep-alive" in names, sorted(names)
            assert f"{round_trip}, {scheme}keep-alive / no keep-alive, transcripts" in names
