"""Volunteers and Party members (志愿者) declare their area: its pages and home-page card."""

from flask_babel import lazy_gettext as _l

from portal.core.registry import AreaSpec, Card, NavLink

AREA = AreaSpec(
    name="volunteers",
    order=30,
    blueprint="portal.volunteers.views:bp",
    nav=(NavLink("volunteers.index", _l("Volunteers"), order=30),),
    card=Card(
        endpoint="volunteers.index",
        title=_l("Volunteers"),
        summary=_l(
            "The county's policy pairs cadres, teachers, Party members and volunteers "
            "one-on-one with left-behind children. Signing up here is not online yet."
        ),
        audience=_l("For volunteers, Party members, teachers and village cadres."),
        policy_clause="三（九）",
        policy_text="要积极动员和组织乡镇(街道)、村(社区)干部、儿童福利督导员、教师职工、共产党员以及社会志愿者等与留守儿童“一对一帮扶”结对，有效开展帮扶。",
    ),
)
