"""People who sign in to the console (監査責任者, 番号制度統括, operators, administrators), apart from the
OAuth clients of units and staff scripts, and their sessions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from platform_hub.kit.clock import utcnow
from platform_hub.models.base import Base, StrEnumType, UTCDateTime


class AccountRole(StrEnum):
    AUDITOR = "auditor"  # 監査責任者, 保護責任者
    MYNUMBER_OFFICE = "mynumber_office"  # 番号制度統括部門
    OPERATOR = "operator"  # the hub's operators
    ADMIN = "admin"  # the hub's administrator

    @property
    def ja(self) -> str:
        return _ROLE_NAMES[self]


_ROLE_NAMES = {
    AccountRole.AUDITOR: "監査責任者",
    AccountRole.MYNUMBER_OFFICE: "番号制度統括",
    AccountRole.OPERATOR: "運用担当",
    AccountRole.ADMIN: "管理者",
}


class Account(Base):
    """A person's account: a password (argon2id hash) and a TOTP secret (AES-GCM under the key file's
    data keys, bound to the login), both needed to sign in."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[AccountRole] = mapped_column(StrEnumType(AccountRole, 16))
    password_hash: Mapped[str] = mapped_column(String(200))
    totp_key_id: Mapped[str] = mapped_column(String(16))
    totp_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # The TOTP time step of the last code that signed in: a code seen once is not taken again.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Its password is one an administrator handed over (a new or reset account): the person's
    # sessions may only change it until they do.
    password_change_required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConsoleSession(Base):
    """A signed-in browser, in the database so that every hub replica knows it. The cookie holds the
    session id; only its SHA-256 is kept, so a copy of the table signs nobody in."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))  # every POST form of the session carries it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the absolute lifetime's end
    # Signed in with a password that must change first: the session opens the change page only.
    password_change_due: Mapped[bool] = mapped_column(Boolean, default=False)

    account: Mapped[Account] = relationship(lazy="joined")
