"""Command-line interface: `flask --app survey campaign import|export|ballots`, `flask --app survey demo`,
`flask --app survey results report`, `user create`, and `api-key create|list|revoke` (survey/api/cli.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from analysis import BundleError
from survey import bundles
from survey.distribution.services import link_for
from survey.errors import UserError
from survey.extensions import db
from survey.models import Ballot, Campaign, Unit, User
from survey.models.account import ROLE_LABELS, ROLES


def register_cli(app: Flask) -> None:
    from survey.api.cli import api_key_cli
    from survey.results.routes import bp as results_bp
    from survey.webhooks import webhooks_cli

    app.cli.add_command(api_key_cli)
    app.cli.add_command(webhooks_cli)
    app.cli.add_command(campaign_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(user_cli)
    results_bp.cli.add_command(report_command)  # the `flask results` group (with mark-overdue)


user_cli = AppGroup("user", help="管理工作人员账号 (staff accounts).")


@user_cli.command("create", help="Create a staff account USERNAME with a ROLE "
                  "(admin, organizer, committee, liaison, auditor, clerk, handler, assessor); a liaison needs "
                  "--unit, an assessing department (assessor) --component.")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", help="Name shown in the interface (default: USERNAME).")
@click.option("--unit", "unit_code", help="Unit code, for a liaison (单位联络员).")
@click.option("--component", help="Objective component code, for an assessing department (专项考核部门).")
@click.password_option(help="Password (asked for when not given).")
def user_create(username: str, role: str, display_name: str | None, unit_code: str | None,
                component: str | None, password: str) -> None:
    unit = None
    if unit_code:
        unit = db.session.scalar(select(Unit).where(Unit.code == unit_code))
        if unit is None:
            raise click.BadParameter(f"没有代码为 {unit_code} 的单位", param_hint="--unit")
    if (role == "liaison") != (unit is not None):
        raise click.UsageError("单位联络员必须指定 --unit，其他角色不能指定 (a liaison needs --unit, nobody else)")
    if (role == "assessor") != bool(component):
        raise click.UsageError("专项考核部门必须指定 --component，其他角色不能指定 (an assessor needs --component, "
                               "nobody else)")
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise click.UsageError(f"用户名 {username} 已存在")
    user = User(username=username, display_name=display_name or username, role=role, unit=unit,
                component=component)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"已创建账号 {username}（{ROLE_LABELS[role]}）")


campaign_cli = AppGroup("campaign", help="导入、导出评议活动 (pingyi-campaign/1 bundles).")


@campaign_cli.command("import", help="Import a campaign bundle FILE (JSON). All or nothing: a bad "
                      "bundle is refused with every problem listed (JSON path and reason) and exit status 2.")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--status", type=click.Choice(["draft", "open", "closed"]), default="closed",
              show_default=True, help="Status of the imported campaign.")
@click.option("--json-errors", is_flag=True, help="Print refusals as pingyi-errors/1 JSON on stdout.")
def import_command(file: Path, status: str, json_errors: bool) -> None:
    try:
        data = file.read_bytes()
    except OSError as exc:
        click.echo(f"无法读取文件 {file}: {exc.strerror} (cannot read {file})", err=True)
        sys.exit(2)
    try:
        campaign = bundles.import_bundle_text(data, status=status)
        db.session.commit()
    except BundleError as exc:
        db.session.rollback()
        if json_errors:
            click.echo(json.dumps(exc.to_json(), ensure_ascii=False, indent=1))
        click.echo(f"{file}: 导入被拒绝，共 {len(exc.problems)} 处问题，数据库未作任何修改 "
                   f"(import refused, {len(exc.problems)} problem(s), nothing written):", err=True)
        for p in exc.problems:
            click.echo(f"  {file}: {p.path}: {p.reason} ({p.reason_en})", err=True)
        sys.exit(2)
    n = db.session.scalar(select(db.func.count()).select_from(Ballot).where(Ballot.campaign_id == campaign.id))
    click.echo(f"已导入评议活动 {campaign.code}「{campaign.name}」: {len(campaign.units)} 个单位, "
               f"{len(campaign.groups)} 个评议主体, {n} 张评议票.")


@campaign_cli.command("export", help="Export campaign CODE as a bundle to FILE ('-' for stdout).")
@click.argument("code")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
def export_command(code: str, file: str) -> None:
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == code))
    if campaign is None:
        click.echo(f"没有代码为 {code} 的评议活动 (no campaign {code})", err=True)
        sys.exit(2)
    text = json.dumps(bundles.export_bundle(campaign), ensure_ascii=False, indent=1) + "\n"
    if file == "-":
        click.echo(text, nl=False)
    else:
        Path(file).write_text(text, encoding="utf-8")
        click.echo(f"已导出 {code} 到 {file}", err=True)


@campaign_cli.command("ballots", help="Export the anonymised ballots of campaign CODE to FILE, one row "
                      "per ballot; the format is FILE's extension: .csv, .xlsx, .sav (SPSS), .dta (Stata) or "
                      ".parquet. All or nothing: FILE appears only once complete.")
@click.argument("code")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def ballots_command(code: str, file: Path) -> None:
    from survey.results import ballot_export

    try:
        fmt = ballot_export.format_of(file)
    except UserError as exc:
        click.echo(exc.message, err=True)
        sys.exit(2)
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == code))
    if campaign is None:
        click.echo(f"没有代码为 {code} 的评议活动 (no campaign {code})", err=True)
        sys.exit(2)
    if not file.parent.is_dir():
        click.echo(f"无法写入 {file}：目录 {file.parent} 不存在 (no directory {file.parent})", err=True)
        sys.exit(2)
    try:
        n = ballot_export.write_file(campaign, fmt, file)
    except OSError as exc:
        click.echo(f"无法写入 {file}：{exc.strerror} (cannot write {file})", err=True)
        sys.exit(2)
    click.echo(f"已导出评议活动 {code} 的 {n} 张评议票到 {file}", err=True)


@click.command("demo", help="Create the demo campaign 2026年度市直机关作风评议 and write sample "
               "evaluator links to instance/demo-links.txt.")
@click.option("--if-empty", is_flag=True, help="Do nothing if the database already has a campaign.")
@with_appcontext
def demo_command(if_empty: bool) -> None:
    from survey.demo import DEMO_PASSWORD, create_demo, create_demo_users

    if if_empty and db.session.scalar(select(Campaign.id).limit(1)) is not None:
        click.echo("数据库中已有评议活动，未载入演示数据。", err=True)
        return
    try:
        campaign, links = create_demo()
        users = create_demo_users()
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    db.session.commit()
    for username, role in users:
        click.echo(f"演示账号 {username} / 密码 {DEMO_PASSWORD}（{ROLE_LABELS[role]}）")
    lines = [f"{link_for(link.token)}\t{link.group}\t{link.batch}" for link in links]
    path = Path(current_app.instance_path) / "demo-links.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    click.echo(f"已创建演示活动「{campaign.name}」；{len(links)} 个未使用的评议链接已写入 {path}")


@click.command("report", help="Write the results report (评议结果报告, A4 PDF) of campaign CODE to FILE; "
               "before 定稿 it is a draft (草稿 on every page).")
@click.argument("code")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def report_command(code: str, file: Path) -> None:
    from survey.errors import UserError
    from survey.results import report

    campaign = db.session.scalar(select(Campaign).where(Campaign.code == code))
    if campaign is None:
        click.echo(f"没有代码为 {code} 的评议活动 (no campaign {code})", err=True)
        sys.exit(2)
    try:
        data = report.pdf(campaign)
    except UserError as exc:
        db.session.rollback()
        click.echo(f"{exc.message} (no report written)", err=True)
        sys.exit(2)
    db.session.commit()  # a recomputed results cache is kept
    try:
        file.write_bytes(data)
    except OSError as exc:
        click.echo(f"无法写入文件 {file}: {exc.strerror} (cannot write {file})", err=True)
        sys.exit(2)
    kind = "定稿" if campaign.state.is_frozen else "草稿"
    click.echo(f"已生成「{campaign.name}」评议结果报告（{kind}）：{file}，{len(data)} 字节", err=True)
