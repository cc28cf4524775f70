"""Recording actions in the append-only audit log (who, when, what, before and
after), and reading it: the actions' Chinese names, details as readable text,
Beijing time, filters and the CSV export.

Every organizer, committee and admin action that changes data records one
entry where it happens (``record``). Ballot-bearing work (keying a paper form,
resolving a double-entry conflict) is recorded by ``ballot_work`` instead: who,
which batch and which day, once per member, batch and day, at the day's start,
never answers, a serial or the ballot's time (docs/anonymity.md)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from typing import Any

from flask_login import current_user
from sqlalchemy import Select, select

from survey.clock import format_beijing, from_beijing, today
from survey.extensions import db
from survey.models.audit import AuditEntry
from survey.spreadsheets import csv_row

#: What each action is called on the log page and in the export ("" for a key not listed: the key itself).
ACTION_LABELS: dict[str, str] = {
    # accounts
    "user.create": "创建账号", "user.active": "启用/停用账号", "user.role": "修改角色",
    "user.password_reset": "重置密码", "user.password_change": "修改本人密码",
    "api_key.create": "签发 API 密钥", "api_key.revoke": "吊销 API 密钥",
    "webhook.create": "登记 Webhook 接收地址", "webhook.active": "启用/停用 Webhook 接收地址",
    # setup
    "campaign.create": "新建评议活动", "campaign.basics": "修改基本信息", "campaign.status": "变更活动状态",
    "campaign.close_due": "到期自动截止", "setup.add": "添加设置项", "setup.update": "修改设置项",
    "setup.remove": "删除设置项", "setup.rated_units": "设置评议范围", "setup.rules": "修改计分规则",
    "setup.margins": "修改加权边际", "setup.attribute_k": "修改 k 值",
    "setup.bulk_units": "批量添加类别和单位", "setup.reorder": "调整指标或选项顺序",
    "campaign.archive": "归档测试活动", "campaign.restore": "恢复测试活动", "campaign.delete": "删除测试活动", "roster.import": "导入名册",
    "roster.import_valid": "导入名册中的有效行", "roster.edit": "修改评议代表", "roster.delete": "删除评议代表",
    "roster.resend": "向一人重发邀请",
    # distribution
    "batch.create": "新建发放批次", "batch.send": "发送邀请", "batch.remind": "发送提醒",
    "batch.remind_scheduled": "定时催办（自动）", "batch.remind_due": "到期催办（cron）",
    "batch.retry": "重发失败的邀请", "batch.printed": "确认已印制", "batch.issued": "登记实际发放份数",
    "batch.cap": "设置网络地址上限", "paper.key": "录入纸质表", "paper.resolve": "核对两遍录入不一致",
    "batch.period": "设置批次开始和截止时间", "batch.units": "设置批次评议单位", "batch.schedule": "安排定时催办",
    "batch.unschedule": "取消定时催办",
    "session.create": "新建现场测评场次", "session.open": "开始现场测评场次", "session.close": "结束现场测评场次",
    "paper.coupon": "为不编号的纸质表生成编号",
    # results
    "rules.exclude_flags": "采纳异常标记", "objective_score.set": "录入客观评价得分",
    "veto.create": "登记一票否决", "veto.delete": "撤销一票否决", "results.approve": "审定结果",
    "class.override": "调整评定等次", "outcome.settings": "修改结果设置", "campaign.finalize": "定稿",
    "campaign.publish": "公示", "publication.options": "修改公示内容", "appeal.file": "提出申诉",
    "appeal.decide": "裁决申诉", "results.version": "生成新定稿版本", "comment.answer": "答复意见",
    "consequence.regenerate": "重新生成处理结果", "rectification.plan": "提交整改方案",
    "rectification.report": "提交整改报告", "rectification.due": "设置整改期限",
    "rectification.mark_red": "逾期标红", "rectification.accept": "整改验收",
    "rectification.return": "整改退回修改", "test_ballot.submit": "提交测试票",
    "test_ballot.purge": "清除测试票",
    "follow_up.schedule": "安排回访",
    # the supervision register (case numbers only: never a complainant)
    "register.create": "登记督查案件", "register.attach": "上传案件证据", "register.accepted": "受理案件",
    "register.rejected": "不予受理", "register.assigned": "交办案件", "register.replied": "单位答复案件",
    "register.verified": "核实案件", "register.verdict": "记录核实结论", "register.closed": "案件办结",
    "register.mark_red": "案件逾期标红", "register.component": "设置督查扣分考核项目",
    "register.rule": "设置扣分规则", "register.rule_delete": "删除扣分规则", "register.publish": "公示督查案件统计",
    "register.link": "关联整改",
    "opinion.create": "登记群众意见", "opinion.reissue": "重新生成意见查询码", "opinion.assigned": "交办群众意见",
    "opinion.answered": "单位答复群众意见", "opinion.closed": "群众意见办结", "opinion.mark_red": "群众意见逾期标红",
    "campaign.period": "设置考核期",
    # 平时考核 rounds (survey/rounds/services.py)
    "round.publish": "发布平时考核轮次排名", "round.component": "设置平时考核项目",
    # consequences carried out, escalation rules, 回头看, 先进 (survey/results/carrying.py …)
    "consequence.assign": "指定处理事项的责任部门和期限", "consequence.carry_out": "登记处理事项落实情况",
    "consequence.mark_red": "处理事项逾期标红", "consequence.rules": "修改处理规则",
    "consequence.follow_appeal": "按申诉复核结果调整以后年度的加重处理",
    "follow_up.findings": "记录回头看结果", "honour.rule": "修改先进评选规则", "honour.decide": "评定先进",
}


#: How the keys of the details read (a key not listed is shown as it is).
FIELD_LABELS: dict[str, str] = {
    "name": "名称", "year": "年度", "anonymous": "匿名评议", "return_target": "回收率目标", "opens_at": "开始时间",
    "closes_at": "截止时间", "code": "代码", "label": "名称", "label_en": "英文名称", "name_en": "英文名称",
    "weight": "权重", "quota": "定额", "points": "分值", "category": "类别", "role": "角色", "unit": "单位",
    "active": "启用", "password": "密码", "status": "状态", "reason": "理由", "text": "内容", "due_on": "期限",
    "issued": "实际发放份数", "ip_cap": "网络地址上限", "rules": "计分规则", "service": "服务账号",
    "comment": "意见", "returned": "已退回", "resubmitted": "修改后重新提交", "purged": "清除数量",
    "interim_results": "允许查看中间结果", "group": "评议主体",
    "url": "接收地址", "events": "事件", "description": "说明", "hint": "密钥开头", "revoked": "已吊销",
    "case": "案件编号", "verdict": "核实结论", "campaign": "计入评议", "base": "扣分基数", "kind": "案件类别",
    "month": "月份", "raw": "原始得分", "full_marks": "满分", "evidence": "依据", "period_start": "考核期开始",
    "period_end": "考核期结束", "inputs_cutoff": "登记截止日",
    "owner": "责任部门", "state": "状态", "proof": "证明材料", "amount": "金额", "percent": "比例",
    "persons": "处理人员", "findings": "发现的情况", "outcome": "结论", "new_due": "新的截止日期",
    "decision": "决定", "title": "称号", "escalation": "加重处理规则", "owners": "责任部门", "due_days": "办理天数",
}


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def _plain(value: Any) -> Any:
    """JSON-safe copy: dates and other objects become strings."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=_default))


