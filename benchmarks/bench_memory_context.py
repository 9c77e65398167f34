"""Row ``memory``: peak RSS of stateful training over 1, 10 and 60 minutes of audio vs full-sequence training.

    python -m benchmarks memory [--small]

A small LSTM + CTC model (registry ``lstm`` + ``ctc``) trains on random 80-dim features (100 frames/s) with
random targets at a fixed number of tokens per second of audio:

- stateful: the context is cut into 16 s segments; one forward/backward/AdamW step per segment, the
  encoder state carried from segment to segment and detached (truncated BPTT), so the whole context is
  trained on;
- full-sequence: one forward/backward/step over the whole context at once (no segmentation).

Each configuration runs in its own spawned process; the parent polls its resident set size and kills it
above ``MEMORY_CAP_GIB`` ("did not fit", and longer contexts are not tried).  The reported peak is the
child's own ``ru_maxrss``.  Stateful must stay flat as the context grows; full-sequence grows with it
(LSTM activations are linear in the context, CTC's alignment lattice is frames x tokens).
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

FRAMES_PER_SECOND = 100
FEATURE_DIM = 80
MEMORY_CAP_GIB = 4.0
POLL_SECONDS = 0.01


@dataclass(frozen=True)
class Sizes:
    context_minutes: tuple[float, ...]
    segment_seconds: float
    lanes: int
    hidden_dim: int
    vocab_size: int
    tokens_per_second: float
    time_limit_s: float  # per configuration


FULL = Sizes(context_minutes=(1, 10, 60), segment_seconds=16.0, lanes=4, hidden_dim=128, vocab_size=128,
             tokens_per_second=4.0, time_limit_s=150.0)
SMALL = Sizes(context_minutes=(0.25, 1), segment_seconds=4.0, lanes=2, hidden_dim=32, vocab_size=32,
              tokens_per_second=4.0, time_limit_s=30.0)


def train_over_context(context_seconds: float, segment_seconds: float, sizes: dict, device: str = "cpu") -> dict:
    """Train on ``context_seconds`` of random audio in segments of ``segment_seconds`` (run in a fresh process).

    Returns ``{peak_rss_mib, baseline_rss_mib, seconds, segments}``; baseline is the RSS once the model and
    optimizer exist, before the first step.  On ``device="cuda"`` also ``peak_device_mib``, the peak of
    torch's CUDA allocations during the steps (``benchmarks/gpu_throughput.py``).
    """
    import torch

    from statecatcher.model import build_model
    from statecatcher.state import detach

    torch.set_num_threads(1)
    torch.manual_seed(0)
    lanes, vocab = sizes["lanes"], sizes["vocab_size"]
    model = build_model(encoder="lstm", loss="ctc", vocab_size=vocab,
                        encoder_options={"hidden_dim": sizes["hidden_dim"], "num_layers": 2}).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    state = model.init_state(lanes)
    baseline = rss_peak_mib()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started, segments, done = time.perf_counter(), 0, 0.0
    while done < context_seconds - 1e-9:
        seconds = min(segment_seconds, context_seconds - done)
        frames, tokens = round(seconds * FRAMES_PER_SECOND), max(1, round(seconds * sizes["tokens_per_second"]))
        feats = torch.randn(lanes, frames, FEATURE_DIM, device=device)
        targets = torch.randint(1, vocab, (lanes, tokens), device=device)
        lengths, target_lens = (torch.full((lanes,), n, device=device) for n in (frames, tokens))
        loss, _, state = model(feats, lengths, targets, target_lens, state)
        loss.sum().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state = detach(state)
        done, segments = done + seconds, segments + 1
    device_peak = {"peak_device_mib": torch.cuda.max_memory_allocated() / 2**20} if device == "cuda" else {}
    return {"peak_rss_mib": rss_peak_mib(), "baseline_rss_mib": baseline,
            "seconds": time.perf_counter() - started, "segments": segments, **device_peak}


def rss_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib(pid: int) -> float:
    """Resident set size of process ``pid`` now (``VmRSS`` of /proc/PID/status), MiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def _child(connection, context_seconds: float, segment_seconds: float, sizes: dict) -> None:
    try:
        connection.send(train_over_context(context_seconds, segment_seconds, sizes))
    except RuntimeError as exc:  # e.g. "DefaultCPUAllocator: can't allocate memory"
        connection.send({"error": str(exc).splitlines()[0]})


