"""The 19 townships (乡镇街道) of Songyang County, county code 331124."""

from __future__ import annotations

from sqlmodel import Field, Session, SQLModel, select

COUNTY_CODE = "331124"

# (code, name, pinyin): national statistical division codes; the gaps 207, 209, 210 are real.
TOWNSHIPS: tuple[tuple[str, str, str], ...] = (
    ("331124001", "西屏街道", "Xiping"),
    ("331124002", "水南街道", "Shuinan"),
    ("331124003", "望松街道", "Wangsong"),
    ("331124101", "古市镇", "Gushi"),
    ("331124102", "玉岩镇", "Yuyan"),
    ("331124103", "象溪镇", "Xiangxi"),
    ("331124104", "大东坝镇", "Dadongba"),
    ("331124105", "新兴镇", "Xinxing"),
    ("331124201", "叶村乡", "Yecun"),
    ("331124202", "斋坛乡", "Zhaitan"),
    ("331124203", "三都乡", "Sandu"),
    ("331124204", "竹源乡", "Zhuyuan"),
    ("331124205", "四都乡", "Sidu"),
    ("331124206", "赤寿乡", "Chishou"),
    ("331124208", "樟溪乡", "Zhangxi"),
    ("331124211", "枫坪乡", "Fengping"),
    ("331124212", "板桥畲族乡", "Banqiao (She ethnic)"),
    ("331124213", "裕溪乡", "Yuxi"),
    ("331124214", "安民乡", "Anmin"),
)


class Township(SQLModel, table=True):
    """Township or sub-district (乡镇街道)."""

    code: str = Field(primary_key=True, min_length=9, max_length=9)
    name: str = Field(max_length=20, unique=True)
    pinyin: str = Field(max_length=40)

    def display_name(self, locale: str) -> str:
        return self.name if locale.startswith("zh") else self.pinyin


def load_townships(session: Session) -> int:
    """Insert or update the 19 townships; return how many rows changed."""
    existing = {t.code: t for t in session.exec(select(Township))}
    changed = 0
    for code, name, pinyin in TOWNSHIPS:
        row = existing.get(code)
        if row is None:
            session.add(Township(code=code, name=name, pinyin=pinyin))
            changed += 1
        elif (row.name, row.pinyin) != (name, pinyin):
            row.name, row.pinyin = name, pinyin
            changed += 1
    session.flush()
    return changed


def township_choices(session: Session) -> list[tuple[str, str]]:
    """(code, name) pairs in code order, for forms."""
    rows = session.exec(select(Township).order_by(Township.code))
    return [(t.code, t.name) for t in rows]
