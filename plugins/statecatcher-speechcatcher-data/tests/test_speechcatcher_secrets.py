"""``statecatcher.secrets``: what the trainer needs to keep keys out of saved configs and logs."""

from __future__ import annotations

import logging

from statecatcher.secrets import REDACTED, is_secret_name, redact, scrub, scrub_logger


def test_secret_names():
    assert all(map(is_secret_name, ["api_key", "API_KEY", "apikey", "hf_token", "client_secret", "db_password"]))
    assert not any(map(is_secret_name, ["language", "keys", "cache_dir", "key_frames", "tokenizer",
                                        "tokenizer_options"]))


def test_redact_hides_secret_values_at_any_depth_and_keeps_the_rest():
    config = {"data": "speechcatcher:http://h", "data_options": {"api_key": "abc", "language": "en"},
              "tracker_options": {"aim": {"token": "t0k", "repo": "r"}}, "lists": [{"secret": "s"}],
              "empty_token": ""}
    assert redact(config) == {"data": "speechcatcher:http://h", "data_options": {"api_key": REDACTED, "language": "en"},
                              "tracker_options": {"aim": {"token": REDACTED, "repo": "r"}},
                              "lists": [{"secret": REDACTED}], "empty_token": ""}
    assert config["data_options"]["api_key"] == "abc"  # a copy: the original is untouched


def test_scrub_text_and_loggers(caplog):
    assert scrub("GET /apiv1/list/abc?x=abc", ["abc", None, ""]) == f"GET /apiv1/list/{REDACTED}?x={REDACTED}"
    scrub_logger("statecatcher.tests.scrubbed", ["hunter2"])
    with caplog.at_level(logging.INFO):
        logging.getLogger("statecatcher.tests.scrubbed").info("path %s", "/x/hunter2/y")
    assert caplog.messages == [f"path /x/{REDACTED}/y"]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        try:
            raise ValueError("cannot open /x/hunter2/y")
        except ValueError:
            logging.getLogger("statecatcher.tests.scrubbed").exception("failed")
    assert "hunter2" not in caplog.text and f"ValueError: cannot open /x/{REDACTED}/y" in caplog.text