def measure(context_seconds: float, segment_seconds: float, sizes: Sizes, cap_mib: float) -> dict:
    """One configuration in a spawned process, killed above ``cap_mib`` or past the time limit.

    Returns the child's numbers, or ``{"error": why}`` when it did not fit or did not finish.
    """
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, context_seconds, segment_seconds, asdict(sizes)))
    process.start()
    send.close()
    started, error = time.perf_counter(), None
    while process.is_alive() and not receive.poll(POLL_SECONDS):
        if current_rss_mib(process.pid) > cap_mib:
            error = f"did not fit: RSS above the {cap_mib / 1024:g} GiB cap"
        elif time.perf_counter() - started > sizes.time_limit_s:
            error = f"did not finish within {sizes.time_limit_s:g} s"
        if error:
            process.kill()
            break
    result = receive.recv() if error is None and receive.poll() else {"error": error or "child died"}
    process.join()
    return result


def run(small: bool = False, cap_gib: float = MEMORY_CAP_GIB) -> list[dict]:
    """One result per context length: full-sequence peak RSS / stateful peak RSS; plus stateful flatness."""
    sizes = SMALL if small else FULL
    cap_mib = cap_gib * 1024
    stateful, full = {}, {}
    for minutes in sizes.context_minutes:
        stateful[minutes] = measure(minutes * 60, sizes.segment_seconds, sizes, cap_mib)
        previous_failed = any("error" in outcome for outcome in full.values())
        full[minutes] = ({"error": "not tried: a shorter context did not fit"} if previous_failed
                         else measure(minutes * 60, minutes * 60, sizes, cap_mib))
        print(f"memory, {minutes:g} min: stateful {describe(stateful[minutes])}; full-sequence "
              f"{describe(full[minutes])}", flush=True)
    results = []
    for minutes in sizes.context_minutes:
        carried, whole = stateful[minutes], full[minutes]
        if "error" in carried:
            raise RuntimeError(f"memory row: stateful training over {minutes:g} min failed: {carried['error']}")
        fits = "error" not in whole
        results.append({
            "name": f"{minutes:g} min: full-sequence / stateful",
            "ratio": (whole["peak_rss_mib"] if fits else cap_mib) / carried["peak_rss_mib"],
            "lower_bound": not fits,
            "description": (f"peak RSS, stateful {carried['peak_rss_mib']:.0f} MiB ({carried['segments']} x "
                            f"{sizes.segment_seconds:g} s segments); full-sequence "
                            + (f"{whole['peak_rss_mib']:.0f} MiB" if fits else whole["error"])),
            "stateful": carried, "full_sequence": whole,
        })
    shortest, longest = sizes.context_minutes[0], sizes.context_minutes[-1]
    results.append({
        "name": f"stateful {longest:g} min / {shortest:g} min",
        "ratio": stateful[longest]["peak_rss_mib"] / stateful[shortest]["peak_rss_mib"],
        "description": "peak RSS of stateful training; flat = 1.0",
    })
    return results


def describe(outcome: dict) -> str:
    if "error" in outcome:
        return outcome["error"]
    return (f"{outcome['peak_rss_mib']:.0f} MiB peak ({outcome['baseline_rss_mib']:.0f} before), "
            f"{outcome['seconds']:.1f} s")


if __name__ == "__main__":
    import sys

    for result in run(small="--small" in sys.argv[1:]):
        print(f"{result['name']:40s} {result['ratio']:8.3f}  {result['description']}")
