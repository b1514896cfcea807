"""One system config file builds the same agent in the library, the CLI and the service; a bad file gets
one message naming the file and the field; the service makes every tenant's agent with its factory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import recpilot
from recpilot.agent.agent import RecommenderAgent
from recpilot.agent.brain import Brain
from recpilot.agent.llm_brain import LLMBrain, build_llm_brain
from recpilot.agent.offline import OfflineBrain
from recpilot.agent.runtime import AgentRuntime
from recpilot.agent.system import SystemSpec, agent_factory, build_brain
from recpilot.cli.app import main
from recpilot.cli.serve_commands import serving_service
from recpilot.conversation.policy import build_policy
from recpilot.errors import ConfigError
from recpilot.llm import LLMSettings
from recpilot.memory import InMemoryProfileMemory
from recpilot.memory.sql import SqlProfileMemory
from recpilot.registry import Spec
from recpilot.service import RecommenderService, ServiceConfig
from recpilot.service.schemas import MessageIn, SessionCreate
from recpilot.testing import known_answer_dataset
from recpilot.testing.brains import planning_model
from recpilot.tools.dispatcher import ToolPolicy

GENRES = ["Comedy", "Drama", "Horror", "Action", "Romance", "Thriller"]
MESSAGE = "recommend me something"


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The known-answer data as a MovieLens folder: users 1..n, films 100..135, one genre per group."""
    known = known_answer_dataset()
    folder = tmp_path_factory.mktemp("tiny-movielens")
    frame = known.dataset.interactions
    users = known.dataset.users.external_ids
    items = known.dataset.items.external_ids
    numbers = {str(user): n + 1 for n, user in enumerate(users)}
    pd.DataFrame(
        {
            "userId": [numbers[str(users[u])] for u in frame["user_idx"]],
            "movieId": [int(items[i]) for i in frame["item_idx"]],
            "rating": frame["rating"],
            "timestamp": frame["timestamp"],
        }
    ).to_csv(folder / "ratings.csv", index=False)
    pd.DataFrame(
        {
            "movieId": [int(i) for i in items],
            "title": [f"Film {i} ({1980 + known.group_of_item[int(i)] * 5})" for i in items],
            "genres": [GENRES[known.group_of_item[int(i)]] for i in items],
        }
    ).to_csv(folder / "movies.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def system_file(catalog_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("system") / "system.toml"
    path.write_text(
        f'dataset = "{catalog_dir.as_posix()}"\n'
        "k = 4\n"
        "[roles]\n"
        'collaborative = { class = "ease", config = { l2 = 10.0 } }\n'
        'content = "content"\n'
        "[brain]\n"
        'class = "offline"\n'
        'config = { clarify_policy = "max-entropy" }\n',
        encoding="utf-8",
    )
    return path


def _ids(items: list[Any]) -> list[str]:
    return [str(item["item_id"] if isinstance(item, dict) else item.item_id) for item in items]


def test_one_file_builds_the_same_agent_in_the_library_cli_and_service(
    system_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    library = recpilot.build_agent(system_file)
    assert isinstance(library, RecommenderAgent)
    assert library.k == 4
    assert library.brain.name == "offline"
    assert set(library.runtime.models) == {"collaborative", "content"}
    assert library.runtime.models["collaborative"].config.l2 == 10.0  # type: ignore[attr-defined]
    expected = _ids(library.respond("1", MESSAGE, session_id="lib").items)
    assert len(expected) == 4

    monkeypatch.setenv("RECPILOT_HOME", str(tmp_path / "home"))
    assert main(["ask", MESSAGE, "--user", "1", "--system", str(system_file), "--json"]) == 0
    assert _ids(json.loads(capsys.readouterr().out)["items"]) == expected

    spec = SystemSpec.load(system_file)
    config = ServiceConfig(dataset=spec.dataset, home=tmp_path / "service", roles=dict(spec.roles))
    service = RecommenderService.from_config(config, agent_factory=agent_factory(spec))
    try:
        service.create_tenant("t1")
        session = service.create_session("t1", SessionCreate(user_id="1"))
        reply = service.send("t1", session.session_id, MessageIn(content=MESSAGE))
        assert _ids(reply.items) == expected
        assert reply.brain == "offline"
    finally:
        service.close()


def test_the_service_makes_each_tenants_agent_with_its_factory(system_file: Path, tmp_path: Path) -> None:
    made: list[tuple[str, ToolPolicy | None]] = []
    spec = SystemSpec.load(system_file)
    default = agent_factory(spec)

    def factory(runtime: AgentRuntime, policy: ToolPolicy | None) -> RecommenderAgent:
        made.append((type(runtime.memory).__name__, policy))
        return default(runtime, policy)

    config = ServiceConfig(dataset=spec.dataset, home=tmp_path, roles=dict(spec.roles))
    service = RecommenderService.from_config(config, agent_factory=factory)
    try:
        for tenant in ("a", "b", "a"):
            service.create_tenant(tenant)
            session = service.create_session(tenant, SessionCreate(user_id="2"))
            assert service.send(tenant, session.session_id, MessageIn(content=MESSAGE)).items
        assert [name for name, _ in made] == ["TenantMemory", "TenantMemory"]  # once per tenant
        assert all(policy is service.policy for _, policy in made)
    finally:
        service.close()


def test_the_llm_brain_of_a_system_gets_the_llm_or_a_test_double(system_file: Path) -> None:
    spec = SystemSpec.load({"brain": "llm", "llm": "http://127.0.0.1:9/v1#tiny"})
    brain: Brain = build_brain(spec.brain, llm=spec.llm)
    assert isinstance(brain, LLMBrain)
    assert brain.llm.settings.model == "tiny"
    agent = recpilot.build_agent(
        {**SystemSpec.load(system_file).model_dump(mode="json", by_alias=True), "brain": "llm"},
        model=planning_model(),
    )
    response = agent.respond("1", MESSAGE)
    assert response.brain == "llm"
    assert not response.degraded
    assert response.items
    with pytest.raises(ConfigError, match="config field 'model' is required"):
        SystemSpec.load({"brain": "llm"})


def test_roles_and_brain_accept_names_and_specs() -> None:
    spec = SystemSpec.load({"roles": {"collaborative": "pop", "seq": {"class": "ease"}}, "brain": "offline"})
    assert spec.roles == {"collaborative": Spec.of("pop"), "seq": Spec.of("ease")}
    assert spec.brain == Spec.of("offline")
    assert SystemSpec().roles == {"collaborative": Spec.of("ease"), "content": Spec.of("content")}


@pytest.mark.parametrize(
    ("content", "suffix", "words"),
    [
        ('dataset = "x"\nbrian = "offline"\n', ".toml", ["field 'brian'", "Extra inputs"]),
        ('[roles]\ncollaborative = "nosuch"\n', ".toml", ["roles.collaborative", "unknown model 'nosuch'"]),
        (
            '[roles]\ncollaborative = { class = "ease", config = { l3 = 1 } }\n',
            ".toml",
            ["roles.collaborative", "unknown config field 'l3'", "known fields: l2"],
        ),
        (
            '[brain]\nclass = "offline"\nconfig = { pool = 3 }\n',
            ".toml",
            ["brain spec", "unknown config field 'pool'"],
        ),
        ('[brain]\nclass = "mypkg.brains.Mine"\n', ".toml", ["'mypkg.brains.Mine' does not import"]),
        ('[memory]\nclass = "redis"\n', ".toml", ["unknown memory 'redis'", "in-memory, sql"]),
        ('policy = "lenient"\n', ".toml", ["lenient"]),
        ("k = 0\n", ".toml", ["field 'k'", "greater than or equal to 1"]),
        ("dataset = \n", ".toml", ["is not valid TOML"]),
        ('{"brain": {"class": "offline", "cfg": {}}}', ".json", ["field 'brain.cfg'", "Extra inputs"]),
        ('{"brain": ', ".json", ["is not valid JSON"]),
    ],
)
def test_a_bad_system_file_gets_one_message_naming_the_file_and_the_field(
    tmp_path: Path, content: str, suffix: str, words: list[str]
) -> None:
    path = tmp_path / f"system{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(recpilot.RecpilotError) as caught:
        SystemSpec.load(path)
    message = str(caught.value)
    assert str(path) in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_the_cli_reports_a_bad_system_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "system.toml"
    path.write_text('[brain]\nclass = "oracle"\n', encoding="utf-8")
    assert main(["ask", MESSAGE, "--system", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown brain 'oracle'" in err
    assert str(path) in err.replace("\n", "")
    assert "Traceback" not in err
    assert main(["ask", MESSAGE, "--system", str(tmp_path / "missing.toml")]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_serve_checks_the_system_file_before_loading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "system.toml"
    path.write_text('[roles]\ncollaborative = { class = "ease", config = { l3 = 1 } }\n', encoding="utf-8")
    assert main(["serve", "--port", "0", "--system", str(path)]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert "unknown config field 'l3'" in err
    assert "Traceback" not in err


def test_an_llm_endpoint_makes_the_llm_brain_decide_with_the_files_offline_brain_as_fallback(
    system_file: Path,
) -> None:
    spec = SystemSpec.load(system_file).with_llm("http://127.0.0.1:9/v1#tiny")
    assert spec.brain == Spec.of("llm")
    assert spec.fallback == Spec.of("offline", {"clarify_policy": "max-entropy"})
    agent = agent_factory(spec)(recpilot.build_agent(system_file).runtime, None)
    assert isinstance(agent.brain, LLMBrain)
    assert agent.brain.llm.settings.model == "tiny"
    assert isinstance(agent.fallback, OfflineBrain)
    assert isinstance(agent.fallback.conversation.policy, type(build_policy("max-entropy")))

    llm_file = SystemSpec.load({"brain": "llm", "llm": "http://127.0.0.1:9/v1#old"})
    assert llm_file.with_llm("http://127.0.0.1:9/v1#new").llm == "http://127.0.0.1:9/v1#new"
    assert llm_file.with_llm("http://127.0.0.1:9/v1#new").fallback is None
    assert SystemSpec.load(system_file).with_llm(None) == SystemSpec.load(system_file)

    custom = SystemSpec.load({"brain": "recpilot.testing.obeying_brain.ObeyingBrain"})
    with pytest.raises(ConfigError, match="takes no model: leave out --llm"):
        custom.with_llm("http://127.0.0.1:9/v1#tiny")


def test_serve_with_a_system_file_honours_its_memory_and_lets_llm_choose_the_brain(
    system_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECPILOT_HOME", str(tmp_path / "home"))
    with_memory = tmp_path / "memory.toml"
    with_memory.write_text(system_file.read_text() + '[memory]\nclass = "in-memory"\n', encoding="utf-8")

    service, _, brain = serving_service(system=with_memory)
    try:
        assert isinstance(service.runtime.memory, InMemoryProfileMemory)
        assert brain == "offline"
        service.create_tenant("t")
        assert isinstance(service.memory("t").base, InMemoryProfileMemory)
    finally:
        service.close()

    service, _, brain = serving_service(system=system_file)  # no memory named: the store's SQL memory
    try:
        assert isinstance(service.runtime.memory, SqlProfileMemory)
    finally:
        service.close()

    service, config, brain = serving_service(system=with_memory, llm="http://127.0.0.1:9/v1#tiny")
    try:
        assert brain == "llm"
        assert config.llm == "http://127.0.0.1:9/v1#tiny"
        service.create_tenant("t")
        agent = service._agent("t")
        assert isinstance(agent.brain, LLMBrain)
        assert agent.brain.llm.settings.model == "tiny"
        assert isinstance(agent.fallback, OfflineBrain)
    finally:
        service.close()


def test_serve_refuses_llm_with_a_brain_that_takes_no_model_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "system.toml"
    path.write_text('[brain]\nclass = "recpilot.testing.obeying_brain.ObeyingBrain"\n', encoding="utf-8")
    assert main(["serve", "--port", "0", "--system", str(path), "--llm", "http://127.0.0.1:9/v1#tiny"]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert "takes no model" in err
    assert "Traceback" not in err


def test_ask_with_llm_tries_the_llm_brain_instead_of_keeping_the_files_offline_brain(
    system_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECPILOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RECPILOT_LLM_MAX_RETRIES", "0")
    # Nothing listens on port 9: the LLM brain fails at once and the file's offline brain answers.
    args = ["ask", MESSAGE, "--user", "1", "--system", str(system_file), "--json"]
    assert main([*args, "--llm", "http://127.0.0.1:9/v1#tiny"]) == 0
    response = json.loads(capsys.readouterr().out)
    assert response["degraded"] is True
    assert response["items"]


def test_a_system_llm_brain_without_an_openai_key_gets_the_llm_brains_one_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "RECPILOT_LLM_API_KEY", "RECPILOT_LLM_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as from_system:
        build_brain("llm", llm="openai:gpt-4o-mini")
    with pytest.raises(ConfigError) as direct:
        build_llm_brain(LLMSettings.from_cli("openai:gpt-4o-mini"))
    assert str(from_system.value) == str(direct.value)
    assert "RECPILOT_LLM_API_KEY" in str(direct.value)
