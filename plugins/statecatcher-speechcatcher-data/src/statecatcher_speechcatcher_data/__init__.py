"""statecatcher plugin: the ``speechcatcher`` data source and the ``statecatcher serve`` command.

Entry-point module: registers names only; requests, Flask and the decoders load when used.
"""

from statecatcher import hookimpl


@hookimpl
def register_data_sources(register):
    register("speechcatcher", "statecatcher_speechcatcher_data.source:SpeechcatcherDataSource",
             description="episodes streamed over HTTP(S) from a speechcatcher-data server (or `statecatcher serve`)")


@hookimpl
def register_commands(cli):
    from statecatcher_speechcatcher_data.serve_cmd import serve

    cli.add_command(serve)
