"""Areas plug in through their own area.py; the kernel imports no area."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from portal.core import registry
from portal.core.registry import AreaError, AreaSpec

AREA_PACKAGES = ("publicity", "volunteers", "parents_school", "charity")
KERNEL_MODULES = (
    "portal",
    "portal.security",
    "portal.scheduler",
    "portal.cache",
    "portal.cli",
    "portal.models",
    "portal.db",
    "portal.web",
    "portal.audit",
    "portal.core.registry",
    "portal.core.views",
    "portal.core.errors",
    "portal.core.workspace",
    "portal.core.scoping",
    "portal.auth.views",
    "portal.admin.views",
    "portal.notify.views",
    "portal.notify.jobs",
)


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_each_kernel_module_imported_alone_pulls_in_no_area(module):
    code = textwrap.dedent(
        f"""
        import importlib, sys
        importlib.import_module({module!r})
        areas = {AREA_PACKAGES!r}
        print(sorted(m for m in sys.modules if m.split(".")[1:2] and m.split(".")[1] in areas))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", f"{module} imports {result.stdout.strip()}"


def test_the_areas_are_found_in_their_order():
    assert [spec.name for spec in registry.discover()] == [
        "publicity",
        "parents_school",
        "volunteers",
        "pairing",
        "charity",
    ]


def test_the_factory_registers_each_areas_blueprint_and_the_layout_links_them(client):
    html = client.get("/").get_data(as_text=True)
    for path in ("/publicity/", "/parents-school/", "/volunteers/", "/charity/"):
        assert f'href="{path}"' in html
        assert client.get(path).status_code == 200


@pytest.fixture()
def plugin_package(tmp_path, monkeypatch):
    """A package like portal/ holding one new area, made of its folder only."""
    root = tmp_path / "fakeportal"
    area = root / "lending"
    area.mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (area / "__init__.py").write_text('"""Toy lending library (a test area)."""\n')
    (area / "views.py").write_text(
        textwrap.dedent(
            """
            from flask import Blueprint

            bp = Blueprint("lending", __name__, url_prefix="/lending")


            @bp.route("/")
            def index():
                return "lending"
            """
        )
    )
    (area / "jobs.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))

    def declare(**fields):
        spec = {"name": "lending", "blueprint": "fakeportal.lending.views:bp", **fields}
        args = ", ".join(f"{k}={v!r}" for k, v in spec.items())
        (area / "area.py").write_text(
            f"from portal.core.registry import AreaSpec\nAREA = AreaSpec({args})\n"
        )
        for name in list(sys.modules):
            if name.startswith("fakeportal"):
                del sys.modules[name]
        return registry.discover("fakeportal")

    return declare


def test_a_new_area_is_found_from_its_folder_alone(plugin_package):
    (spec,) = plugin_package(jobs="fakeportal.lending.jobs", robots_disallow=("/lending/admin",))
    assert isinstance(spec, AreaSpec) and spec.name == "lending"
    assert registry.resolve(spec.blueprint).name == "lending"


def test_a_misspelt_jobs_module_is_an_error_at_start(plugin_package):
    with pytest.raises(AreaError, match="fakeportal.lending.jobz"):
        plugin_package(jobs="fakeportal.lending.jobz")


def test_a_misspelt_blueprint_module_is_an_error_at_start(plugin_package):
    with pytest.raises(AreaError, match="fakeportal.lending.veiws"):
        plugin_package(blueprint="fakeportal.lending.veiws:bp")


def test_a_missing_attribute_is_an_error_when_resolved():
    with pytest.raises(AreaError, match="has no 'nothing'"):
        registry.resolve("portal.publicity.views:nothing")


def test_the_scheduler_loads_every_declared_jobs_module():
    from portal.scheduler import job_modules, load_jobs

    modules = job_modules()
    assert modules[:2] == ["portal.notify.jobs", "portal.search.jobs"]
    assert "portal.publicity.jobs" in modules
    assert {"notify.deliver", "search.catch_up", "publicity.timed"} <= set(load_jobs())


def test_robots_and_the_sitemap_read_the_areas_declarations(client):
    robots = client.get("/robots.txt").get_data(as_text=True)
    assert "Disallow: /admin/" in robots  # the kernel's
    assert "Disallow: /publicity/manage/" in robots  # publicity's declaration
    sitemap = client.get("/sitemap.xml").get_data(as_text=True)
    assert "/publicity/</loc>" in sitemap


def test_area_cli_groups_are_added_from_the_declarations(app):
    assert "content" in app.cli.commands  # declared by publicity
    assert {"portal", "scheduler", "search"} <= set(app.cli.commands)
