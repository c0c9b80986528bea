"""One-on-one pairing (一对一帮扶) declares its area: children, suggestions, pairings, visits."""

from flask_babel import lazy_gettext as _l

from portal.core.registry import AreaSpec, Queue

STAFF = frozenset({"township_staff", "county_staff", "admin"})

AREA = AreaSpec(
    name="pairing",
    order=35,
    blueprint="portal.pairing.views:bp",
    models="portal.pairing.models",
    jobs="portal.pairing.jobs",
    queues=(
        Queue(
            name="pairing.suggested",
            label=_l("Pairing suggestions to review"),
            roles=STAFF,
            count="portal.pairing.services:suggested_count",
            endpoint="pairing.index",
        ),
        Queue(
            name="pairing.visits",
            label=_l("Visits to confirm"),
            roles=STAFF,
            count="portal.pairing.visits:to_confirm_count",
            endpoint="pairing.visits",
        ),
        Queue(
            name="pairing.consent",
            label=_l("Pairings waiting for the guardian's consent"),
            roles=STAFF,
            count="portal.pairing.services:waiting_consent_count",
            endpoint="pairing.index",
        ),
    ),
    robots_disallow=("/pairing/",),
    demo="portal.pairing.demo:load",
)
