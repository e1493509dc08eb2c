"""How a run splits the emails it owns: the first chunk for itself, the rest in task-sized
parts, nothing lost or repeated."""

from __future__ import annotations

from brightsync.email.writer import share_out


def test_a_run_keeps_one_chunk_and_hands_out_the_rest_in_parts_of_a_chunk():
    keep, parts = share_out(list(range(47)), 20)
    assert keep == list(range(20))
    assert parts == [list(range(20, 40)), list(range(40, 47))]


def test_a_run_within_a_chunk_hands_out_nothing():
    assert share_out([1, 2, 3], 20) == ([1, 2, 3], [])
    assert share_out([], 20) == ([], [])


def test_every_item_is_in_exactly_one_place_whatever_the_chunk():
    items = list(range(13))
    for chunk in (0, 1, 2, 5, 13, 14):
        keep, parts = share_out(items, chunk)
        assert keep + [i for part in parts for i in part] == items
        assert all(0 < len(part) <= max(1, chunk) for part in [keep, *parts])
