"""Atomic replacement: whole contents, no temporary left behind, temporaries unique per thread."""

import threading

from statecatcher.files import temporary_sibling, write_atomically


def test_write_atomically_replaces_text_and_bytes_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "listing.json"
    write_atomically(path, "first")
    write_atomically(path, "zweite Fassung äö")
    assert path.read_text(encoding="utf-8") == "zweite Fassung äö"
    write_atomically(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["listing.json"]


def test_temporaries_differ_between_threads_and_sit_beside_the_target(tmp_path):
    path = tmp_path / "model.bin"
    names = [temporary_sibling(path)]
    thread = threading.Thread(target=lambda: names.append(temporary_sibling(path)))
    thread.start()
    thread.join()
    assert names[0] != names[1] and {p.parent for p in names} == {tmp_path}
