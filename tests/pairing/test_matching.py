"""The pairing matching engine: hard limits, reasons, optimality against brute force, blocks."""

from __future__ import annotations

import random
from functools import cache

import pytest

from portal.pairing.matching import (
    NEEDS,
    SKILLS,
    Candidate,
    ChildCase,
    Reason,
    Settings,
    explain,
    suggest,
)

ANY_NEEDS = frozenset(NEEDS)
ALL_SKILLS = frozenset(SKILLS)


def child(id=1, township="A", village="v1", sex="F", needs=ANY_NEEDS, **kw) -> ChildCase:
    return ChildCase(id=id, township=township, village=village, sex=sex, needs=needs, **kw)


def candidate(id="a", township="A", village="v1", sex="F", skills=ALL_SKILLS, **kw) -> Candidate:
    return Candidate(id=id, township=township, village=village, sex=sex, skills=skills, **kw)


def pairs(result) -> set[tuple]:
    return {(s.child_id, s.candidate_id) for s in result.suggestions}


# Hard limits ------------------------------------------------------------------------------


def test_another_township_is_refused_unless_an_allowed_neighbour():
    kid, far = child(township="A"), candidate(township="B")
    assert explain(kid, far).refusal == "township"
    result = suggest([kid], [far])
    assert result.suggestions == [] and result.unmatched_children == [1]

    one_way = Settings(neighbours={"B": frozenset({"A"})})  # made symmetric
    assert explain(kid, far, one_way).feasible
    assert pairs(suggest([kid], [far], one_way)) == {(1, "a")}
    assert explain(child(township="B"), candidate(township="A"), one_way).feasible


def test_a_neighbours_neighbour_is_not_allowed():
    chain = Settings(neighbours={"A": frozenset({"B"}), "B": frozenset({"C"})})
    kid, far = child(township="A"), candidate(township="C")
    assert explain(kid, far, chain).refusal == "township"
    result = suggest([kid], [far], chain)
    assert result.suggestions == [] and result.unmatched_children == [1]
    # A and C only meet through B, where nobody is: two blocks, neither with both sides.
    assert result.blocks == 0


def test_ineligible_candidate_is_never_suggested():
    kid, vetted, lapsed = (
        child(),
        candidate(id="ok", village="x"),
        candidate(id="no", eligible=False),
    )
    assert explain(kid, lapsed).refusal == "not_eligible"
    assert pairs(suggest([kid], [lapsed, vetted])) == {(1, "ok")}
    assert suggest([kid], [lapsed]).unmatched_children == [1]


def test_unavailable_child_is_neither_suggested_nor_listed_as_unmatched():
    busy = child(available=False)
    assert explain(busy, candidate()).refusal == "not_available"
    result = suggest([busy, child(id=2)], [candidate(capacity=2)])
    assert pairs(result) == {(2, "a")}
    assert result.unmatched_children == []


def test_capacity_bounds_the_children_per_candidate():
    kids = [child(id=i) for i in range(4)]
    assert explain(kids[0], candidate(capacity=0)).refusal == "capacity"
    assert suggest(kids, [candidate(capacity=0)]).suggestions == []
    assert len(suggest(kids, [candidate(capacity=1)]).suggestions) == 1
    result = suggest(kids, [candidate(capacity=3)])
    assert len(result.suggestions) == 3 and len(result.unmatched_children) == 1
    assert len(suggest(kids, [candidate(capacity=99)]).suggestions) == 4


def test_same_sex_policy_is_a_hard_limit():
    same_sex = Settings(gender_policy="same_sex")
    girl, man = child(sex="F"), candidate(sex="M")
    assert explain(girl, man, same_sex).refusal == "gender"
    assert suggest([girl], [man], same_sex).unmatched_children == [1]
    assert explain(girl, candidate(sex="F"), same_sex).feasible
    # Under the other policies the sex of the volunteer never refuses a pair.
    for policy in ("none", "respect_preference"):
        assert explain(girl, man, Settings(gender_policy=policy)).feasible


