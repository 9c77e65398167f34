"""The published tables (experiments/tables.py): every marked table in the docs equals the rendering of its
JSON under results/, the renderers and the marker rewriting, and the filter benchmark's verdict on the median."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.bench_filters import TARGET, summarise
from experiments.tables import (
    DOCS,
    MISSING,
    ROOT,
    TABLES,
    marked_blocks,
    percent_spread,
    render,
    render_text,
    stale_blocks,
    write_json,
)

MACHINE = {"cpu": "Test CPU", "cores": 2, "cores_usable": 2, "memory_gib": 8.0, "torch": "2.13.0",
           "torch_threads": 1, "python": "3.11.0", "gpu": None}


def demo_json(wers: list[float]) -> dict:
    runs = [{"seed": seed, "train_seconds": 100.0 + seed, "test": {"wer": wer, "cer": wer / 2, "ref_words": 2434},
             "test_stateless": {"wer": wer, "cer": wer / 2}, "test_lm": {"wer": wer - 0.1, "cer": wer / 2 - 0.05},
             "best": {"step": 4000, "dev_wer": 0.875, "dev_cer": 0.5},
             "plateau": {"step": 200, "dev_cer": 0.7, "audio_seconds": 3000.0 + seed} if seed != 1 else None}
            for seed, wer in enumerate(wers)]
    return {"started": "2026-12-03T12:00:00Z", "command": "python -m experiments.results demo", "machine": MACHINE,
            "nondeterministic": "", "seeds": list(range(len(wers))), "runs": runs}


def test_every_marked_table_in_the_docs_equals_the_rendering_of_its_json():
    assert stale_blocks() == [], "rerun `python -m experiments.results --render-only` (or `nox -s results`)"


def test_every_table_is_published_somewhere():
    published = {name for doc in DOCS for name in marked_blocks((ROOT / doc).read_text())}
    assert published == set(TABLES)


def test_percent_spread_gives_median_and_range():
    assert percent_spread([0.878, 0.9, 0.85]) == "87.8 % (85.0-90.0)"
    assert percent_spread([0.5]) == "50.0 %"
    assert percent_spread([0.5, 0.5]) == "50.0 %"


def test_demo_table_has_one_row_per_seed_and_the_median(tmp_path):
    write_json(demo_json([0.9, 0.8, 0.85]), "demo", tmp_path)
    lines = render("demo", tmp_path).splitlines()
    assert lines[2] == ("| 0 | 90.0 % / 45.0 % | 90.0 % / 45.0 % | 80.0 % / 40.0 % | 87.5 % / 50.0 % (4000) "
                        "| 70.0 % at 3,000 audio-s (step 200) | 100 s |")
    assert "| 87.5 % / 50.0 % (4000) | never | 101 s |" in lines[3]
    assert lines[5] == ("| **median (range), 3 seeds** | **85.0 % (80.0-90.0) / 42.5 % (40.0-45.0)** "
                        "| 85.0 % (80.0-90.0) / 42.5 % (40.0-45.0) | **75.0 % (70.0-80.0) / 37.5 % (35.0-40.0)** "
                        "| 87.5 % / 50.0 % | 2 of 3 seeds, by 3,002 audio-s | 101 s (timing) |")
    assert lines[-1].startswith("2434 reference words. Measured 2026-12-03T12:00:00Z with "
                                "`python -m experiments.results demo` on Test CPU, 2 cores (2 usable)")
    assert "1 torch thread(s)" in lines[-1]


def test_render_text_rewrites_only_the_marked_blocks(tmp_path):
    text = "# Results\n\nbefore\n<!-- results:demo -->\nold table\n<!-- /results:demo -->\nafter\n"
    assert render_text(text, tmp_path) == ("# Results\n\nbefore\n<!-- results:demo -->\n"
                                           + MISSING.format(json="demo.json") + "\n<!-- /results:demo -->\nafter\n")
    write_json(demo_json([0.9]), "demo", tmp_path)
    rendered = render_text(text, tmp_path)
    assert marked_blocks(rendered) == {"demo": render("demo", tmp_path)}
    assert rendered.startswith("# Results\n\nbefore\n") and rendered.endswith("<!-- /results:demo -->\nafter\n")
    assert json.loads((tmp_path / "demo.json").read_text())["runs"][0]["test"]["wer"] == 0.9


def test_an_unknown_marker_is_an_error_naming_it():
    with pytest.raises(ValueError, match="results marker 'demoo': no such table"):
        render_text("<!-- results:demoo -->\nx\n<!-- /results:demoo -->\n", Path("/nonexistent"))


def filter_run(seed: int, recall: float, clean_flagged: float) -> dict:
    return {"seed": seed, "detectors": {"combined": {"recall": recall, "clean_flagged": clean_flagged}}}


def test_filter_benchmark_target_is_judged_on_the_median_over_seeds():
    one_bad_seed = [filter_run(0, 1.0, 0.021), filter_run(1, 1.0, 0.168), filter_run(2, 0.98, 0.0)]
    two_bad_seeds = [filter_run(0, 1.0, 0.06), filter_run(1, 1.0, 0.168), filter_run(2, 0.98, 0.0)]
    summary = summarise({"tone words": one_bad_seed, "speech": two_bad_seeds})
    assert summary["tone words"]["verdict"] == "PASS"
    assert summary["tone words"]["clean_flagged"] == {"median": 0.021, "min": 0.0, "max": 0.168, "n": 3,
                                                      "values": [0.021, 0.168, 0.0]}
    assert summary["speech"]["verdict"] == "FAIL" and summary["speech"]["clean_flagged"]["median"] == 0.06
    assert TARGET == {"recall": 0.9, "clean_flagged": 0.05}


@pytest.mark.parametrize(("argv", "message"), [(["nope"], "unknown table(s) nope; choose from demo,"),
                                               (["--seeds", "0"], "--seeds must be >= 1, got 0")])
def test_results_command_names_a_bad_argument(argv, message, capsys):
    from experiments.results import main

    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--render-only"])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_a_failed_benchmark_row_fails_the_performance_table_instead_of_publishing_an_error(tmp_path, monkeypatch):
    import subprocess

    from experiments import results

    def fake_benchmarks(command, cwd):
        out = Path(command[command.index("--out") + 1])
        out.write_text(json.dumps({"machine": MACHINE, "started": "x", "small": False, "rows": {
            "memory": {"results": [{"name": "m", "ratio": 1.0, "description": "d"}], "seconds": 1.0},
            "onnx": {"error": "exit status 1", "seconds": 2.0}}}))
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(results.subprocess, "run", fake_benchmarks)
    with pytest.raises(RuntimeError, match=r"row\(s\) onnx failed \(exit status 1\); its report is .*performance.json"):
        results.produce_performance([0], tmp_path, quick=False)
