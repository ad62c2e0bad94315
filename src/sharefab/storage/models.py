"""The ORM: every ShareFab table, SQLAlchemy 2 typed declarative style.

Import this module to register all tables on ``Base.metadata`` (later areas add their own
modules and one import line at the bottom of this file). The schema itself is created by the
Alembic migrations in ``sharefab.storage.migrations``; a test checks both agree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from sharefab.storage.types import UTCDateTime, utc_now

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ORG_ROLES = ("provider", "buyer", "operator")
USER_ROLES = ("admin", "planner", "operator", "viewer")
RESOURCE_KINDS = (
    "machine",
    "line",
    "tool",
    "instrument",
    "service_team",
    "lab",
    "vehicle",
    "storage",
)
RESOURCE_CATEGORIES = ("manufacturing", "innovation", "service")
WINDOW_SOURCES = ("manual", "rule", "suggestion")
BOOKING_STATUSES = ("held", "confirmed", "in_progress", "completed", "cancelled")
ACTIVE_BOOKING_STATUSES = tuple(s for s in BOOKING_STATUSES if s != "cancelled")

#: JSON on SQLite, JSONB on PostgreSQL (indexable, compared by value).
JSONType = JSON().with_variant(JSONB(), "postgresql")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for ``column IN (...)`` used by CHECK constraints over string enumerations."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names follow ``NAMING_CONVENTION``."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


class Organization(Base):
    """A company on the platform: provider, buyer and/or platform operator."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    roles: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    users: Mapped[list[User]] = relationship(back_populates="organization")
    sites: Mapped[list[Site]] = relationship(back_populates="organization")
    resources: Mapped[list[Resource]] = relationship(back_populates="organization")


