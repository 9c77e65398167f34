"""Hook specifications: the only ways a plugin extends statecatcher.

Every ``register_*`` hook receives a ``register`` callback with the signature::

    register(name: str, factory: Callable | str, *, description: str = "", options: dict[str, str] | None = None)

``factory`` is a callable, or a ``"module:attr"`` string that is imported only when the name is used, so an
entry-point module stays cheap to import (no torch at import time).  The factory's keyword parameters are the
plugin's options (``statecatcher run --xlstm-pattern m,s``, or ``[encoder_options]`` in a run config);
``options`` gives each a help line (see :mod:`statecatcher.options`).  What the factory is called with and what
it must return is documented per kind in :mod:`statecatcher.protocols`, which also gives tensor shapes
(``[B, T, F]``) and units (seconds vs frames).

Hooks are never ``firstresult``: every plugin's implementation is called, one plugin at a time, so each
registered name knows the package that registered it.  A name registered twice is an error naming both.
"""

from __future__ import annotations

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("statecatcher")
hookimpl = HookimplMarker("statecatcher")


@hookspec
def register_encoders(register):
    """Register stateful encoders.

    Called once, when plugins are loaded.  ``factory(input_dim: int, **options)`` must return a
    :class:`statecatcher.protocols.StatefulEncoder` (an ``nn.Module`` with ``init_state`` and
    ``forward(feats[B,T,F], lengths[B], state)``).  Every encoder must pass
    :class:`statecatcher.testing.EncoderConformance`.
    """


@hookspec
def register_losses(register):
    """Register training losses (and their streaming decoders: greedy, optionally beam search).

    Called once, when plugins are loaded.  ``factory(input_dim: int, vocab_size: int, blank_id: int,
    **options)`` must return a :class:`statecatcher.protocols.Loss`, an ``nn.Module`` that owns its output
    layer (CTC projection, RNN-T predictor and joiner), may carry state across segments, and decodes with it
    (``decode_step``; ``beam_search`` for ``--decoder beam``, see :mod:`statecatcher.decode.beam`).
    """


@hookspec
def register_tokenizers(register):
    """Register tokenizers.

    Called once, when plugins are loaded.  ``factory(**options)`` must return an untrained
    :class:`statecatcher.protocols.Tokenizer`; the trainer then calls ``train(...)`` or ``load(...)``.
    The blank id (0) is reserved and never shared with ``<unk>`` or a real piece.
    """


@hookspec
def register_data_sources(register):
    """Register data sources, chosen on the command line as ``--data NAME:SPEC``.

    Called once, when plugins are loaded.  ``factory(spec: str, **options)`` receives the text after
    ``NAME:`` (a path, a URL, ...) and must return a :class:`statecatcher.protocols.DataSource` yielding
    :class:`statecatcher.records.Recording` objects: listed without I/O (id, duration, meta), their
    transcripts loaded later by ``Recording.load_segments()``, their audio by ``load_audio()``.
    """


@hookspec
def register_trackers(register):
    """Register experiment trackers, chosen with ``--tracker NAME`` (repeatable).

    Called once, when plugins are loaded.  ``factory(run_dir: pathlib.Path, **options)`` must return a
    :class:`statecatcher.protocols.Tracker` (``log_params``, ``log_metrics(step, metrics)``, ``close``).
    """


@hookspec
def register_label_filters(register):
    """Register detectors of bad (e.g. hallucinated) transcript segments.

    Called once, when plugins are loaded.  ``factory(**options)`` must return a
    :class:`statecatcher.protocols.LabelFilter` that scores a segment; a rejected segment still passes
    through the encoder (its state advances), only its loss weight becomes 0.
    """


@hookspec
def register_tasks(register):
    """Register training tasks beyond ASR (reserved for TTS or self-supervised objectives).

    Called once, when plugins are loaded.  ``factory(**options)`` returns a task object; the ASR task is
    the only one the trainer runs today.
    """


@hookspec
def register_commands(cli):
    """Add sub-commands to the ``statecatcher`` click group.

    Called once, after plugins are loaded, with the top-level ``click.Group``; use ``@cli.command()``.
    Keep heavy imports inside the command function so ``statecatcher --help`` stays fast.
    """
