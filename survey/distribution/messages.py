"""The words of invitations and reminders: a campaign's own texts (or the
defaults) with a fixed list of placeholders, replaced as plain text.

A text is never rendered as a template: ``{姓名}`` and the other names of
PLACEHOLDERS are replaced by their values and nothing else is interpreted,
so whatever the organizer or a roster file wrote reaches the evaluator as
it was written. The HTML part of an e-mail escapes the whole text first.
A line whose placeholders are all empty (no deadline, a named campaign's
anonymity note) is left out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import select

from survey.errors import UserError
from survey.extensions import db
from survey.models import Batch, Campaign, Evaluator, MessageTemplate

#: Placeholders and what each stands for (shown beside the form).
PLACEHOLDERS: dict[str, str] = {
    "姓名": "评议代表的姓名",
    "评议活动": "评议活动名称",
    "评议主体": "评议代表所在的评议主体",
    "链接": "本人的个人评议链接（必须包含）",
    "截止时间": "截止时间（北京时间）；没有截止时间时，含它的整行不发送",
    "匿名说明": "匿名评议的说明；记名评议时，含它的整行不发送",
}
_PLACEHOLDER = re.compile(r"\{([^{}\s]{1,12})\}")
#: The longest SMS text the form accepts (providers split longer ones, and charge for each part).
SMS_LONGEST = 300


def default_subject(kind: str) -> str:
    return str(_("【催办】请参加{评议活动}") if kind == "reminder" else _("邀请您参加{评议活动}"))


def default_body(kind: str, channel: str) -> str:
    if channel == "sms":
        if kind == "reminder":
            first = _("【评议提醒】{姓名}，您尚未完成{评议活动}，请用新链接填写：{链接}")
        else:
            first = _("【评议邀请】{姓名}，请参加{评议活动}：{链接}")
        return f"{first}\n{_('{截止时间}前有效')}"
    if kind == "reminder":
        opening = _("您尚未完成{评议活动}的评议，特此提醒。\n请使用下面的新链接；之前邮件中的链接已停用。")
    else:
        opening = _("诚邀您作为评议代表参加{评议活动}。")
    return "\n".join([
        _("{姓名}：您好！"), "", opening, "",
        _("请点击下面的个人链接填写评议表（该链接仅供您本人使用，只能提交一次）："), "{链接}",
        _("截止时间：{截止时间}（北京时间）"), "{匿名说明}", "", _("感谢您的支持！"), _("评议办"),
    ])


@dataclass(frozen=True)
class Wording:
    """The subject (e-mail only) and text of one kind of message on one channel."""

    kind: str
    channel: str
    subject: str
    body: str
    #: The campaign's own (True) or the default wording.
    own: bool


def wording(campaign: Campaign, kind: str, channel: str) -> Wording:
    row = db.session.scalar(select(MessageTemplate).where(
        MessageTemplate.campaign_id == campaign.id, MessageTemplate.kind == kind, MessageTemplate.channel == channel))
    if row is None:
        return Wording(kind, channel, default_subject(kind) if channel == "email" else "",
                       default_body(kind, channel), False)
    return Wording(kind, channel, row.subject or "", row.body, True)


def _unknown(text: str) -> list[str]:
    return sorted({name for name in _PLACEHOLDER.findall(text) if name not in PLACEHOLDERS})


def check(channel: str, subject: str, body: str) -> list[str]:
    """What is wrong with a wording, each in a sentence (empty: nothing)."""
    problems = []
    allowed = "、".join(f"{{{p}}}" for p in PLACEHOLDERS)
    for where, text in ((_("主题"), subject), (_("正文"), body)):
        unknown = _unknown(text)
        if unknown:
            problems.append(_("%(where)s中有未知的占位符 %(names)s；可用的占位符：%(allowed)s", where=where,
                              names="、".join(f"{{{n}}}" for n in unknown), allowed=allowed))
    if "{链接}" not in body:
        problems.append(_("正文必须包含 {链接}：没有链接，收件人无法评议"))
    if "{链接}" in subject:
        problems.append(_("主题中不能放 {链接}：个人链接只能出现在正文中"))
    if channel == "email" and not subject.strip():
        problems.append(_("邮件主题不能为空"))
    if not body.strip():
        problems.append(_("正文不能为空"))
    longest = SMS_LONGEST if channel == "sms" else 4000
    if len(body) > longest:
        problems.append(_("正文最多 %(n)d 个字符，现有 %(m)d 个", n=longest, m=len(body)))
    if len(subject) > 200:
        problems.append(_("主题最多 200 个字符"))
    return problems


def save(campaign: Campaign, kind: str, channel: str, subject: str, body: str) -> None:
    """Keep the campaign's own wording (the caller commits); refused with every problem."""
    body = body.replace("\r\n", "\n").strip("\n")
    subject = subject.strip() if channel == "email" else ""
    problems = check(channel, subject, body)
    if problems:
        raise UserError("；".join(problems))
    row = db.session.scalar(select(MessageTemplate).where(
        MessageTemplate.campaign_id == campaign.id, MessageTemplate.kind == kind, MessageTemplate.channel == channel))
    if row is None:
        row = MessageTemplate(campaign_id=campaign.id, kind=kind, channel=channel)
        db.session.add(row)
    row.subject, row.body = subject or None, body


