"""Merge new messages into the zh_CN catalogue: `python scripts/translate.py NEW.py`.

NEW.py defines ZH = {msgid: translation} (plural msgids as (singular, plural) tuples with a
one-element tuple of translations). Messages already in the catalogue keep their translation;
the catalogue is rewritten sorted, so diffs stay small.
"""

import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "portal/translations/zh_Hans_CN/LC_MESSAGES/messages.po"


def main() -> int:
    new = runpy.run_path(sys.argv[1])["ZH"] if len(sys.argv) > 1 else {}
    with tempfile.TemporaryDirectory() as tmp:
        pot_path = Path(tmp) / "messages.pot"
        subprocess.run(
            [
                str(Path(sys.executable).parent / "pybabel"),
                "extract",
                "-F",
                "babel.cfg",
                "-k",
                "_l",
                "-k",
                "N_",
                "-k",
                "lazy_gettext",
                "--no-location",
                "--omit-header",
                "-o",
                str(pot_path),
                ".",
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        with pot_path.open("rb") as handle:
            pot = read_po(handle)
    with PO.open("rb") as handle:
        old = read_po(handle)
    catalog = Catalog(locale="zh_CN", project="portal", charset="utf-8", fuzzy=False)
    missing = []
    for message in pot:
        if not message.id:
            continue
        translation = new.get(message.id)
        if translation is None and message.id in old:
            translation = old[message.id].string
        if not translation or (isinstance(translation, tuple) and not all(translation)):
            missing.append(message.id)
            continue
        catalog.add(message.id, translation, flags=message.flags)
    with PO.open("wb") as handle:
        write_po(handle, catalog, width=100, sort_output=True, omit_header=False)
    for message_id in missing:
        print(f"missing: {message_id!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
