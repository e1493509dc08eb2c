"""First-sync progress: records seen, done, left and the time left at the rate so far."""

from brightsync.ops.progress import progress


def test_estimate_follows_the_rate_so_far() -> None:
    assert progress(seen=400, done=100, total=400, elapsed=20.0) == {
        "seen": 400,
        "done": 100,
        "left": 300,
        "etaSeconds": 60.0,
    }


def test_nothing_to_estimate_without_a_total_or_before_the_first_record() -> None:
    assert progress(seen=50, done=50, total=None, elapsed=3.0)["etaSeconds"] is None
    assert progress(seen=50, done=50, total=None, elapsed=3.0)["left"] is None
    assert progress(seen=10, done=0, total=10, elapsed=1.0) == {
        "seen": 10,
        "done": 0,
        "left": 10,
        "etaSeconds": None,
    }
    assert progress(seen=10, done=12, total=10, elapsed=1.0)["left"] == 0
