"""Data-parallel training with torchrun: 2 gloo ranks on the CPU streaming from a loopback data server.

``statecatcher serve`` serves a small local corpus; ``statecatcher run --nproc 2`` trains against it.  Each
run writes ``RUN_DIR/ranks/rank{R}.jsonl`` (``--rank-log``): per step, the recordings that rank trained and a
digest of its parameters after the step.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from statecatcher.data.batch import Batch
from statecatcher.data.lanes import LaneBatcher
from statecatcher.data.local import LocalDataSource
from statecatcher.data.segmenter import SegmenterConfig
from statecatcher.testing.dummies import make_recordings, write_local_corpus
from statecatcher.train.checkpoint import load_checkpoint
from statecatcher.train.config import RunConfig
from statecatcher.train.distributed import World, _EveryParameterInGraph, torchrun_command, without_option

TIMEOUT = 120  # seconds, for any one training run or the server's start
API_KEY = "loopback-test-key"
RECORDINGS = 5
OPTIONS = dict(encoder="lstm", loss="ctc", encoder_options={"hidden_dim": 32}, vocab_size=32, batch_size=2,
               segment_seconds=3.0, min_segment_seconds=1.0, max_segment_seconds=6.0, epochs=6,  # [segmenter] aliases
               lr=0.003, warmup_steps=3, log_every=1, checkpoint_every=4, trackers=["jsonl"], num_workers=1,
               rank_log=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Five short recordings of tone-words: 2 ranks get uneven shards (3 and 2 recordings)."""
    return write_local_corpus(tmp_path_factory.mktemp("ddp") / "corpus",
                              make_recordings(RECORDINGS, min_duration=6.0, max_duration=14.0, seed=3))


@pytest.fixture(scope="module")
def server(corpus, tmp_path_factory) -> Iterator[str]:
    """``statecatcher serve CORPUS`` on a free loopback port, the data server of every rank: its URL."""
    log = tmp_path_factory.mktemp("ddp") / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "statecatcher", "serve", str(corpus), "--api-key", API_KEY,
                                 "--port", "0", "--quiet"], stdout=subprocess.PIPE, stderr=err, text=True,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        found = re.search(r"http://[\w.:]+", proc.stdout.readline() if ready else "")
        assert found, f"statecatcher serve did not start: {log.read_text()[-2000:]}"
        yield found.group(0)
    finally:
        proc.kill()
        proc.wait(timeout=30)


@pytest.fixture
def api_key(monkeypatch) -> None:
    monkeypatch.setenv("STATECATCHER_API_KEY", API_KEY)  # for runs in this process


def options(server: str, run_dir: Path, **overrides) -> dict:
    data_options = {"split_by": "server", "cache_dir": str(run_dir / "data-cache")}
    return {**OPTIONS, "data": f"speechcatcher:{server}", "data_options": data_options, "run_dir": str(run_dir),
            **overrides}


def launch(server: str, run_dir: Path) -> subprocess.Popen:
    """``statecatcher run --nproc 2 ...``: torchrun with 2 gloo ranks; stderr goes to RUN_DIR.log."""
    args = []
    for key, value in options(server, run_dir).items():
        flag = "--" + key.replace("_options", "_opt").replace("_", "-")
        if isinstance(value, dict):
            args += [item for k, v in value.items() for item in (flag, f"{k}={v}")]
        elif isinstance(value, list):
            args += [item for v in value for item in ("--tracker", v)]
        elif isinstance(value, bool):
            args.append(flag if value else flag.replace("--", "--no-", 1))
        else:
            args += [flag, str(value)]
    with run_dir.with_suffix(".log").open("a") as err:
        return subprocess.Popen([sys.executable, "-m", "statecatcher", "run", "--nproc", "2", *args],
                                env=dict(os.environ, PYTHONHASHSEED="0", STATECATCHER_API_KEY=API_KEY),
                                stdout=subprocess.DEVNULL, stderr=err)


