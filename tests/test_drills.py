"""Reliability drills (issue #19, training side): each test runs one failure that an unlucky operator or a
hostile user meets, and checks the promise docs/reliability.md makes about it.  The server's drills (bad
transcripts, malformed requests, Range, log scrubbing) are in test_drills_serve.py.

The corpus is three synthetic recordings of 6-9 s (tone words, exact transcripts); a run trains a 32-unit LSTM
with CTC for a few steps, so each drill takes seconds.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from statecatcher import hookimpl
from statecatcher.cli import cli
from statecatcher.plugins import registered
from statecatcher.testing.dummies import make_recordings, write_local_corpus
from statecatcher.train.checkpoint import load_checkpoint
from statecatcher.train.config import ConfigError, RunConfig
from statecatcher.train.guards import RunStopped
from statecatcher.train.loop import train
from statecatcher_speechcatcher_data.faults import Fault
from statecatcher_speechcatcher_data.testing import TEST_API_KEY, client_options, running_server

SMALL = dict(encoder="lstm", loss="ctc", encoder_options={"hidden_dim": 32, "num_layers": 1}, vocab_size=32,
             batch_size=2, segment_seconds=3.0, min_segment_seconds=1.0, max_segment_seconds=6.0, lr=1e-3,
             warmup_steps=1, schedule="constant", epochs=1, log_every=1, checkpoint_every=1000, trackers=["jsonl"],
             num_workers=0, seed=1,
             feature_norm=False)  # the data drills count downloads: no statistics pass reading the audio first
SMALL_FLAGS = ["--encoder", "lstm", "--loss", "ctc", "--lstm-hidden-dim", "32", "--lstm-num-layers", "1",
               "--vocab-size", "32", "--batch-size", "2", "--segment-seconds", "3", "--min-segment-seconds", "1",
               "--max-segment-seconds", "6", "--warmup-steps", "1", "--schedule", "constant", "--log-every", "1",
               "--tracker", "jsonl", "--num-workers", "0", "--seed", "1", "--no-feature-norm"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_local_corpus(tmp_path_factory.mktemp("drill-corpus"),
                              make_recordings(3, min_duration=6.0, max_duration=9.0, seed=3))


def small_config(data: str, run_dir: Path, **overrides) -> RunConfig:
    return RunConfig.from_dict({**SMALL, "data": data, "run_dir": str(run_dir), **overrides})


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def trained_by_epoch(run_dir: Path) -> dict[int, set[str]]:
    """Recording ids trained in each epoch, from the rank log (``rank_log=True``)."""
    out: dict[int, set[str]] = {}
    for row in jsonl(run_dir / "ranks" / "rank0.jsonl"):
        out.setdefault(row["epoch"], set()).update(rid for rid, _ in row["recordings"])
    return out


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env, terminal_width=200)


def assert_one_error_line(result, *expected: str, exit_codes=(1, 2)) -> str:
    """A clean CLI failure: exit code 1 or 2, no traceback, exactly one ``Error:`` line holding ``expected``."""
    assert result.exit_code in exit_codes, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit), f"escaped: {result.exception!r}"
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1, result.output
    for text in expected:
        assert text in errors[0], (text, errors[0])
    return errors[0]


# ---------------------------------------------------------------------------------------------------- item 1


class Outage:
    """A fault plan's ``take``: the first ``after`` audio requests pass, then every one gets a 500 until
    ``over`` is set (the server is back)."""

    def __init__(self, after: int):
        self.after, self.audio_requests, self.over = after, 0, False

    def take(self, route: str, path: str) -> Fault | None:
        if route != "audio" or self.over:
            return None
        self.audio_requests += 1
        return Fault("audio", "error500", times=0) if self.audio_requests > self.after else None


def test_drill_1_a_download_that_failed_is_retried_in_the_next_epoch(corpus, tmp_path, capfd):
    """rec-001's audio fails past the retry budget in epoch 0 only: it is skipped (and reported) in epoch 0
    and trained in epoch 1, not skipped for the rest of the process."""
    with running_server(corpus, [Fault("audio", "error500", match="rec-001.flac", times=2)]) as (url, _):
        options = client_options(tmp_path / "cache", retries=1, cache_gb=0.0, prefetch=1)
        with pytest.warns(UserWarning, match="skipping recording"):
            summary = train(small_config(f"speechcatcher:{url}", tmp_path / "run", epochs=2, rank_log=True,
                                         data_options=options))
    (skip,) = jsonl(tmp_path / "run" / "skipped.jsonl")
    assert skip["epoch"] == 0 and "HTTP 500" in skip["reason"] and "failed after 2 attempt" in skip["reason"]
    trained = trained_by_epoch(tmp_path / "run")
    assert skip["recording_id"] not in trained[0] and skip["recording_id"] in trained[1]
    assert len(trained[1]) == 3 and summary.epochs_done == 2
    assert metrics(tmp_path / "run")[-1]["skipped_recordings"] == 1
    assert f"epoch 0 ({len([r for r in jsonl(tmp_path / 'run' / 'ranks' / 'rank0.jsonl') if r['epoch'] == 0])} " \
           f"steps): 1 recording(s) skipped" in capfd.readouterr().err


def test_drill_1_a_transcript_that_failed_is_skipped_at_load_time_and_retried_in_the_next_epoch(corpus, tmp_path):
    """rec-001's WebVTT answers 500 past the retry budget four times: in the tokenizer's pass over the
    transcripts and when epoch 0's lane batcher loads it (two attempts each).  Listing fetched no transcript,
    so the failure is a skipped recording of epoch 0 (reported in skipped.jsonl), and epoch 1 trains it."""
    with running_server(corpus, [Fault("transcript", "error500", match="/2.vtt", times=4)]) as (url, plan):
        options = client_options(tmp_path / "cache", retries=1, prefetch=1)
        with pytest.warns(UserWarning, match="skipping recording") as record:
            summary = train(small_config(f"speechcatcher:{url}", tmp_path / "run", epochs=2, rank_log=True,
                                         data_options=options))
    assert [hit[2].rpartition("/")[2] for hit in plan.hits] == ["2.vtt"] * 4
    assert any("in tokenizer training" in str(w.message) for w in record)
    (skip,) = jsonl(tmp_path / "run" / "skipped.jsonl")
    assert skip["epoch"] == 0 and skip["recording_id"] == "2" and "transcript: " in skip["reason"]
    assert "HTTP 500" in skip["reason"]
    trained = trained_by_epoch(tmp_path / "run")
    assert trained[0] == {"1", "3"} and trained[1] == {"1", "2", "3"} and summary.epochs_done == 2


def test_drill_1_an_outage_longer_than_the_retry_budget_stops_the_run_and_a_rerun_continues(corpus, tmp_path,
                                                                                            capfd):
    """The server fails every download from epoch 1 on: the run stops with an error naming the server and
    the first reason; its checkpoint holds epoch 1 unfinished, so the same command, once the server is
    back, trains epochs 1 and 2."""
    run_dir = tmp_path / "run"
    with running_server(corpus, [Fault("audio", "error500", match="no such path")]) as (url, plan):
        outage = Outage(after=3)  # epoch 0 downloads the three recordings once each (no audio cache)
        plan.take = outage.take
        config = small_config(f"speechcatcher:{url}", run_dir, epochs=3, rank_log=True,
                              data_options=client_options(tmp_path / "cache", retries=1, cache_gb=0.0))
        with pytest.raises(RunStopped, match=rf"epoch 1: no recording of split 'train' could be loaded from "
                                             rf"speechcatcher:{url} \(3 skipped; first: .*HTTP 500"), \
                pytest.warns(UserWarning, match="skipping recording"):
            train(config)
        epoch_0 = trained_by_epoch(run_dir)
        assert set(epoch_0) == {0} and len(epoch_0[0]) == 3
        stopped = load_checkpoint(run_dir / "checkpoints" / "last.pt")
        steps_0 = stopped["summary"]["steps"]
        assert stopped["epoch"] == 1 and stopped["ranks"][0]["lanes"] is None  # epoch 1 not finished
        assert steps_0 == max(row["step"] for row in metrics(run_dir))
        outage.over = True
        summary = train(config)
    assert f"resuming from checkpoints/step-{steps_0:08d}.pt: epoch 1, step {steps_0}" in capfd.readouterr().err
    trained = trained_by_epoch(run_dir)
    assert sorted(trained) == [0, 1, 2] and all(len(ids) == 3 for ids in trained.values())
    assert summary.steps > steps_0 and load_checkpoint(run_dir / "checkpoints" / "last.pt")["epoch"] == 3


def test_drill_1_a_run_whose_data_runs_out_before_max_steps_says_so_and_exits_nonzero(corpus, tmp_path):
    result = invoke("run", *SMALL_FLAGS, "--data", f"local:{corpus}", "--run-dir", str(tmp_path / "run"),
                    "--epochs", "1", "--max-steps", "1000")
    line = assert_one_error_line(result, "data ran out: trained", "of --max-steps 1000 steps", exit_codes=(1,))
    steps = int(line.split("trained ")[1].split()[0])
    assert 0 < steps < 1000
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["summary"]["steps"] == steps  # kept


# ---------------------------------------------------------------------------------------------------- item 2


def test_drill_2_lr_1e6_stops_with_an_error_and_never_writes_non_finite_weights(corpus, tmp_path):
    run_dir = tmp_path / "run"
    result = invoke("run", *SMALL_FLAGS, "--data", f"local:{corpus}", "--run-dir", str(run_dir), "--lr", "1e6",
                    "--max-nan-skips", "5", "--checkpoint-every", "1", "--keep-checkpoints", "1000", "--epochs", "50",
                    "--max-steps", "100")
    assert_one_error_line(result, "5 steps in a row had a non-finite", "--max-nan-skips 5", exit_codes=(1,))
    checkpoints = sorted((run_dir / "checkpoints").glob("step-*.pt"))
    assert checkpoints, "the first steps are finite and checkpointed"
    for path in checkpoints:
        weights = load_checkpoint(path)["model"]
        assert all(bool(torch.isfinite(t).all()) for t in weights.values()), path.name
    rows = metrics(run_dir)
    assert rows[-1]["nan_skips"] >= 5
    assert all(row.get("loss") != 0.0 for row in rows)  # a skipped step is never logged as loss 0
    skipped_only = [row for row, before in zip(rows[1:], rows, strict=False)
                    if row["nan_skips"] > before["nan_skips"] and "loss" not in row]
    assert skipped_only, "steps whose loss was non-finite log nan_skips and no loss"


class _InfiniteGradient(torch.autograd.Function):
    """Identity forward; an infinite (NaN where the incoming gradient is 0) gradient backward."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * math.inf


