"""Human names of roles and offices, in the user's language."""

from flask_babel import lazy_gettext as _l

from portal.auth.models import Office, Role

ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.COUNTY_STAFF: _l("County office staff"),
    Role.TOWNSHIP_STAFF: _l("Township staff"),
    Role.CHARITY_STAFF: _l("Charity federation staff"),
    Role.CHARITY_APPROVER: _l("Charity federation approver"),
    Role.LECTURE_ORGANISER: _l("Lecture organiser"),
    Role.EDITOR: _l("Editor"),
    Role.REVIEWER: _l("Reviewer"),
    Role.VOLUNTEER: _l("Volunteer"),
}

OFFICE_LABELS = {
    Office.EDUCATION: _l("Education Bureau"),
    Office.CIVIL_AFFAIRS: _l("Civil Affairs Bureau"),
    Office.YOUTH_LEAGUE: _l("Communist Youth League county committee"),
    Office.WOMENS_FEDERATION: _l("Women's Federation"),
    Office.TOWNSHIP: _l("Township government"),
}


def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(Role(role), role))


def office_label(office: str | None) -> str:
    return str(OFFICE_LABELS.get(Office(office), office)) if office else ""
