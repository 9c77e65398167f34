"""Built-in data source ``local:PATH`` (a folder of audio files with JSON transcripts)."""

from statecatcher.hookspecs import hookimpl


@hookimpl
def register_data_sources(register):
    register("local", "statecatcher.data.local:LocalDataSource",
             description="a folder of audio files with Whisper-style JSON transcripts")