def _gradient_bomb_loss(bomb_at: int):
    from statecatcher_ctc.loss import CTCLoss

    class GradientBombCTC(CTCLoss):
        """CTC whose ``bomb_at``-th training forward has a finite loss and an infinite gradient."""

        calls = 0

        def forward(self, *args):
            loss, state = super().forward(*args)
            type(self).calls += 1
            return (_InfiniteGradient.apply(loss) if type(self).calls == bomb_at else loss), state

    return GradientBombCTC


def test_drill_2_a_non_finite_gradient_keeps_the_pre_step_weights_optimizer_and_state(corpus, tmp_path):
    class Bomb:
        @hookimpl
        def register_losses(self, register):
            register("ctc_bomb", _gradient_bomb_loss(bomb_at=3), description="test: infinite gradient at step 3")

    run_dir = tmp_path / "run"
    with registered(Bomb(), name="drill-gradient-bomb"):  # 1 s segments: step 3 starts no recording
        summary = train(small_config(f"local:{corpus}", run_dir, loss="ctc_bomb", epochs=5, max_steps=5,
                                     segment_seconds=1.0, min_segment_seconds=0.5, max_segment_seconds=2.0,
                                     checkpoint_every=1, keep_checkpoints=100))
    ckpt = {step: load_checkpoint(run_dir / "checkpoints" / f"step-{step:08d}.pt") for step in (2, 3, 4)}
    assert summary.nan_skips == 1 and summary.optimizer_steps == 4
    for name, before in ckpt[2]["model"].items():
        assert torch.equal(ckpt[3]["model"][name], before), name  # the skipped step changed no weight
    assert any(not torch.equal(ckpt[4]["model"][n], w) for n, w in ckpt[3]["model"].items())  # step 4 did
    assert torch.equal(ckpt[3]["optimizer"]["state"][0]["exp_avg"], ckpt[2]["optimizer"]["state"][0]["exp_avg"])
    state_2, state_3 = ckpt[2]["ranks"][0]["state"]["encoder"], ckpt[3]["ranks"][0]["state"]["encoder"]
    assert torch.equal(state_3["h"], state_2["h"]) and torch.equal(state_3["c"], state_2["c"])  # state kept
    rows = {row["step"]: row for row in metrics(run_dir)}
    assert rows[2]["nan_skips"] == 0 and rows[3]["nan_skips"] == 1


