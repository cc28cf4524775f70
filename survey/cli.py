"""Command-line interface: `flask --app survey campaign import|export`, `flask --app survey demo`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import select

from analysis.bundle import BundleError
from survey import bundles
from survey.extensions import db
from survey.models import Campaign


def register_cli(app: Flask) -> None:
    app.cli.add_command(campaign_cli)
    app.cli.add_command(demo_command)


@click.group("campaign", help="导入、导出评议活动 (pingyi-campaign/1 bundles).")
def campaign_cli() -> None:
    pass


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
    n = db.session.scalar(select(db.func.count()).select_from(bundles.Ballot)
                          .where(bundles.Ballot.campaign_id == campaign.id))
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


@click.command("demo", help="Create the demo campaign 2026年度市直机关作风评议 and write sample "
               "evaluator links to instance/demo-links.txt.")
@click.option("--if-empty", is_flag=True, help="Do nothing if the database already has a campaign.")
def demo_command(if_empty: bool) -> None:
    from survey.demo import create_demo

    if if_empty and db.session.scalar(select(Campaign.id).limit(1)) is not None:
        click.echo("数据库中已有评议活动，未载入演示数据。", err=True)
        return
    try:
        campaign, links = create_demo()
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    db.session.commit()
    base = current_app.config["PINGYI_PUBLIC_URL"].rstrip("/")
    lines = [f"{base}/b/{link.token}\t{link.group}\t{link.batch}" for link in links]
    path = Path(current_app.instance_path) / "demo-links.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    click.echo(f"已创建演示活动「{campaign.name}」；{len(links)} 个未使用的评议链接已写入 {path}")