def finish(proc: subprocess.Popen, run_dir: Path) -> None:
    try:
        proc.wait(timeout=TIMEOUT)
    finally:
        kill_tree(proc.pid)
    assert proc.returncode == 0, run_dir.with_suffix(".log").read_text()[-3000:]


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and its descendants (torchrun starts each rank in a session of its own)."""
    try:
        children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]
    except OSError:
        children = []
    for child in children:
        kill_tree(child)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def jsonl(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a kill
            pass
    return rows


def by_step(rows: list[dict]) -> dict[int, dict]:
    return {row["step"]: row for row in rows}  # after a resume, the re-run steps' lines come last and win


def losses(run_dir: Path) -> dict[int, float]:
    return {step: row["loss"] for step, row in by_step(jsonl(run_dir / "metrics.jsonl")).items()}


def rank_steps(run_dir: Path, rank: int) -> dict[int, dict]:
    return by_step(jsonl(run_dir / "ranks" / f"rank{rank}.jsonl"))


@pytest.fixture(scope="module")
def whole_run(server, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("ddp") / "whole"
    finish(launch(server, run_dir), run_dir)
    return run_dir


@pytest.fixture(scope="module")
def killed_run(server, tmp_path_factory) -> tuple[Path, Path]:
    """A 2-rank run SIGKILLed (launcher and ranks) after its step-8 checkpoint: (its dir, a copy of it)."""
    run_dir = tmp_path_factory.mktemp("ddp") / "killed"
    proc = launch(server, run_dir)
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None and max(losses(run_dir), default=0) < 10:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=30)
    copy = run_dir.with_name("killed-copy")
    shutil.copytree(run_dir, copy)
    return run_dir, copy


@pytest.mark.slow
def test_ranks_keep_identical_parameters_and_train_disjoint_shards_covering_each_epoch(whole_run):
    ranks = [rank_steps(whole_run, rank) for rank in range(2)]
    steps = sorted(ranks[0])
    assert steps == list(range(1, len(steps) + 1)) and sorted(ranks[1]) == steps, "both ranks take every step"
    assert sorted(losses(whole_run)) == steps
    for step in steps:
        assert ranks[0][step]["params"] == ranks[1][step]["params"], f"parameters differ after step {step}"
    assert len({ranks[0][step]["params"] for step in steps}) == len(steps), "every step changes the parameters"

    every_id = set()
    for epoch in range(OPTIONS["epochs"]):
        seen = [{rid for step in steps if rank[step]["epoch"] == epoch for rid, _ in rank[step]["recordings"]}
                for rank in ranks]
        assert not seen[0] & seen[1], f"epoch {epoch}: a recording trained on both ranks"
        assert len(seen[0] | seen[1]) == RECORDINGS, f"epoch {epoch}: recordings left out"
        every_id = every_id or seen[0] | seen[1]
        assert seen[0] | seen[1] == every_id
    idle = [step for step in steps if not ranks[0][step]["recordings"] or not ranks[1][step]["recordings"]]
    assert idle, "the uneven shards should leave one rank idle (all lanes masked) at the end of an epoch"


@pytest.mark.slow
def test_sigkill_and_resume_continue_the_same_losses_and_parameters(whole_run, killed_run, server):
    run_dir, _ = killed_run
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert checkpoint["world_size"] == 2 and [entry["lanes"]["rank"] for entry in checkpoint["ranks"]] == [0, 1]
    assert max(losses(run_dir)) < max(losses(whole_run))

    finish(launch(server, run_dir), run_dir)
    assert losses(run_dir) == losses(whole_run)
    for rank in range(2):
        assert ({s: row["params"] for s, row in rank_steps(run_dir, rank).items()}
                == {s: row["params"] for s, row in rank_steps(whole_run, rank).items()})


@pytest.mark.slow
def test_resume_on_one_rank_reshards_the_epoch_at_recording_boundaries(killed_run, server, api_key):
    from statecatcher.train.loop import train

    _, run_dir = killed_run
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    stop, epoch = checkpoint["summary"]["steps"], checkpoint["epoch"]
    before = [{s: row for s, row in rank_steps(run_dir, rank).items() if s <= stop and row["epoch"] == epoch}
              for rank in range(2)]
    in_progress = {lane["recording_id"] for entry in checkpoint["ranks"] for lane in entry["lanes"]["lanes"] if lane}
    finished = {rid for rank in before for row in rank.values() for rid, _ in row["recordings"]} - in_progress
    assert finished and in_progress, "the checkpoint should fall mid-epoch"
    shutil.rmtree(run_dir / "ranks")

    with pytest.warns(UserWarning, match="re-sharding"):
        summary = train(RunConfig.from_dict(options(server, run_dir, epochs=epoch + 1)))  # to the epoch's end
    assert summary.steps > stop
    after = [row for row in rank_steps(run_dir, 0).values() if row["epoch"] == epoch]
    trained = [(rid, index) for row in after for rid, index in row["recordings"]]
    assert not finished & {rid for rid, _ in trained}, "finished recordings are not repeated"
    assert len({rid for rid, _ in trained}) == RECORDINGS - len(finished), "the rest of the epoch is trained"
    assert all((rid, 0) in trained for rid in in_progress), "recordings in progress restart at segment 0"


@pytest.mark.slow
def test_two_ranks_train_like_one_process_holding_all_their_lanes(whole_run, server, api_key, tmp_path):
    """The loss is normalised by the tokens of all ranks: while one 4-lane process trains the same segments as
    2 ranks of 2 lanes, its losses (which follow the parameter updates) agree to float rounding."""
    from statecatcher.train.loop import train

    single = tmp_path / "single"
    train(RunConfig.from_dict(options(server, single, batch_size=4, max_steps=6)))
    one, ranks = rank_steps(single, 0), [rank_steps(whole_run, rank) for rank in range(2)]
    same = [step for step in sorted(one) if sorted(map(tuple, one[step]["recordings"])) == sorted(
        tuple(lane) for rank in ranks for lane in rank[step]["recordings"])]
    prefix = same[:next((k for k, step in enumerate(same) if step != k + 1), len(same))]
    assert len(prefix) >= 2, "the lanes should agree for a step and the step after its update"
    single_losses, ddp_losses = losses(single), losses(whole_run)
    for step in prefix:
        assert single_losses[step] == pytest.approx(ddp_losses[step], rel=1e-5), f"step {step}"


def test_ranks_step_in_lockstep_when_their_shards_are_uneven(corpus):
    """Two ranks (threads, with a fake all-reduce) over 5 recordings: the same number of steps; the rank that
    runs out first gets all-inactive batches."""
    flags: dict[int, bool] = {}
    barrier = threading.Barrier(2, timeout=30)

    class ThreadWorld(World):
        def _any(self, flag: bool) -> bool:
            flags[self.rank] = flag
            barrier.wait()
            agreed = any(flags.values())
            barrier.wait()
            return agreed

    source = LocalDataSource(str(corpus))
    batches: list[list[Batch]] = [[], []]

    def rank_main(rank: int) -> None:
        with LaneBatcher(source, batch_size=2, rank=rank, world_size=2, num_workers=0,
                         segmenter=SegmenterConfig(segment_seconds=3.0, min_seconds=1.0, max_seconds=6.0)) as lanes:
            batches[rank] = list(ThreadWorld(rank=rank, size=2).lockstep(lanes, batch_size=2, feature_dim=80))

    threads = [threading.Thread(target=rank_main, args=(rank,)) for rank in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    own = [[batch for batch in rank if batch.active.any()] for rank in batches]
    assert len(batches[0]) == len(batches[1]) == max(len(own[0]), len(own[1]))
    assert len(own[0]) != len(own[1]), "the shards should be uneven"
    short = min(range(2), key=lambda rank: len(own[rank]))
    for batch in batches[short][len(own[short]):]:
        assert not batch.active.any() and batch.weight.sum() == 0 and batch.feats.shape == (2, 0, 80)


def test_every_parameter_gets_a_gradient_even_from_an_all_inactive_batch():
    """An exhausted rank's batch leaves the LSTM out of the graph; DDP needs its gradient all the same."""
    from statecatcher.model import build_model

    model = build_model(encoder="lstm", loss="ctc", vocab_size=8, encoder_options={"hidden_dim": 8})
    empty = Batch.empty(2, 80)
    args = (empty.feats, empty.lengths, torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, dtype=torch.long),
            model.init_state(2))
    per_lane, _, _ = model(*args)
    per_lane.sum().backward()
    assert any(p.grad is None for p in model.parameters()), "the bare model skips the LSTM on inactive lanes"
    model.zero_grad(set_to_none=True)
    per_lane, _, _ = _EveryParameterInGraph(model)(*args)
    assert per_lane.tolist() == [0.0, 0.0]
    per_lane.sum().backward()
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())


