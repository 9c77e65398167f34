"""The filter stage: verdicts per training segment, masking in the lane batcher, the loss detector, the report."""

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from click.testing import CliRunner

from statecatcher.cli import cli
from statecatcher.data.lanes import LaneBatcher
from statecatcher.data.segmenter import SegmenterConfig, TrainingSegment
from statecatcher.filters import FilterStage, Rejection
from statecatcher.filters.detectors import KnownPhrases
from statecatcher.filters.model import LossOutlier
from statecatcher.filters.robust import upper_deviation
from statecatcher.records import Recording, Segment
from statecatcher.registry import UnknownNameError
from statecatcher.testing.dummies import make_recordings

SEGMENTER = SegmenterConfig(segment_seconds=2.0, min_seconds=1.0, max_seconds=3.0)


class RejectWord:
    """Rejects transcript segments whose text contains ``word`` (a throw-away detector)."""

    name = "reject_word"

    def __init__(self, word: str):
        self.word = word

    def score(self, segment, context):
        hit = self.word in segment.text.lower()
        return float(hit), hit


def recording_with(*texts: str) -> Recording:
    segments = tuple(Segment(2.0 * i, 2.0 * i + 1.5, text) for i, text in enumerate(texts))
    return Recording("rec", 2.0 * len(texts), segments, load_audio=lambda: torch.zeros(0))


def test_a_training_segment_is_rejected_when_any_of_its_transcript_segments_is():
    recording = recording_with(" Good words here.", " Thanks for watching!", " More good words.")
    whole = TrainingSegment(0, 0.0, 6.0, "", transcript_indices=(0, 1, 2))
    verdict = FilterStage([KnownPhrases()]).judge(recording, whole)
    assert verdict.reject and verdict.rejections == (Rejection("known_phrases", 1.0, 2.0, 3.5, "Thanks for watching!"),)
    assert not FilterStage([KnownPhrases()]).judge(recording, replace(whole, transcript_indices=(0, 2))).reject
    dry = FilterStage([KnownPhrases()], dry_run=True).judge(recording, whole)
    assert not dry.reject and dry.rejections == verdict.rejections


class ListSource:
    def __init__(self, recordings):
        self.items = list(recordings)

    def recordings(self, split, *, rank=0, world_size=1, epoch=0, start=0):
        return iter(self.items[rank::world_size][start:])


def batches(label_filter=None):
    source = ListSource(make_recordings(5, min_duration=3.0, max_duration=8.0, seed=11))
    with LaneBatcher(source, batch_size=2, segmenter=SEGMENTER, num_workers=0, label_filter=label_filter) as batcher:
        return list(batcher)


def test_filtered_lanes_keep_their_audio_and_lose_only_their_weight():
    plain = batches()
    stage = FilterStage([RejectWord("alpha")])
    filtered = batches(stage.text_filter)
    assert len(plain) == len(filtered)
    rejected = 0
    for a, b in zip(plain, filtered, strict=True):
        assert torch.equal(a.feats, b.feats) and torch.equal(a.lengths, b.lengths) and a.texts == b.texts
        assert torch.equal(a.reset, b.reset) and torch.equal(a.active, b.active)
        for lane, rejections in enumerate(b.info["filtered"]):
            has_alpha = any("alpha" in r.text.lower() for r in rejections)
            assert has_alpha == ("alpha" in a.texts[lane])
            assert float(b.weight[lane]) == (0.0 if has_alpha else float(a.weight[lane]))
            rejected += has_alpha
    assert rejected > 0
    assert "filtered" not in plain[0].info


def fake_batch(texts, active=None):
    size = len(texts)
    return SimpleNamespace(batch_size=size, active=torch.tensor(active or [True] * size), texts=list(texts),
                           start=[0.0] * size, end=[2.0] * size, recording_ids=[f"r{b}" for b in range(size)],
                           segment_index=list(range(size)), info={})


