"""API keys: ``recpilot serve`` reuses its default key across restarts; ``recpilot keys`` issues and
revokes keys for tenants."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from recpilot.cli.app import main
from recpilot.service import AuthenticationError, KeyRing, RecommenderService
from recpilot.service.storage import api_keys


def _key_rows(service: RecommenderService, tenant: str) -> int:
    with service.state.engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(api_keys).where(api_keys.c.tenant_id == tenant)
        return int(conn.execute(query).scalar_one())


def test_default_key_is_reused_until_revoked(service: RecommenderService, tmp_path: Path) -> None:
    path = tmp_path / "keys" / "default.key"
    service.create_tenant("serve-default")
    first = KeyRing(service.state).default_key("serve-default", path)
    assert first.created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = KeyRing(service.state).default_key("serve-default", path)  # a restart
    assert not again.created
    assert again.key == first.key
    assert _key_rows(service, "serve-default") == 1
    assert service.authenticate(again.key).tenant_id == "serve-default"
    service.revoke_api_key(first.key_id)
    renewed = KeyRing(service.state).default_key("serve-default", path)
    assert renewed.created
    assert renewed.key != first.key
    assert path.read_text().strip() == renewed.key
    # A key of another tenant in the file is not handed out as this tenant's key.
    other = KeyRing(service.state).default_key("someone-else", path)
    assert other.created
    assert other.tenant_id == "someone-else"


def test_keys_cli_creates_and_revokes(
    service: RecommenderService,
    mcp_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RECPILOT_HOME", str(mcp_home))  # the store of the service fixture
    assert main(["keys", "create", "--tenant", "acme", "--name", "ci", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["tenant"] == "acme"
    assert service.state.verify_key(created["api_key"]) == (created["key_id"], "acme")
    assert main(["keys", "revoke", created["key_id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"key_id": created["key_id"], "revoked": True}
    with pytest.raises(AuthenticationError, match="revoked"):
        service.state.verify_key(created["api_key"])
    assert main(["keys", "revoke", created["key_id"]]) == 2  # no longer active: one-line error
    assert main(["keys", "create", "--tenant", "Not Valid!"]) == 2
