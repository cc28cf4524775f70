"""Who may do what: the login manager and the role check for views."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import LoginManager, current_user

from survey.extensions import db
from survey.models.account import User

login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = "请先登录。"
login_manager.login_message_category = "info"

F = TypeVar("F", bound=Callable[..., Any])


def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


login_manager.user_loader(load_user)


def role_required(*roles: str) -> Callable[[F], F]:
    """Let signed-in users with one of `roles` (or admins) in; others get 403,
    anonymous visitors the sign-in page."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
