"""Feature normalisation, SpecAugment, the throughput meter and presets: the recipe's building blocks."""

from __future__ import annotations

import io
import math

import pytest
import torch

from statecatcher.data.fbank import FeatureConfig
from statecatcher.data.features import recording_features
from statecatcher.model import AsrModel
from statecatcher.nn.normalize import FeatureNormalizer
from statecatcher.nn.spec_augment import SpecAugmentConfig, spec_augment
from statecatcher.testing.broken import TinyGRUEncoder
from statecatcher.testing.dummies import make_recordings
from statecatcher.train.config import ConfigError, RunConfig
from statecatcher.train.feature_stats import FeatureStatsError, estimate_feature_stats, load_or_estimate
from statecatcher.train.meter import ThroughputMeter
from statecatcher.train.presets import PRESETS
from statecatcher.train.trackers import ConsoleTracker


class ListSource:
    """A data source over a fixed list of recordings (every one in ``train``)."""

    def __init__(self, num_recordings: int, seconds: float, load_audio=None):
        self.items = make_recordings(num_recordings, min_duration=seconds, max_duration=seconds, seed=3)
        if load_audio is not None:
            self.items = [type(r)(r.id, r.duration, r.segments, load_audio=load_audio) for r in self.items]

    def recordings(self, split, **_):
        return iter(self.items if split == "train" else [])


class PassThroughHead(torch.nn.Module):
    """Loss = sum of the encoder output per lane (so the test sees exactly what reached the encoder)."""

    def init_state(self, batch_size, device=None):
        return {}

    def forward(self, out, out_lens, targets, target_lens, state):
        return out.sum(dim=(1, 2)), state


def test_normalizer_is_identity_until_stats_are_set_then_standardises():
    norm = FeatureNormalizer(3)
    x = torch.randn(2, 5, 3)
    assert torch.equal(norm(x), x)
    norm.set_stats(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 0.0]))
    expected = (x - torch.tensor([1.0, 2.0, 3.0])) / torch.tensor([2.0, 4.0, 1e-3])
    torch.testing.assert_close(norm(x), expected)
    # frame by frame: any chunking of the time axis gives the same frames
    torch.testing.assert_close(torch.cat([norm(x[:, :2]), norm(x[:, 2:])], dim=1), norm(x))
    assert set(norm.state_dict()) == {"mean", "inv_std"}  # travels in every checkpoint and pack