def _default(value: Any) -> str:
    """Times (stored naive UTC) as Beijing time, as everywhere they are shown; dates as ISO."""
    if isinstance(value, dt.datetime):
        return format_beijing(value) + "（北京时间）"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def json_text(value: Any) -> str:
    """JSON as the database stores it: Chinese as itself, never ``\\uXXXX``
    (the engine's ``json_serializer``)."""
    return json.dumps(value, ensure_ascii=False, default=_default)


def _user() -> Any:
    return current_user if current_user and getattr(current_user, "is_authenticated", False) else None


def record(action: str, target: str, before: dict[str, Any] | None, after: dict[str, Any] | None, *,
           system: bool = False) -> AuditEntry:
    """Add an audit entry for the signed-in user (or nobody, outside a request). `system`: the
    application acted by itself (a deadline reached, a scheduled reminder), even if a user's
    request happened to trigger it; the log shows 系统.

    The entry joins the caller's transaction: it is written when the action is.
    """
    user = None if system else _user()
    entry = AuditEntry(
        user_id=user.id if user is not None else None,
        username=user.username if user is not None else None,
        action=action,
        target=target,
        before=None if before is None else _plain(before),
        after=None if after is None else _plain(after),
    )
    db.session.add(entry)
    return entry


def ballot_work(action: str, campaign: Any, batch: Any) -> AuditEntry | None:
    """Record ballot-bearing work (paper keying, conflict resolution) as who,
    batch and day: one entry per member, action, batch and Beijing day, dated
    at the day's start, so the log says nothing about a single ballot."""
    user = _user()
    day = today()
    start = from_beijing(dt.datetime.combine(day, dt.time()))
    target = f"campaign:{campaign.code}/batch:{batch.code}"
    seen = db.session.scalar(select(AuditEntry.id).where(
        AuditEntry.action == action, AuditEntry.target == target, AuditEntry.at == start,
        AuditEntry.user_id == (user.id if user is not None else None)).limit(1))
    if seen is not None:
        return None
    entry = record(action, target, None, {"批次": batch.code, "日期": day.isoformat()})
    entry.at = start
    return entry


# --- reading ----------------------------------------------------------------------


def details(value: dict[str, Any] | None) -> str:
    """An entry's before or after as readable text: ``键：值；键：值`` ('—' for none)."""
    if value is None:
        return "—"
    return "；".join(f"{FIELD_LABELS.get(k, k)}：{_text(v)}" for k, v in value.items()) or "—"


def _text(value: Any) -> str:
    if value is None:
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict | list):
        return json_text(value)
    return str(value)


def query(*, campaign: str = "", person: str = "", action: str = "") -> Select[AuditEntry]:
    """The log, newest first, filtered by campaign code, user name and action (each optional)."""
    q = select(AuditEntry).order_by(AuditEntry.id.desc())
    if campaign:
        q = q.where(AuditEntry.target.startswith(f"campaign:{campaign}/") | (AuditEntry.target == f"campaign:{campaign}"))
    if person:
        q = q.where(AuditEntry.username == person)
    if action:
        q = q.where(AuditEntry.action == action)
    return q


def csv_text(entries: Iterable[AuditEntry]) -> str:
    """The entries as CSV (UTF-8 with BOM for Excel/WPS), Beijing time, user text never a formula."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(["时间（北京时间）", "用户", "操作", "操作代码", "对象", "修改前", "修改后"])
    for e in entries:
        writer.writerow(csv_row([format_beijing(e.at, "%Y-%m-%d %H:%M:%S"), e.username or "系统",
                                 action_label(e.action), e.action, e.target, details(e.before), details(e.after)]))
    return out.getvalue()


__all__ = ["ACTION_LABELS", "action_label", "ballot_work", "csv_text", "details", "json_text", "query",
           "record"]
