"""The LLM user simulator with scripted models: typed answers checked against the page, bounded retries,
fallback decisions that never crash a run, bounded memory, and the real HTTP path on loopback."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from _s1_data import clustered_dataset

from recpilot.llm import LLMSettings
from recpilot.llm.ratelimit import RateLimitConfig, RateLimiter
from recpilot.simulation.assembly import build_simulation
from recpilot.simulation.llm_engine import LLMDecisionEngine, LLMEngineConfig
from recpilot.simulation.llm_prompts import catalog_items
from recpilot.simulation.runner import SimulationRunner
from recpilot.simulation.types import Page, Persona, SessionRecord, ShownItem, SimulationConfig, UserState
from recpilot.testing.llm_models import scripted_model
from recpilot.testing.llm_server import (
    ScriptedLLMServer,
    reply_delayed,
    reply_error,
    reply_json,
    reply_malformed,
    reply_output,
    reply_text,
    reply_tool_calls,
)

GENRES = {"1": ["Comedy"], "2": ["Drama"], "3": ["Horror"], "4": ["Comedy", "Romance"]}


def make_page(ids: tuple[str, ...] = ("1", "2", "3", "4"), index: int = 0) -> Page:
    items = [
        ShownItem(item_id=i, position=p, title=f"Film {i}", attributes={"genres": GENRES.get(i, ["Drama"])})
        for p, i in enumerate(ids)
    ]
    return Page(session=0, index=index, items=items)


def make_persona(history: list[str] | None = None) -> Persona:
    return Persona(
        user_id="u1",
        history=history or ["10", "11"],
        activity=0.5,
        conformity=0.5,
        diversity=0.5,
        rating_mean=3.5,
        rating_std=1.0,
        description="Likes light comedies.",
    )


def answer(clicked: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"clicked": clicked, "leave": False, "satisfaction": 0.7, "reason": "fun", **extra}


VALID = answer([{"item_id": "4", "rating": 4.5, "reason": "romcom"}], last_position_viewed=3)


def decide(engine: LLMDecisionEngine, page: Page | None = None, persona: Persona | None = None) -> Any:
    return asyncio.run(engine.adecide(persona or make_persona(), UserState(), page or make_page()))


def test_valid_answer_becomes_typed_actions() -> None:
    model = scripted_model(answer([{"item_id": "2", "rating": 4.0}], last_position_viewed=2, leave=True))
    decision = decide(LLMDecisionEngine(model))
    kinds = [(a.kind, a.item_id) for a in decision.actions]
    assert kinds == [
        ("view", "1"),
        ("click", "2"),
        ("rate", "2"),
        ("view", "3"),
        ("skip", "4"),
        ("leave", None),
    ]
    assert decision.leave
    assert decision.satisfaction == 0.7
    assert next(a for a in decision.actions if a.kind == "rate").rating == 4.0


def test_item_not_on_page_is_sent_back_then_accepted() -> None:
    model = scripted_model(answer([{"item_id": "999"}]), VALID)
    engine = LLMDecisionEngine(model)
    decision = decide(engine)
    assert [a.item_id for a in decision.actions if a.kind == "click"] == ["4"]
    assert "999" in model.calls[1].prompt
    assert "not on the page" in model.calls[1].prompt
    assert (engine.stats.requests, engine.stats.rejected, engine.stats.failures) == (2, 1, 0)


def test_rating_off_scale_and_invalid_json_are_retried() -> None:
    model = scripted_model([("final_result", "{not json")], answer([{"item_id": "1", "rating": 9.0}]), VALID)
    engine = LLMDecisionEngine(model, LLMEngineConfig(output_retries=2))
    decision = decide(engine)
    assert [a.rating for a in decision.actions if a.kind == "rate"] == [4.5]
    assert "outside the scale" in model.calls[2].prompt
    assert engine.stats.rejected == 2


def test_always_malformed_is_counted_and_the_run_continues() -> None:
    bad = answer([{"item_id": "nope"}])
    model = scripted_model(*([bad] * 4), VALID)
    engine = LLMDecisionEngine(model, LLMEngineConfig(output_retries=1, page_attempts=2))
    page = make_page()
    fallback = decide(engine, page)
    assert [a.kind for a in fallback.actions] == ["skip"] * len(page.items)
    assert not fallback.leave
    assert all("engine failure" in a.reason for a in fallback.actions)
    assert engine.stats.failures == 1
    assert engine.stats.requests == 4
    assert "not on the page" in engine.stats.last_error or engine.stats.last_error
    # the next page is decided normally
    assert [a.item_id for a in decide(engine).actions if a.kind == "click"] == ["4"]


def test_leave_policy_on_failure() -> None:
    bad = answer([{"item_id": "x"}])
    engine = LLMDecisionEngine(scripted_model(bad, bad), LLMEngineConfig(on_failure="leave", page_attempts=1))
    decision = decide(engine)
    assert decision.leave
    assert decision.actions[-1].kind == "leave"
    assert engine.stats.failures == 1


def test_memory_in_the_prompt_is_bounded_and_relevant() -> None:
    history = [str(i) for i in range(100, 600)]  # 500 past items
    catalog = {
        i: ShownItem(item_id=i, position=0, title=f"Old {i}", attributes={"genres": ["Horror"]})
        for i in history
    }
    for comedy in ("150", "151", "152"):  # the only past comedies, far from recent
        catalog[comedy] = ShownItem(
            item_id=comedy, position=0, title=f"Old {comedy}", attributes={"genres": ["Comedy"]}
        )
    model = scripted_model(answer([{"item_id": "4"}]))
    config = LLMEngineConfig(memory_similar=3, memory_recent=2, memory_max_chars=2000)
    page = make_page(("1", "4"))  # comedies only
    decide(LLMDecisionEngine(model, config, catalog=catalog), page, make_persona(history))
    prompt = model.calls[0].prompt
    recalled = [line for line in prompt.splitlines() if line.startswith("- [")]
    assert len(recalled) == 5
    assert {"[150]", "[151]", "[152]", "[598]", "[599]"} == {line.split()[1] for line in recalled}
    assert "[300]" not in prompt

    tight = scripted_model(answer([]))
    decide(
        LLMDecisionEngine(tight, LLMEngineConfig(memory_max_chars=80), catalog=catalog),
        page,
        make_persona(history),
    )
    memory = tight.calls[0].prompt.split("## What you remember")[1].split("## Right now")[0]
    assert sum(len(line) + 1 for line in memory.strip().splitlines() if line.startswith("- [")) <= 80


def test_interview_is_typed_and_checked_against_the_session() -> None:
    page = make_page()
    record = SessionRecord(user_id="sim-1", session=0, pages=[page], decisions=[], exit_page=0)
    model = scripted_model(
        {"reason": "too scary", "satisfaction": 0.2, "liked": ["77"], "disliked": []},
        {"reason": "too scary", "satisfaction": 0.2, "liked": ["1"], "disliked": ["3"]},
    )
    engine = LLMDecisionEngine(model)
    interview = asyncio.run(engine.ainterview(make_persona(), UserState(), record))
    assert (interview.stayed, interview.liked, interview.disliked) == (False, ["1"], ["3"])
    assert interview.reason == "too scary"
    assert engine.stats.rejected == 1

    unknown = {"reason": "?", "satisfaction": 0.9, "liked": ["x"], "disliked": []}
    failing = LLMDecisionEngine(scripted_model(unknown, unknown))
    templated = asyncio.run(failing.ainterview(make_persona(), UserState(satisfaction=0.4), record))
    assert templated.satisfaction == 0.4
    assert failing.stats.interview_failures == 1


def test_catalog_items_reads_titles_and_genres() -> None:
    from recpilot.data.builtin import load_builtin

    items = catalog_items(load_builtin(), ["genres"])
    assert items["1"].title.startswith("Toy Story")
    assert "Animation" in items["1"].attributes["genres"]


def _settings(server: ScriptedLLMServer, **extra: Any) -> LLMSettings:
    return LLMSettings(base_url=server.base_url, model="sim", backoff_s=0.01, timeout_s=2.0, **extra)


def _http_engine(settings: LLMSettings, **config: Any) -> LLMDecisionEngine:
    return LLMDecisionEngine(settings, LLMEngineConfig(**config))


def _decide_and_close(engine: LLMDecisionEngine, page: Page | None = None) -> Any:
    async def run() -> Any:
        async with engine:
            return await engine.adecide(make_persona(), UserState(), page or make_page())

    return asyncio.run(run())


def test_http_5xx_is_retried_then_answered() -> None:
    with ScriptedLLMServer([reply_error(503), reply_error(500), reply_output(VALID)]) as server:
        engine = _http_engine(_settings(server, max_retries=2))
        decision = _decide_and_close(engine)
    assert [a.item_id for a in decision.actions if a.kind == "click"] == ["4"]
    assert len(server.chat_requests) == 3
    assert engine.stats.failures == 0
    assert (engine.stats.input_tokens, engine.stats.output_tokens) == (100, 20)
    assert "Film 4" in server.chat_requests[0].text()


def test_http_5xx_every_time_is_counted_and_the_run_continues() -> None:
    script = [reply_error(500)] * 4 + [reply_malformed()] * 2
    with ScriptedLLMServer(script) as server:
        engine = _http_engine(_settings(server, max_retries=1), page_attempts=2)
        first = decide(engine)  # two calls of two attempts, all 500
        second = decide(engine)  # malformed bodies
        asyncio.run(engine.aclose())
    assert [a.kind for a in first.actions] == ["skip"] * 4
    assert [a.kind for a in second.actions] == ["skip"] * 4
    assert engine.stats.failures == 2
    assert len(server.chat_requests) == 6


def test_rejected_answers_over_http_are_sent_back() -> None:
    script = [
        reply_output(answer([{"item_id": "999"}])),
        reply_tool_calls([("final_result", "{not json")]),
        reply_text("I would rather watch something else."),
        reply_output(VALID),
    ]
    with ScriptedLLMServer(script) as server:
        engine = _http_engine(_settings(server), output_retries=3)
        decision = _decide_and_close(engine)
    assert [a.item_id for a in decision.actions if a.kind == "click"] == ["4"]
    assert (engine.stats.requests, engine.stats.rejected, engine.stats.failures) == (4, 3, 0)
    second = server.chat_requests[1].messages
    assert [m["role"] for m in second] == ["system", "user", "assistant", "tool"]
    assert second[3]["tool_call_id"] == second[2]["tool_calls"][0]["id"]
    assert "999" in second[3]["content"]
    assert "not on the page" in second[3]["content"]
    assert "invalid answer" in server.chat_requests[2].messages[-1]["content"]
    last = server.chat_requests[3].messages
    assert last[-1]["role"] == "user"
    assert "no JSON object in the answer" in last[-1]["content"]
    assert any(m.get("content") == "I would rather watch something else." for m in last)


def test_lean_client_reads_object_arguments_and_rejects_non_completions() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "final_result", "arguments": VALID}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    script = [
        reply_json({"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}),
        reply_json({"object": "list", "data": []}),
        reply_json({"choices": "none"}),
    ]
    with ScriptedLLMServer(script) as server:
        engine = _http_engine(_settings(server), page_attempts=2)
        first = decide(engine)  # arguments as a JSON object (some servers), no usage reported
        second = decide(engine)  # two bodies that are no chat completions: the fallback
        asyncio.run(engine.aclose())
    assert [a.item_id for a in first.actions if a.kind == "click"] == ["4"]
    assert [a.kind for a in second.actions] == ["skip"] * 4
    assert (engine.stats.requests, engine.stats.failures, engine.stats.input_tokens) == (1, 1, 0)
    assert engine.stats.last_error.startswith("ChatCompletionsError")
    assert "not a chat completion" in engine.stats.last_error


def test_the_request_carries_the_settings_a_token_budget_and_a_named_output_tool() -> None:
    with ScriptedLLMServer([reply_output(VALID)]) as server:
        settings = _settings(server, api_key="sk-test", temperature=0.7)
        _decide_and_close(_http_engine(settings))
    (request,) = server.chat_requests
    assert request.headers["authorization"] == "Bearer sk-test"
    assert (request.body["model"], request.body["temperature"]) == ("sim", 0.7)
    assert request.body["max_tokens"] == 300  # the page answer's budget, never unbounded
    assert request.body["tool_choice"] == {"type": "function", "function": {"name": "final_result"}}
    assert request.tool_names == ["final_result"]


def test_remote_endpoint_is_refused_without_a_request() -> None:
    settings = LLMSettings(base_url="http://llm.example.com/v1", model="sim", max_retries=0)
    engine = _http_engine(settings, page_attempts=1)
    decision = _decide_and_close(engine)
    assert [a.kind for a in decision.actions] == ["skip"] * 4
    assert engine.stats.failures == 1
    assert engine.stats.requests == 0
    assert engine.stats.last_error.startswith("LLMRequestRefusedError")


def test_concurrent_pages_respect_the_rate_limiter() -> None:
    replies = [reply_delayed(0.05, reply_output(VALID)) for _ in range(12)]
    with ScriptedLLMServer(replies) as server:
        engine = _http_engine(_settings(server), rate=RateLimitConfig(max_concurrency=3, adaptive=False))

        async def run() -> tuple[list[Any], RateLimiter | None]:
            async with engine:
                pages = [make_page(index=i) for i in range(12)]
                decisions = await asyncio.gather(
                    *(engine.adecide(make_persona(), UserState(), p) for p in pages)
                )
                return decisions, engine.limiter

        decisions, limiter = asyncio.run(run())
    assert all([a.item_id for a in d.actions if a.kind == "click"] == ["4"] for d in decisions)
    assert limiter is not None
    assert limiter.peak_in_flight == 3
    assert limiter.started == 12
    assert len(server.chat_requests) == 12


def test_the_runner_drives_the_llm_engine_end_to_end() -> None:
    def first_item(messages: list[Any], info: Any) -> dict[str, Any]:
        text = str(messages[-1].parts[-1].content)
        if "## The page" not in text:  # the interview
            return {"reason": "saw enough", "satisfaction": 0.5, "liked": [], "disliked": []}
        page = text.split("## The page")[1]
        first = re.search(r"^0\. \[([^\]]+)\]", page, re.MULTILINE)
        assert first is not None
        leave = "page 2." in text
        return answer([{"item_id": first.group(1), "rating": 4.0}], last_position_viewed=1, leave=leave)

    dataset = clustered_dataset()
    engine = LLMDecisionEngine(scripted_model(*[first_item] * 200), catalog=catalog_items(dataset))
    config = SimulationConfig(
        users=6, sessions=1, pages=4, page_size=4, seed=2, recommender="pop", engine="llm"
    )
    runner = SimulationRunner(build_simulation(config, dataset=dataset, engine=engine))
    result = runner.run_sync()
    items, sessions = runner.items, runner.sessions
    assert set(items.loc[items["action"] == "click", "position"]) == {0}
    assert set(items.loc[items["position"] >= 2, "action"]) == {"skip"}
    assert (sessions["pages_seen"] == 2).all()
    assert set(sessions["reason"]) == {"saw enough"}
    assert result.engine == "llm"
    assert engine.stats.failures == 0
    assert engine.stats.requests == 6 * 2 + 6  # two pages and one interview per user


def test_the_simulation_expects_the_pages_of_sessions_like_those_ended() -> None:
    engine = LLMDecisionEngine(scripted_model())
    assert engine.run_counts(sessions=10, pages=5).total == 50  # before any session ended: all pages
    engine.stats.pages = engine.stats.session_pages = 4  # two sessions ended after 2 pages each
    engine.stats.sessions = 2
    engine.stats.pages += 3  # and 3 pages of running sessions
    counts = engine.run_counts(sessions=10, pages=5)
    assert (counts.done, counts.total) == (7, 4 + 8 * 2)
