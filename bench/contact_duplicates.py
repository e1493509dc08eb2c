"""Duplicate-contact matcher benchmark: precision, recall, time and peak memory.

A seeded labelled address book (`brightsync.people.duplicate_samples`: typos, nicknames,
swapped names, initials, accents, second emails, phone formats, missing fields; namesakes,
colleagues and relatives as hard negatives) is written as JSON lines; then, each in its own
process so the peak resident memory is that process's alone:
- `brightsync contacts duplicates --json FILE` (the matcher, streaming in and out);
- the baseline: exact email matching (case-folded addresses), the usual CRM dedupe rule;
- naive all-pairs scoring with the same score function, on the smallest size only (its time
  grows with n^2; the figure for the larger sizes is extrapolated and marked so).
Targets: precision of "duplicate" >= 0.98, recall of "duplicate + possible" >= 0.9, and
100,000 contacts in minutes with flat memory.

    python bench/contact_duplicates.py [--sizes 10000,100000] [--naive 2000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from brightsync.people.duplicate_samples import Sample, evaluate, generate  # noqa: E402


class _Pair:
    def __init__(self, obj: dict[str, Any]) -> None:
        self.a, self.b, self.decision = obj["a"], obj["b"], obj["decision"]
        self.score = obj.get("score", 1.0)


def sweep(n: int, sample: Sample, pairs: list[_Pair]) -> None:
    """Precision/recall of 'score >= t' for candidate thresholds: how the cut was chosen."""
    print(f"{n:>7} threshold sweep (pairs scoring at least t):")
    for t in (0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0):
        kept = [p for p in pairs if p.score >= t]
        for p in kept:
            p.decision = "duplicate"
        f = evaluate(sample, iter(kept))
        print(f"{'':>9} t={t:.2f}  P={f['duplicate_precision']:.3f} R={f['duplicate_recall']:.3f}")


# Children report their own peak (VmHWM of their address space) when they exit: the rusage
# maximum of a forked child also counts the parent's pages at fork time.
_PEAK_WRAPPER = """
import atexit, os, runpy, sys
def _peak():
    with open('/proc/self/status') as fh:
        kib = next(int(l.split()[1]) for l in fh if l.startswith('VmHWM:'))
    with open(os.environ['BENCH_PEAK_FILE'], 'w') as out:
        out.write(str(kib))
atexit.register(_peak)
target, sys.argv = sys.argv[1], sys.argv[1:]
if target.endswith('.py'):
    runpy.run_path(target, run_name='__main__')
else:
    runpy.run_module(target, run_name='__main__', alter_sys=True)
"""


def run_child(args: list[str], stdout: Path) -> tuple[float, float, float]:
    """Run `python -m module ...` or `python script.py ...` in a child process; wall seconds,
    CPU seconds and peak resident memory (MiB) of that child alone."""
    peak_file = stdout.with_suffix(".peak")
    env = {**os.environ, "BENCH_PEAK_FILE": str(peak_file)}
    with stdout.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _PEAK_WRAPPER, *args], stdout=out, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{args[:4]} failed with exit code {code}")
    return elapsed, usage.ru_utime + usage.ru_stime, int(peak_file.read_text()) / 1024


def read_pairs(path: Path) -> list[_Pair]:
    with path.open(encoding="utf-8") as fh:
        return [_Pair(json.loads(line)) for line in fh if line.strip()]


def worker_exact_email(path: str) -> None:
    """Baseline: two contacts sharing a case-folded address are duplicates; nothing else."""
    first: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            for addr in {a.strip().lower() for a in rec.get("emailAddresses") or []}:
                if addr in first:
                    print(json.dumps({"a": first[addr], "b": rec["id"], "decision": "duplicate"}))
                else:
                    first[addr] = rec["id"]


def worker_naive(path: str) -> None:
    """All pairs through the same score function: the quadratic way."""
    from brightsync.people.duplicates import match
    from brightsync.people.person import prepare

    with open(path, encoding="utf-8") as fh:
        people = [prepare(json.loads(line)) for line in fh]
    for i, a in enumerate(people):
        for b in people[i + 1 :]:
            m = match(a, b)
            if m is not None:
                print(json.dumps(m.to_dict()))


def measure(label: str, args: list[str], sample: Sample, out: Path) -> dict[str, Any]:
    elapsed, cpu, peak = run_child(args, out)
    figures = evaluate(sample, iter(read_pairs(out)))
    return {"method": label, "seconds": elapsed, "cpu": cpu, "peak_mib": peak, **figures}


def show(n: int, row: dict[str, Any]) -> None:
    print(
        f"{n:>7} {row['method']:<22} {row['seconds']:>7.1f}s {row['cpu']:>7.1f}s"
        f" {row['peak_mib']:>6.0f} MiB"
        f"   dup P={row['duplicate_precision']:.3f} R={row['duplicate_recall']:.3f}"
        f"   dup+possible P={row['any_precision']:.3f} R={row['any_recall']:.3f}"
        f"   ({row['pairs']} true pairs)",
        flush=True,
    )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] in ("--worker-exact", "--worker-naive"):
        (worker_exact_email if sys.argv[1] == "--worker-exact" else worker_naive)(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--naive", type=int, default=2000, help="size for all-pairs scoring")
    parser.add_argument("--seed", type=int, default=7)
    opts = parser.parse_args()
    sizes = [int(s) for s in opts.sizes.split(",") if s]
    print(f"{'n':>7} {'method':<22} {'wall':>8} {'cpu':>8} {'peak RSS':>10}")
    with tempfile.TemporaryDirectory(prefix="bench-dupes-") as tmp:
        work = Path(tmp)
        naive_rate = None
        for n in sorted({opts.naive, *sizes}):
            sample = generate(n, seed=opts.seed)
            data = work / f"contacts-{n}.jsonl"
            with data.open("w", encoding="utf-8") as fh:
                for record in sample.records:
                    fh.write(json.dumps(record) + "\n")
            del sample.records[:]  # the children read the file; keep only the labels here
            out = work / "pairs.jsonl"
            cli = ["brightsync", "contacts", "duplicates", "--json", str(data)]
            if n in sizes:
                show(n, measure("matcher (blocking)", cli, sample, out))
                if n == min(sizes):
                    sweep(n, sample, read_pairs(out))
                show(
                    n,
                    measure(
                        "exact email (baseline)",
                        [__file__, "--worker-exact", str(data)],
                        sample,
                        out,
                    ),
                )
            if n == opts.naive:
                row = measure(
                    "all pairs (naive)", [__file__, "--worker-naive", str(data)], sample, out
                )
                show(n, row)
                pairs_scored = n * (n - 1) / 2
                naive_rate = (row["seconds"] / pairs_scored, row["cpu"] / pairs_scored)
        if naive_rate:
            for n in sizes:
                if n > opts.naive:
                    wall, cpu = (rate * n * (n - 1) / 2 for rate in naive_rate)
                    print(
                        f"{n:>7} all pairs (naive)    ~{wall:>6.0f}s ~{cpu:>6.0f}s"
                        "  (extrapolated from the measured size: n^2)"
                    )


if __name__ == "__main__":
    main()
