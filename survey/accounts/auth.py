"""Who is signed in: the login manager and its user loader (who may do what is survey/policy.py)."""
from __future__ import annotations

import hmac

from flask_login import LoginManager
from sqlalchemy import Select, bindparam, select

from survey.database import prepared
from survey.extensions import db
from survey.models.account import User

login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = "请先登录。"
login_manager.login_message_category = "info"

@prepared
def _user_by_id() -> Select[User]:
    return select(User).where(User.id == bindparam("id"))


def load_user(user_id: str) -> User | None:
    """The signed-in user, once per request (a prepared statement: every staff
    request runs it); nobody where the session's password mark (User.get_id)
    is not the account's own: the password was changed or reset since."""
    number, _sep, mark = user_id.partition(":")
    if not number.isdigit():
        return None
    user: User | None = db.session.scalar(_user_by_id(), {"id": int(number)})
    if user is None or not hmac.compare_digest(mark, user.session_mark):
        return None
    return user


login_manager.user_loader(load_user)
