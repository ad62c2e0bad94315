"""Device identity: one credential per connected resource, rotation, revocation, audit, and
the Mosquitto configuration that enforces the same identity on the broker.

A credential is a public ``key_id`` and a random 256-bit ``secret`` shown once. Devices send
``Authorization: Device <key_id>.<secret>`` to the HTTP endpoint, and log in to MQTT with
username = the resource id and password = the secret. Only a salted PBKDF2-SHA512 hash of the
secret is stored, in Mosquitto's own ``$7$`` password-file format, so
``sharefab devices broker-config`` can write the broker's password file from the database
without ever knowing a secret (a fast salted hash is appropriate for high-entropy random
secrets; user passwords use argon2 elsewhere).

At most one credential of a resource is active: :func:`rotate_credential` revokes the old one
in the same transaction that creates the new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from string import Template

from sqlalchemy import select
from sqlalchemy.orm import Session

from sharefab.iot.ingest import SecurityEventRow, Source
from sharefab.services.common import require_role, transaction
from sharefab.services.errors import AuthenticationFailed, Conflict, NotFound
from sharefab.storage.models import Resource, User
from sharefab.storage.telemetry_models import DeviceCredential, SecurityEvent
from sharefab.storage.types import utc_now

PBKDF2_ITERATIONS = 1000
INGEST_USERNAME = "sharefab-ingest"
TOKEN_SCHEME = "Device"


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A freshly created credential; ``secret`` is not stored and is shown only now."""

    id: int
    resource_id: int
    key_id: str
    secret: str
    created_at: datetime

    @property
    def token(self) -> str:
        """The HTTP token: ``<key_id>.<secret>``."""
        return f"{self.key_id}.{self.secret}"


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """A Mosquitto-compatible ``$7$<iterations>$<salt>$<hash>`` PBKDF2-SHA512 hash."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, PBKDF2_ITERATIONS)
    salt_b64 = base64.b64encode(salt).decode()
    return f"$7${PBKDF2_ITERATIONS}${salt_b64}${base64.b64encode(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    """True when ``secret`` matches a hash made by :func:`hash_secret`."""
    try:
        _, kind, iterations, salt_b64, hash_b64 = stored.split("$")
        if kind != "7":
            return False
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(hash_b64)
        digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


def own_device_resource(session: Session, actor: User, resource_id: int) -> Resource:
    """The caller's resource; 404 for a missing one or another tenant's (public or not)."""
    resource = session.get(Resource, resource_id)
    if resource is None or resource.org_id != actor.org_id:
        raise NotFound("resource", resource_id)
    return resource


def _issue(session: Session, resource_id: int, label: str) -> IssuedCredential:
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    cred = DeviceCredential(
        resource_id=resource_id, key_id=key_id, secret_hash=hash_secret(secret), label=label
    )
    session.add(cred)
    session.flush()
    return IssuedCredential(cred.id, resource_id, key_id, secret, cred.created_at)


def _active(session: Session, resource_id: int) -> list[DeviceCredential]:
    return list(
        session.scalars(
            select(DeviceCredential)
            .where(DeviceCredential.resource_id == resource_id)
            .where(DeviceCredential.revoked_at.is_(None))
            .order_by(DeviceCredential.id)
        )
    )


def issue_credential(
    session: Session, resource_id: int, *, rotate: bool, label: str = ""
) -> IssuedCredential:
    """Issue a credential for ``resource_id`` in one transaction (operator tools; the API
    goes through :func:`create_credential` / :func:`rotate_credential`). With ``rotate`` the
    active credential is revoked first; without it an active credential is a conflict."""
    with transaction(session):
        if session.get(Resource, resource_id) is None:
            raise NotFound("resource", resource_id)
        active = _active(session, resource_id)
        if active and not rotate:
            raise Conflict(
                f"resource {resource_id} already has an active device credential; rotate it"
            )
        now = utc_now()
        for cred in active:
            cred.revoked_at = now
        session.flush()
        return _issue(session, resource_id, label)


def revoke_all(session: Session, resource_id: int) -> int:
    """Revoke the active credential of ``resource_id``; 404 when it has none."""
    with transaction(session):
        active = _active(session, resource_id)
        if not active:
            raise NotFound("active device credential of resource", resource_id)
        now = utc_now()
        for cred in active:
            cred.revoked_at = now
        return len(active)


def create_credential(
    session: Session, actor: User, resource_id: int, *, label: str = ""
) -> IssuedCredential:
    """A first credential for the caller's resource (409 while one is active: rotate it)."""
    own_device_resource(session, actor, resource_id)
    require_role(actor)
    return issue_credential(session, resource_id, rotate=False, label=label)


def rotate_credential(
    session: Session, actor: User, resource_id: int, *, label: str = ""
) -> IssuedCredential:
    """Revoke the resource's active credential (if any) and issue a new one, atomically."""
    own_device_resource(session, actor, resource_id)
    require_role(actor)
    return issue_credential(session, resource_id, rotate=True, label=label)


def revoke_credential(session: Session, actor: User, resource_id: int) -> int:
    """Revoke the caller's resource's active credential; 404 when it has none."""
    own_device_resource(session, actor, resource_id)
    require_role(actor)
    return revoke_all(session, resource_id)


