"""Staff accounts and their roles."""
from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from survey.clock import utcnow
from survey.models.base import Model
from survey.models.campaign import Unit

#: Every role, in the order the admin's pages list them: the one list (the
#: database's CHECK, survey/policy.py's names and the admin's choices come from it).
ROLES = ("admin", "organizer", "committee", "liaison", "auditor", "clerk", "handler", "assessor")
#: How each role reads in the interface.
ROLE_LABELS = {"admin": "系统管理员", "organizer": "评议办工作人员", "committee": "评议领导小组成员",
               "liaison": "单位联络员", "auditor": "审计员",
               "clerk": "纸质表录入员", "handler": "督查投诉办理人员", "assessor": "专项考核部门"}
#: The database's CHECK on user_account.role.
ROLE_CHECK = "role IN (" + ", ".join(f"'{r}'" for r in ROLES) + ")"


class User(Model):
    """A member of staff who signs in: organizer, committee member, unit liaison,
    auditor, data-entry clerk (纸质表录入 only), or the admin who creates the accounts."""

    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(ROLE_CHECK, name="role"),
        # A liaison answers for exactly one unit; nobody else is tied to one.
        CheckConstraint("(role = 'liaison') = (unit_id IS NOT NULL)", name="liaison_unit"),
        # An assessing department (专项考核部门) scores exactly one component; nobody else is tied to one.
        CheckConstraint("(role = 'assessor') = (component IS NOT NULL)", name="assessor_component"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    #: werkzeug's salted scrypt hash; never the password.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    #: The objective component an assessing department enters (its code, e.g. safety).
    component: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    unit: Mapped[Unit | None] = relationship()

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    # --- what Flask-Login asks of a signed-in user (its UserMixin, spelt out and typed) ---
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        """What the session and the remember cookie hold: the id and a mark of
        the password hash, so that a changed or reset password signs out every
        session and remember cookie made before (survey.accounts.auth.load_user)."""
        return f"{self.id}:{self.session_mark}"

    @property
    def session_mark(self) -> str:
        return hashlib.sha256(self.password_hash.encode("utf-8")).hexdigest()[:16]
