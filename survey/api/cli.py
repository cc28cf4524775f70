"""`flask --app survey api-key create|list|revoke`: the keys of the JSON API."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from survey.api import keys
from survey.clock import format_beijing
from survey.errors import UserError
from survey.extensions import db
from survey.models import ApiKey, User
from survey.models.account import ROLE_LABELS, ROLES

api_key_cli = AppGroup("api-key", help="API 密钥 (keys of the JSON API under /api/v1/).")


@api_key_cli.command("create", help="Issue a key to the staff account USERNAME and print it (once: only its "
                     "SHA-256 is kept). The key acts with the account's role and, for a liaison, its unit. "
                     "Where USERNAME does not exist, --role (and --unit for a liaison) creates it as a "
                     "service account that cannot sign in to the pages.")
@click.option("--user", "username", required=True, help="The account the key acts for.")
@click.option("--name", default=None, help="What the key is for (default: API).")
@click.option("--role", type=click.Choice(ROLES), help="Create USERNAME as a service account with this role.")
@click.option("--unit", "unit_code", help="Unit code of a new liaison service account (单位联络员).")
def create_command(username: str, name: str | None, role: str | None, unit_code: str | None) -> None:
    user = db.session.scalar(select(User).where(User.username == username))
    try:
        if user is None:
            if role is None:
                raise click.UsageError(f"没有用户名为 {username} 的账号；如需新建服务账号，请加 --role "
                                       f"(no account {username}: give --role to create a service account)")
            if not 1 <= len(username) <= 64:
                raise click.UsageError("用户名须为 1 到 64 个字符 (a username has 1 to 64 characters)")
            user = keys.service_account(username, role, unit_code)
        elif (role is not None and role != user.role) or unit_code:
            raise click.UsageError(f"账号 {username} 已存在（{user.role}）；--role 和 --unit 只用于新建服务账号 "
                                   f"(account {username} exists: --role and --unit only create service accounts)")
        row, key = keys.issue(user, name or "API")
        db.session.commit()
    except UserError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    click.echo(f"已为 {user.username}（{ROLE_LABELS[user.role]}）签发密钥 #{row.id}「{row.name}」。"
               f"密钥只显示这一次，请妥善保存 (shown once; keep it safe):", err=True)
    click.echo(key)


@api_key_cli.command("list", help="List the keys (never the keys themselves: their id, hint, name, account, "
                     "role, when made, last used and revoked).")
@click.option("--user", "username", help="Only this account's keys.")
def list_command(username: str | None) -> None:
    rows = keys.keys(username)
    if not rows:
        click.echo("没有 API 密钥 (no API keys)", err=True)
        return
    click.echo("\t".join(("id", "hint", "name", "user", "role", "created", "last_used", "revoked")))
    for row in rows:
        click.echo("\t".join((str(row.id), row.hint + "…", row.name, row.user.username, row.user.role,
                              format_beijing(row.created_at), format_beijing(row.last_used_at) or "-",
                              format_beijing(row.revoked_at) or "-")))


@api_key_cli.command("revoke", help="Revoke the keys with these ids (see `api-key list`): refused from then on.")
@click.argument("key_ids", nargs=-1, type=int, required=True)
def revoke_command(key_ids: tuple[int, ...]) -> None:
    try:
        for key_id in key_ids:
            row = db.session.get(ApiKey, key_id)
            if row is None:
                raise UserError(f"没有编号为 {key_id} 的密钥 (no key {key_id})")
            keys.revoke(row)
        db.session.commit()
    except UserError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message + "；未吊销任何密钥 (nothing revoked)") from None
    click.echo(f"已吊销 {len(key_ids)} 个密钥 (revoked)", err=True)
