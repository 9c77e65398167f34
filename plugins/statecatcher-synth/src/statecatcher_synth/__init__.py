"""statecatcher plugin: ``statecatcher synth-corpus``, synthetic podcast episodes with exact transcripts,
and the data source ``synth:`` (the embedded corpus, built once into the user cache).

Entry-point module: registers the command and the data source only; TTS engines load when they are used.
"""

from statecatcher import hookimpl


@hookimpl
def register_commands(cli):
    from statecatcher_synth.cli import synth_corpus

    cli.add_command(synth_corpus)


@hookimpl
def register_data_sources(register):
    register("synth", "statecatcher_synth.source:SynthDataSource",
             description="the embedded synthetic corpus, synthesised once into ~/.cache/statecatcher/corpus-VERSION",
             options={"episodes": "number of episodes [default: $STATECATCHER_CORPUS_EPISODES or 8]",
                      "minutes": "episode length MIN-MAX in minutes [default: $STATECATCHER_CORPUS_MINUTES or 1.5-2.5]",
                      "shuffle": "seeded random recording order (else manifest order)",
                      "progress": "show the synthesis progress bar on stderr"})
