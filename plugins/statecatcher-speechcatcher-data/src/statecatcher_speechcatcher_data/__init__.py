"""statecatcher plugin: the ``speechcatcher`` data source and the ``statecatcher serve`` command.

Entry-point module: registers names only; requests, Flask and the decoders load when used.
"""

from statecatcher import hookimpl

OPTIONS = {  # the one declaration of the source's options: `statecatcher run --data speechcatcher:URL --help`
    "config": "a speechcatcher-data config.yaml: server_api_url, secret_api_key and podcast_language fill in the "
              "URL, api_key and language when not given",
    "api_key": "the server's API key (else secret_api_key of config, else env STATECATCHER_API_KEY)",
    "language": "podcast language prefix, e.g. en ('' = any; default en)",
    "podcasts": "podcast titles to keep, a list or 'a|b' (default: all)",
    "min_duration": "skip episodes shorter than this (seconds)",
    "max_duration": "skip episodes longer than this (seconds)",
    "split_by": "podcast (hash of the title: no show in two splits), episode, or server (its split field)",
    "dev_fraction": "share of the podcasts (or episodes) in the dev split",
    "test_fraction": "share of the podcasts (or episodes) in the test split",
    "order": "shuffle (seeded by seed and epoch), asc / desc (by duration: a curriculum) or listed",
    "use_session": "auto, always or never: batch requests through a server session",
    "session_batch_size": "episodes a session hands out per request",
    "cache_dir": "audio cache folder (default: env STATECATCHER_CACHE_DIR or ~/.cache/statecatcher)",
    "cache_gb": "audio cache cap in GB (0 keeps nothing)",
    "refresh_listing": "list the server again instead of reusing the cached listing",
    "prefetch": "recordings downloaded ahead of the lanes",
    "workers": "download threads: the most downloads at once (one while that keeps ahead of the loads)",
    "timeout": "read timeout of one request (seconds)",
    "connect_timeout": "connect timeout of one request (seconds)",
    "retry_seconds": "how long one request or download keeps retrying (seconds)",
    "retries": "a cap on the number of retries (unset: only retry_seconds limits them)",
    "backoff": "first wait between retries (seconds; doubled each retry, jittered, at most 30 s)",
    "keep_alive": "reuse HTTP connections",
    "include_corrupted": "also list episodes whose transcript the server flags as corrupted",
    "duration_tolerance": "decoded audio shorter than its listed duration by more than this (seconds) counts as "
                          "truncated: fetched once more, then skipped as undecodable",
}


@hookimpl
def register_data_sources(register):
    register("speechcatcher", "statecatcher_speechcatcher_data.source:SpeechcatcherDataSource",
             description="episodes streamed over HTTP(S) from a speechcatcher-data server (or `statecatcher serve`)",
             options=OPTIONS, secrets=("api_key",))


@hookimpl
def register_commands(cli):
    from statecatcher_speechcatcher_data.serve_cmd import serve

    cli.add_command(serve)
