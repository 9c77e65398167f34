"""statecatcher plugin: ``statecatcher synth-corpus``, synthetic podcast episodes with exact transcripts.

Entry-point module: registers the command only; TTS engines load inside the command.
"""

from statecatcher import hookimpl


@hookimpl
def register_commands(cli):
    from statecatcher_synth.cli import synth_corpus

    cli.add_command(synth_corpus)