def test_loss_outlier_collects_a_warmup_then_rejects_robust_outliers():
    detector = LossOutlier(threshold=3.5, warmup=4, window=8)
    segment = Segment(0.0, 1.0, "x")
    for loss in (1.0, 1.1, 0.9, 1.0):
        assert detector.score(segment, {"token_loss": loss}) == (0.0, False)
    z, reject = detector.score(segment, {"token_loss": 5.0})
    assert reject and z == pytest.approx((5.0 - 1.0) / (1.4826 * 0.05))  # MAD 0.05 of [0.9, 1, 1, 1.1]
    assert list(detector.recent) == [1.0, 1.1, 0.9, 1.0, 5.0]  # rejected losses enter the reference too
    assert detector.score(segment, {"token_loss": 1.05})[1] is False
    assert detector.score(segment, {"token_loss": float("nan")}) == (0.0, False)


def test_loss_outlier_follows_a_jump_of_the_loss_level_instead_of_masking_everything_after_it():
    detector = LossOutlier(threshold=3.5, warmup=10, window=10)
    segment = Segment(0.0, 1.0, "x")
    for k in range(10):
        detector.score(segment, {"token_loss": 1.0 + 0.01 * k})
    verdicts = [detector.score(segment, {"token_loss": 3.0 + 0.01 * k})[1] for k in range(10)]
    # rejected while the old level holds the window, accepted once the new level holds over a quarter of it
    # (then it is most of the upper half, whose MAD the spread takes)
    assert verdicts == [True] * 3 + [False] * 7


# Per-token losses mid-training: the learnt segments crowd near 0, segments with a word not learnt yet spread
# far above (the tone-word benchmark, seeds 0 and 1: median 0.47, upper quartile 1.44, hardest clean 7.6).
LEARNT = [0.01 * k for k in range(10)]  # 0.00 .. 0.09
NOT_YET_LEARNT = [0.2 * k for k in range(1, 11)]  # 0.2 .. 2.0


def test_upper_deviation_is_the_mad_of_the_values_at_or_above_the_median():
    assert upper_deviation([1.0, 2.0, 3.0, 4.0, 5.0], 3.0) == 1.0  # deviations 0, 1, 2
    assert upper_deviation(LEARNT + NOT_YET_LEARNT, 0.145) == pytest.approx(0.955)  # (0.855 + 1.055) / 2


def test_loss_outlier_takes_the_spread_of_a_right_skewed_window_from_its_upper_half():
    detector = LossOutlier(threshold=3.5, warmup=20, window=20)
    segment = Segment(0.0, 1.0, "x")
    for loss in LEARNT + NOT_YET_LEARNT:
        detector.score(segment, {"token_loss": loss})
    # the plain MAD (0.14) would give the hardest clean loss z = 8.9; the upper half's MAD is 0.955
    assert detector.z_score(2.0) == pytest.approx((2.0 - 0.145) / (1.4826 * 0.955))
    assert detector.z_score(2.0) < detector.threshold  # a clean segment with a word not learnt yet
    assert detector.z_score(8.0) > detector.threshold  # a wrong transcript (swapped text: 7-35 nats per token)


def test_loss_outlier_keeps_the_plain_mad_when_the_upper_half_spreads_less():
    detector = LossOutlier(threshold=3.5, warmup=5, window=5)
    for loss in (0.0, 0.5, 1.0, 1.1, 1.2):  # skewed to the left: MAD 0.2, upper half's 0.1
        detector.score(Segment(0.0, 1.0, "x"), {"token_loss": loss})
    assert detector.z_score(2.0) == pytest.approx((2.0 - 1.0) / (1.4826 * 0.2))