def test_feature_stats_equal_the_moments_of_the_sampled_features():
    source = ListSource(3, 4.0)
    features = FeatureConfig()
    stats = estimate_feature_stats(source, "train", features, max_seconds=100.0, per_recording_seconds=100.0)
    frames = torch.cat([recording_features(rec.load_audio(), features) for rec in source.recordings("train")])
    assert stats["frames"] == frames.shape[0] and stats["recordings"] == 3
    torch.testing.assert_close(torch.tensor(stats["mean"]), frames.double().mean(0).float(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(torch.tensor(stats["std"]), frames.double().std(0, unbiased=False).float(),
                               atol=1e-3, rtol=1e-3)


def test_feature_stats_are_bounded_and_cached(tmp_path):
    source = ListSource(4, 4.0)
    stats = load_or_estimate(tmp_path, source, "train", FeatureConfig(), max_seconds=3.0, per_recording_seconds=2.0)
    assert stats["seconds"] <= 3.0 + 1e-6 and stats["recordings"] == 2
    assert (tmp_path / "feature_stats.json").exists()
    # the cached file wins: a different bound does not recompute
    assert load_or_estimate(tmp_path, source, "train", FeatureConfig(), max_seconds=100.0) == stats


def test_feature_stats_fail_clearly_when_no_audio_loads():
    with pytest.raises(FeatureStatsError, match="no audio could be read from split 'train'.*disk on fire"):
        estimate_feature_stats(ListSource(2, 2.0, load_audio=_raise), "train", FeatureConfig())


def _raise():
    raise OSError("disk on fire")


def test_spec_augment_masks_only_real_frames_and_is_seeded():
    config = SpecAugmentConfig(freq_masks=2, freq_width=10, time_masks=4, time_width=8, time_mask_ratio=0.5)
    feats = torch.randn(3, 50, 20) + 10.0  # no natural zeros
    lengths = torch.tensor([50, 30, 0])
    torch.manual_seed(0)
    a = spec_augment(feats, lengths, config)
    torch.manual_seed(0)
    assert torch.equal(a, spec_augment(feats, lengths, config))  # the global generator decides (checkpointed)
    assert torch.equal(a[1, 30:], feats[1, 30:]) and torch.equal(a[2], feats[2])  # padding untouched
    masked = a == 0
    assert masked[:2].any()
    # a masked frame is masked in every bin (time mask) or a masked bin in every frame (frequency mask)
    for b in range(2):
        rows, cols = masked[b].all(dim=1), masked[b, : int(lengths[b])].all(dim=0)
        assert torch.equal(masked[b, : int(lengths[b])], rows[: int(lengths[b]), None] | cols[None, :])
        assert int(rows.sum()) <= 4 * 8 and int(cols.sum()) <= 2 * 10


def test_model_normalises_then_augments_in_train_mode_only():
    torch.manual_seed(0)
    model = AsrModel(TinyGRUEncoder(input_dim=20, hidden_dim=4), PassThroughHead(), input_dim=20)
    model.feature_norm.set_stats(torch.full((20,), 5.0), torch.full((20,), 2.0))
    model.augment = SpecAugmentConfig(freq_masks=2, freq_width=10, time_masks=4, time_width=8, time_mask_ratio=0.5)
    feats, lengths = torch.randn(2, 40, 20) + 5.0, torch.tensor([40, 25])
    state = model.init_state(2)
    seen = []
    model.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    model.eval()
    model(feats, lengths, None, None, state)
    torch.testing.assert_close(seen[-1], (feats - 5.0) / 2.0)  # eval: normalised, never masked
    model.train()
    torch.manual_seed(1)
    model(feats, lengths, None, None, state)
    torch.manual_seed(1)
    torch.testing.assert_close(seen[-1], spec_augment((feats - 5.0) / 2.0, lengths, model.augment))
    assert (seen[-1] == 0).any()


def test_meter_never_reports_a_zero_loss_for_a_window_of_skipped_steps():
    meter = ThroughputMeter()
    meter.add(None, frames=10)
    metrics = meter.metrics(audio_seconds=5.0, wait_seconds=0.0)
    assert "loss" not in metrics and metrics["frames_per_s"] > 0
    meter.add(2.0, frames=10)
    meter.add(4.0, frames=10)
    assert meter.metrics(audio_seconds=10.0, wait_seconds=0.0)["loss"] == 3.0


def test_presets_are_a_layer_under_file_and_flags(tmp_path):
    config = RunConfig.load(None, {"preset": "cpu-demo"})
    assert config.eval_every == PRESETS["cpu-demo"]["eval_every"] and config.lr == PRESETS["cpu-demo"]["lr"]
    assert config.vocab_size == PRESETS["cpu-demo"]["vocab_size"]
    toml = tmp_path / "run.toml"
    toml.write_text('preset = "cpu-demo"\nvocab_size = 99\n')
    config = RunConfig.load(toml, {"lr": 0.5})
    preset_seconds = PRESETS["cpu-demo"]["segmenter"]["segment_seconds"]
    assert (config.vocab_size, config.lr, config.segmenter.segment_seconds) == (99, 0.5, preset_seconds)
    with pytest.raises(ConfigError, match="unknown preset 'tpu-huge'"):
        RunConfig.load(None, {"preset": "tpu-huge"})
    for name in PRESETS:  # every preset is a valid config
        RunConfig.load(None, {"preset": name})


def test_a_preset_keeps_its_encoder_options_to_its_own_encoder():
    other = "xlstm" if PRESETS["cpu-demo"]["encoder"] != "xlstm" else "lstm"
    config = RunConfig.load(None, {"preset": "cpu-demo", "encoder": other})
    assert config.encoder == other and config.encoder_options == {}
    assert config.vocab_size == PRESETS["cpu-demo"]["vocab_size"]  # the rest of the recipe still applies
    own = PRESETS["cpu-demo"]["encoder"]
    same = RunConfig.load(None, {"preset": "cpu-demo", "encoder": own, "encoder_options": {"subsampling": 2}})
    assert same.encoder_options == {**PRESETS["cpu-demo"]["encoder_options"], "subsampling": 2}


def test_from_dict_applies_the_preset_it_names_like_load():
    """It used to record ``preset = "cpu-demo"`` and silently train with the defaults."""
    config = RunConfig.from_dict({"preset": "cpu-demo", "lr": 0.5})
    assert (config.vocab_size, config.lr) == (PRESETS["cpu-demo"]["vocab_size"], 0.5)
    assert config == RunConfig.load(None, {"preset": "cpu-demo", "lr": 0.5})
    with pytest.raises(ConfigError, match="unknown preset 'tpu-huge'"):
        RunConfig.from_dict({"preset": "tpu-huge"})


def test_console_prints_plain_lines_when_redirected():
    out = io.StringIO()
    tracker = ConsoleTracker(every_seconds=3600.0, stream=out)
    tracker.log_params({"total_steps": 100})
    tracker.log_metrics(10, {"loss": 2.5, "epoch": 0, "audio_seconds_per_s": 120.0})
    tracker.log_metrics(20, {"loss": 2.0})  # within every_seconds: no line
    tracker.log_metrics(20, {"dev_wer": 0.5, "dev_cer": 0.25})  # a validation always prints
    tracker.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("train  step 10/100  epoch 0  loss 2.500") and "120x real time" in lines[0]
    assert "step 20/100" in lines[1] and "dev CER 25.0%  dev WER 50.0%" in lines[1] and "ETA" in lines[1]
    assert len(lines) == 2  # close() does not repeat a line already printed for the last step
    assert not any(math.isnan(0) for _ in lines)


def test_mfcc_frontend_is_exact_under_chunking_and_has_its_own_size():
    from statecatcher.data.features import features_for_span

    config = FeatureConfig(kind="mfcc")
    waveform = make_recordings(1, min_duration=2.0, max_duration=2.0, seed=5)[0].load_audio()
    whole = recording_features(waveform, config)
    assert whole.shape[1] == config.dim == 40
    span = features_for_span(waveform, 160 * 37, 160 * 120, config)
    torch.testing.assert_close(span, whole[37:120])
    assert not torch.allclose(whole[:, :40], recording_features(waveform)[:, :40])  # not the fbank
    with pytest.raises(ValueError, match="kind must be fbank or mfcc"):
        FeatureConfig(kind="plp")


@pytest.mark.parametrize("name", ["adamw", "adam"])
def test_adam_runs_the_fused_kernel_on_cpu_and_matches_the_default_step(name):
    """The fused kernel (~6x cheaper than the per-parameter loop at batch 1 on CPU) takes the same steps as
    torch's default Adam(W) to float32 rounding; parameters without a fused kernel fall back to the default."""
    from statecatcher.train.optim import make_optimizer

    torch.manual_seed(0)
    weights = [torch.nn.Parameter(torch.randn(5, 4)), torch.nn.Parameter(torch.randn(4))]
    reference = [torch.nn.Parameter(w.detach().clone()) for w in weights]
    optimizer = make_optimizer(name, weights, lr=0.01, weight_decay=0.1)
    default = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[name](reference, lr=0.01, weight_decay=0.1)
    assert optimizer.param_groups[0]["fused"] is True
    assert not default.param_groups[0]["fused"]
    for step in range(5):
        for params, opt in ((weights, optimizer), (reference, default)):
            opt.zero_grad()
            ((params[0] @ params[1]) ** 2).sum().mul(step + 1).backward()
            opt.step()
    for fused, plain in zip(weights, reference, strict=True):
        torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-6)
    on_meta = torch.nn.Parameter(torch.empty(3, device="meta"))
    assert not make_optimizer(name, [on_meta], lr=0.01, weight_decay=0.0).param_groups[0]["fused"]


@pytest.mark.parametrize("name", ["adamw", "adam", "lion"])
def test_optimizers_step_and_unknown_names_fail_clearly(name):
    from statecatcher.train.optim import OptimizerError, make_optimizer

    if name == "lion":
        pytest.importorskip("lion_pytorch")
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = make_optimizer(name, [weight], lr=0.1, weight_decay=0.0)
    (weight * torch.tensor([1.0, -1.0, 2.0])).sum().backward()
    optimizer.step()
    assert weight[0] < 1.0 and weight[1] > 1.0
    with pytest.raises(OptimizerError, match="unknown optimizer 'sgdx'"):
        make_optimizer("sgdx", [weight], lr=0.1, weight_decay=0.0)