def test_preferred_sex_is_only_a_soft_score():
    kid = child(needs=frozenset(), preferred_volunteer_sex="F", village="home")
    woman, man = candidate(id="w", sex="F"), candidate(id="m", sex="M")
    respect = Settings(gender_policy="respect_preference")
    assert explain(kid, woman, respect).reasons == (Reason("gender_preference", 4, "F"),)
    assert explain(kid, man, respect) == (True, None, 0, ())
    assert pairs(suggest([kid], [man, woman], respect)) == {(1, "w")}
    assert pairs(suggest([kid], [man], respect)) == {(1, "m")}  # still paired
    assert explain(kid, woman, Settings(gender_policy="none")).score == 0
    assert explain(kid, woman, Settings(gender_policy="same_sex")).score == 0


def test_the_first_broken_limit_is_named_and_the_score_still_shown():
    kid = child(available=False, needs=frozenset({"study"}))
    far = candidate(township="B", eligible=False, capacity=0, skills=frozenset({"tutoring"}))
    feasible, code, score, reasons = explain(kid, far)
    assert (feasible, code, score) == (False, "not_available", 10)
    assert reasons == (Reason("need_met:study", 10, "tutoring"),)


# Scores and reasons ---------------------------------------------------------------------------


def test_reasons_name_each_point():
    kid = child(
        township="A",
        village="v1",
        needs=frozenset({"study", "safety", "health"}),
        preferred_volunteer_sex="M",
    )
    vol = candidate(
        sex="M",
        village="v1",
        skills=frozenset({"tutoring", "law", "care", "arts_sports"}),
        preferred_township="A",
    )
    feasible, code, score, reasons = explain(kid, vol)
    assert feasible and code is None
    assert reasons == (
        Reason("need_met:study", 10, "tutoring"),
        Reason("need_met:safety", 10, "law,care"),
        Reason("same_village", 8, "v1"),
        Reason("preferred_township", 3, "A"),
        Reason("gender_preference", 4, "M"),
    )
    assert score == 35
    # The same village name in another township is another village.
    neighbours = Settings(neighbours={"A": frozenset({"B"})})
    codes = [r.code for r in explain(kid, candidate(township="B", village="v1"), neighbours)[3]]
    assert "same_village" not in codes


def test_weights_are_settings_and_zero_lists_nothing():
    kid = child(needs=frozenset({"life"}))
    vol = candidate(skills=frozenset({"care"}))
    weights = Settings(weights={"need_met": 7, "same_village": 0})
    assert explain(kid, vol, weights).reasons == (Reason("need_met:life", 7, "care"),)
    assert Settings(weights={"gender": 1}).weights == {
        "need_met": 10,
        "same_village": 8,
        "preferred_township": 3,
        "gender": 1,
    }
    result = suggest([kid], [vol], weights)
    assert result.suggestions[0].reasons == (Reason("need_met:life", 7, "care"),)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gender_policy": "girls_only"},
        {"weights": {"need_met": -1}},
        {"weights": {"need_met": 2.5}},
        {"weights": {"distance": 1}},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        Settings(**kwargs)


@pytest.mark.parametrize(
    "people",
    [
        ([child(needs=frozenset({"money"}))], [candidate()]),
        ([child(sex="X")], [candidate()]),
        ([child(preferred_volunteer_sex="X")], [candidate()]),
        ([child()], [candidate(skills=frozenset({"juggling"}))]),
        ([child()], [candidate(sex="")]),
        ([child(id=1), child(id=1)], [candidate()]),
        ([child()], [candidate(id="a"), candidate(id="a")]),
    ],
)
def test_bad_input_is_refused(people):
    with pytest.raises(ValueError):
        suggest(*people)


