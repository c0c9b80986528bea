"""Matching engine for one-on-one pairing (一对一帮扶): optimal suggestions, never decisions.

Township staff pair each vetted volunteer with one left-behind child. This module only
*suggests*: plain dataclasses in, plain dataclasses out, no Flask and no database, so it can be
tested and measured on its own. Staff accept, swap or reject every suggestion.

Inputs
    `ChildCase` (needs from 学习 study, 心理 psych, 安全 safety, 生活 life, 健康 health),
    `Candidate` (skills from tutoring, counselling, law, medical, arts_sports, care, other;
    `capacity` is the number of *free* slots, usually 1) and `Settings` (weights, allowed
    neighbour townships, gender policy).

Hard limits (a pair is feasible only if all hold; `explain` names the first one broken)
    ``not_available``  the child is not available (in an open pairing, re-pairing buffer, ...);
    ``not_eligible``   the candidate's vetting is not valid or they are not active;
    ``capacity``       the candidate has no free slot (capacity k takes up to k children per run);
    ``township``       the candidate lives neither in the child's township nor in an allowed
                       neighbour of it (the neighbour relation is made symmetric; it is not
                       transitive: a neighbour's neighbour is not allowed);
    ``gender``         with the "same_sex" policy, volunteer and child must be of the same sex.

Soft scores (integers; the `reasons` of a suggestion add up exactly to its `score`)
    ``need_met:<need>``     weights["need_met"] per child need covered by a skill: study by
                            tutoring, psych by counselling, safety by law or care, life by care,
                            health by medical (detail: the covering skills, comma-separated);
    ``same_village``        weights["same_village"] when the candidate lives in the child's
                            village (same township and village name; detail: the village);
    ``preferred_township``  weights["preferred_township"] when the candidate prefers to serve in
                            the child's township (detail: the township);
    ``gender_preference``   weights["gender"] when, under the "respect_preference" policy, the
                            candidate is of the sex the child prefers (detail: that sex). Under
                            "none" the preference is ignored; under "same_sex" the hard limit
                            already decides and no points are given.
    A reason is listed only when it brings points (a weight of 0 lists nothing). Weights must be
    non-negative integers; missing weights take the defaults.

Assignment (optimal, never greedy)
    Only available children and eligible candidates with a free slot take part. Their townships
    are split into blocks: the connected components of the neighbour relation among the
    townships present (with no neighbours, one block per township; two townships linked only
    through a township where nobody takes part are two blocks, as no pair can join them). In each block the score matrix is built with NumPy, vectorised (needs and
    skills as bit masks, villages and townships as integer codes); a candidate with capacity k
    appears as min(k, children in the block) columns. Feasible pairs are worth BIG + score and
    infeasible ones 0, with BIG = (highest feasible score in the block) × (largest possible number
    of pairs) + 1, larger than any block's total score; `scipy.optimize.linear_sum_assignment`
    (maximize=True) then maximises the number of pairs first and the total score second. Assigned
    pairs that are infeasible are dropped. Children and candidates with no feasible partner at
    all are left out of the matrix beforehand. The result is the same optimum as one global
    assignment over all children and candidates (no feasible pair crosses two blocks).
    Reasons are built only for the chosen pairs, from vectorised components.

Output
    `suggest` returns suggestions in the order the children were given, the ids of the available
    children left without a suggestion (input order; unavailable children are not listed: they
    need no volunteer now) and the number of blocks solved (blocks holding at least one available
    child and one candidate with a free slot). The same input always gives the same output.
    `explain` checks one pair for staff pairing by hand: its score and reasons are given even
    when it is not feasible, so staff can see both why not and what it would bring.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

NEEDS = ("study", "psych", "safety", "life", "health")  # 学习 心理 安全 生活 健康
SKILLS = ("tutoring", "counselling", "law", "medical", "arts_sports", "care", "other")
NEED_SKILLS: dict[str, frozenset[str]] = {
    "study": frozenset({"tutoring"}),
    "psych": frozenset({"counselling"}),
    "safety": frozenset({"law", "care"}),
    "life": frozenset({"care"}),
    "health": frozenset({"medical"}),
}
SEXES = ("M", "F")
GENDER_POLICIES = ("none", "same_sex", "respect_preference")
DEFAULT_WEIGHTS: dict[str, int] = {
    "need_met": 10,
    "same_village": 8,
    "preferred_township": 3,
    "gender": 4,
}
REFUSALS = ("not_available", "not_eligible", "capacity", "township", "gender")

# Values handed to linear_sum_assignment are float64: totals must stay exact integers.
_EXACT = 2**53


@dataclass(frozen=True)
class ChildCase:
    id: Hashable
    township: str
    village: str | None
    sex: str  # "M" or "F"
    needs: frozenset[str] = frozenset()
    preferred_volunteer_sex: str | None = None
    available: bool = True


@dataclass(frozen=True)
class Candidate:
    id: Hashable
    township: str
    village: str | None
    sex: str  # "M" or "F"
    skills: frozenset[str] = frozenset()
    capacity: int = 1  # free slots
    eligible: bool = True  # valid vetting, active
    preferred_township: str | None = None


@dataclass(frozen=True)
class Settings:
    weights: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    neighbours: Mapping[str, frozenset[str]] = field(default_factory=dict)
    gender_policy: str = "respect_preference"

    def __post_init__(self) -> None:
        if self.gender_policy not in GENDER_POLICIES:
            raise ValueError(f"unknown gender policy: {self.gender_policy!r}")
        weights = {**DEFAULT_WEIGHTS, **self.weights}
        for name, value in weights.items():
            if name not in DEFAULT_WEIGHTS:
                raise ValueError(f"unknown weight: {name!r}")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"weight {name!r} must be a non-negative integer, not {value!r}")
        links: dict[str, set[str]] = {}
        for township, others in self.neighbours.items():
            for other in others:
                if other != township:
                    links.setdefault(township, set()).add(other)
                    links.setdefault(other, set()).add(township)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "neighbours", {t: frozenset(o) for t, o in sorted(links.items())})

    def allowed(self, child_township: str, candidate_township: str) -> bool:
        """Whether a candidate of one township may support a child of the other."""
        return child_township == candidate_township or candidate_township in self.neighbours.get(
            child_township, ()
        )


@dataclass(frozen=True)
class Reason:
    code: str
    points: int
    detail: str = ""


@dataclass(frozen=True)
class Suggestion:
    child_id: Hashable
    candidate_id: Hashable
    score: int
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Result:
    suggestions: list[Suggestion]
    unmatched_children: list[Hashable]
    blocks: int


class Explanation(NamedTuple):
    feasible: bool
    refusal: str | None  # one of REFUSALS
    score: int
    reasons: tuple[Reason, ...]


DEFAULT_SETTINGS = Settings()


# One pair (staff pairing by hand, and the reference for the vectorised scores) -------------


def _check_child(child: ChildCase) -> None:
    if child.sex not in SEXES:
        raise ValueError(f"child {child.id!r}: unknown sex {child.sex!r}")
    if child.preferred_volunteer_sex not in (None, *SEXES):
        raise ValueError(
            f"child {child.id!r}: unknown preferred sex {child.preferred_volunteer_sex!r}"
        )
    unknown = set(child.needs) - set(NEEDS)
    if unknown:
        raise ValueError(f"child {child.id!r}: unknown needs {sorted(unknown)}")


def _check_candidate(candidate: Candidate) -> None:
    if candidate.sex not in SEXES:
        raise ValueError(f"candidate {candidate.id!r}: unknown sex {candidate.sex!r}")
    unknown = set(candidate.skills) - set(SKILLS)
    if unknown:
        raise ValueError(f"candidate {candidate.id!r}: unknown skills {sorted(unknown)}")


def refusal(
    child: ChildCase, candidate: Candidate, settings: Settings = DEFAULT_SETTINGS
) -> str | None:
    """The first hard limit the pair breaks (a code of REFUSALS), or None when it is feasible."""
    if not child.available:
        return "not_available"
    if not candidate.eligible:
        return "not_eligible"
    if candidate.capacity <= 0:
        return "capacity"
    if not settings.allowed(child.township, candidate.township):
        return "township"
    if settings.gender_policy == "same_sex" and child.sex != candidate.sex:
        return "gender"
    return None


def reasons_for(
    child: ChildCase, candidate: Candidate, settings: Settings = DEFAULT_SETTINGS
) -> tuple[Reason, ...]:
    """The soft-score reasons of one pair (whether or not it is feasible)."""
    weights = settings.weights
    reasons = []
    if weights["need_met"]:
        for need in NEEDS:
            if need in child.needs:
                used = [s for s in SKILLS if s in candidate.skills and s in NEED_SKILLS[need]]
                if used:
                    reasons.append(Reason(f"need_met:{need}", weights["need_met"], ",".join(used)))
    if (
        weights["same_village"]
        and child.village is not None
        and child.township == candidate.township
        and child.village == candidate.village
    ):
        reasons.append(Reason("same_village", weights["same_village"], child.village))
    if weights["preferred_township"] and candidate.preferred_township == child.township:
        reasons.append(Reason("preferred_township", weights["preferred_township"], child.township))
    if (
        weights["gender"]
        and settings.gender_policy == "respect_preference"
        and child.preferred_volunteer_sex is not None
        and child.preferred_volunteer_sex == candidate.sex
    ):
        reasons.append(Reason("gender_preference", weights["gender"], candidate.sex))
    return tuple(reasons)


def explain(
    child: ChildCase, candidate: Candidate, settings: Settings = DEFAULT_SETTINGS
) -> Explanation:
    """Whether one pair is feasible (else the first limit broken), its score and reasons."""
    _check_child(child)
    _check_candidate(candidate)
    reasons = reasons_for(child, candidate, settings)
    code = refusal(child, candidate, settings)
    return Explanation(code is None, code, sum(r.points for r in reasons), reasons)


# Encoding ---------------------------------------------------------------------------------

_NEED_BIT = {need: 1 << i for i, need in enumerate(NEEDS)}
_SKILL_BIT = {skill: 1 << i for i, skill in enumerate(SKILLS)}
_NEED_COVER = [sum(_SKILL_BIT[s] for s in NEED_SKILLS[need]) for need in NEEDS]
# skill mask -> mask of the needs it covers
_COVERED = np.array(
    [
        sum(1 << i for i, cover in enumerate(_NEED_COVER) if m & cover)
        for m in range(1 << len(SKILLS))
    ],
    dtype=np.uint8,
)
_POPCOUNT = np.array([m.bit_count() for m in range(1 << len(NEEDS))], dtype=np.int64)
_SEX_CODE = {None: 0, "M": 1, "F": 2}


class _People:
    """Available children and candidates with a free slot, as integer arrays."""

    def __init__(
        self,
        children: Sequence[ChildCase],
        candidates: Sequence[Candidate],
        settings: Settings,
    ) -> None:
        need_masks: dict[frozenset[str], int] = {}
        skill_masks: dict[frozenset[str], int] = {}
        townships: dict[str, int] = {}
        villages: dict[tuple[str, str], int] = {}
        respect = settings.gender_policy == "respect_preference"

        kids = self.kids = [c for c in children if c.available]
        n = len(kids)
        k_twp = np.empty(n, np.int64)
        k_vil = np.empty(n, np.int64)
        k_sex = np.empty(n, np.int8)
        k_pref = np.empty(n, np.int8)
        k_need = np.empty(n, np.uint8)
        for i, c in enumerate(kids):
            if c.sex not in SEXES or c.preferred_volunteer_sex not in _SEX_CODE:
                _check_child(c)
            mask = need_masks.get(c.needs)
            if mask is None:
                _check_child(c)
                mask = need_masks[c.needs] = sum(_NEED_BIT[x] for x in c.needs)
            k_need[i] = mask
            k_twp[i] = townships.setdefault(c.township, len(townships))
            k_vil[i] = (
                -1
                if c.village is None
                else villages.setdefault((c.township, c.village), len(villages))
            )
            k_sex[i] = _SEX_CODE[c.sex]
            k_pref[i] = _SEX_CODE[c.preferred_volunteer_sex] if respect else 0

        vols = self.vols = [v for v in candidates if v.eligible and v.capacity > 0]
        m = len(vols)
        v_twp = np.empty(m, np.int64)
        v_vil = np.empty(m, np.int64)
        v_sex = np.empty(m, np.int8)
        v_skill = np.empty(m, np.uint8)
        v_ptwp = np.empty(m, np.int64)
        v_cap = np.empty(m, np.int64)
        for j, v in enumerate(vols):
            if v.sex not in SEXES:
                _check_candidate(v)
            mask = skill_masks.get(v.skills)
            if mask is None:
                _check_candidate(v)
                mask = skill_masks[v.skills] = sum(_SKILL_BIT[x] for x in v.skills)
            v_skill[j] = mask
            v_twp[j] = townships.setdefault(v.township, len(townships))
            v_vil[j] = (
                -2
                if v.village is None
                else villages.setdefault((v.township, v.village), len(villages))
            )
            v_sex[j] = _SEX_CODE[v.sex]
            v_ptwp[j] = (
                -1 if v.preferred_township is None else townships.get(v.preferred_township, -1)
            )
            v_cap[j] = v.capacity
        self.k_twp, self.k_vil, self.k_sex, self.k_pref, self.k_need = (
            k_twp,
            k_vil,
            k_sex,
            k_pref,
            k_need,
        )
        self.v_twp, self.v_vil, self.v_sex, self.v_skill = v_twp, v_vil, v_sex, v_skill
        self.v_cov, self.v_ptwp, self.v_cap = _COVERED[v_skill], v_ptwp, v_cap
        self.township_names = list(townships)
        self.settings = settings

    def components(self) -> np.ndarray:
        """Block number of every township code (connected components of the neighbours)."""
        codes = {name: i for i, name in enumerate(self.township_names)}
        parent = list(range(len(codes)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for name, others in self.settings.neighbours.items():
            a = codes.get(name)
            if a is None:
                continue
            for other in others:
                b = codes.get(other)
                if b is not None:
                    ra, rb = root(a), root(b)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
        roots = np.array([root(i) for i in range(len(codes))], dtype=np.int64)
        return np.unique(roots, return_inverse=True)[1] if len(roots) else roots

    def solve(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Optimal pairs (child indices, candidate indices) among the given ones."""
        feasible = self._feasible(rows, cols)
        # Children and candidates without any feasible partner stay out of the matrix.
        row_ok, col_ok = feasible.any(axis=1), feasible.any(axis=0)
        if not row_ok.any():
            return rows[:0], cols[:0]
        if not row_ok.all() or not col_ok.all():
            rows, cols = rows[row_ok], cols[col_ok]
            feasible = feasible[np.ix_(row_ok, col_ok)]
        score = self._scores(rows, cols)
        caps = np.minimum(self.v_cap[cols], len(rows))
        if (caps > 1).any():
            slot = np.repeat(np.arange(len(cols)), caps)
            feasible, score, cols = feasible[:, slot], score[:, slot], cols[slot]
        pairs = min(feasible.shape)
        top = int(score.max(initial=0, where=feasible))
        big = top * pairs + 1
        if (big + top) * pairs >= _EXACT:
            raise ValueError("weights too large for an exact assignment")
        values = np.where(feasible, score + big, 0).astype(np.float64)
        r, c = linear_sum_assignment(values, maximize=True)
        keep = feasible[r, c]
        return rows[r[keep]], cols[c[keep]]

    def _feasible(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        settings = self.settings
        k_twp, v_twp = self.k_twp[rows], self.v_twp[cols]
        codes = np.unique(np.concatenate([k_twp, v_twp]))
        if len(codes) == 1:
            feasible = np.ones((len(rows), len(cols)), dtype=bool)
        else:
            names = [self.township_names[c] for c in codes]
            local = {name: i for i, name in enumerate(names)}
            adjacent = np.eye(len(codes), dtype=bool)
            for i, name in enumerate(names):
                for other in settings.neighbours.get(name, ()):
                    j = local.get(other)
                    if j is not None:
                        adjacent[i, j] = True
            a, b = np.searchsorted(codes, k_twp), np.searchsorted(codes, v_twp)
            feasible = adjacent[a[:, None], b[None, :]]
        if settings.gender_policy == "same_sex":
            feasible &= self.k_sex[rows][:, None] == self.v_sex[cols][None, :]
        return feasible

    def _scores(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        w = self.settings.weights
        k_need = self.k_need[rows]
        v_cov = self.v_cov[cols]
        score = _POPCOUNT[k_need[:, None] & v_cov[None, :]]
        if w["need_met"] != 1:
            score *= w["need_met"]
        if w["same_village"]:
            score += (self.k_vil[rows][:, None] == self.v_vil[cols][None, :]) * w["same_village"]
        if w["preferred_township"]:
            score += (self.k_twp[rows][:, None] == self.v_ptwp[cols][None, :]) * w[
                "preferred_township"
            ]
        if w["gender"]:
            score += (self.k_pref[rows][:, None] == self.v_sex[cols][None, :]) * w["gender"]
        return score

    def suggestions(self, k: np.ndarray, v: np.ndarray) -> list[Suggestion]:
        """Suggestions with their reasons for the chosen pairs only."""
        w = self.settings.weights
        kids, vols = self.kids, self.vols
        met = (self.k_need[k] & self.v_cov[v]).tolist()
        skill = self.v_skill[v].tolist()
        village = (
            (self.k_vil[k] == self.v_vil[v]).tolist() if w["same_village"] else [False] * len(k)
        )
        preferred = (
            (self.k_twp[k] == self.v_ptwp[v]).tolist()
            if w["preferred_township"]
            else [False] * len(k)
        )
        gender = (self.k_pref[k] == self.v_sex[v]).tolist() if w["gender"] else [False] * len(k)
        need_reasons: dict[tuple[int, int], tuple[Reason, ...]] = {}
        village_reason: dict[str, Reason] = {}
        township_reason: dict[str, Reason] = {}
        gender_reason: dict[str, Reason] = {}
        out = []
        for ki, vi, mt, sk, same_village, pref, gd in zip(
            k.tolist(), v.tolist(), met, skill, village, preferred, gender, strict=True
        ):
            child, candidate = kids[ki], vols[vi]
            reasons = need_reasons.get((mt, sk))
            if reasons is None:
                reasons = need_reasons[mt, sk] = _need_reasons(mt, sk, w["need_met"])
            if same_village:
                r = village_reason.get(child.village)
                if r is None:
                    r = village_reason[child.village] = Reason(
                        "same_village", w["same_village"], child.village
                    )
                reasons += (r,)
            if pref:
                r = township_reason.get(child.township)
                if r is None:
                    r = township_reason[child.township] = Reason(
                        "preferred_township", w["preferred_township"], child.township
                    )
                reasons += (r,)
            if gd:
                r = gender_reason.get(candidate.sex)
                if r is None:
                    r = gender_reason[candidate.sex] = Reason(
                        "gender_preference", w["gender"], candidate.sex
                    )
                reasons += (r,)
            out.append(Suggestion(child.id, candidate.id, sum(r.points for r in reasons), reasons))
        return out


def _need_reasons(met: int, skills: int, points: int) -> tuple[Reason, ...]:
    if not points:
        return ()
    reasons = []
    for i, need in enumerate(NEEDS):
        if met & (1 << i):
            used = [s for s in SKILLS if skills & _SKILL_BIT[s] & _NEED_COVER[i]]
            reasons.append(Reason(f"need_met:{need}", points, ",".join(used)))
    return tuple(reasons)


def _unique_ids(people: Iterable[ChildCase | Candidate], what: str) -> None:
    seen: set[Hashable] = set()
    for p in people:
        if p.id in seen:
            raise ValueError(f"{what} {p.id!r} is given twice")
        seen.add(p.id)


# Suggestions ------------------------------------------------------------------------------


def suggest(
    children: Sequence[ChildCase],
    candidates: Sequence[Candidate],
    settings: Settings = DEFAULT_SETTINGS,
    *,
    by_block: bool = True,
) -> Result:
    """Optimal suggestions: the most pairs, then the highest total score.

    by_block=False solves one global assignment over all children and candidates instead of
    one per block (same optimum, much slower): it exists to check the block decomposition.
    """
    _unique_ids(children, "child")
    _unique_ids(candidates, "candidate")
    people = _People(children, candidates, settings)
    n, m = len(people.kids), len(people.vols)
    chosen_k: list[np.ndarray] = []
    chosen_v: list[np.ndarray] = []
    blocks = 0
    if n and m and not by_block:
        blocks = 1
        r, c = people.solve(np.arange(n), np.arange(m))
        chosen_k.append(r)
        chosen_v.append(c)
    elif n and m:
        component = people.components()
        k_block, v_block = component[people.k_twp], component[people.v_twp]
        k_order = np.argsort(k_block, kind="stable")
        v_order = np.argsort(v_block, kind="stable")
        edges = np.arange(int(component.max()) + 2)
        k_edges = np.searchsorted(k_block[k_order], edges)
        v_edges = np.searchsorted(v_block[v_order], edges)
        for b in range(len(edges) - 1):
            rows = k_order[k_edges[b] : k_edges[b + 1]]
            cols = v_order[v_edges[b] : v_edges[b + 1]]
            if len(rows) and len(cols):
                blocks += 1
                r, c = people.solve(rows, cols)
                chosen_k.append(r)
                chosen_v.append(c)
    k = np.concatenate(chosen_k) if chosen_k else np.empty(0, np.int64)
    v = np.concatenate(chosen_v) if chosen_v else np.empty(0, np.int64)
    order = np.argsort(k, kind="stable")
    k, v = k[order], v[order]
    matched = np.zeros(n, dtype=bool)
    matched[k] = True
    unmatched = [people.kids[i].id for i in np.flatnonzero(~matched).tolist()]
    return Result(people.suggestions(k, v), unmatched, blocks)