def reset(campaign: Campaign, kind: str, channel: str) -> None:
    """Go back to the default wording (the caller commits)."""
    row = db.session.scalar(select(MessageTemplate).where(
        MessageTemplate.campaign_id == campaign.id, MessageTemplate.kind == kind, MessageTemplate.channel == channel))
    if row is not None:
        db.session.delete(row)


def values(batch: Batch, name: str, link: str, deadline: str) -> dict[str, str]:
    """The placeholders' values for one evaluator of the batch."""
    campaign = batch.campaign
    return {"姓名": name, "评议活动": campaign.name, "评议主体": batch.group.label, "链接": link,
            "截止时间": deadline,
            "匿名说明": _("本次评议为匿名评议，您的选择不会与您的身份关联。") if campaign.anonymous else ""}


def fill(text: str, given: dict[str, str]) -> str:
    """The text with its placeholders replaced, as text; lines whose
    placeholders are all empty are left out."""
    lines = []
    for line in text.split("\n"):
        names = [n for n in _PLACEHOLDER.findall(line) if n in given]
        if names and not any(given[n] for n in names):
            continue
        lines.append(_PLACEHOLDER.sub(lambda m: given.get(m.group(1), m.group(0)), line))
    return "\n".join(lines)


def as_html(text: str, link: str) -> str:
    """The HTML part of an e-mail: the filled text escaped, its link made a link."""
    escaped = str(escape(text))
    anchor = Markup('<a href="{0}">{0}</a>').format(link)
    if link:
        escaped = escaped.replace(str(escape(link)), str(anchor))
    body = escaped.replace("\n", "<br>\n")
    return f'<!doctype html><html><body style="font-family:sans-serif;line-height:1.6">{body}</body></html>'


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class Composer:
    """A batch's messages, composed without reading the database again: its
    channel, its wordings and the placeholders' values shared by every
    evaluator, read once (a send job composes one message per evaluator)."""

    channel: str
    wordings: dict[str, Wording]
    shared: dict[str, str]

    def compose(self, name: str, link: str, kind: str) -> Message:
        w = self.wordings[kind]
        given = {**self.shared, "姓名": name, "链接": link}
        text = fill(w.body, given)
        if self.channel == "sms":
            return Message("", text.strip(), None)
        return Message(fill(w.subject, given).replace("\n", " ").strip(), text, as_html(text, link))


def composer(batch: Batch, deadline: str) -> Composer:
    """The batch's Composer (both kinds of message, in the campaign's own wording or the default)."""
    shared = values(batch, "", "", deadline)
    return Composer(batch.channel, {k: wording(batch.campaign, k, batch.channel) for k in ("invite", "reminder")},
                    {k: v for k, v in shared.items() if k not in ("姓名", "链接")})


def compose(batch: Batch, evaluator: Evaluator | None, link: str, deadline: str, kind: str) -> Message:
    """One message of the batch's channel, for one evaluator (or a sample)."""
    return composer(batch, deadline).compose(evaluator.name if evaluator else _("（姓名）"), link, kind)