class User(Base):
    """A person who signs in; belongs to one organization with one role there."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_one_of("role", USER_ROLES), name="role"),
        CheckConstraint("email = lower(email)", name="email_lower"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="viewer")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_platform_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    organization: Mapped[Organization] = relationship(back_populates="users")

    @validates("email")
    def _lower_email(self, _key: str, value: str) -> str:
        return value.strip().lower()


class Cluster(Base):
    """An industrial cluster or park (platform-wide, readable by every tenant)."""

    __tablename__ = "clusters"
    __table_args__ = (
        CheckConstraint("lat IS NULL OR (lat >= -90 AND lat <= 90)", name="lat_range"),
        CheckConstraint("lon IS NULL OR (lon >= -180 AND lon <= 180)", name="lon_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    region: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)

    sites: Mapped[list[Site]] = relationship(back_populates="cluster")


class Site(Base):
    """A factory or service location of an organization."""

    __tablename__ = "sites"
    __table_args__ = (
        CheckConstraint("lat IS NULL OR (lat >= -90 AND lat <= 90)", name="lat_range"),
        CheckConstraint("lon IS NULL OR (lon >= -180 AND lon <= 180)", name="lon_range"),
        # The distance search filters a lat/lon bounding box before the exact distance.
        Index("ix_sites_lat_lon", "lat", "lon"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("clusters.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    organization: Mapped[Organization] = relationship(back_populates="sites")
    cluster: Mapped[Cluster | None] = relationship(back_populates="sites")
    resources: Mapped[list[Resource]] = relationship(back_populates="site")


class Resource(Base):
    """A shareable machine, line, tool, instrument, team, lab, vehicle or storage space."""

    __tablename__ = "resources"
    __table_args__ = (
        CheckConstraint(_one_of("kind", RESOURCE_KINDS), name="kind"),
        CheckConstraint(_one_of("category", RESOURCE_CATEGORIES), name="category"),
        CheckConstraint("hourly_rate_minor >= 0", name="hourly_rate_nonneg"),
        CheckConstraint("setup_cost_minor >= 0", name="setup_cost_nonneg"),
        CheckConstraint("speed_factor > 0", name="speed_factor_positive"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("length(currency) = 3 AND currency = upper(currency)", name="currency"),
        # One name per site, ignoring case and surrounding spaces (migration 0008); ltrim(rtrim())
        # rather than trim(), which PostgreSQL reflects as TRIM(BOTH FROM ...) and autogenerate
        # would then report as changed.
        Index("uq_resources_site_name", "site_id", text("lower(ltrim(rtrim(name)))"), unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="machine")
    category: Mapped[str] = mapped_column(String(20), default="manufacturing")
    hourly_rate_minor: Mapped[int] = mapped_column(Integer, default=0)
    setup_cost_minor: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    speed_factor: Mapped[float] = mapped_column(Float, default=1.0)
    capacity: Mapped[int] = mapped_column(Integer, default=1)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    lease_terms: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    organization: Mapped[Organization] = relationship(back_populates="resources")
    site: Mapped[Site] = relationship(back_populates="resources")
    capabilities: Mapped[list[ResourceCapability]] = relationship(
        back_populates="resource", cascade="all, delete-orphan", passive_deletes=True
    )
    calendar_rules: Mapped[list[CalendarRule]] = relationship(
        back_populates="resource", cascade="all, delete-orphan", passive_deletes=True
    )
    windows: Mapped[list[CalendarWindow]] = relationship(
        back_populates="resource",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="CalendarWindow.start_at",
    )
    bookings: Mapped[list[Booking]] = relationship(
        back_populates="resource", order_by="Booking.start_at"
    )

    @validates("currency")
    def _upper_currency(self, _key: str, value: str) -> str:
        return value.strip().upper()


class ResourceCapability(Base):
    """One taxonomy capability a resource offers, with its attribute values."""

    __tablename__ = "resource_capabilities"
    __table_args__ = (UniqueConstraint("resource_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(200), index=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    resource: Mapped[Resource] = relationship(back_populates="capabilities")


class CalendarRule(Base):
    """A recurring idle-capacity rule, e.g. Mon-Fri 18:00-06:00 Asia/Shanghai until 2027-03-31.

    ``end_time`` earlier than (or equal to) ``start_time`` wraps past midnight. Valid dates are
    local dates in ``timezone``; ``valid_until`` is inclusive and may be open (NULL).
    """

    __tablename__ = "calendar_rules"
    __table_args__ = (
        CheckConstraint("length(start_time) = 5", name="start_time_hhmm"),
        CheckConstraint("length(end_time) = 5", name="end_time_hhmm"),
        CheckConstraint(
            "valid_until IS NULL OR valid_until >= valid_from", name="valid_until_after_from"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    weekdays: Mapped[str] = mapped_column(String(40))
    start_time: Mapped[str] = mapped_column(String(5))
    end_time: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    resource: Mapped[Resource] = relationship(back_populates="calendar_rules")
    windows: Mapped[list[CalendarWindow]] = relationship(
        back_populates="rule", passive_deletes=True
    )


class CalendarWindow(Base):
    """A concrete published idle window ``[start_at, end_at)`` of a resource."""

    __tablename__ = "calendar_windows"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="end_after_start"),
        CheckConstraint(_one_of("source", WINDOW_SOURCES), name="source"),
        Index("ix_calendar_windows_resource_id_start_at", "resource_id", "start_at"),
        # Availability search over all resources ranges on start time alone.
        Index("ix_calendar_windows_start_at", "start_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16), default="manual")
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("calendar_rules.id", ondelete="CASCADE"), index=True
    )

    resource: Mapped[Resource] = relationship(back_populates="windows")
    rule: Mapped[CalendarRule | None] = relationship(back_populates="windows")


class Booking(Base):
    """A reservation of one unit of a resource for ``[start_at, end_at)``.

    No two non-cancelled bookings of the same (resource, unit) overlap: on PostgreSQL the
    exclusion constraint ``ex_bookings_no_overlap`` enforces it, on SQLite the triggers in
    ``SQLITE_BOOKING_TRIGGERS`` (inside SQLite's single write transaction); use
    :func:`sharefab.storage.bookings.insert_booking` to pick a unit and get
    :class:`~sharefab.storage.errors.BookingConflict` instead of an ``IntegrityError``.
    """

    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("end_at > start_at", name="end_after_start"),
        CheckConstraint("unit >= 0", name="unit_nonneg"),
        CheckConstraint(_one_of("status", BOOKING_STATUSES), name="status"),
        Index("ix_bookings_resource_id_start_at", "resource_id", "start_at"),
        ExcludeConstraint(
            ("resource_id", "="),
            ("unit", "="),
            (text("tstzrange(start_at, end_at, '[)')"), "&&"),
            name="ex_bookings_no_overlap",
            using="gist",
            where="status <> 'cancelled'",
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="RESTRICT"))
    unit: Mapped[int] = mapped_column(Integer, default=0)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    order_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    resource: Mapped[Resource] = relationship(back_populates="bookings")


_OVERLAP_MESSAGE = "ex_bookings_no_overlap: the interval overlaps another booking of this unit"
_OVERLAP_EXISTS = """EXISTS (
    SELECT 1 FROM bookings AS b
    WHERE b.resource_id = NEW.resource_id AND b.unit = NEW.unit AND b.status <> 'cancelled'
      AND b.start_at < NEW.end_at AND b.end_at > NEW.start_at{extra})"""

#: SQLite's stand-in for the PostgreSQL exclusion constraint: triggers refusing an overlapping
#: non-cancelled booking of the same (resource, unit). SQLite runs one writer at a time, so the
#: check cannot race. Created by migration 0001 (and by ``create_all``); a batch migration
#: that rebuilds ``bookings`` on SQLite must create them again.
SQLITE_BOOKING_TRIGGERS: tuple[str, ...] = (
    f"""CREATE TRIGGER tr_bookings_no_overlap_insert BEFORE INSERT ON bookings
WHEN NEW.status <> 'cancelled' AND {_OVERLAP_EXISTS.format(extra="")}
BEGIN SELECT RAISE(ABORT, '{_OVERLAP_MESSAGE}'); END""",
    f"""CREATE TRIGGER tr_bookings_no_overlap_update
BEFORE UPDATE OF resource_id, unit, start_at, end_at, status ON bookings
WHEN NEW.status <> 'cancelled' AND {_OVERLAP_EXISTS.format(extra=" AND b.id <> NEW.id")}
BEGIN SELECT RAISE(ABORT, '{_OVERLAP_MESSAGE}'); END""",
)
for _ddl in SQLITE_BOOKING_TRIGGERS:
    event.listen(Booking.__table__, "after_create", DDL(_ddl).execute_if(dialect="sqlite"))


# Later areas register their tables by importing their modules here, one line each
# (keep the E402/F401 noqa marker), after the classes above so they can import Base.
# The order of these lines is free (import sorting is off from here to the end).
# isort: off
from sharefab.storage import telemetry_models  # noqa: E402, F401
from sharefab.storage import market_models  # noqa: E402, F401
from sharefab.storage import webhook_models  # noqa: E402, F401
from sharefab.storage import ops_models  # noqa: E402, F401
from sharefab.storage import capacity_models  # noqa: E402, F401
