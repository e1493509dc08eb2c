"""How a run splits the emails it owns: up to a chunk it writes itself; more go out in even,
task-sized parts, nothing lost or repeated."""

from __future__ import annotations

from brightsync.email.handout import share_out


def test_more_than_a_chunk_goes_out_in_as_few_even_parts_as_fit():
    keep, parts = share_out(list(range(47)), 20)
    assert keep == []
    assert parts == [list(range(0, 16)), list(range(16, 32)), list(range(32, 47))]
    assert share_out(list(range(21)), 20) == ([], [list(range(11)), list(range(11, 21))])


def test_a_run_within_a_chunk_hands_out_nothing():
    assert share_out(list(range(20)), 20) == (list(range(20)), [])
    assert share_out([], 20) == ([], [])


def test_every_item_is_in_exactly_one_place_whatever_the_chunk():
    items = list(range(13))
    for chunk in (0, 1, 2, 5, 13, 14):
        keep, parts = share_out(items, chunk)
        assert keep + [i for part in parts for i in part] == items
        assert len(keep) <= max(1, chunk)
        assert all(0 < len(part) <= max(1, chunk) for part in parts)
        assert not (keep and parts)  # all here, or all out
