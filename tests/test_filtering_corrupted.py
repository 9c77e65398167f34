"""The text and audio detectors on the synthetic speech corpus, split into sentences and corrupted with known labels."""

from __future__ import annotations

from experiments.corrupt import corrupt_recordings, segment_labels
from experiments.filters import sentence_recordings
from statecatcher.data.segmenter import TrainingSegment
from statecatcher.filters import DEFAULT_FILTERS, FilterStage


def test_text_detectors_catch_loops_outros_and_muted_speech_and_spare_clean_sentences(tiny_corpus):
    recordings = sentence_recordings(tiny_corpus)
    assert sum(len(r.segments) for r in recordings) > 20
    corrupted, corruptions = corrupt_recordings(recordings, share=0.3, seed=3, kinds=("repeat", "outro", "silence"))
    labels = segment_labels(corrupted, corruptions)
    stage = FilterStage.from_config([name for name in DEFAULT_FILTERS if name != "loss_outlier"], {})
    flagged = set()
    for recording in corrupted:
        waveform = recording.load_audio()
        for i, segment in enumerate(recording.segments):
            alone = TrainingSegment(0, segment.start, segment.end, segment.text, transcript_indices=(i,))
            if stage.judge(recording, alone, waveform).reject:
                flagged.add((recording.id, i))
    corrupted_keys = {key for key, kind in labels.items() if kind != "clean"}
    assert {kind for kind in labels.values()} == {"clean", "repeat", "outro", "silence"}
    assert flagged == corrupted_keys
