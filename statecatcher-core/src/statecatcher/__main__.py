"""``python -m statecatcher`` (and ``torchrun -m statecatcher``) run the ``statecatcher`` command."""

from statecatcher.cli import cli

if __name__ == "__main__":
    cli(prog_name="statecatcher")
