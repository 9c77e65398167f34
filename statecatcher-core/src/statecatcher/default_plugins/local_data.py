"""Built-in data source ``local:PATH`` (a folder of audio files with JSON transcripts)."""

from statecatcher.hookspecs import hookimpl


@hookimpl
def register_data_sources(register):
    register("local", "statecatcher.data.local:LocalDataSource",
             description="a folder of audio files with Whisper-style JSON transcripts",
             options={"shuffle": "seeded random recording order (else manifest / sorted-id order)",
                      "dev_fraction": "share of recordings held out as the dev split",
                      "test_fraction": "share of recordings held out as the test split"})