def test_every_suggestion_adds_up_and_agrees_with_explain():
    rng = random.Random(7)
    for _ in range(40):
        kids, vols, settings = random_instance(rng, 12, 12)
        by_id = {v.id: v for v in vols}
        kids_by_id = {c.id: c for c in kids}
        for s in suggest(kids, vols, settings).suggestions:
            assert all(isinstance(r.points, int) and r.points > 0 for r in s.reasons)
            assert sum(r.points for r in s.reasons) == s.score
            feasible, _code, score, reasons = explain(
                kids_by_id[s.child_id], by_id[s.candidate_id], settings
            )
            assert feasible and (score, reasons) == (s.score, s.reasons)


# Optimality -----------------------------------------------------------------------------------

TOWNSHIPS = ("A", "B", "C")
NEIGHBOURS = {"A": frozenset({"B"})}  # C stands alone


def random_instance(rng: random.Random, max_children: int = 6, max_candidates: int = 6):
    def subset(items, p):
        return frozenset(x for x in items if rng.random() < p)

    kids = [
        ChildCase(
            id=i,
            township=rng.choice(TOWNSHIPS),
            village=rng.choice(("v1", "v2")),
            sex=rng.choice("MF"),
            needs=subset(NEEDS, 0.35),
            preferred_volunteer_sex=rng.choice((None, None, "M", "F")),
            available=rng.random() < 0.9,
        )
        for i in range(rng.randint(0, max_children))
    ]
    vols = [
        Candidate(
            id=f"v{j}",
            township=rng.choice(TOWNSHIPS),
            village=rng.choice(("v1", "v2", None)),
            sex=rng.choice("MF"),
            skills=subset(SKILLS, 0.3),
            capacity=rng.choice((1, 1, 2)),
            eligible=rng.random() < 0.9,
            preferred_township=rng.choice((None, *TOWNSHIPS)),
        )
        for j in range(rng.randint(0, max_candidates))
    ]
    settings = Settings(
        neighbours=NEIGHBOURS if rng.random() < 0.7 else {},
        gender_policy=rng.choice(("none", "same_sex", "respect_preference")),
    )
    return kids, vols, settings


def brute_force(kids, vols, settings) -> tuple[int, int]:
    """The best (pair count, total score) over every matching, by exhaustive search."""
    value = [[explain(c, v, settings) for v in vols] for c in kids]

    @cache
    def best(i: int, free: tuple[int, ...]) -> tuple[int, int]:
        if i == len(kids):
            return (0, 0)
        options = [best(i + 1, free)]  # the child stays unmatched
        for j, slots in enumerate(free):
            feasible, _code, score, _reasons = value[i][j]
            if feasible and slots > 0:
                count, total = best(i + 1, free[:j] + (slots - 1,) + free[j + 1 :])
                options.append((count + 1, total + score))
        return max(options)

    return best(0, tuple(max(v.capacity, 0) for v in vols))


def check_valid(result, kids, vols, settings) -> None:
    kids_by_id, vols_by_id = {c.id: c for c in kids}, {v.id: v for v in vols}
    taken: dict = {}
    seen_children = set()
    for s in result.suggestions:
        assert s.child_id not in seen_children
        seen_children.add(s.child_id)
        taken[s.candidate_id] = taken.get(s.candidate_id, 0) + 1
        assert explain(kids_by_id[s.child_id], vols_by_id[s.candidate_id], settings).feasible
    assert all(taken[v] <= vols_by_id[v].capacity for v in taken)
    available = [c.id for c in kids if c.available]
    assert result.unmatched_children == [i for i in available if i not in seen_children]


def test_assignment_is_optimal_against_brute_force():
    rng = random.Random(20261130)
    checked = 0
    for _ in range(400):
        kids, vols, settings = random_instance(rng)
        result = suggest(kids, vols, settings)
        check_valid(result, kids, vols, settings)
        found = (len(result.suggestions), sum(s.score for s in result.suggestions))
        assert found == brute_force(kids, vols, settings), (kids, vols, settings)
        checked += bool(result.suggestions)
    assert checked >= 200  # instances with at least one pair