@pytest.mark.parametrize("flag", ["--lr", "--grad-clip", "--weight-decay", "--segment-seconds"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_drill_2_non_finite_float_flags_are_bad_flags(corpus, tmp_path, flag, value):
    result = invoke("run", "--data", f"local:{corpus}", "--run-dir", str(tmp_path / "run"), flag, value)
    assert_one_error_line(result, f"Invalid value for '{flag}': '{value}' is not a finite number", exit_codes=(2,))
    assert not (tmp_path / "run").exists()


def test_drill_2_a_toml_config_with_nan_is_rejected_naming_the_key(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("lr = nan\n")
    with pytest.raises(ConfigError, match="config key 'lr': must be a finite number, got nan"):
        RunConfig.load(path)


def test_drill_2_a_saved_config_toml_always_loads_again(tmp_path):
    config = RunConfig(data="speechcatcher:http://host:6000", lr=3e-4,
                       data_options={"max_duration": math.inf, "min_duration": -math.inf, "podcasts": ["a", "b"]},
                       encoder_options={"scale": math.nan})
    config.save_toml(tmp_path / "config.toml")
    loaded = RunConfig.load(tmp_path / "config.toml")
    assert loaded.data_options == config.data_options
    assert math.isnan(loaded.encoder_options["scale"])
    assert {k: v for k, v in vars(loaded).items() if k != "encoder_options"} == \
           {k: v for k, v in vars(config).items() if k != "encoder_options"}


# ---------------------------------------------------------------------------------------------------- item 4


def test_drill_4_bad_audio_is_reported_in_skipped_jsonl_in_metrics_and_once_per_epoch(corpus, tmp_path, capfd):
    broken = write_local_corpus(tmp_path / "corpus", make_recordings(3, min_duration=6.0, max_duration=9.0, seed=3))
    (broken / "rec-001.flac").write_bytes(b"not audio at all" * 100)
    run_dir = tmp_path / "run"
    with pytest.warns(UserWarning, match="skipping recording 'rec-001'"):
        train(small_config(f"local:{broken}", run_dir, epochs=2))
    skips = jsonl(run_dir / "skipped.jsonl")
    assert [(row["epoch"], row["recording_id"]) for row in skips] == [(0, "rec-001"), (1, "rec-001")]
    assert all(row["reason"].startswith(f"cannot decode audio {broken / 'rec-001.flac'}: ") for row in skips)
    rows = metrics(run_dir)
    assert rows[-1]["skipped_recordings"] == 2
    err = capfd.readouterr().err
    for epoch in (0, 1):
        assert f"epoch {epoch} (" in err and f"1 recording(s) skipped, listed in {run_dir / 'skipped.jsonl'}; " \
                                              "first: rec-001: cannot decode audio" in err


# ---------------------------------------------------------------------------------------------------- item 5


@pytest.fixture
def disk_full_for(monkeypatch):
    """``disk_full_for(name)``: from now on, writing ``name`` atomically hits a full disk (its temporary is a
    link to /dev/full, whose every write fails with ENOSPC)."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    from statecatcher import files

    real, full = files.temporary_sibling, set()

    def sibling(path: Path) -> Path:
        temporary = real(path)
        if path.name in full:
            temporary.unlink(missing_ok=True)
            temporary.symlink_to("/dev/full")
        return temporary

    monkeypatch.setattr(files, "temporary_sibling", sibling)
    return full.add


def test_drill_5_a_full_disk_while_checkpointing_is_one_clear_error_and_loses_nothing(corpus, tmp_path, disk_full_for):
    run_dir = tmp_path / "run"
    disk_full_for("step-00000004.pt")
    result = invoke("run", *SMALL_FLAGS, "--data", f"local:{corpus}", "--run-dir", str(run_dir), "--epochs", "20",
                    "--max-steps", "6", "--checkpoint-every", "2")
    checkpoint = run_dir / "checkpoints" / "step-00000004.pt"
    assert_one_error_line(result, f"No space left on device while writing {checkpoint}", exit_codes=(1,))
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["last.pt", "step-00000002.pt"]
    assert (run_dir / "checkpoints" / "last.pt").samefile(run_dir / "checkpoints" / "step-00000002.pt")
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["summary"]["steps"] == 2


def test_drill_5_a_full_disk_while_trimming_a_jsonl_file_leaves_it_whole(tmp_path, disk_full_for):
    from statecatcher.files import DiskFullError
    from statecatcher.jsonl import drop_rows_after

    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": step}) + "\n" for step in range(1, 6)))
    before = path.read_bytes()
    disk_full_for("metrics.jsonl")
    with pytest.raises(DiskFullError, match=f"^No space left on device while writing {path}$"):
        drop_rows_after(path, 2)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]


# ---------------------------------------------------------------------------------------------------- items 6, 7


def test_drill_6_a_fresh_start_truncates_the_rows_an_unfinished_attempt_left(corpus, tmp_path):
    run_dir = tmp_path / "run"
    config = small_config(f"local:{corpus}", run_dir, epochs=20, max_steps=4)
    train(config)
    for leftover in (run_dir / "checkpoints").iterdir():  # as if killed before its first checkpoint
        leftover.unlink()
    (run_dir / "skipped.jsonl").write_text(json.dumps({"step": 3, "recording_id": "x", "reason": "old"}) + "\n")
    train(config)
    assert [row["step"] for row in metrics(run_dir)] == [1, 2, 3, 4]
    assert jsonl(run_dir / "skipped.jsonl") == []


def test_drill_7_a_resumed_run_says_where_it_resumes(corpus, tmp_path):
    run_dir = tmp_path / "run"
    common = [*SMALL_FLAGS, "--data", f"local:{corpus}", "--run-dir", str(run_dir), "--epochs", "20"]
    first = invoke("run", *common, "--max-steps", "3")
    assert first.exit_code == 0 and "resuming" not in first.output
    second = invoke("run", *common, "--max-steps", "5")
    assert second.exit_code == 0, second.output
    assert "resuming from checkpoints/step-00000003.pt: epoch 0, step 3\n" in second.output


# ---------------------------------------------------------------------------------------------------- item 11


def test_drill_11_a_saved_config_leaves_the_key_out_and_the_environment_fills_it(corpus, tmp_path):
    with running_server(corpus) as (url, _):
        first = tmp_path / "first"
        result = invoke("run", *SMALL_FLAGS, "--data", f"speechcatcher:{url}", "--api-key", TEST_API_KEY,
                        "--data-opt", f"cache_dir={tmp_path / 'cache-1'}", "--run-dir", str(first),
                        "--epochs", "20", "--max-steps", "2")
        assert result.exit_code == 0, result.output
        saved = (first / "config.toml").read_text()
        assert TEST_API_KEY not in saved and "api_key" not in saved and "***" not in saved
        result = invoke("run", "--config", str(first / "config.toml"), "--run-dir", str(tmp_path / "second"),
                        "--data-opt", f"cache_dir={tmp_path / 'cache-2'}", env={"STATECATCHER_API_KEY": TEST_API_KEY})
    assert result.exit_code == 0, result.output
    assert metrics(tmp_path / "second")[-1]["step"] == 2


def test_drill_11_an_old_config_with_the_placeholder_key_never_sends_it(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('data = "speechcatcher:http://host:6000"\n[data_options]\napi_key = "***"\norder = "asc"\n')
    assert RunConfig.load(path).data_options == {"order": "asc"}


# ---------------------------------------------------------------------------------------------------- item 12


def _rank_command_lines(marker: str) -> dict[int, bytes]:
    """pid -> command line of every process whose environment holds ``marker`` and a ``LOCAL_RANK`` (a rank),
    or that runs torch.distributed.run (the launcher)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ, cmdline = (entry / "environ").read_bytes(), (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ and (b"LOCAL_RANK=" in environ or b"torch.distributed.run" in cmdline):
            found[int(entry.name)] = cmdline
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_drill_12_nproc_2_keeps_the_api_key_off_every_command_line_and_out_of_stderr(corpus, tmp_path):
    marker = f"DRILL_12_{os.getpid()}"
    with running_server(corpus) as (url, _):
        command = [sys.executable, "-m", "statecatcher", "run", "--nproc", "2", "--api-key", TEST_API_KEY,
                   *SMALL_FLAGS, "--data", f"speechcatcher:{url}", "--run-dir", str(tmp_path / "run"),
                   "--data-opt", f"cache_dir={tmp_path / 'cache'}", "--epochs", "20", "--max-steps", "3",
                   "--batch-size", "1"]
        env = {**os.environ, marker: "1", "OMP_NUM_THREADS": "1"}
        env.pop("STATECATCHER_API_KEY", None)
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen: dict[int, bytes] = {}
        while process.poll() is None:
            seen.update(_rank_command_lines(marker))
            time.sleep(0.05)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()[-3000:]
    ranks = [cmdline for cmdline in seen.values() if b"torch.distributed.run" not in cmdline]
    assert len(ranks) >= 2, f"saw {len(ranks)} rank processes"
    for cmdline in seen.values():
        assert TEST_API_KEY.encode() not in cmdline and b"--api-key" not in cmdline
    assert TEST_API_KEY.encode() not in err and TEST_API_KEY.encode() not in out
    assert b"starting 2 ranks: " in err
    assert metrics(tmp_path / "run")[-1]["step"] == 3  # the ranks did reach the server with the key


# ---------------------------------------------------------------------------------------------------- item 13


@contextlib.contextmanager
def not_tls():
    """A loopback port whose server answers every TLS handshake with plain HTTP (an SSL error at once)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def trained_run(corpus, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    train(small_config(f"local:{corpus}", run_dir, epochs=20, max_steps=2))
    return run_dir


def test_drill_13_every_user_error_is_one_line_without_a_traceback(corpus, trained_run, tmp_path):
    not_a_checkpoint = tmp_path / "model.pt"
    not_a_checkpoint.write_text("hello")
    a_file = tmp_path / "file"
    a_file.write_text("")
    audio = str(corpus / "rec-000.flac")
    local = [*SMALL_FLAGS, "--data", f"local:{corpus}", "--run-dir", str(tmp_path / "run"), "--epochs", "20",
             "--max-steps", "2"]
    cases = [  # (arguments, what the one error line says, exit code)
        (["run", *local, "--data", f"local:{tmp_path / 'nope'}"], f"local data source: '{tmp_path / 'nope'}' is "
                                                                  "not a folder", 1),
        (["run", *local, "--lstm-hidden-dim", "-5"],  # refused on the meta device, before the data is read
         "encoder 'lstm' + loss 'ctc': lstm: num_layers and hidden_dim must be >= 1, got 1, -5", 2),
        (["run", *local, "--device", "gpu9"], "config key 'device': must be auto, cpu, mps, cuda or cuda:N", 2),
        (["run", *local, "--run-dir", str(a_file)], f"Invalid value for --run-dir: {a_file} exists and is not a "
                                                    "folder", 2),
        (["run", *local, "--vocab-size", "100000"], "sentencepiece: --vocab-size 100000 is too large", 1),
        (["run", *local, "--lr", "nan"], "Invalid value for '--lr': 'nan' is not a finite number", 2),
        (["run", "--data", f"local:{corpus}", "--encoder", "nope"], "Invalid value for --encoder", 2),  # worked
        (["run", "--config", str(tmp_path / "missing.toml")], "does not exist", 2),
        (["transcribe", str(not_a_checkpoint), audio], f"{not_a_checkpoint}: not a statecatcher checkpoint", 1),
        (["transcribe", str(trained_run), str(tmp_path / "missing.flac")], "missing.flac", 2),
    ]
    faults = [Fault("list", "error500", times=0), Fault("start_session", "error500", times=0)]
    with running_server(corpus) as (url, _), running_server(corpus, faults) as (broken_url, _), not_tls() as port:
        remote = [*local, "--data-opt", f"cache_dir={tmp_path / 'cache'}", "--data-opt", "retries=0"]
        cases += [
            (["run", *remote, "--data", f"speechcatcher:{url}", "--api-key", "not-the-key-4711"],
             "AuthenticationError: the speechcatcher server at", 1),
            (["run", *remote, "--data", f"speechcatcher:{url}", "--api-key", TEST_API_KEY, "--data-opt",
              "language=xx"], "ListingError: speechcatcher server", 1),
            (["run", *remote, "--data", f"speechcatcher:{url}/nope", "--api-key", TEST_API_KEY],
             "NotFoundError: GET", 1),
            (["run", *remote, "--data", f"speechcatcher:{broken_url}", "--api-key", TEST_API_KEY, "--data-opt",
              "use_session=never"], "ApiError: GET", 1),
            (["transcribe", str(trained_run), f"https://127.0.0.1:{port}/audio.flac"], "SSLError", 1),
        ]
        results = [(invoke(*args), expected, code) for args, expected, code in cases]
    for result, expected, code in results:
        line = assert_one_error_line(result, expected, exit_codes=(code,))
        assert "not-the-key-4711" not in line and TEST_API_KEY not in line


def test_drill_13_debug_shows_the_traceback(tmp_path):
    not_a_checkpoint = tmp_path / "model.pt"
    not_a_checkpoint.write_text("hello")
    result = invoke("--debug", "transcribe", str(not_a_checkpoint), str(not_a_checkpoint))
    assert isinstance(result.exception, ValueError) and "not a statecatcher checkpoint" in str(result.exception)
