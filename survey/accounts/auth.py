"""Who is signed in: the login manager and its user loader (who may do what is survey/policy.py)."""
from __future__ import annotations

from flask_login import LoginManager

from survey.extensions import db
from survey.models.account import User

login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = "请先登录。"
login_manager.login_message_category = "info"

def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


login_manager.user_loader(load_user)
