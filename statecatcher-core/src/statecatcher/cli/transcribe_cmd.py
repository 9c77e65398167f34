"""``statecatcher transcribe``: stream a file (or URL) through a model and print text as it arrives."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click

from .decoder_options import build_search_for_cli, decoder_options


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("checkpoint", type=click.Path(exists=True))
@click.argument("audio")
@click.option("--chunk-seconds", type=float, default=0.64, show_default=True, help="audio per streaming step")
@click.option("--json", "json_out", type=click.Path(dir_okay=False),
              help="write text, words and tokens (with times) here")
@click.option("--best", is_flag=True, help="for a run directory: load checkpoints/best.pt (best dev WER) instead "
                                         "of last.pt")
@click.option("--device", default="cpu", show_default=True)
@click.option("--runtime", type=click.Choice(["torch", "onnx"]), default="torch", show_default=True,
              help="onnx: CHECKPOINT is a `statecatcher export` folder, decoded greedily on onnxruntime (CPU)")
@click.option("--threads", type=click.IntRange(min=0), default=1, show_default=True,
              help="CPU threads for the model (0: torch's / onnxruntime's own choice); one stream's small "
                   "matrices run fastest on one thread, 1.7-3x faster than the default on a loaded machine")
@decoder_options
def transcribe(checkpoint: str, audio: str, chunk_seconds: float, json_out: str | None, best: bool, device: str,
               runtime: str, threads: int | None, decoder) -> None:
    """Transcribe AUDIO (wav/flac, or mp3/opus/m4a via PyAV; a path or an http(s) URL) with CHECKPOINT
    (a model pack, a checkpoint or a run directory; with --runtime onnx an export folder), streaming with
    carried state.  With --decoder beam the lines printed are the text every hypothesis agrees on."""
    from ..data.audio import AudioDecodeError
    from ..decode.audio_stream import iter_audio_chunks

    transcriber = _transcriber(checkpoint, runtime, threads, best, device, decoder)
    with _local_audio(audio) as path:
        live = _Display(sys.stdout.isatty())
        try:
            seconds = 0.0
            for chunk in iter_audio_chunks(path, chunk_seconds):
                seconds += chunk.numel() / 16_000
                live.show(transcriber.feed(chunk), transcriber.text, seconds)
            live.show(transcriber.finish(), transcriber.text, seconds)
            live.close(transcriber.text)
        except AudioDecodeError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            live.close()
    if json_out:
        result = transcriber.transcript()
        Path(json_out).write_text(json.dumps({
            "audio": audio, "duration": seconds, "text": result.text, "words": result.words(),
            "tokens": [{"id": t.id, "piece": t.piece, "time": round(t.time, 3)} for t in result.tokens],
        }, indent=2))


def _transcriber(checkpoint: str, runtime: str, threads: int | None, best: bool, device: str, decoder):
    """The torch ``Transcriber`` of a pack / checkpoint / run, or the ``OnnxTranscriber`` of an export folder."""
    if runtime == "onnx":
        from ..decode.onnx_runtime import OnnxTranscriber

        if decoder.kind != "greedy" or device != "cpu" or best:
            raise click.BadParameter("the onnx runtime decodes an export folder greedily on the CPU (no --decoder "
                                     "beam, --device or --best)", param_hint="--runtime onnx")
        try:
            return OnnxTranscriber(checkpoint, threads)
        except (ImportError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc
    import torch

    from ..decode.pack import load_model
    from ..decode.streaming import Transcriber

    if threads:
        torch.set_num_threads(threads)
    loaded = load_model(checkpoint, device, which="best" if best else "last")
    return Transcriber(loaded, device, build_search_for_cli(loaded, decoder))


class _Display:
    """In a terminal: a rich live view of the end of the transcript so far (the lines that fit the screen), and
    the whole text once the stream ends.  Piped: plain lines (``[12.3s] new text``) as text becomes final.

    The live view keeps only the last screenful: a whole long transcript would overflow the terminal (rich
    then shows its *first* lines, so the new text would never appear), and re-wrapping all of it on every
    refresh would grow with the stream's length.
    """

    def __init__(self, interactive: bool, console=None):
        self.live, self.screen = None, []  # screen: the lines the live view shows
        if interactive:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text

            self._text = Text
            self.console = console or Console()
            self.live = Live(Text(""), console=self.console, refresh_per_second=8, transient=True)
            self.live.start()

    def show(self, new: str, full: str, seconds: float) -> None:
        if self.live is not None:
            self.screen = screen_tail(full, *self.console.size)
            self.live.update(self._text("\n".join(self.screen)))
        elif new.strip():
            click.echo(f"[{seconds:7.2f}s] {new.strip()}")

    def close(self, full: str | None = None) -> None:
        """Stop the live view; ``full``: the whole transcript, printed in its place (a finished stream)."""
        if self.live is not None:
            self.live.stop()
            self.live = None
            if full is not None:
                self.console.print(full.strip(), highlight=False, markup=False)


def screen_tail(text: str, width: int, height: int) -> list[str]:
    """The last ``height - 1`` lines of ``text`` word-wrapped to ``width`` columns (a line left for the cursor);
    reads only the last ``width * height`` characters, so its cost does not grow with the text."""
    import textwrap

    rows = max(1, height - 1)
    window = text[-width * (rows + 1):]
    lines = textwrap.wrap(window, width=max(1, width), break_long_words=True, break_on_hyphens=False)
    if len(text) > len(window) and lines:
        lines = lines[1:]  # the window's first line may start inside a word
    return lines[-rows:]


class _local_audio:
    """A local path for ``audio``: itself, or a temporary download of an http(s) URL."""

    def __init__(self, audio: str):
        self.audio, self.tmp = audio, None

    def __enter__(self) -> Path:
        if not self.audio.startswith(("http://", "https://")):
            path = Path(self.audio)
            if not path.is_file():
                raise click.BadParameter(f"no such file: {self.audio}", param_hint="AUDIO")
            return path
        import requests

        suffix = Path(self.audio.split("?")[0]).suffix or ".audio"
        self.tmp = tempfile.NamedTemporaryFile(suffix=suffix)
        with requests.get(self.audio, stream=True, timeout=30) as response:
            if response.status_code != 200:
                raise click.ClickException(f"{self.audio}: HTTP {response.status_code}")
            for block in response.iter_content(1 << 16):
                self.tmp.write(block)
        self.tmp.flush()
        return Path(self.tmp.name)

    def __exit__(self, *exc) -> None:
        if self.tmp is not None:
            self.tmp.close()
