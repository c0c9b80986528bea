"""Wall time and peak memory of the pairing matching engine on a county and a province.

County: 3,000 children and 3,000 volunteers across Songyang's 19 townships (the three 街道 of the
county seat are allowed neighbours), villages per township, random needs, skills, sexes and
preferences (seeded). Province: 100,000 and 100,000 in 1,300 blocks of unequal size (one to
three neighbouring townships each). Each set runs in its own process, so the maximum resident
set of one does not carry into the other. Time is `suggest` as the portal calls it, scores and
reasons included (median of several runs); memory is the larger of the tracemalloc peak of one
run (Python objects and NumPy buffers allocated by `suggest`) and the process's maximum resident
set (interpreter, NumPy/SciPy, the generated input and every run). The county result is checked
against ONE global assignment over all children and candidates: the optimality gap must be 0.
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.pairing.matching import (  # noqa: E402
    NEEDS,
    SKILLS,
    Candidate,
    ChildCase,
    Settings,
    suggest,
)

COUNTY_TOWNSHIPS = [
    "331124001",
    "331124002",
    "331124003",
    *(f"331124{n}" for n in range(101, 106)),
    *(f"331124{n}" for n in range(201, 207)),
    "331124208",
    *(f"331124{n}" for n in range(211, 215)),
]
COUNTY_SEAT = COUNTY_TOWNSHIPS[:3]  # 西屏, 水南, 望松: neighbours of one another


def people(
    rng: random.Random,
    n: int,
    townships: list[str],
    township_weights: list[float],
    villages: dict[str, int],
    id_offset: int = 0,
) -> tuple[list[ChildCase], list[Candidate]]:
    """n children and n volunteers spread over the townships by weight."""

    def subset(items: tuple[str, ...], p: float) -> frozenset[str]:
        return frozenset(x for x in items if rng.random() < p)

    kid_townships = rng.choices(townships, township_weights, k=n)
    vol_townships = rng.choices(townships, township_weights, k=n)
    kids = [
        ChildCase(
            id=id_offset + i,
            township=t,
            village=f"{t}-{rng.randrange(villages[t])}",
            sex=rng.choice("MF"),
            needs=subset(NEEDS, 0.35),
            preferred_volunteer_sex=rng.choice((None,) * 7 + ("M", "F", "F")),
            available=rng.random() < 0.9,
        )
        for i, t in enumerate(kid_townships)
    ]
    vols = [
        Candidate(
            id=id_offset + j,
            township=t,
            village=f"{t}-{rng.randrange(villages[t])}",
            sex=rng.choice("MF"),
            skills=subset(SKILLS, 0.3),
            capacity=rng.choices((1, 2, 3), (85, 12, 3))[0],
            eligible=rng.random() < 0.9,
            preferred_township=rng.choice(townships) if rng.random() < 0.2 else None,
        )
        for j, t in enumerate(vol_townships)
    ]
    return kids, vols


def county_set(seed: int = 20261130):
    rng = random.Random(seed)
    weights = [rng.uniform(0.5, 3.0) for _ in COUNTY_TOWNSHIPS]
    villages = {t: rng.randint(8, 30) for t in COUNTY_TOWNSHIPS}
    kids, vols = people(rng, 3000, COUNTY_TOWNSHIPS, weights, villages)
    neighbours = {t: frozenset(set(COUNTY_SEAT) - {t}) for t in COUNTY_SEAT}
    return kids, vols, Settings(neighbours=neighbours)


def province_set(seed: int = 20261130, blocks: int = 1300, size: int = 100_000):
    rng = random.Random(seed)
    townships, weights, neighbours = [], [], {}
    for b in range(blocks):
        block_weight = rng.lognormvariate(0, 1.0)
        members = [f"P{b:04d}{k}" for k in range(rng.choice((1, 1, 2, 3)))]
        for k, t in enumerate(members):
            townships.append(t)
            weights.append(block_weight / len(members))
            if k:
                neighbours[t] = frozenset({members[k - 1]})
    villages = {t: rng.randint(5, 30) for t in townships}
    kids, vols = people(rng, size, townships, weights, villages)
    return kids, vols, Settings(neighbours=neighbours)


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(name: str, runs: int) -> dict:
    kids, vols, settings = county_set() if name == "county" else province_set()
    rss_input = max_rss_mib()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = suggest(kids, vols, settings)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    suggest(kids, vols, settings)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss = max_rss_mib()
    total = sum(s.score for s in result.suggestions)
    assert all(sum(r.points for r in s.reasons) == s.score for s in result.suggestions)
    figures = {
        "children": len(kids),
        "candidates": len(vols),
        "slots": sum(v.capacity for v in vols if v.eligible),
        "blocks": result.blocks,
        "largest_block": largest_block(kids, vols, settings),
        "suggestions": len(result.suggestions),
        "unmatched": len(result.unmatched_children),
        "total_score": total,
        "seconds": round(statistics.median(times), 3),
        "seconds_min": round(min(times), 3),
        "runs": runs,
        "tracemalloc_peak_mib": round(traced_peak, 1),
        "rss_after_input_mib": round(rss_input, 1),
        "max_rss_mib": round(rss, 1),
        "peak_mib": round(max(traced_peak, rss), 1),
    }
    if name == "county":
        start = time.perf_counter()
        single = suggest(kids, vols, settings, by_block=False)
        figures["global_seconds"] = round(time.perf_counter() - start, 3)
        if len(single.suggestions) != len(result.suggestions):
            raise SystemExit("the blocks found a different number of pairs than one assignment")
        figures["optimality_gap"] = sum(s.score for s in single.suggestions) - total
    return figures


def largest_block(kids, vols, settings) -> str:
    """Children × candidate slots of the largest block (available/eligible only)."""
    block, parent = {}, {}

    def root(t):
        while parent.setdefault(t, t) != t:
            t = parent[t]
        return t

    for t, others in settings.neighbours.items():
        for o in others:
            a, b = root(t), root(o)
            if a != b:
                parent[max(a, b)] = min(a, b)
    for c in kids:
        if c.available:
            block.setdefault(root(c.township), [0, 0])[0] += 1
    for v in vols:
        if v.eligible and v.capacity > 0:
            block.setdefault(root(v.township), [0, 0])[1] += v.capacity
    rows, cols = max(block.values())
    return f"{rows} × {cols}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", choices=("county", "province"), help="measure one set here")
    parser.add_argument("--runs", type=int, default=0, help="timed runs (default 7 / 3)")
    args = parser.parse_args()
    if args.set:
        print(json.dumps(measure(args.set, args.runs or (7 if args.set == "county" else 3))))
        return

    figures = {}
    for name in ("county", "province"):
        out = subprocess.run(
            [sys.executable, __file__, "--set", name]
            + (["--runs", str(args.runs)] if args.runs else []),
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        figures[name] = json.loads(out.strip().splitlines()[-1])

    rows = [
        ("children / candidates", "{children:,} / {candidates:,}"),
        ("candidate slots (eligible)", "{slots:,}"),
        ("blocks solved", "{blocks:,}"),
        ("largest block (children × slots)", "{largest_block}"),
        ("suggestions / unmatched children", "{suggestions:,} / {unmatched:,}"),
        ("suggest() s, median (min)", "{seconds} ({seconds_min})"),
        ("tracemalloc peak of one run, MiB", "{tracemalloc_peak_mib}"),
        ("max RSS, MiB (after input only)", "{max_rss_mib} ({rss_after_input_mib})"),
    ]
    print(f"{'':<36}{'county':>20}{'province':>20}")
    for label, cell in rows:
        county, province = (cell.format(**figures[name]) for name in ("county", "province"))
        print(f"{label:<36}{county:>20}{province:>20}")
    c = figures["county"]
    print(
        f"county: one global assignment took {c['global_seconds']} s; "
        f"optimality gap {c['optimality_gap']}"
    )
    result = {
        "county": {
            "seconds": c["seconds"],
            "peak_mib": c["peak_mib"],
            "optimality_gap": c["optimality_gap"],
        },
        "province": {
            "seconds": figures["province"]["seconds"],
            "peak_mib": figures["province"]["peak_mib"],
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
