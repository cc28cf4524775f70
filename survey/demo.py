"""The demo campaign: 2026年度市直机关作风评议, realistic and in Chinese, with
ballots already in and a few personal links left unused to try."""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from survey.ballots.questionnaire import AnswerMap
from survey.ballots.submission import NewBallot, write_ballot
from survey.clock import utcnow
from survey.extensions import db
from survey.models import (
    Batch,
    Campaign,
    CampaignCategory,
    CampaignGroup,
    CampaignUnit,
    Category,
    Evaluator,
    EvaluatorGroup,
    FieldSession,
    Invitation,
    Item,
    MarginTarget,
    MarginVariable,
    ObjectiveScore,
    OutcomeSettings,
    ScaleOption,
    SessionBatch,
    SessionUnit,
    Unit,
    User,
)
from survey.tokens import hash_receipt, hash_token, new_receipt, new_token

CODE = "2026"
NAME = "2026年度市直机关作风评议"

CATEGORIES = [  # code, label, English label, units
    ("law", "行政执法类", "Administrative law enforcement", ["市公安局", "市市场监督管理局", "市生态环境局", "市城市管理局",
                           "市交通运输局", "市应急管理局", "市税务局", "市自然资源和规划局"]),
    ("admin", "综合管理类", "General administration", ["市发展和改革委员会", "市财政局", "市人力资源和社会保障局", "市住房和城乡建设局",
                             "市商务局", "市统计局", "市审计局", "市机关事务管理局"]),
    ("service", "社会服务类", "Public services", ["市教育局", "市卫生健康委员会", "市民政局", "市医疗保障局",
                               "市政务服务数据管理局", "市文化广电旅游局", "市退役军人事务局", "市供电公司"]),
]
GROUPS: list[tuple[str, str, float, list[tuple[str, str, int | None]]]] = [  # code, label, weight, batches
    ("deputy", "人大代表与政协委员", 0.25, [("deputy-email", "email", 60)]),
    ("enterprise", "企业代表", 0.2, [("enterprise-email", "email", 70)]),
    ("grassroots", "基层单位代表", 0.15, [("grassroots-paper", "paper", 60)]),
    ("client", "服务对象", 0.3, [("client-paper", "paper", 80), ("client-public", "public", None)]),
    ("cadre", "机关干部", 0.1, [("cadre-email", "email", 40)]),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强海燕红梅玉兰晓东春梅立新德明文博子涵雨轩浩然"
COMMENTS = [
    "窗口工作人员态度很好，办事效率高。",
    "希望进一步简化审批材料，减少跑腿次数。",
    "网上办事系统有时打不开，建议优化。",
    "执法时能够做到文明规范，值得肯定。",
    "电话咨询经常无人接听，希望改进。",
    "政策宣传不够到位，企业了解渠道少。",
    "办事指南与实际要求不一致，请统一口径。",
]
DISTRICTS = ["东城区", "西城区", "南湖区", "北山区"]
#: The demo's raked group (anonymous raking, issue #12): 服务对象 are asked their
#: district on every form (web, paper, the public channel) and weighted to the
#: districts' shares of the population; the districts of those who answered lean
#: towards the centre, so the raked weights differ from the unraked ones.
RAKED_GROUP = "client"
RAKED_VARIABLE = "区域"
DISTRICT_SHARES = {"东城区": 0.31, "西城区": 0.27, "南湖区": 0.24, "北山区": 0.18}
DISTRICT_ANSWERS = {"东城区": 0.42, "西城区": 0.31, "南湖区": 0.17, "北山区": 0.10}


#: Demo accounts only: a real deployment creates its own with `flask user create`.
DEMO_PASSWORD = "pingyi-demo"
DEMO_USERS = [("admin", "系统管理员", "admin", None), ("organizer", "评议办 李明", "organizer", None),
              ("committee", "领导小组 王强", "committee", None),
              ("liaison", "市公安局联络员 张华", "liaison", "u01"), ("auditor", "审计 赵敏", "auditor", None),
              ("clerk", "录入员 孙丽", "clerk", None), ("handler", "督查投诉 周洁", "handler", None),
              ("assessor", "安监局考核科 吴刚", "assessor", None)]
#: The demo's assessing department scores this component (专项考核).
DEMO_ASSESSOR_COMPONENT = "safety"


@dataclass(frozen=True)
class DemoLink:
    group: str
    batch: str
    token: str


def create_demo(*, seed: int = 2026, links_per_batch: int = 3) -> tuple[Campaign, list[DemoLink]]:
    """Create the demo campaign; returns it and some unused personal links.

    Tokens are stored only as hashes, so the links can be shown only now.
    """
    if db.session.scalar(select(Campaign.id).where(Campaign.code == CODE)) is not None:
        raise ValueError(f"演示活动 {CODE} 已存在")
    rng = random.Random(seed)
    now = utcnow()
    campaign = Campaign(code=CODE, name=NAME, year=2026, anonymous=True, is_demo=True, status="open",
                        return_target=0.9, opens_at=now - dt.timedelta(days=14),
                        closes_at=now + dt.timedelta(days=30),
                        rules={"ballot_share": 0.7, "objective_components": {"work": 0.3},
                               "bottom": {"n": 1, "below": 75}})
    campaign.scale = [
        ScaleOption(position=0, code="S", label="满意", label_en="Satisfied", points=100),
        ScaleOption(position=1, code="B", label="基本满意", label_en="Basically satisfied", points=70),
        ScaleOption(position=2, code="D", label="不满意", label_en="Dissatisfied", points=0),
        ScaleOption(position=3, code="U", label="不了解", label_en="Don't know", points=None),
    ]
    campaign.items = [Item(position=0, code="overall", label="总体评价", label_en="Overall", weight=1.0)]
    db.session.add(campaign)

    units: list[CampaignUnit] = []
    for ci, (ccode, clabel, clabel_en, names) in enumerate(CATEGORIES):
        category = _org(Category, ccode, label=clabel)
        cc = CampaignCategory(position=ci, category=category, label=clabel, label_en=clabel_en)
        campaign.categories.append(cc)
        for name in names:
            code = f"u{len(units) + 1:02d}"
            cu = CampaignUnit(position=len(units), unit=_org(Unit, code, name=name), name=name, category=cc)
            campaign.units.append(cu)
            units.append(cu)
    quality = {cu.code: rng.uniform(0.5, 0.93) for cu in units}

    links: list[DemoLink] = []
    serial = 0
    # The raked group's answers come from a generator of their own, so the
    # other ballots are the ones the demo always had.
    districts = random.Random(seed + 1)
    for gi, (gcode, glabel, weight, batch_specs) in enumerate(GROUPS):
        group = _org(EvaluatorGroup, gcode, label=glabel)
        cg = CampaignGroup(position=gi, group=group, label=glabel, weight=weight,
                           quota=sum(n or 0 for _, _, n in batch_specs) or None)
        campaign.groups.append(cg)
        if gcode == RAKED_GROUP:
            cg.margin_variables = [MarginVariable(
                position=0, variable=RAKED_VARIABLE, label="您居住或工作在哪个区？",
                label_en="Which district do you live or work in?", source="市统计年鉴 2025（常住人口）",
                supply="question")]
            cg.margins = [MarginTarget(variable_position=0, variable=RAKED_VARIABLE, position=k, category=name,
                                       proportion=share) for k, (name, share) in enumerate(DISTRICT_SHARES.items())]
        bias = rng.uniform(-0.06, 0.06)
        for bcode, channel, count in batch_specs:
            batch = Batch(position=len(campaign.batches), code=bcode, group=cg, channel=channel, issued=count)
            campaign.batches.append(batch)
            db.session.flush()
            if count is None:  # the public channel: ballots without invitations
                for _ in range(45):
                    _ballot(rng, campaign, batch, units, quality, bias, now,
                            source=f"36.112.{rng.randint(1, 40)}.{rng.randint(2, 250)}",
                            attributes=_answered(districts, gcode))
                continue
            for k in range(count):
                token = new_token()
                evaluator = None
                if channel != "paper":
                    evaluator = Evaluator(group=group, name=_name(rng), phone=_phone(rng),
                                          email=f"pingyi.demo{serial + k}@example.cn",
                                          organisation=None,
                                          attributes={"district": rng.choice(DISTRICTS)})
                    db.session.add(evaluator)
                inv = Invitation(campaign_id=campaign.id, batch=batch, evaluator=evaluator,
                                 token_hash=hash_token(token),
                                 serial=f"P{CODE}-{serial + k + 1:05d}" if channel == "paper" else None)
                db.session.add(inv)
                # About three in four forms have come back.
                if rng.random() < 0.76:
                    inv.used = True
                    _ballot(rng, campaign, batch, units, quality, bias, now, source=None,
                            attributes=_answered(districts, gcode))
                elif channel != "paper" and sum(lk.batch == bcode for lk in links) < links_per_batch:
                    links.append(DemoLink(glabel, bcode, token))
            serial += count
    # A 现场测评 session held with the 基层单位代表's numbered paper forms (docs/sessions.md).
    grassroots = next(b for b in campaign.batches if b.code == "grassroots-paper")
    db.session.add(FieldSession(
        campaign_id=campaign.id, position=1, code="jm1", name="基层单位代表专场", place="市政府第一会议室",
        starts_at=now - dt.timedelta(days=10), announce=True,
        units=[SessionUnit(campaign_unit=cu, position=k) for k, cu in enumerate(units)],
        batches=[SessionBatch(batch=grassroots, position=0, expected=grassroots.issued or 0)]))
    for cu in units:
        db.session.add(ObjectiveScore(campaign_unit=cu, position=cu.position, component="work",
                                      score=round(70 + 28 * quality[cu.code] + rng.uniform(-3, 3), 1)))
    # The demo is open: its results are shown as 中间结果 (sealed until 截止 otherwise).
    db.session.add(OutcomeSettings(campaign_id=campaign.id, min_group_ballots=5, public=True, consequences={},
                                   interim_results=True))
    db.session.flush()
    _demo_register(units)
    return campaign, links


def _demo_register(units: list[CampaignUnit]) -> None:
    """A case in the supervision register (督查登记), accepted, for the handler's
    pages and the API's example (DC2026-00001); it deducts nothing from the demo's results."""
    from survey.register import services

    case = services.register_case(None, kind="complaint", source="12345 热线 工单 2026-0310-017",
                                  occurred_on=dt.date(2026, 3, 10), unit=units[1].unit,
                                  summary="办事窗口要求重复提交材料，往返三次才办结。")
    services.accept(case)
    _demo_opinion(units)


def _demo_opinion(units: list[CampaignUnit]) -> None:
    """An opinion from a 座谈会 (群众意见), handed to a unit, for the pages and the API's
    example (YJ2026-00001); its lookup code is not kept (a handler may issue a new one)."""
    from survey.clock import today
    from survey.opinions import services

    day = dt.date(2026, 3, 12)
    opinion, _code = services.new_opinion(None, source="forum", source_detail="东区社区群众座谈会", raised_on=day,
                                          unit=units[1].unit, summary="办事大厅午休时段无人值守，群众需等候。",
                                          today=max(day, today()))
    services.assign(opinion, max(day, today()) + dt.timedelta(days=14), max(day, today()))


def create_demo_users() -> list[tuple[str, str]]:
    """The demo's staff accounts (one per role), unless they exist already."""
    made = []
    for username, name, role, unit_code in DEMO_USERS:
        if db.session.scalar(select(User.id).where(User.username == username)) is not None:
            continue
        unit = db.session.scalar(select(Unit).where(Unit.code == unit_code)) if unit_code else None
        user = User(username=username, display_name=name, role=role, unit=unit,
                    component=DEMO_ASSESSOR_COMPONENT if role == "assessor" else None)
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
        made.append((username, role))
    db.session.flush()
    return made


def _answered(districts: random.Random, group_code: str) -> dict[str, str] | None:
    """The margin question's answer on a ballot of the raked group (none elsewhere)."""
    if group_code != RAKED_GROUP:
        return None
    return {RAKED_VARIABLE: districts.choices(list(DISTRICT_ANSWERS), list(DISTRICT_ANSWERS.values()))[0]}


def _org(model: type[Any], code: str, **fields: Any) -> Any:
    record = db.session.scalar(select(model).where(model.code == code))
    if record is None:
        record = model(code=code, **fields)
        db.session.add(record)
    return record


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _phone(rng: random.Random) -> str:
    return "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9))


def _ballot(rng: random.Random, campaign: Campaign, batch: Batch, units: list[CampaignUnit],
            quality: dict[str, float], bias: float, now: dt.datetime, source: str | None,
            attributes: dict[str, str] | None = None) -> None:
    options = {o.code: o for o in campaign.scale}
    item = campaign.items[0]
    submitted = now - dt.timedelta(days=rng.uniform(0.5, 13.5))
    public_id = f"{rng.getrandbits(40):010x}"
    duration = round(rng.uniform(90, 900), 1)
    answers: AnswerMap = {}
    comments: dict[int, str] = {}
    for cu in units:
        r = rng.random()
        if r < 0.06:
            code = "U"
        else:
            q = min(0.98, max(0.05, quality[cu.code] + bias))
            r = rng.random()
            code = "S" if r < q else ("B" if r < q + (1 - q) * 0.7 else "D")
        answers[cu.id] = {item.id: options[code].id}
        if code in "BD" and rng.random() < 0.12:
            comments[cu.id] = rng.choice(COMMENTS)
    # The one ballot writer, as for every ballot taken.
    write_ballot(db.session.connection(), NewBallot(
        campaign.id, batch.id, answers, comments, hash_receipt(new_receipt()), duration, source,
        attributes=attributes, submitted_at=submitted.replace(microsecond=0), public_id=public_id))
