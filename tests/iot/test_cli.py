"""The iot commands: device credentials, the Mosquitto config, clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sharefab.cli import app
from sharefab.iot.devices import verify_secret

from .conftest import MakeResources

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
runner = CliRunner()


@SQLITE_ONLY
def test_credentials_and_broker_config(
    tmp_path: Path, db_url: str, make_resources: MakeResources
) -> None:
    a, b = make_resources(2)
    created = runner.invoke(app, ["devices", "credentials", "create", str(a), "--db", db_url])
    assert created.exit_code == 0, created.output
    first = json.loads(created.stdout.splitlines()[0])
    assert first["mqtt_username"] == str(a)
    assert first["http_authorization"] == f"Device {first['key_id']}.{first['secret']}"

    again = runner.invoke(app, ["devices", "credentials", "create", str(a), "--db", db_url])
    assert again.exit_code == 1 and "rotate it" in again.output
    rotated = runner.invoke(app, ["devices", "credentials", "rotate", str(a), "--db", db_url])
    second = json.loads(rotated.stdout.splitlines()[0])
    assert second["key_id"] != first["key_id"]
    runner.invoke(app, ["devices", "credentials", "create", str(b), "--db", db_url])
    revoked = runner.invoke(app, ["devices", "credentials", "revoke", str(b), "--db", db_url])
    assert revoked.exit_code == 0

    out = tmp_path / "broker"
    args = ["devices", "broker-config", "--out", str(out), "--db", db_url, "--port", "18883"]
    result = runner.invoke(app, [*args, "--ingest-password", "pw", "--persistence-dir", "/x"])
    assert result.exit_code == 0, result.output
    conf = (out / "mosquitto.conf").read_text()
    for line in (
        "listener 18883 127.0.0.1",
        "persistence true",
        "persistence_location /x/",
        "max_queued_messages 1000000",
        "max_inflight_messages 0",
        "allow_anonymous false",
        f"password_file {out / 'passwords'}",
    ):
        assert line in conf.splitlines(), line
    passwords = dict(line.split(":", 1) for line in (out / "passwords").read_text().splitlines())
    assert set(passwords) == {"sharefab-ingest", str(a)}  # b was revoked
    assert verify_secret(second["secret"], passwords[str(a)])
    assert not verify_secret(first["secret"], passwords[str(a)])
    assert "pattern write sharefab/v1/telemetry/%u" in (out / "acl").read_text()


@SQLITE_ONLY
def test_bad_input_gets_a_clear_message(db_url: str, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["devices", "credentials", "create", "999", "--db", db_url])
    assert missing.exit_code == 1 and "resource 999 not found" in missing.output
    no_pw = runner.invoke(app, ["devices", "broker-config", "--out", str(tmp_path), "--db", db_url])
    assert no_pw.exit_code == 1 and "--ingest-password" in no_pw.output
    bad_url = runner.invoke(app, ["ingest", "--db", db_url, "--mqtt-url", "http://x"])
    assert bad_url.exit_code == 1 and "scheme must be mqtt://" in bad_url.output
    bad_transport = runner.invoke(
        app, ["devices", "simulate", "--transport", "carrier-pigeon", "--db", db_url]
    )
    assert bad_transport.exit_code == 1 and "--transport" in bad_transport.output
    assert "Traceback" not in missing.output + no_pw.output + bad_url.output
