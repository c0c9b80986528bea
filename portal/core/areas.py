"""The four service areas as the header and home page present them."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Area:
    endpoint: str
    title: LazyString
    summary: LazyString
    audience: LazyString
    policy_clause: str
    policy_text: str


AREAS: tuple[Area, ...] = (
    Area(
        endpoint="publicity.index",
        title=_l("Policy and news"),
        summary=_l(
            "Policies, laws, news and typical cases on the care and protection of "
            "left-behind children, published by the county."
        ),
        audience=_l("For everyone: parents working away, guardians, teachers and neighbours."),
        policy_clause="四（三）",
        policy_text="加大宣传力度，营造全社会关爱留守儿童的良好氛围。",
    ),
    Area(
        endpoint="parents_school.index",
        title=_l("Parents' school"),
        summary=_l(
            "Lectures for parents, grandparents and other guardians on raising children, "
            "safety, health and the law, held in villages, schools and children's homes."
        ),
        audience=_l("For parents, grandparents and entrusted guardians."),
        policy_clause="三（十）",
        policy_text="教育、民政、团县委、妇联等部门和乡镇(街道)应当每年聘请专家、学者向家长及委托监护人开讲座。",
    ),
    Area(
        endpoint="volunteers.index",
        title=_l("Volunteers"),
        summary=_l(
            "Volunteers and Party members are vetted and paired one-on-one with a "
            "left-behind child by township staff, visit the child and record their service."
        ),
        audience=_l("For volunteers, Party members, teachers and village cadres."),
        policy_clause="三（九）",
        policy_text="要积极动员和组织乡镇(街道)、村(社区)干部、儿童福利督导员、教师职工、共产党员以及社会志愿者等与留守儿童“一对一帮扶”结对，有效开展帮扶。",
    ),
    Area(
        endpoint="charity.index",
        title=_l("Emergency aid"),
        summary=_l(
            "The county charity federation's emergency fund helps a left-behind child "
            "quickly when something serious happens; what it spends is made public."
        ),
        audience=_l("For guardians, village child directors and charity staff."),
        policy_clause="三（十一）",
        policy_text="慈善组织可通过专项基金、小额冠名基金等形式，探索开展留守儿童应急救助制度，在留守儿童遇到急难情况或突发意外时给予及时的关爱帮助。",
    ),
)

HOTLINES = (
    ("110", _l("Police: a child in danger, missing or living alone")),
    ("120", _l("Medical emergency")),
    ("12355", _l("Youth service and protection line")),
    ("12338", _l("Women's and children's rights line")),
    ("12345", _l("Government service line")),
)


def area(endpoint: str) -> Area:
    return next(a for a in AREAS if a.endpoint == endpoint)
