"""The registry of areas: each area declares itself once, in its own `area.py`.

An area is a package under `portal/` holding an `area.py` that defines `AREA = AreaSpec(...)`.
The factory, Alembic, the scheduler, the CLI, the layout, the home page, the sitemap, robots.txt,
the staff workspace and search read the declarations found here; the kernel never imports an
area by name. Parts of a declaration are dotted paths ("package.module:attribute") resolved
when they are needed, so declaring an area costs nothing at import time.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# Packages of the kernel; every other package under portal/ with an area.py is an area.
KERNEL_PACKAGES = frozenset({"admin", "auth", "core", "notify", "search"})
# Modules of the kernel that hold tables (Alembic and the test schema load them with the areas').
KERNEL_MODEL_MODULES = (
    "portal.audit",
    "portal.auth.models",
    "portal.notify.models",
    "portal.places",
    "portal.core.models",
)


class AreaError(RuntimeError):
    """An area's declaration names something that does not exist."""


@dataclass(frozen=True)
class NavLink:
    """A link in the layout's main navigation."""

    endpoint: str
    title: Any  # a lazy string
    order: int = 50


@dataclass(frozen=True)
class Card:
    """The area as the home page presents it, with the policy clause it serves."""

    endpoint: str
    title: Any
    summary: Any
    audience: Any
    policy_clause: str
    policy_text: str


@dataclass(frozen=True)
class Queue:
    """A staff-workspace entry (工作台): what waits, for which roles, and where to act on it.

    `count` is "module:function" taking (session, user) and returning an int; only the queues
    for the user's role are counted.
    """

    name: str
    label: Any
    roles: frozenset[str]
    count: str
    endpoint: str
    hint: Any = ""


@dataclass(frozen=True)
class SitemapEntry:
    path: str
    lastmod: datetime | None = None


@dataclass(frozen=True)
class SiteMapSection:
    """A part of the site map page for people (/sitemap): a heading and its links."""

    title: Any
    url: str | None = None
    links: tuple[tuple[Any, str], ...] = ()  # (title, path)
    # The link titles are texts people wrote in Chinese (marked lang="zh-CN" on English pages).
    content: bool = False


@dataclass(frozen=True)
class AreaSpec:
    """One area's declaration."""

    name: str
    blueprint: str
    models: str | None = None
    jobs: str | None = None
    cli: tuple[str, ...] = ()
    nav: tuple[NavLink, ...] = ()
    card: Card | None = None
    queues: tuple[Queue, ...] = ()
    search_sources: tuple[str, ...] = ()
    robots_disallow: tuple[str, ...] = ()
    # "module:function" taking a session, yielding SitemapEntry rows of public pages.
    sitemap: str | None = None
    # "module:function" taking a session and returning SiteMapSection rows (the /sitemap page).
    site_map: str | None = None
    # "module:function" taking a session and returning HTML for the home page (a block).
    home: str | None = None
    # "module:function" taking a session and returning lines to print (demo data it added).
    demo: str | None = None
    order: int = 50
    extra: dict[str, Any] = field(default_factory=dict)


def resolve(path: str) -> Any:
    """Import "package.module:attribute" (or a module when there is no colon)."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise AreaError(f"{path!r}: no module {error.name!r}") from error
    if not attribute:
        return module
    try:
        return getattr(module, attribute)
    except AttributeError as error:
        raise AreaError(f"{path!r}: {module_name} has no {attribute!r}") from error


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def check(spec: AreaSpec) -> None:
    """Fail at start when a declared module is missing (a misspelt jobs module, say)."""
    paths = [spec.blueprint, *(spec.cli), *spec.search_sources]
    paths += [q.count for q in spec.queues]
    paths += [
        p for p in (spec.models, spec.jobs, spec.sitemap, spec.site_map, spec.home, spec.demo) if p
    ]
    for path in paths:
        module_name = path.partition(":")[0]
        if not _module_exists(module_name):
            raise AreaError(
                f"area {spec.name!r} declares {path!r}, but {module_name} does not exist"
            )


def discover(package: str = "portal") -> tuple[AreaSpec, ...]:
    """Every area under `package`, in their declared order."""
    root = importlib.import_module(package)
    found: list[AreaSpec] = []
    for info in pkgutil.iter_modules(root.__path__):
        if not info.ispkg or info.name in KERNEL_PACKAGES:
            continue
        if not (Path(info.module_finder.path) / info.name / "area.py").exists():
            continue
        module = importlib.import_module(f"{package}.{info.name}.area")
        spec = getattr(module, "AREA", None)
        if not isinstance(spec, AreaSpec):
            raise AreaError(f"{package}.{info.name}.area defines no AREA = AreaSpec(...)")
        check(spec)
        found.append(spec)
    names = [s.name for s in found]
    if len(names) != len(set(names)):
        raise AreaError(f"two areas share a name: {sorted(names)}")
    return tuple(sorted(found, key=lambda s: (s.order, s.name)))


_AREAS: tuple[AreaSpec, ...] | None = None


def areas() -> tuple[AreaSpec, ...]:
    """The portal's areas (discovered once per process)."""
    global _AREAS
    if _AREAS is None:
        _AREAS = discover()
    return _AREAS


def area(name: str) -> AreaSpec:
    for spec in areas():
        if spec.name == name:
            return spec
    raise KeyError(name)


def load_models() -> None:
    """Import every module that defines tables, so SQLModel.metadata is complete."""
    for module in KERNEL_MODEL_MODULES:
        importlib.import_module(module)
    for spec in areas():
        if spec.models:
            resolve(spec.models)


def nav_links() -> list[NavLink]:
    return sorted((link for s in areas() for link in s.nav), key=lambda link: link.order)


def cards() -> list[Card]:
    return [s.card for s in areas() if s.card is not None]


def queues() -> list[Queue]:
    return [q for s in areas() for q in s.queues]


def robots_disallow() -> list[str]:
    return [path for s in areas() for path in s.robots_disallow]


def sitemap_entries(session) -> Iterable[SitemapEntry]:
    for spec in areas():
        if spec.sitemap:
            yield from resolve(spec.sitemap)(session)


def site_map_sections(session) -> list[SiteMapSection]:
    return [section for s in areas() if s.site_map for section in resolve(s.site_map)(session)]


def search_sources() -> list[Any]:
    return [resolve(path) for s in areas() for path in s.search_sources]


def home_blocks() -> list[Callable]:
    return [resolve(s.home) for s in areas() if s.home]


def job_modules() -> list[str]:
    return [s.jobs for s in areas() if s.jobs]


def cli_groups() -> list[Any]:
    return [resolve(path) for s in areas() for path in s.cli]


def demo_loaders() -> list[tuple[str, Callable]]:
    return [(s.name, resolve(s.demo)) for s in areas() if s.demo]
