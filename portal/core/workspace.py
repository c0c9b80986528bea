"""The staff workspace (工作台): for each role, what waits and where to act on it.

The kernel's own queues are listed here; each area adds its queues in its declaration
(`AreaSpec.queues`), so a new area's work appears here without touching this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request, url_for
from flask_babel import lazy_gettext as _l
from sqlmodel import Session

from portal.auth.models import STAFF_ROLES, User
from portal.core import registry
from portal.core.registry import Queue
from portal.i18n import current_language
from portal.web import app_memo

KERNEL_QUEUES = (
    Queue(
        name="notify.failed",
        label=_l("Messages that could not be sent"),
        roles=frozenset({"admin"}),
        count="portal.notify.services:failed_count",
        endpoint="admin.outbox",
        hint=_l("Retry them or cancel them in the outbox."),
    ),
    Queue(
        name="auth.accounts",
        label=_l("Accounts never logged in"),
        roles=frozenset({"admin"}),
        count="portal.auth.services:pending_setup_count",
        endpoint="admin.users",
        hint=_l("Their holders have not yet set a password with their link and logged in."),
    ),
    Queue(
        name="notify.unread",
        label=_l("Unread messages"),
        roles=frozenset(str(role) for role in STAFF_ROLES),
        count="portal.notify.services:unread_count_for",
        endpoint="notify.inbox",
    ),
)


@dataclass(frozen=True)
class WorkspaceEntry:
    name: str
    label: str
    count: int
    url: str
    hint: str


def queues_for(user: User) -> list[Queue]:
    """The queues this user's role sees: the kernel's, then each area's."""
    role = str(user.role)
    return [q for q in (*KERNEL_QUEUES, *registry.queues()) if role in q.roles]


def entries(session: Session, user: User) -> list[WorkspaceEntry]:
    """Each queue for this user with its count (needs a request context for the links)."""
    found = []
    for queue in queues_for(user):
        count = int(registry.resolve(queue.count)(session, user))
        found.append(
            WorkspaceEntry(
                name=queue.name,
                label=str(queue.label),
                count=count,
                url=url_for(queue.endpoint),
                hint=str(queue.hint) if queue.hint else "",
            )
        )
    return found


@dataclass(frozen=True)
class HeaderLink:
    label: str
    url: str


# Administration pages linked from the header, and the roles that may open them.
ADMIN_LINKS = (
    ("admin.users", _l("Accounts"), frozenset({"admin"})),
    ("admin.outbox", _l("Outbox"), frozenset({"admin"})),
)


def header_links(user: User) -> tuple[HeaderLink, ...]:
    """The header's links to pages only some roles may open (the template compares no roles).

    The same for every user of a role, language and script root: built once per application.
    """
    if not user.is_authenticated:
        return ()
    role = str(user.role)
    return app_memo(
        "portal_header_links",
        (role, current_language(), request.script_root),
        lambda: tuple(
            HeaderLink(str(label), url_for(ep)) for ep, label, roles in ADMIN_LINKS if role in roles
        ),
    )