def test_update_masks_loss_outliers_counts_and_reports(tmp_path):
    stage = FilterStage([LossOutlier(warmup=3, window=10)], report_path=tmp_path / "filter.jsonl")
    target_lens = torch.tensor([10, 10, 10])
    weight = torch.ones(3)
    for _ in range(2):  # warm-up: 6 lanes of ~1 nat per token
        out = stage.update(fake_batch(["a", "b", "c"]), torch.tensor([10.0, 11.0, 9.0]), target_lens, weight, step=1)
        assert torch.equal(out, weight)
    out = stage.update(fake_batch(["a", "bad", "c"]), torch.tensor([10.0, 80.0, 9.5]), target_lens, weight, step=3)
    assert out.tolist() == [1.0, 0.0, 1.0] and weight.tolist() == [1.0, 1.0, 1.0]
    assert stage.metrics() == {"filtered/loss_outlier": 1, "filtered/segments": 1, "filtered/share": 1 / 9}
    stage.close()
    (row,) = [json.loads(line) for line in (tmp_path / "filter.jsonl").read_text().splitlines()]
    assert row["detector"] == "loss_outlier" and row["text"] == "bad" and row["recording_id"] == "r1"
    assert row["step"] == 3 and row["masked"] is True and row["score"] > 3.5


def test_update_reports_pipeline_rejections_and_a_dry_run_masks_nothing(tmp_path):
    stage = FilterStage([KnownPhrases(), LossOutlier(warmup=1)], dry_run=True, report_path=tmp_path / "f.jsonl")
    batch = fake_batch(["x", "y"], active=[True, False])
    batch.info["filtered"] = [(Rejection("known_phrases", 1.0, 0.0, 1.0, "thanks for watching"),), ()]
    weight = torch.tensor([1.0, 0.0])
    out = stage.update(batch, torch.tensor([3.0, 0.0]), torch.tensor([3, 0]), weight, step=7)
    assert torch.equal(out, weight)
    assert stage.metrics()["filtered/known_phrases"] == 1 and stage.metrics()["filtered/loss_outlier"] == 0
    stage.close()
    assert json.loads((tmp_path / "f.jsonl").read_text())["masked"] is False


def test_from_config_errors_name_the_filter_and_the_key(tmp_path):
    with pytest.raises(UnknownNameError, match="nope"):
        FilterStage.from_config(["nope"], {})
    with pytest.raises(ValueError, match="filter_options: options given for silence"):
        FilterStage.from_config(["char_rate"], {"silence": {"min_speech_fraction": 0.1}})
    with pytest.raises(ValueError, match="filter_options.char_rate"):
        FilterStage.from_config(["char_rate"], {"char_rate": {"bogus": 1}})
    stage = FilterStage.from_config(["char_rate", "loss_outlier"], {"char_rate": {"max_rate": 20.0}}, run_dir=tmp_path)
    assert [d.name for d in stage.pipeline_detectors] == ["char_rate"] and stage.pipeline_detectors[0].max_rate == 20.0
    assert [d.name for d in stage.loss_detectors] == ["loss_outlier"]
    stage.close()
    empty = FilterStage.from_config([], {}, run_dir=tmp_path / "none")
    assert empty.text_filter is None and empty.metrics() == {}
    assert not (tmp_path / "none").exists()


