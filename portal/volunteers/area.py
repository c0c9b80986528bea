"""Volunteers and Party members (志愿者) declare their area: sign-up, vetting, hours."""

from flask_babel import lazy_gettext as _l

from portal.core.registry import AreaSpec, Card, NavLink, Queue

STAFF = frozenset({"township_staff", "county_staff", "admin"})

AREA = AreaSpec(
    name="volunteers",
    order=30,
    blueprint="portal.volunteers.views:bp",
    models="portal.volunteers.models",
    jobs="portal.volunteers.jobs",
    nav=(NavLink("volunteers.index", _l("Volunteers"), order=30),),
    card=Card(
        endpoint="volunteers.index",
        title=_l("Volunteers"),
        summary=_l(
            "The county's policy pairs cadres, teachers, Party members and volunteers "
            "one-on-one with left-behind children. Sign up here, upload your no-criminal-record "
            "certificate, and township staff vet you."
        ),
        audience=_l("For volunteers, Party members, teachers and village cadres."),
        policy_clause="三（九）",
        policy_text="要积极动员和组织乡镇(街道)、村(社区)干部、儿童福利督导员、教师职工、共产党员以及社会志愿者等与留守儿童“一对一帮扶”结对，有效开展帮扶。",
    ),
    queues=(
        Queue(
            name="volunteers.waiting",
            label=_l("Volunteers waiting for verification"),
            roles=STAFF,
            count="portal.volunteers.services:waiting_count",
            endpoint="volunteers.staff_list",
            hint=_l("Certificates uploaded and profiles changed in your townships."),
        ),
        Queue(
            name="volunteers.training",
            label=_l("Verified volunteers without recorded training"),
            roles=STAFF,
            count="portal.volunteers.services:training_count",
            endpoint="volunteers.staff_list",
        ),
        Queue(
            name="volunteers.expiring",
            label=_l("Volunteer checks expiring within 30 days or expired"),
            roles=STAFF,
            count="portal.volunteers.services:expiring_count",
            endpoint="volunteers.staff_list",
        ),
    ),
    robots_disallow=("/volunteers/me", "/volunteers/staff/"),
    sitemap="portal.volunteers.views:sitemap_entries",
    site_map="portal.volunteers.views:site_map_sections",
    demo="portal.volunteers.demo:load",
)
