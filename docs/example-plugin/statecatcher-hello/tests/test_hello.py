from click.testing import CliRunner

from statecatcher import get_tracker
from statecatcher.cli import cli
from statecatcher.protocols import Tracker


def test_hello_tracker_writes_one_line_per_call(tmp_path):
    tracker = get_tracker("hello", tmp_path)
    assert isinstance(tracker, Tracker)
    tracker.log_params({"encoder": "lstm"})
    tracker.log_metrics(3, {"loss": 1.5})
    tracker.close()
    assert (tmp_path / "hello.log").read_text().splitlines() == ['params {"encoder": "lstm"}', 'step 3 {"loss": 1.5}']


def test_hello_command_greets():
    result = CliRunner().invoke(cli, ["hello", "tutorial"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Hello, tutorial! Encoders: ")