def test_single_process_world_is_transparent():
    world, model, value = World(), torch.nn.Linear(2, 2), torch.tensor(3.0)
    assert world.wrap(model) is model and world.all_sum(value) == (value,) and world.gather("x") == ["x"]
    assert list(world.lockstep(iter([1, 2]), batch_size=2, feature_dim=80)) == [1, 2]


def test_resume_takes_the_ranks_own_entry_or_starts_fresh_between_epochs():
    entries = [{"lanes": {"batch_size": 2}, "state": f"state {r}", "rng": f"rng {r}"} for r in range(2)]
    assert World(rank=1, size=2).resume_entry(entries, source=None, batch_size=2) is entries[1]
    between_epochs = [{**entry, "lanes": None} for entry in entries]
    assert (World(rank=2, size=3).resume_entry(between_epochs, source=None, batch_size=2)
            == {"lanes": None, "state": None, "rng": "rng 0"})


def test_nproc_relaunches_the_same_command_under_torchrun():
    args = ["--encoder", "lstm", "--nproc", "4", "--batch-size", "2", "--nproc=3"]
    assert without_option(args, "--nproc") == ["--encoder", "lstm", "--batch-size", "2"]
    assert torchrun_command(2, ["--encoder", "lstm"])[1:] == [
        "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "statecatcher", "run",
        "--encoder", "lstm"]
