"""statecatcher plugin: the data source ``lhotse:MANIFEST[,MANIFEST...]`` (lhotse CutSet, or RecordingSet +
SupervisionSet).  Entry-point module: registers only; lhotse is imported when the source is used."""

from statecatcher import hookimpl


@hookimpl
def register_data_sources(register):
    register("lhotse", "statecatcher_lhotse.source:LhotseDataSource",
             description="lhotse manifests (CutSet, or RecordingSet + SupervisionSet) of long recordings",
             options={"shuffle": "seeded random recording order (else manifest order)",
                      "dev_fraction": "share of recordings held out as dev (when the manifest names no split)",
                      "test_fraction": "share of recordings held out as test (when the manifest names no split)"})
