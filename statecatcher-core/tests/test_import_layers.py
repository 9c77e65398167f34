"""Core's import graph: no cycle between its folders, no import of a plugin (docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

import statecatcher
from statecatcher.testing.imports import cycles, import_graph

CORE = Path(statecatcher.__file__).parent


def test_no_import_cycle_between_core_folders():
    graph, _ = import_graph(CORE)
    assert cycles(graph) == [], "import cycles between statecatcher's folders/modules"


def test_core_imports_no_plugin():
    _, plugin_imports = import_graph(CORE)
    assert plugin_imports == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_walk_finds_a_cycle_through_a_lazy_import_and_a_plugin_import(tmp_path):
    root = _write(tmp_path / "pkg", {
        "__init__.py": "",
        "records.py": "",
        "train/__init__.py": "",
        "train/loop.py": "from ..filters import stage\nfrom .. import records\n",
        "filters/__init__.py": "",
        "filters/stage.py": "def f():\n    from pkg.train.loop import x\n",   # lazy, still a dependency
        "data/__init__.py": "",
        "data/source.py": "import statecatcher_synth.corpus\n",
    })
    graph, plugin_imports = import_graph(root)
    assert graph == {"__init__": set(), "records": set(), "train": {"filters", "records"}, "filters": {"train"},
                     "data": set()}
    assert cycles(graph) == [["filters", "train"]]
    assert plugin_imports == ["pkg/data/source.py: statecatcher_synth.corpus"]
