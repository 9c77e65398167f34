"""Does carried state pay off?  Train the same small model stateful and stateless, compare on long episodes.

    python -m experiments.stateful --out runs/experiment                 # default scale, CPU
    python -m experiments.stateful --out DIR --scale 8 --encoders lstm,rwkv7,xlstm --losses ctc,rnnt

For every encoder x loss, two runs share seed, model, data order and step budget: *stateful* (the encoder
state carried across a recording's consecutive segments, gradient detached) and *stateless* (every lane reset
at every segment, ``--stateless``).  Each model is then decoded three ways, on the held-out test episodes and,
separately labelled, on its own training episodes (the memorisation regime: a CPU-sized model cannot
generalise, but what it learnt there shows whether it relies on the state):

* ``segment, reset``: every segment decoded from a fresh state (how the stateless model was trained);
* ``segment, carried``: segments streamed in order with carried state (how the stateful model was trained);
* ``whole recording``: one streaming pass over the whole episode, state carried throughout.

The corpus is synthetic (statecatcher-synth: ``4 * scale`` multi-speaker episodes of 1-1.5 min, seed 1234,
split by episode: ~1/6 test, ~1/6 dev, the rest train), built on first use and cached in
``$STATECATCHER_TEST_CACHE`` (default ``~/.cache/statecatcher/tests``).  ``--scale`` multiplies the episodes
and the steps (and ``--scale 8`` on a GPU is the intended bigger run).  Written: ``OUT/<encoder>-<loss>-
<stateful|stateless>/`` run dirs, ``OUT/results.json``, and the markdown document ``--doc`` with its loss
curve PNGs beside it.  Needs the synth, sentencepiece, ctc (rnnt) and encoder plugins.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from experiments.corpus import demo_corpus, ensure_corpus, manifest_rows, synth_corpus
from experiments.demo import STEPS as DEMO_STEPS
from experiments.machine import machine_info
from experiments.recipe import DECODES, decode, open_model, run_config
from experiments.recipe_benchmark import RECIPE_CORPUS
from experiments.recipe_benchmark import STEPS as RECIPE_STEPS
from experiments.seeds import merge_seeds
from statecatcher.data.segmenter import SegmenterConfig
from statecatcher.train.presets import PRESETS

SEGMENTER = SegmenterConfig(segment_seconds=8.0, min_seconds=2.0, max_seconds=16.0)
BASE_EPISODES = 4
BASE_STEPS = 3000
LANES = 1  # one lane: the recipe that reliably leaves the CTC blank plateau at this size
DEFAULT_DOC = Path("docs/experiments/stateful-vs-stateless.md")
ENCODER_OPTIONS = {
    "lstm": {"hidden_dim": 96, "num_layers": 2},
    "rwkv7": {"hidden_dim": 96, "num_layers": 2, "head_size": 32},
    "xlstm": {"hidden_dim": 96, "num_layers": 2},
    "lucyrnn": {"hidden_dim": 96, "num_layers": 2},
}
# RNN-T as in its plugin's overfit check: one symbol per frame and a CTC head, or a model this small memorises
# its transcripts through the predictor and greedy decoding loses them (plugins/statecatcher-rnnt/README.md)
LOSS_OPTIONS = {"rnnt": {"topology": "modified", "ctc_loss_scale": 0.5, "context_size": 1, "pred_dim": 64,
                         "joiner_dim": 96}}
MODES = ("stateful", "stateless")
RECIPES = {  # --recipe: what the runs are trained with (the Setup section of the document says it in words)
    "small": "the shared small recipe (experiments/recipe.py): AdamW lr 3e-3 constant after 20 warm-up steps, "
             "gradient clip 1.0, 64 tokens, no feature normalisation; the models of ENCODER_OPTIONS",
    "demo": "`--preset cpu-demo` (the demo's recipe: rwkv7 128 x 2 unless --encoders says otherwise, 48 tokens, "
            "feature normalisation, AdamW 2e-3 with 200 warm-up steps and cosine decay, weight decay 0.1, gradient "
            "clip 1.0) on the demo's corpus (synth-corpus seed 0, 48 episodes of 3.5-4.5 min, one transcript "
            "segment per sentence)",
    "recipe": "`--preset cpu-recipe` (the recipe benchmark's: rwkv7 {hidden_dim} x {num_layers} unless --encoders "
              "says otherwise, with a front end that convolves along the mel axis and removes a 3 s running mean "
              "per bin, 48 tokens, feature normalisation, AdamW 2e-3 with 300 warm-up steps and cosine decay, "
              "weight decay 0.1, gradient clip 1.0) on the recipe benchmark's corpus (synth-corpus seed 7, "
              "{episodes} episodes of {minutes} min, every installed voice, reverb/noise/telephone on a share of "
              "the episodes)".format(**PRESETS["cpu-recipe"]["encoder_options"],
                                     episodes=RECIPE_CORPUS[RECIPE_CORPUS.index("--episodes") + 1],
                                     minutes=RECIPE_CORPUS[RECIPE_CORPUS.index("--minutes") + 1]),
}
CORPUS_TEXT = {"small": "seed 1234", "demo": "seed 0, the demo's", "recipe": "seed 7, the recipe benchmark's"}


def pair_config(corpus: Path, run_dir: Path, *, encoder: str, loss: str, steps: int, seed: int,
                stateless: bool) -> Any:
    """The shared recipe (experiments/recipe.py) with a small model, one lane, 20 warm-up steps and gradient
    clip 1.0; the two runs of a pair differ only in ``stateless``."""
    return run_config(corpus, run_dir, segmenter=SEGMENTER, steps=steps, seed=seed, encoder=encoder, loss=loss,
                      encoder_options=ENCODER_OPTIONS.get(encoder, {}), loss_options=LOSS_OPTIONS.get(loss, {}),
                      batch_size=LANES, warmup_steps=20, grad_clip=1.0, stateless=stateless)


def preset_pair_config(preset: str, corpus: Path, run_dir: Path, *, encoder: str, loss: str, steps: int,
                       seed: int, stateless: bool, threads: int | None = None) -> Any:
    """``--preset PRESET`` on the local ``corpus``, no validation during training (the last checkpoint is
    scored); the two runs of a pair differ only in ``stateless``."""
    from statecatcher.train.config import RunConfig

    return RunConfig.from_dict({
        "preset": preset, "data": f"local:{corpus}", "run_dir": str(run_dir), "encoder": encoder, "loss": loss,
        "max_steps": steps, "epochs": 100_000, "eval_every": 0, "checkpoint_every": 100_000,
        "trackers": ["jsonl"], "seed": seed, "stateless": stateless,
        **({"threads": threads} if threads else {})})


def scores(report: Any) -> dict[str, float]:
    """WER, CER and hypothesis length relative to the reference (collapse: << 1; looping: >> 1)."""
    words = report.words
    hypothesis_words = words.ref_words - words.deletions + words.insertions
    return {"wer": report.wer, "cer": report.cer, "length_ratio": hypothesis_words / max(words.ref_words, 1)}


def evaluate(run_dir: Path, corpus: Path, splits: list[str],
             segmenter: SegmenterConfig = SEGMENTER) -> dict[str, dict[str, dict[str, float]]]:
    """``{split: {decode: scores}}`` of ``run_dir``'s model for every decode in :data:`DECODES`."""
    loaded, source = open_model(run_dir, corpus, shuffle=False)
    return {split: {how: scores(decode(loaded, source, split=split, how=how, segmenter=segmenter, batch_size=2,
                                       chunk_seconds=segmenter.segment_seconds))
                    for how in DECODES}
            for split in splits}