def test_filter_report_command_summarises_per_detector(tmp_path):
    rows = [{"step": 1, "recording_id": "a", "segment_index": 0, "detector": "char_rate", "score": s,
             "start": 0.0, "end": 1.0, "text": f"text {s}", "masked": True} for s in (35.0, 50.0)]
    rows.append({**rows[0], "detector": "silence", "score": 0.1, "segment_index": 1})
    (tmp_path / "filter.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(cli, ["filter-report", str(tmp_path), "--json", "--examples", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["segments"] == 2 and summary["recordings"] == 1
    assert [(d["detector"], d["count"]) for d in summary["detectors"]] == [("char_rate", 2), ("silence", 1)]
    assert summary["detectors"][0]["examples"][0]["text"] == "text 50.0"
    table = CliRunner().invoke(cli, ["filter-report", str(tmp_path)])
    assert table.exit_code == 0 and "char_rate" in table.output and "35 .. 50" in table.output
    missing = CliRunner().invoke(cli, ["filter-report", str(tmp_path / "..")])
    assert missing.exit_code != 0 and "no filter report" in missing.output


# -- checkpoints: running references, the batcher's snapshot, the report after a kill --------------------------
def rate_stage(**options):
    from statecatcher.filters.detectors import RateOutlier

    return FilterStage([RateOutlier(warmup=3, window=6, threshold=1.0, **options), LossOutlier(warmup=2, window=6)])


def test_a_stage_restored_from_its_state_dict_judges_exactly_like_the_original():
    original, losses = rate_stage(), [1.0, 1.2, 0.8, 6.0, 1.1, 0.9, 7.0, 1.0]
    batch = fake_batch(["a b", "c d e f g h i j"])
    for loss in losses[:4]:
        original.update(batch, torch.tensor([loss, 2 * loss]), torch.tensor([1, 1]), torch.ones(2), step=1)
    restored = rate_stage()
    restored.load_state_dict(json.loads(json.dumps(original.state_dict())))  # survives a JSON/pickle round trip
    assert restored.metrics() == original.metrics()
    recording = recording_with(*(["one two"] * 3 + ["one two three four five six seven eight nine"]))
    for loss in losses[4:]:
        for stage in (original, restored):
            stage.judged = [stage.text_filter(recording, TrainingSegment(0, 0.0, 8.0, "", transcript_indices=(i,)))
                            for i in range(4)]
            stage.weights = stage.update(batch, torch.tensor([loss, 2 * loss]), torch.tensor([1, 1]),
                                         torch.ones(2), step=2)
        assert restored.judged == original.judged and torch.equal(restored.weights, original.weights)
    assert original.state_dict() == restored.state_dict()


class CountingFilter:
    """A stateful label filter: rejects every third segment it judges (its count is its state)."""

    def __init__(self):
        self.seen = 0

    def __call__(self, recording, segment, waveform=None):
        from statecatcher.filters import ACCEPT, Verdict

        self.seen += 1
        return Verdict(True, (Rejection("count", self.seen, 0.0, 1.0, ""),)) if self.seen % 3 == 0 else ACCEPT

    def state_dict(self):
        return {"seen": self.seen}

    def load_state_dict(self, state):
        self.seen = state["seen"]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_resumed_batcher_restores_its_label_filter_as_of_the_last_batch_handed_out(num_workers):
    source = ListSource(make_recordings(5, min_duration=3.0, max_duration=8.0, seed=11))

    def run(label_filter, state=None, stop=None):
        with LaneBatcher(source, batch_size=2, segmenter=SEGMENTER, num_workers=num_workers,
                         label_filter=label_filter) as batcher:
            if state is not None:
                batcher.load_state_dict(state)
            out = []
            for batch in batcher:
                out.append(batch.weight.tolist())
                if len(out) == stop:
                    return out, batcher.state_dict()
            return out, batcher.state_dict()

    whole, _ = run(CountingFilter())
    head, state = run(CountingFilter(), stop=2)  # the planner has judged steps ahead of the second batch
    tail, _ = run(CountingFilter(), state=state)
    assert head + tail == whole and any(0.0 in weights for weights in whole[2:])


def test_resume_report_drops_rows_after_the_checkpoint_and_a_cut_last_line(tmp_path):
    path = tmp_path / "filter.jsonl"
    rows = [{"step": step, "detector": "x"} for step in (1, 2, 5, 6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 7, "det')
    stage = FilterStage([KnownPhrases()], report_path=path)
    stage.resume_report(5)
    stage._record(6, fake_batch(["y"]), 0, [Rejection("known_phrases", 1.0, 0.0, 1.0, "y")])
    stage.close()
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 5, 6]


def test_every_rank_writes_its_own_report_and_filter_report_reads_them_all(tmp_path):
    for rank in (0, 1, 2):
        stage = FilterStage.from_config(["known_phrases"], {}, run_dir=tmp_path, rank=rank)
        stage._record(rank + 1, fake_batch([f"r{rank}"]), 0, [Rejection("known_phrases", 1.0, 0.0, 1.0, "x")])
        stage.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["filter.jsonl", "filter.rank1.jsonl", "filter.rank2.jsonl"]
    from statecatcher.filters.report import read_report

    assert [row["step"] for row in read_report(tmp_path)] == [1, 2, 3]