def list_credentials(session: Session, actor: User, resource_id: int) -> list[DeviceCredential]:
    """All credentials (active and revoked) of the caller's resource, newest first."""
    own_device_resource(session, actor, resource_id)
    return list(
        session.scalars(
            select(DeviceCredential)
            .where(DeviceCredential.resource_id == resource_id)
            .order_by(DeviceCredential.id.desc())
        )
    )


def record_security_event(session: Session, event: SecurityEventRow) -> None:
    """Store one audit record in its own transaction."""
    with transaction(session):
        session.add(SecurityEvent(**event.as_row()))


def parse_device_token(header: str | None) -> tuple[str, str]:
    """``(key_id, secret)`` from ``Authorization: Device <key_id>.<secret>``."""
    if not header:
        raise AuthenticationFailed(
            "device not authenticated: send 'Authorization: Device <key_id>.<secret>'"
        )
    scheme, _, token = header.strip().partition(" ")
    key_id, dot, secret = token.strip().partition(".")
    if scheme != TOKEN_SCHEME or not dot or not key_id or not secret:
        raise AuthenticationFailed("malformed device token: expected 'Device <key_id>.<secret>'")
    return key_id, secret


def authenticate_device(
    session: Session, header: str | None, *, source: Source = "http"
) -> DeviceCredential:
    """The active credential the ``Authorization`` header proves; 401 otherwise (and a
    ``device_auth_failed`` security event when a key id was presented)."""
    key_id, secret = parse_device_token(header)
    cred = session.scalar(select(DeviceCredential).where(DeviceCredential.key_id == key_id))
    if cred is None or cred.revoked_at is not None or not verify_secret(secret, cred.secret_hash):
        why = "unknown key" if cred is None else "revoked" if cred.revoked_at else "bad secret"
        session.rollback()
        record_security_event(
            session,
            SecurityEventRow(
                kind="device_auth_failed",
                source=source,
                detail=why,
                key_id=key_id[:32],
                device_resource_id=cred.resource_id if cred is not None else None,
            ),
        )
        raise AuthenticationFailed("invalid or revoked device credential")
    return cred


# -- Mosquitto configuration -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Settings of the generated Mosquitto configuration."""

    port: int = 1883
    bind: str = "127.0.0.1"
    persistence_dir: str = "/var/lib/mosquitto"
    autosave_interval: int = 10
    max_queued_messages: int = 1_000_000
    max_inflight_messages: int = 0
    auth: bool = True
    #: the account Mosquitto switches to when started as root (it must own persistence_dir)
    user: str = "mosquitto"


def render_mosquitto_conf(cfg: BrokerConfig, *, password_file: Path, acl_file: Path) -> str:
    """``mosquitto.conf`` text from the shipped template."""
    template = Template(resources.files("sharefab.iot").joinpath("mosquitto.conf").read_text())
    if cfg.auth:
        auth = f"allow_anonymous false\npassword_file {password_file}\nacl_file {acl_file}"
    else:
        auth = "allow_anonymous true"
    return template.substitute(
        port=cfg.port,
        bind=cfg.bind,
        persistence_dir=cfg.persistence_dir.rstrip("/"),
        autosave_interval=cfg.autosave_interval,
        max_queued_messages=cfg.max_queued_messages,
        max_inflight_messages=cfg.max_inflight_messages,
        auth=auth,
        user=cfg.user,
    )


def render_acl(ingest_username: str = INGEST_USERNAME) -> str:
    """The ACL: the ingester reads all telemetry, each device writes only its own topic."""
    return (
        "# ShareFab telemetry ACL (generated by `sharefab devices broker-config`)\n"
        f"user {ingest_username}\n"
        "topic read sharefab/v1/telemetry/#\n"
        "\n"
        "# a device logs in with username = its resource id and may publish only there\n"
        "pattern write sharefab/v1/telemetry/%u\n"
    )


def render_password_file(session: Session, ingest_password_hash: str | None) -> str:
    """Mosquitto password file lines ``<resource_id>:<hash>`` for every active credential
    (plus the ingester's account)."""
    lines = []
    if ingest_password_hash:
        lines.append(f"{INGEST_USERNAME}:{ingest_password_hash}")
    rows = session.execute(
        select(DeviceCredential.resource_id, DeviceCredential.secret_hash)
        .join(Resource, Resource.id == DeviceCredential.resource_id)
        .where(DeviceCredential.revoked_at.is_(None))
        .order_by(DeviceCredential.resource_id)
    )
    lines.extend(f"{rid}:{h}" for rid, h in rows)
    return "\n".join(lines) + ("\n" if lines else "")


def write_broker_files(
    out_dir: Path,
    cfg: BrokerConfig,
    *,
    session: Session | None,
    ingest_password: str | None,
) -> dict[str, Path]:
    """Write ``mosquitto.conf``, ``passwords`` and ``acl`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "conf": out_dir / "mosquitto.conf",
        "passwords": out_dir / "passwords",
        "acl": out_dir / "acl",
    }
    paths["conf"].write_text(
        render_mosquitto_conf(cfg, password_file=paths["passwords"], acl_file=paths["acl"])
    )
    if cfg.auth:
        if session is None:
            raise ValueError("per-device auth needs the database (session) for the password file")
        ingest_hash = hash_secret(ingest_password) if ingest_password else None
        paths["passwords"].write_text(render_password_file(session, ingest_hash))
        paths["passwords"].chmod(0o600)
        paths["acl"].write_text(render_acl())
    else:
        del paths["passwords"], paths["acl"]
    return paths