def run_experiment(out: str | Path, *, scale: float = 1.0, encoders: list[str], losses: list[str],
                   seed: int = 0, splits: list[str] = ("test", "train"), command: str = "",
                   recipe: str = "small", corpus: Path | None = None, threads: int | None = None
                   ) -> dict[str, Any]:
    """Build the corpus, train every encoder x loss stateful and stateless with ``recipe`` (a key of
    :data:`RECIPES`), evaluate; writes ``results.json``.  ``recipe="recipe"`` trains on ``corpus`` (the recipe
    benchmark's, e.g. ``runs/recipe/corpus``), synthesized into ``OUT/corpus`` when not given, with ``threads``
    torch threads per run (the preset's one by default)."""
    from statecatcher.train.loop import train
    from statecatcher.train.plots import plot_run

    started = time.monotonic()
    out = Path(out)
    if recipe == "demo":
        corpus, steps, configure = demo_corpus(), max(2, round(DEMO_STEPS * scale)), partial(preset_pair_config,
                                                                                              "cpu-demo")
    elif recipe == "recipe":
        corpus = Path(corpus) if corpus else ensure_corpus(out / "corpus", ["--no-progress", *RECIPE_CORPUS])
        steps = max(2, round(RECIPE_STEPS * scale))
        configure = partial(preset_pair_config, "cpu-recipe", threads=threads)
    else:
        corpus, configure = synth_corpus(max(BASE_EPISODES, round(BASE_EPISODES * scale))), pair_config
        steps = max(2, round(BASE_STEPS * scale))
    manifest = manifest_rows(corpus)
    results: dict[str, Any] = {
        "command": command, "launcher": os.environ.get("STATECATCHER_LAUNCHER", ""), "lanes": LANES,
        "recipe": recipe,
        "scale": scale, "seed": seed, "steps": steps, "splits": list(splits), "machine": machine_info(),
        "corpus": {"path": str(corpus), "episodes": {split: [m["id"] for m in manifest if m["split"] == split]
                                                     for split in ("train", "dev", "test")},
                   "minutes": {split: round(sum(m["duration"] for m in manifest if m["split"] == split) / 60, 2)
                               for split in ("train", "dev", "test")}},
        "segmenter": {},
        "runs": {},
    }
    for encoder in encoders:
        for loss in losses:
            for mode in MODES:
                name = f"{encoder}-{loss}-{mode}"
                run_dir = out / name
                config = configure(corpus, run_dir, encoder=encoder, loss=loss, steps=steps, seed=seed,
                                   stateless=mode == "stateless")
                summary = train(config)
                tail = summary.losses[-max(1, len(summary.losses) // 10):]
                results["segmenter"] = {key: getattr(config.segmenter, key)
                                        for key in ("segment_seconds", "min_seconds", "max_seconds")}
                results["runs"][name] = {
                    "encoder": encoder, "loss": loss, "mode": mode, "steps": summary.steps,
                    "final_loss": sum(tail) / len(tail), "train_seconds": round(summary.wall_seconds, 1),
                    "plots": [str(path) for path in plot_run(run_dir, run_dir / "plots")],
                    "eval": evaluate(run_dir, corpus, list(splits), config.segmenter),
                }
                print(f"{name}: {summary.steps} steps in {summary.wall_seconds:.0f} s, final loss "
                      f"{results['runs'][name]['final_loss']:.3f}", flush=True)
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


# ---------------------------------------------------------------------------- the document
def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def cell(s: dict[str, float]) -> str:
    """One table cell: ``WER / CER (length ratio)``, and ``[WER range]`` over seeds when there are several."""
    text = f"{percent(s['wer'])} / {percent(s['cer'])} ({s['length_ratio']:.2f})"
    if "wer_range" in s and s["wer_range"][0] != s["wer_range"][1]:
        text += f" [{percent(s['wer_range'][0])}-{percent(s['wer_range'][1])}]"
    return text


def table(results: dict[str, Any], split: str) -> list[str]:
    rows = ["| model | training | " + " | ".join(DECODES.values()) + " | final train loss |",
            "|---|---|" + "---|" * len(DECODES) + "---|"]
    for run in results["runs"].values():
        evals = run["eval"][split]
        rows.append(f"| {run['encoder']} + {run['loss']} | {run['mode']} | "
                    + " | ".join(cell(evals[key]) for key in DECODES) + f" | {run['final_loss']:.3f} |")
    return rows


def verdicts(results: dict[str, Any], split: str) -> list[str]:
    """One generated sentence per encoder x loss: who wins whole-recording WER, and by how much."""
    lines = []
    runs = results["runs"]
    for name, run in runs.items():
        if run["mode"] != "stateful":
            continue
        base = runs[name.removesuffix("stateful") + "stateless"]
        ours, theirs = run["eval"][split]["recording"], base["eval"][split]["recording"]
        gap = theirs["wer"] - ours["wer"]
        verdict = ("stateful wins" if gap > 0.005 else "stateless wins" if gap < -0.005 else "no difference")
        reset = run["eval"][split]["segment_reset"]["wer"] - run["eval"][split]["segment_carried"]["wer"]
        lines.append(
            f"- **{run['encoder']} + {run['loss']}**: whole-recording WER {percent(ours['wer'])} (stateful) vs "
            f"{percent(theirs['wer'])} (stateless), {verdict} ({100 * gap:+.1f} points for stateful); "
            f"resetting the stateful model every segment changes its segment WER by {100 * reset:+.1f} points; "
            f"the stateless model's whole-recording hypothesis is {theirs['length_ratio']:.2f}x the reference "
            f"length (stateful: {ours['length_ratio']:.2f}x).")
    return lines


def reading(results: dict[str, Any], held_out: str) -> list[str]:
    """The conclusions the numbers support, generated from them: generalisation, then state reliance."""
    runs = list(results["runs"].values())
    best = min(runs, key=lambda run: run["eval"][held_out]["recording"]["wer"])
    best_wer = best["eval"][held_out]["recording"]["wer"]
    lines = [f"- Held-out: the best whole-recording WER is {percent(best_wer)} ({best['encoder']} + {best['loss']}, "
             f"{best['mode']})."
             + (" Nothing generalises at this scale, so the held-out comparison is noise, not evidence for or "
                "against carried state." if best_wer > 0.8 else "")]
    if "train" not in results["splits"]:
        return lines
    for run in runs:
        if run["mode"] != "stateful":
            continue
        pair = {mode: results["runs"][f"{run['encoder']}-{run['loss']}-{mode}"]["eval"]["train"] for mode in MODES}
        label = f"{run['encoder']} + {run['loss']}"
        if min(pair[mode]["recording"]["wer"] for mode in MODES) > 0.8:
            lines.append(f"- {label}: neither run learnt even its training episodes (whole-recording WER > 80%: "
                         "too few steps for this model), so this pair says nothing about carried state.")
            continue
        matched = (pair["stateful"]["segment_carried"]["wer"], pair["stateless"]["segment_reset"]["wer"])
        mismatched = (pair["stateful"]["segment_reset"]["wer"], pair["stateless"]["segment_carried"]["wer"])
        lines.append(
            f"- {label}, training episodes: decoded the way it was trained, each model is at "
            f"{percent(matched[0])} (stateful, carried) and {percent(matched[1])} (stateless, reset); decoded the "
            f"other way, {percent(mismatched[0])} (stateful, reset) and {percent(mismatched[1])} (stateless, "
            "carried). "
            + reliance(matched, mismatched)
            + f"On a whole recording (the streaming use case): {percent(pair['stateful']['recording']['wer'])} "
            "(stateful) vs "
            f"{percent(pair['stateless']['recording']['wer'])} (stateless).")
    return lines


def reliance(matched: tuple[float, float], mismatched: tuple[float, float]) -> str:
    """What the training-episode WERs say about state reliance: ``matched`` = (stateful carried, stateless
    reset), ``mismatched`` = (stateful reset, stateless carried).  Both models worse the other way by more than
    5 points: each relies on its training context; by 2-5 points: a modest reliance; otherwise none shown."""
    gaps = [m - t for m, t in zip(mismatched, matched, strict=True)]
    if all(gap > 0.05 for gap in gaps):
        return ("Each model learnt to use the context its training gave it: the stateful one relies on the carried "
                "state, the stateless one is thrown off by state it never saw. ")
    if all(gap > 0.02 for gap in gaps):
        return (f"Each model does better decoded the way it was trained (by {100 * gaps[0]:.1f} and "
                f"{100 * gaps[1]:.1f} points): a modest reliance on the context its training gave it. ")
    return "The decode mode makes no consistent difference, so the carried state is not what either relies on. "


def seeds_text(seed: int | list[int]) -> str:
    if isinstance(seed, list):
        return (f"seed ({len(seed)} pairs, seeds {', '.join(map(str, seed))}: every cell is the median over seeds, "
                "with the WER range in brackets)")
    return f"seed {seed}"


def write_document(results: dict[str, Any], doc: Path) -> Path:
    """Render ``results`` as markdown into ``doc``; the run's PNGs (loss, state norms) and ``results.json`` (as
    ``<doc stem>.results.json``) are copied beside it."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    images = []
    for name, run in results["runs"].items():
        for plot in map(Path, run["plots"]):
            target = doc.parent / f"{doc.stem}-{name}-{plot.name}"  # two documents in one folder keep their own
            shutil.copyfile(plot, target)
            images.append(f"![{name} {plot.stem}]({target.name})")
    m, corpus = results["machine"], results["corpus"]
    accelerator = m["gpu"] or "none (CPU only)"
    held_out = results["splits"][0] if results["splits"] else "test"
    recipe = results.get("recipe", "small")
    small = recipe == "small"
    lines = [
        "# Does carried state pay off? Stateful vs stateless training on long episodes",
        "",
        "Generated by `experiments/stateful.py` (`nox -s experiment`); every number below comes from "
        "that run's `results.json`. Do not edit by hand: rerun the command.",
        "",
        "## Setup",
        "",
        f"- Corpus: synthetic multi-speaker episodes (statecatcher-synth, "
        f"{CORPUS_TEXT[recipe]}), split by episode: "
        f"train {', '.join(corpus['episodes']['train'])} ({corpus['minutes']['train']} min), "
        f"dev {', '.join(corpus['episodes']['dev'])}, test {', '.join(corpus['episodes']['test'])} "
        f"({corpus['minutes']['test']} min).",
        f"- Segments: ~{results['segmenter']['segment_seconds']:g} s "
        f"({results['segmenter']['min_seconds']:g}-{results['segmenter']['max_seconds']:g} s), cut between "
        f"transcript segments; {results.get('lanes', LANES)} lane(s).",
        f"- Each pair shares {seeds_text(results['seed'])}, model, data order and budget: {results['steps']} steps, "
        f"{RECIPES[recipe]}. *stateful* carries the encoder "
        "state across a recording's segments (gradient detached); *stateless* resets every lane every segment.",
        "- Decodes: *segment, reset* (fresh state per segment), *segment, carried* (segments in order, state "
        "carried), *whole recording* (one streaming pass over the episode, state carried throughout).",
        "- Cells: `WER / CER (hypothesis words / reference words)`; a ratio well below 1 is collapse "
        "(deletions), well above 1 is looping or drift (insertions).",
        "",
        f"## Held-out {held_out} episodes",
        "",
        *table(results, held_out),
        "",
        *verdicts(results, held_out),
    ]
    if "train" in results["splits"] and held_out != "train":
        lines += [
            "",
            "## Training episodes (memorisation regime, NOT generalisation)",
            "",
            "The same models decoded on the audio they were trained on"
            + (". At this scale that is the only place they learnt anything, so it is where relying on the "
               "carried state (or not) becomes visible." if small else ": how far they memorised it."),
            "",
            *table(results, "train"),
            "",
            *verdicts(results, "train"),
        ]
    lines += [
        "",
        "## Honest reading",
        "",
        *(["The models are tiny and trained for minutes: WER near 100% on held-out episodes is expected at the "
           "default scale. Rerun with `--scale` on a GPU for a result that generalises.", ""] if small else []),
        *reading(results, held_out),
        "",
        "## Loss curves and carried-state norms",
        "",
        "Made by `statecatcher plot` (`statecatcher.train.plots.plot_run`) from each run's `metrics.jsonl`.",
        "",
        *(line for image in images for line in (image, "")),
        "",
        "## Reproduce",
        "",
        "```",
        *([f"{results['launcher']}    # runs:"] if results.get("launcher") else []),
        results["command"],
        "```",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, accelerator {accelerator}; torch {m['torch']}, "
        f"Python {m['python']}, {m['platform']}.",
        f"- Wall time: {results['wall_seconds'] / 60:.1f} min in all (training: "
        + ", ".join(f"{name} {run['train_seconds']:.0f} s" for name, run in results["runs"].items()) + ").",
        "",
    ]
    doc.write_text("\n".join(lines))
    doc.with_suffix(".results.json").write_text(json.dumps(results, indent=2))  # the numbers, kept beside it
    return doc


def names(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.stateful", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output directory (run dirs, results.json)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help=f"multiplies episodes ({BASE_EPISODES}) and steps ({BASE_STEPS}); > 1 for a GPU")
    parser.add_argument("--encoders", type=names, default=["lstm", "rwkv7"], help="comma-separated encoders")
    parser.add_argument("--losses", type=names, default=["ctc"], help="comma-separated losses: ctc, rnnt")
    parser.add_argument("--splits", type=names, default=["test", "train"],
                        help="splits to evaluate on, held-out first")
    parser.add_argument("--seed", type=int, default=0, help="the seed of a one-seed run")
    parser.add_argument("--seeds", type=int, default=1,
                        help="seeds 0..N-1, each in OUT/seedN, cells the median (default 1: ~24 min per seed on CPU)")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="markdown document to write")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="small",
                        help="small: 4 x scale short episodes, the shared small recipe; demo: the demo's corpus "
                             f"and --preset cpu-demo for {DEMO_STEPS} x scale steps; recipe: the recipe benchmark's "
                             f"corpus and --preset cpu-recipe for {RECIPE_STEPS} x scale steps")
    parser.add_argument("--corpus", type=Path,
                        help="--recipe recipe: the recipe benchmark's corpus (e.g. runs/recipe/corpus; default: "
                             "synthesized into OUT/corpus)")
    parser.add_argument("--threads", type=int, help="--recipe recipe: torch threads per run (default: the preset's)")
    args = parser.parse_args(argv)
    if (args.corpus or args.threads) and args.recipe != "recipe":
        parser.error("--corpus and --threads go with --recipe recipe")
    if args.corpus and not (args.corpus / "manifest.jsonl").is_file():
        parser.error(f"--corpus {args.corpus}: no manifest.jsonl there (a synth-corpus output directory)")
    if args.scale <= 0:
        parser.error(f"--scale must be > 0, got {args.scale}")
    command = shlex.join(["python", "-m", "experiments.stateful",
                          *(argv if argv is not None else sys.argv[1:])])
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.seeds == 1:
        results = run_experiment(args.out, scale=args.scale, encoders=args.encoders, losses=args.losses,
                                 seed=args.seed, splits=args.splits, command=command, recipe=args.recipe,
                                 corpus=args.corpus, threads=args.threads)
    else:
        results = merge_seeds([run_experiment(Path(args.out) / f"seed{seed}", scale=args.scale, encoders=args.encoders,
                                              losses=args.losses, seed=seed, splits=args.splits, command=command,
                                              recipe=args.recipe, corpus=args.corpus, threads=args.threads)
                               for seed in range(args.seeds)])
        (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {write_document(results, args.doc)} ({results['wall_seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
