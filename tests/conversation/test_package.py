"""The conversation, crs and simulation packages export their main names without import cycles or heavy
imports: the LLM parts, the agent and Ray load only when a name that needs them is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

import recpilot.conversation
import recpilot.crs
import recpilot.simulation


@pytest.mark.parametrize("package", [recpilot.conversation, recpilot.crs, recpilot.simulation])
def test_every_exported_name_resolves(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert len(names) == len(set(names))
    missing = [name for name in names if getattr(package, name, None) is None]
    assert missing == []
    assert set(names) <= set(dir(package))


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = recpilot.conversation.nothing_here  # type: ignore[attr-defined]


def test_a_plain_import_stays_light_and_acyclic() -> None:
    # A fresh interpreter: this process has loaded everything already.
    code = (
        "import sys, recpilot.conversation, recpilot.simulation\n"
        "heavy = [m for m in ('pydantic_ai', 'ray', 'recpilot.agent') if m in sys.modules]\n"
        "assert heavy == [], heavy\n"
        "import recpilot.crs\n"
        "assert 'pydantic_ai' not in sys.modules\n"
        "from recpilot.crs import run_freeform, evaluate_redial\n"
        "from recpilot.simulation import RuleBasedUserSimulator\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
