"""The design card's command as typed: ``statecatcher run --encoder xlstm --loss rnnt`` in an empty folder
trains on the embedded corpus (statecatcher-synth), synthesised once into the user cache."""

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from statecatcher.train.config import tomllib  # tomli on Python 3.10

STATECATCHER = str(Path(sys.executable).parent / "statecatcher")
# small enough to synthesise in seconds, large enough for sentencepiece's default 256 pieces
TINY_CORPUS = {"STATECATCHER_CORPUS_EPISODES": "1", "STATECATCHER_CORPUS_MINUTES": "3"}


def run_in(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([STATECATCHER, *args], cwd=folder, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


@pytest.mark.slow
def test_bare_run_in_an_empty_folder_trains_on_the_embedded_corpus(tmp_path):
    folder, cache = tmp_path / "empty", tmp_path / "cache"
    folder.mkdir()
    done = run_in(folder, "run", "--encoder", "xlstm", "--loss", "rnnt", "--max-steps", "2",
                  STATECATCHER_CACHE_DIR=str(cache), **TINY_CORPUS)
    assert done.returncode == 0, done.stderr[-3000:]
    corpus_dir = cache / f"corpus-{metadata.version('statecatcher-synth')}"
    assert "training on the embedded synthetic corpus of statecatcher-synth" in done.stderr
    assert "synthesising the embedded corpus (1 episodes of 3-3 min, once)" in done.stderr
    assert f"data synth:{corpus_dir};" in done.stderr
    assert "trained 2 steps" in done.stderr
    [corpus] = [path for path in corpus_dir.iterdir() if not path.name.startswith(".")]
    assert (corpus / "manifest.jsonl").is_file() and (corpus / "ep0000.flac").is_file()
    run_dir = folder / "runs" / "default"
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    saved = tomllib.loads((run_dir / "config.toml").read_text())
    assert (saved["data"], saved["encoder"], saved["loss"]) == (f"synth:{corpus_dir}", "xlstm", "rnnt")


def test_without_the_synth_plugin_the_bare_run_names_both_ways_out(tmp_path):
    others = sorted({ep.dist.name for ep in metadata.entry_points(group="statecatcher")} - {"statecatcher-synth"})
    done = run_in(tmp_path, "run", "--encoder", "xlstm", "--loss", "rnnt", "--max-steps", "3",
                  STATECATCHER_LOAD_PLUGINS=",".join(others), STATECATCHER_CACHE_DIR=str(tmp_path / "cache"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "Error: no training data: pass --data NAME:SPEC (e.g. --data local:path/to/corpus) or pip install "
        "statecatcher-synth to train on the embedded synthetic corpus")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "runs").exists()


def test_an_existing_corpus_folder_is_still_the_default(tmp_path, tiny_corpus):
    shutil.copytree(tiny_corpus, tmp_path / "corpus")
    done = run_in(tmp_path, "run", "--encoder", "lstm", "--loss", "ctc", "--max-steps", "1", "--vocab-size", "64",
                  STATECATCHER_CACHE_DIR=str(tmp_path / "cache"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "embedded" not in done.stderr and "data local:corpus;" in done.stderr
    assert not (tmp_path / "cache").exists()
