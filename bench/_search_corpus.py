"""Synthetic portal articles and two-word queries for bench/search.py (deterministic).

The text is made of the programme's own words (留守儿童, 监护, 儿童之家, the 19 townships …)
mixed with the everyday words of county notices and news, joined into sentences with Chinese
punctuation. It is not real prose, but its words, their lengths and their neighbours are like
the portal's: long programme words that contain shorter ones (农村留守儿童 ⊃ 留守儿童), place
names the dictionary does not know, numbers with measure words.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

SEED = 20261129
KINDS = ("news", "notice", "policy", "law", "guide")
YEARS = tuple(range(2016, 2027))

TOWNSHIPS = [
    "西屏街道",
    "水南街道",
    "望松街道",
    "古市镇",
    "玉岩镇",
    "象溪镇",
    "大东坝镇",
    "新兴镇",
    "叶村乡",
    "斋坛乡",
    "三都乡",
    "竹源乡",
    "四都乡",
    "赤寿乡",
    "樟溪乡",
    "枫坪乡",
    "板桥畲族乡",
    "裕溪乡",
    "安民乡",
]

VILLAGES = [
    "杨家堂村",
    "界首村",
    "横坑村",
    "陈家铺村",
    "酉田村",
    "后畲村",
    "吴弄村",
    "石门圩村",
    "周岭根村",
    "平田村",
    "沿坑岭头村",
    "黄家大院村",
    "西坑村",
    "上田村",
    "南州村",
    "金村",
    "呈回村",
    "季回村",
]

ORGS = [
    "民政局",
    "妇联",
    "团县委",
    "关工委",
    "残联",
    "教育局",
    "公安局",
    "卫健局",
    "司法局",
    "人社局",
    "财政局",
    "慈善总会",
    "红十字会",
    "县委宣传部",
    "乡镇政府",
    "村委会",
    "居委会",
    "社区",
    "派出所",
    "卫生院",
    "中心小学",
    "实验小学",
    "职业高中",
    "幼儿园",
    "社会组织",
    "社工站",
    "志愿者协会",
    "法律援助中心",
    "未成年人保护中心",
]

PROGRAMME = [
    "留守儿童",
    "困境儿童",
    "农村留守儿童",
    "事实无人抚养儿童",
    "孤儿",
    "残疾儿童",
    "监护",
    "委托监护",
    "受委托监护人",
    "监护责任",
    "监护人",
    "慈善",
    "慈善基金",
    "冠名基金",
    "专项基金",
    "督导",
    "儿童督导员",
    "儿童福利督导员",
    "儿童主任",
    "帮扶",
    "结对帮扶",
    "一对一帮扶",
    "家长学校",
    "应急救助",
    "先行救助",
    "临时救助",
    "医疗救助",
    "儿童之家",
    "防溺水",
    "控辍保学",
    "网格员",
    "乡镇",
    "乡镇街道",
    "志愿者",
    "志愿服务",
    "隔代教育",
    "亲子沟通",
    "心理健康",
    "心理辅导",
    "安全教育",
    "法治教育",
    "强制报告",
    "联席会议",
    "在职党员",
    "双报到",
    "未成年人保护法",
    "家庭教育促进法",
    "反家庭暴力法",
    "基本生活费",
    "低保",
    "特困供养",
    "关爱服务",
    "关爱行动",
    "走访",
    "排查",
    "台账",
    "家访",
    "寒暑假",
    "课后服务",
    "营养餐",
    "助学金",
    "夏令营",
    "亲情电话",
    "视频通话",
    "防性侵",
    "防欺凌",
    "交通安全",
    "消防安全",
    "食品安全",
    "网络安全",
    "暑期托管",
    "留守妇女",
    "外出务工",
    "返乡创业",
    "家庭教育",
    "成长档案",
    "爱心妈妈",
    "代理家长",
    "心理咨询",
    "热线电话",
]

NOUNS = [
    "工作",
    "会议",
    "机制",
    "制度",
    "服务",
    "保障",
    "能力",
    "水平",
    "重点",
    "要求",
    "单位",
    "负责人",
    "同志",
    "群众",
    "社会",
    "力量",
    "资源",
    "资金",
    "项目",
    "活动",
    "培训",
    "宣传",
    "教育",
    "管理",
    "检查",
    "考核",
    "评估",
    "通知",
    "意见",
    "方案",
    "办法",
    "规定",
    "情况",
    "问题",
    "措施",
    "目标",
    "任务",
    "成效",
    "经验",
    "做法",
    "典型",
    "示范",
    "试点",
    "期间",
    "数据",
    "信息",
    "平台",
    "系统",
    "地址",
    "时间",
    "地点",
    "对象",
    "条件",
    "标准",
    "金额",
    "家庭",
    "孩子",
    "儿童",
    "青少年",
    "学生",
    "老师",
    "班主任",
    "家长",
    "父母",
    "祖父母",
    "爷爷",
    "奶奶",
    "学校",
    "课堂",
    "图书室",
    "阅览室",
    "操场",
    "水库",
    "池塘",
    "河道",
    "山塘",
    "公路",
    "村口",
    "礼堂",
    "物资",
    "书包",
    "文具",
    "衣物",
    "图书",
    "被褥",
    "慰问金",
    "爱心",
    "温暖",
    "陪伴",
    "成长",
    "健康",
    "安全",
    "快乐",
    "身心",
    "未来",
    "希望",
    "梦想",
    "困难",
    "需求",
    "生活",
    "学习",
    "作业",
    "兴趣",
    "特长",
    "习惯",
    "品德",
    "礼仪",
    "传统",
    "文化",
    "乡村",
    "山区",
    "农村",
    "县城",
    "城区",
    "家乡",
    "基层",
    "一线",
    "干部",
    "党员",
    "代表",
    "专家",
    "律师",
    "医生",
    "民警",
    "法官",
    "检察官",
    "队伍",
    "网络",
    "体系",
    "格局",
    "氛围",
    "合力",
    "责任",
    "义务",
    "权益",
    "利益",
    "隐私",
    "风险",
    "隐患",
    "事故",
    "案件",
    "线索",
    "名单",
    "档案",
    "表格",
    "材料",
    "证明",
    "报表",
    "经费",
    "补助",
    "补贴",
    "奖励",
    "荣誉",
    "称号",
    "证书",
    "成绩",
    "效果",
    "质量",
    "季节",
    "汛期",
    "夏季",
    "冬季",
    "春节",
    "国庆",
    "六一",
    "儿童节",
    "开学",
    "放学",
    "周末",
    "假期",
    "夜间",
    "上午",
    "下午",
]

VERBS = [
    "开展",
    "组织",
    "召开",
    "部署",
    "推进",
    "落实",
    "加强",
    "完善",
    "建立",
    "健全",
    "提升",
    "实施",
    "执行",
    "通过",
    "围绕",
    "按照",
    "根据",
    "结合",
    "针对",
    "确保",
    "参与",
    "支持",
    "配合",
    "协调",
    "沟通",
    "联系",
    "反馈",
    "报告",
    "统计",
    "申请",
    "审核",
    "审批",
    "发放",
    "领取",
    "慰问",
    "看望",
    "送去",
    "了解",
    "询问",
    "倾听",
    "鼓励",
    "帮助",
    "解决",
    "关心",
    "关注",
    "保护",
    "预防",
    "发现",
    "处置",
    "转介",
    "跟踪",
    "回访",
    "督促",
    "指导",
    "培养",
    "引导",
    "陪伴",
    "学习",
    "宣讲",
    "讲解",
    "演示",
    "演练",
    "巡查",
    "摸排",
    "登记",
    "更新",
    "核实",
    "公示",
    "公布",
    "印发",
    "出台",
    "修订",
    "制定",
    "研究",
    "讨论",
    "总结",
    "表彰",
    "交流",
    "分享",
    "签订",
    "签署",
    "捐赠",
    "募集",
    "筹集",
    "资助",
    "救助",
    "安置",
    "接送",
    "照料",
    "看护",
    "辅导",
    "授课",
    "培训",
    "考察",
    "调研",
]

ADJECTIVES = [
    "全面",
    "进一步",
    "积极",
    "认真",
    "深入",
    "扎实",
    "有效",
    "重要",
    "主要",
    "相关",
    "具体",
    "基本",
    "及时",
    "定期",
    "持续",
    "不断",
    "共同",
    "广泛",
    "充分",
    "切实",
    "规范",
    "科学",
    "精准",
    "长效",
    "常态化",
    "专业",
    "细致",
    "耐心",
    "温馨",
    "丰富",
    "多彩",
    "良好",
    "稳定",
    "明显",
    "突出",
    "显著",
    "严格",
    "合理",
    "必要",
    "紧急",
    "特殊",
    "困难",
    "贫困",
    "偏远",
    "独居",
]

CONNECTIVES = [
    "同时",
    "此外",
    "并且",
    "以及",
    "其中",
    "目前",
    "截至",
    "累计",
    "共计",
    "今年",
    "去年",
    "近年来",
    "上半年",
    "下半年",
    "下一步",
    "与此同时",
    "一方面",
    "另一方面",
    "总的来说",
    "据了解",
    "据悉",
    "值得一提的是",
    "为此",
    "因此",
    "但是",
    "然而",
    "如果",
    "只要",
    "为了",
    "由于",
    "随着",
    "在此基础上",
]

MEASURES = ("名", "户", "人次", "场次", "个", "所", "元", "万元", "次", "期", "天", "小时")
SINGLE = (
    "的",
    "了",
    "和",
    "与",
    "对",
    "在",
    "把",
    "将",
    "为",
    "向",
    "从",
    "等",
    "及",
    "并",
    "也",
    "都",
)

# Every word the generator may write (single characters excluded): the query pool.
VOCABULARY = sorted(
    set(
        ["松阳县"]
        + TOWNSHIPS
        + VILLAGES
        + ORGS
        + PROGRAMME
        + NOUNS
        + VERBS
        + ADJECTIVES
        + CONNECTIVES
    )
)
QUERY_WORDS = [w for w in VOCABULARY if len(w) >= 2]


SEP = "\x1f"  # between the words the generator writes; removed from the articles' text


def _j(*parts: str) -> str:
    return SEP.join(parts)


class _Writer:
    """Writes text with SEP between its words, so the words an article really holds are known."""

    def __init__(self, rng: random.Random, year: int):
        self.r = rng
        self.year = year

    def pick(self, words):
        return self.r.choice(words)

    def place(self) -> str:
        roll = self.r.random()
        if roll < 0.45:
            return self.pick(TOWNSHIPS)
        if roll < 0.7:
            return _j(self.pick(TOWNSHIPS), self.pick(VILLAGES))
        return "松阳县"

    def topic(self) -> str:
        """A noun phrase, most often about the programme."""
        roll = self.r.random()
        if roll < 0.55:
            return self.pick(PROGRAMME)
        if roll < 0.75:
            return _j(self.pick(PROGRAMME), self.pick(NOUNS))
        if roll < 0.9:
            return _j(self.pick(ADJECTIVES), self.pick(NOUNS))
        return self.pick(NOUNS)

    def number(self) -> str:
        return _j(str(self.r.randint(2, 980)), self.pick(MEASURES))

    def date(self) -> str:
        r = self.r
        return _j(str(self.year), "年", str(r.randint(1, 12)), "月", str(r.randint(1, 28)), "日")

    def clause(self) -> str:
        r, p = self.r, self.pick
        shape = r.randrange(9)
        if shape == 0:
            return _j(self.place(), p(ORGS), p(VERBS), self.topic())
        if shape == 1:
            return _j(p(ADJECTIVES), p(VERBS), self.topic(), p(NOUNS))
        if shape == 2:
            return _j(p(VERBS), self.topic(), self.number())
        if shape == 3:
            return _j(p(ORGS), p(SINGLE), self.topic(), p(VERBS), p(ADJECTIVES), p(NOUNS))
        if shape == 4:
            return _j(self.date(), p(VERBS), self.topic())
        if shape == 5:
            return _j(p(CONNECTIVES), self.place(), p(VERBS), self.topic())
        if shape == 6:
            return _j(p(NOUNS), p(SINGLE), p(NOUNS), p(VERBS), self.topic())
        if shape == 7:
            return _j("共", p(VERBS), self.topic(), self.number(), "，", p(VERBS), self.topic())
        return _j(p(ADJECTIVES), p(VERBS), p(PROGRAMME), p(SINGLE), p(NOUNS))

    def sentence(self) -> str:
        parts = [self.clause() for _ in range(self.r.randint(1, 3))]
        text = _j("", "，", "").join(parts)
        if self.r.random() < 0.08:
            text = _j("“", text, "”")
        return _j(text, self.r.choice("。。。。；！"))

    def paragraph(self) -> str:
        return SEP.join(self.sentence() for _ in range(self.r.randint(2, 5)))

    def body(self, length: int) -> str:
        paragraphs = []
        size = 0
        while size < length:
            paragraph = self.paragraph()
            paragraphs.append(paragraph)
            size += len(paragraph.replace(SEP, "")) + 1
        return _j("", "\n", "").join(paragraphs)

    def title(self, kind: str) -> str:
        r, p = self.r, self.pick
        topic = p(PROGRAMME)
        if kind == "news":
            return r.choice(
                (
                    _j(self.place(), p(VERBS), topic, p(NOUNS)),
                    _j(p(ORGS), p(VERBS), topic, p(ACTIVITIES)),
                    _j(p(TOWNSHIPS), "：", p(ADJECTIVES), p(VERBS), topic),
                )
            )
        if kind == "notice":
            return _j("关于", p(VERBS), str(self.year), "年", topic, p(NOUNS), "的", "通知")
        if kind == "policy":
            return _j("松阳县", topic, p(("实施办法", "工作方案", "管理办法", "实施意见")))
        if kind == "law":
            law = p(("未成年人保护法", "家庭教育促进法", "反家庭暴力法", "慈善法"))
            return _j("《", "中华人民共和国", law, "》", p(("解读", "全文", "问答", "宣传要点")))
        return _j(topic, p(("办事指南", "申请指南", "服务指南", "常见问题")))


ACTIVITIES = ("活动", "培训", "专题会议", "宣传周", "主题活动", "座谈会", "工作会议")


def articles(count: int, *, length: int = 800, seed: int = SEED) -> tuple[list[dict], list[set]]:
    """`count` articles (id, ver, kind, year, slug, title, summary, body, published: the fields of
    a portal.search Document), and for each the set of words it was written with (title and
    body). The summary is the body's opening, so title+body holds every indexed word."""
    rng = random.Random(seed)
    docs, words = [], []
    for n in range(1, count + 1):
        kind = rng.choice(KINDS)
        year = rng.choice(YEARS)
        writer = _Writer(rng, year)
        title = writer.title(kind)
        body = writer.body(rng.randint(length - 120, length + 120))
        published = datetime(year, 1, 1, 8) + timedelta(minutes=rng.randrange(360 * 24 * 60))
        words.append(set(title.split(SEP)) | set(body.split(SEP)))
        title, body = title.replace(SEP, ""), body.replace(SEP, "")
        docs.append(
            {
                "id": str(n),
                "ver": f"{n}:1",
                "kind": kind,
                "year": str(year),
                "slug": f"bench-{n}",
                "title": title,
                "summary": body.split("\n", 1)[0][:60],
                "body": body,
                "published": published,
            }
        )
    return docs, words


def queries(count: int, *, seed: int = SEED) -> list[str]:
    """`count` distinct two-word queries; the first word is a programme word or place half the
    time, the second any word of two or more characters; neither word contains the other."""
    rng = random.Random(seed + 1)
    leading = [w for w in ["松阳县"] + PROGRAMME + TOWNSHIPS + ORGS if len(w) >= 2]
    seen: dict[str, None] = {}
    while len(seen) < count:
        first = rng.choice(leading) if rng.random() < 0.5 else rng.choice(QUERY_WORDS)
        second = rng.choice(QUERY_WORDS)
        if first in second or second in first:
            continue
        seen.setdefault(f"{first} {second}", None)
    return list(seen)
