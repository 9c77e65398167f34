"""A filtered segment still advances the carried state; only its loss is masked (DESIGN.md, invariant 4)."""

from __future__ import annotations

import json

from statecatcher import hookimpl
from statecatcher.plugins import registered
from statecatcher.state import leaves, max_abs_diff
from statecatcher.train.checkpoint import find_checkpoint, load_checkpoint
from statecatcher.train.loop import train


class LateSpeech:
    """Rejects every transcript segment starting after the first 3 s: the lane's second segment."""

    name = "late_speech"

    def score(self, segment, context):
        return segment.start, segment.start > 3.0


class LateSpeechPlugin:
    @hookimpl
    def register_label_filters(self, register):
        register("late_speech", LateSpeech)


def final_state(run_dir):
    (rank,) = load_checkpoint(find_checkpoint(run_dir))["ranks"]  # one process: one rank's lanes and state
    return rank["state"]


def test_state_after_a_filtered_segment_equals_the_unfiltered_state(tiny_corpus, tmp_path, tiny_run_config):
    plain = train(tiny_run_config(tiny_corpus, tmp_path / "plain", max_steps=2))
    with registered(LateSpeechPlugin(), "late-speech-test"):
        filtered = train(tiny_run_config(tiny_corpus, tmp_path / "filtered", max_steps=2,
                                         label_filters=["late_speech"]))
    rows = [json.loads(line) for line in (tmp_path / "filtered" / "filter.jsonl").read_text().splitlines()]
    assert {row["step"] for row in rows} == {2} and {row["recording_id"] for row in rows} == {"ep0000"}
    # step 1 is identical; step 2 masks its segment (loss 0) yet forwards it: the same carried state
    assert filtered.losses[0] == plain.losses[0] and filtered.losses[1] == 0.0 < plain.losses[1]
    plain_state, filtered_state = final_state(tmp_path / "plain"), final_state(tmp_path / "filtered")
    assert leaves(plain_state) and max_abs_diff(plain_state, filtered_state) == 0.0
    metrics = [json.loads(line) for line in (tmp_path / "filtered" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["filtered/late_speech"] == len(rows) and metrics[-1]["filtered/segments"] == 1