def test_more_pairs_come_before_a_higher_score():
    # A greedy pick gives child 1 the tutor (10 points) and leaves child 2 without anyone.
    chain = Settings(neighbours={"A": frozenset({"B"}), "B": frozenset({"C"})})
    kids = [
        child(id=1, township="B", needs=frozenset({"study"})),
        child(id=2, township="C", village="c", needs=frozenset()),
    ]
    vols = [
        candidate(id="tutor", township="C", skills=frozenset({"tutoring"})),
        candidate(id="any", township="A", skills=frozenset()),
    ]
    assert explain(kids[0], vols[0], chain).score == 10
    assert explain(kids[1], vols[1], chain).refusal == "township"
    result = suggest(kids, vols, chain)
    assert pairs(result) == {(1, "any"), (2, "tutor")}
    assert [s.score for s in result.suggestions] == [0, 0]


def county(rng: random.Random, n: int):
    townships = [f"3311240{i:02d}" for i in range(1, 20)]
    neighbours = {townships[0]: frozenset(townships[1:3]), townships[5]: frozenset({townships[6]})}

    def subset(items, p):
        return frozenset(x for x in items if rng.random() < p)

    kids = [
        ChildCase(
            id=i,
            township=rng.choice(townships),
            village=f"v{rng.randrange(12)}",
            sex=rng.choice("MF"),
            needs=subset(NEEDS, 0.4),
            preferred_volunteer_sex=rng.choice((None, None, "M", "F")),
            available=rng.random() < 0.95,
        )
        for i in range(n)
    ]
    vols = [
        Candidate(
            id=j,
            township=rng.choice(townships),
            village=f"v{rng.randrange(12)}",
            sex=rng.choice("MF"),
            skills=subset(SKILLS, 0.3),
            capacity=rng.choice((1, 1, 1, 2)),
            eligible=rng.random() < 0.95,
            preferred_township=rng.choice((None, *townships)),
        )
        for j in range(int(n * rng.uniform(0.6, 1.1)))
    ]
    return kids, vols, Settings(neighbours=neighbours, gender_policy=rng.choice(GENDER))


GENDER = ("none", "same_sex", "respect_preference")


@pytest.mark.parametrize(("seed", "size"), [(1, 800), (2, 1500), (3, 3000)])
def test_blocks_give_the_global_optimum(seed, size):
    kids, vols, settings = county(random.Random(seed), size)
    by_block = suggest(kids, vols, settings)
    single = suggest(kids, vols, settings, by_block=False)
    assert by_block.blocks == 19 - 3 and single.blocks == 1
    check_valid(by_block, kids, vols, settings)
    assert len(by_block.suggestions) == len(single.suggestions)
    assert sum(s.score for s in by_block.suggestions) == sum(s.score for s in single.suggestions)


# Edges ------------------------------------------------------------------------------------------


def test_empty_inputs():
    for kids, vols in (([], []), ([child()], []), ([], [candidate()])):
        result = suggest(kids, vols)
        assert result.suggestions == [] and result.blocks == 0
        assert result.unmatched_children == [c.id for c in kids]


def test_a_child_without_feasible_candidate_is_unmatched():
    kids = [child(id=1), child(id=2, township="B"), child(id=3, sex="M")]
    vols = [candidate(capacity=5)]
    result = suggest(kids, vols, Settings(gender_policy="same_sex"))
    assert pairs(result) == {(1, "a")}
    assert result.unmatched_children == [2, 3]


def test_one_block_per_township_without_neighbours():
    kids = [child(id=i, township=t) for i, t in enumerate("ABCD")]
    vols = [candidate(id=t, township=t) for t in "ABC"]
    assert suggest(kids, vols).blocks == 3  # D has no candidate: nothing to solve
    assert suggest(kids, vols, Settings(neighbours={"A": frozenset("B")})).blocks == 2


def test_output_is_deterministic():
    rng = random.Random(5)
    kids, vols, settings = county(rng, 600)
    first = suggest(kids, vols, settings)
    for _ in range(3):
        assert suggest(kids, vols, settings) == first
    assert [s.child_id for s in first.suggestions] == sorted(s.child_id for s in first.suggestions)
