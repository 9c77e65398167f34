"""``statecatcher synth-corpus``: help, a tiny run, clear errors, and registration in the core CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from statecatcher_synth.cli import synth_corpus


def test_help_lists_the_options():
    result = CliRunner().invoke(synth_corpus, ["--help"])
    assert result.exit_code == 0
    for option in ("--out", "--episodes", "--minutes", "--seed", "--voices", "--effects", "--list-voices"):
        assert option in result.output


def test_tiny_run_writes_a_corpus_and_reports_the_realtime_factor(tmp_path):
    out = tmp_path / "corpus"
    args = ["--out", str(out), "--episodes", "2", "--minutes", "0.15", "--seed", "3", "--workers", "1",
            "--voices", "hibari", "--effects", "reverb,telephone", "--no-progress"]
    result = CliRunner().invoke(synth_corpus, args)
    assert result.exit_code == 0, result.output
    assert "x realtime" in result.output and "train/dev/test 1/0/1" in result.output
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [row["split"] for row in rows] == ["train", "test"]
    assert all(set(row["voices"]) == {"hibari"} for row in rows)
    assert all(row["effects"] == ["reverb", "telephone"] for row in rows)  # what was applied, in order


@pytest.mark.parametrize(("args", "message"), [
    (["--minutes", "5-2"], "MIN <= MAX"),
    (["--minutes", "five"], "MIN-MAX"),
    (["--voices", "hibari,nosuch"], "nosuch"),
    (["--effects", "echo"], "echo"),
])
def test_bad_options_fail_with_a_clear_message(tmp_path, args, message):
    result = CliRunner().invoke(synth_corpus, ["--out", str(tmp_path / "c"), *args])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "c").exists()


def test_refuses_a_non_empty_output_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    result = CliRunner().invoke(synth_corpus, ["--out", str(tmp_path)])
    assert result.exit_code == 2 and "empty" in result.output


def test_all_voices_run_in_one_episode(tmp_path):
    from statecatcher_synth.voices import installed_voices

    out = tmp_path / "all"
    args = ["--out", str(out), "--episodes", "1", "--minutes", "0.1", "--voices", "all", "--workers", "1",
            "--seed", "2", "--no-progress"]
    assert CliRunner().invoke(synth_corpus, args).exit_code == 0
    (row,) = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert set(row["voices"]) <= set(installed_voices())


def test_list_voices_shows_the_pip_voices():
    result = CliRunner().invoke(synth_corpus, ["--list-voices"])
    assert result.exit_code == 0 and "hibari:heart" in result.output


def test_registered_in_the_statecatcher_command():
    executable = Path(sys.executable).with_name("statecatcher")
    if not executable.exists() and shutil.which("statecatcher") is None:
        pytest.skip("the statecatcher command is not installed")
    command = str(executable) if executable.exists() else "statecatcher"
    result = subprocess.run([command, "synth-corpus", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--minutes" in result.stdout
