"""docs/architecture.md's import table is the truth: every unit of core imports only what its row allows,
and every unit has a row (so the table cannot drift from the code)."""

from __future__ import annotations

import re
from pathlib import Path

import statecatcher
from statecatcher.testing.imports import import_graph

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
CORE = Path(statecatcher.__file__).parent


def allowed_imports(text: str) -> dict[str, set[str] | None]:
    """``unit -> units it may import`` from the table after the ``imports-table`` marker; ``None``: any."""
    table = text.split("<!-- imports-table", 1)[1]
    rows = {}
    for line in table.splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        unit, allowed = (cell.strip() for cell in line.strip("|").split("|"))
        if unit in ("unit", "---"):
            continue
        names = re.findall(r"`([^`]+)`", allowed)
        rows[unit.strip("`")] = None if allowed == "any unit above" else set(names)
    return rows


def test_every_unit_imports_only_what_docs_architecture_allows():
    graph, _ = import_graph(CORE)
    allowed = allowed_imports(DOC.read_text())
    assert set(allowed) == set(graph), "docs/architecture.md: units without a row, or rows of no unit"
    breaches = {unit: sorted(targets - allowed[unit]) for unit, targets in graph.items()
                if allowed[unit] is not None and targets - allowed[unit]}
    assert breaches == {}


def test_the_table_parser_reads_rows_and_any():
    text = "x\n<!-- imports-table -->\n| unit | may import |\n|---|---|\n| `a` | - |\n| `b` | `a`, `c` |\n" \
           "| `cli` | any unit above |\n\nafter\n| `z` | `q` |\n"
    assert allowed_imports(text) == {"a": set(), "b": {"a", "c"}, "cli": None}
