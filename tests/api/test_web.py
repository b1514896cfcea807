"""The chat page in headless Chromium (Debian's /usr/bin/chromium through Playwright) against a live server.

The app is the one ``recpilot serve`` builds (API, page and MCP endpoint), served by uvicorn on a
loopback port; the page gets its key from ``/config.json`` as it does under ``recpilot serve``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from recpilot.cli.serve_commands import DEFAULT_TENANT, build_serving_app
from recpilot.memory.feed_rules import AttributeTarget, FeedRule
from recpilot.service import RecommenderService, ServiceConfig

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed")
playwright_api = pytest.importorskip("playwright.sync_api")
MESSAGE = "a funny sci-fi movie from the 90s"


@pytest.fixture(scope="module")
def web_service(api_home: Path) -> Iterator[RecommenderService]:
    """The service on SQLite, as ``recpilot serve`` loads it (the browser tests need one backend only)."""
    service = RecommenderService.from_config(
        ServiceConfig(home=api_home, store_url=f"sqlite:///{api_home / 'web.db'}")
    )
    yield service
    service.close()


@pytest.fixture(scope="module")
def base_url(web_service: RecommenderService) -> Iterator[str]:
    """The serving app on a free loopback port, for the module."""
    web_service.create_tenant(DEFAULT_TENANT)
    key = web_service.create_api_key(DEFAULT_TENANT, name="web test").key
    app = build_serving_app(web_service, host="127.0.0.1", page_api_key=key)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start in 30 s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (Playwright never downloads a browser here)."""
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    """A fresh page on the chat, with a user id of its own."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.goto(f"{base_url}/")
    yield opened
    context.close()


def _switch_user(page: Any, user: str) -> None:
    page.get_by_label("User id").fill(user)
    page.get_by_role("button", name="Switch user").click()


def _ask(page: Any, text: str) -> Any:
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    cards = page.get_by_role("list", name="Recommendations").last.get_by_role("article")
    cards.first.wait_for(timeout=60_000)
    return cards


def test_message_renders_item_cards_with_titles_and_explanations(
    page: Any, web_service: RecommenderService
) -> None:
    _switch_user(page, "web-cards")
    cards = _ask(page, MESSAGE)
    assert cards.count() >= 3
    catalog = web_service.runtime.catalog
    titles = set(catalog.dataset.catalog["title"].astype(str))
    for index in range(cards.count()):
        card = cards.nth(index)
        title = card.get_by_role("heading").inner_text()
        assert title in titles
        assert card.get_attribute("aria-label") == title
        assert card.locator(".card-explanation").inner_text().strip()
        assert "Comedy" in card.locator(".card-attributes").inner_text()
    reply = page.get_by_role("log").get_by_label("recpilot").last.locator(".text").inner_text()
    assert reply
    assert reply != "…"
    assert page.get_by_role("alert").is_hidden()


def test_like_is_stored_through_the_api(page: Any, web_service: RecommenderService) -> None:
    user = "web-liker"
    _switch_user(page, user)
    cards = _ask(page, MESSAGE)
    title = cards.first.get_by_role("heading").inner_text()
    like = cards.first.get_by_role("button", name=f"Like {title}", exact=True)
    like.click()
    playwright_api.expect(like).to_have_attribute("aria-pressed", "true")
    events = web_service.feedback_events(DEFAULT_TENANT, user)
    assert [(e["event"], web_service.runtime.catalog.title(e["item_id"])) for e in events] == [
        ("like", title)
    ]
    assert web_service.memory(DEFAULT_TENANT).profile(user).values("like_item") == [str(events[0]["item_id"])]
    # The profile panel shows the new preference.
    playwright_api.expect(page.get_by_role("list", name="Remembered preferences")).to_contain_text(
        "like item"
    )


def test_feed_rule_is_listed_and_can_be_removed(page: Any, web_service: RecommenderService) -> None:
    user = "web-rules"
    memory = web_service.memory(DEFAULT_TENANT)
    rule = memory.add_feed_rule(
        user,
        FeedRule(
            user_id=user,
            effect="exclude",
            target=AttributeTarget(attribute="genres", value="Horror"),
            text="no more horror",
        ),
    )
    _switch_user(page, user)
    rules = page.get_by_role("list", name="Feed rules")
    playwright_api.expect(rules).to_contain_text("exclude genres = Horror")
    page.get_by_role("button", name="Remove rule exclude genres = Horror").click()
    playwright_api.expect(rules.get_by_role("listitem")).to_have_count(0)
    assert all(r.id != rule.id for r in memory.feed_rules(user, include_expired=True))
    assert page.get_by_role("alert").is_hidden()


def test_a_rule_that_outlasts_any_date_reads_until_removed_not_invalid_date(
    page: Any, web_service: RecommenderService
) -> None:
    """A rule stored before durations were bounded (an expiry past year 275760) shows as lasting until
    removed: the API gives null for it, and the page never prints "Invalid Date" for any value."""
    user = "web-far-rule"
    web_service.memory(DEFAULT_TENANT).add_feed_rule(
        user,
        FeedRule(
            user_id=user,
            effect="exclude",
            target=AttributeTarget(attribute="genres", value="Horror"),
            text="no more horror",
            expires_at=1e15,
        ),
    )
    assert [r.expires_at for r in web_service.profile(DEFAULT_TENANT, user).feed_rules] == [None]
    _switch_user(page, user)
    rules = page.get_by_role("list", name="Feed rules")
    playwright_api.expect(rules).to_contain_text("exclude genres = Horror")
    assert "Invalid Date" not in rules.inner_text()
    far = page.evaluate(
        "describeRule({effect: 'exclude', target: {kind: 'attribute', attribute: 'genres', value: 'Horror'},"
        " expires_at: 1e15})"
    )
    assert far == "exclude genres = Horror (until a date too far to show)"
    soon = page.evaluate(
        "describeRule({effect: 'exclude', target: {kind: 'title_pattern', pattern: 'sequel'},"
        " expires_at: 1.9e9})"
    )
    assert soon.startswith("exclude sequels (until ")
    assert "2030" in soon


def test_feed_command_typed_in_the_chat_appears_as_a_removable_rule(
    page: Any, web_service: RecommenderService
) -> None:
    user = "web-commands"
    _switch_user(page, user)
    page.get_by_label("Message").fill("no more horror this week")
    page.get_by_role("button", name="Send").click()
    rules = page.get_by_role("list", name="Feed rules")
    playwright_api.expect(rules).to_contain_text("exclude genres = Horror", timeout=60_000)
    playwright_api.expect(rules).to_contain_text("asked by your message in turn 1")
    stored = web_service.memory(DEFAULT_TENANT).feed_rules(user)
    assert [(r.effect, r.expires_at is not None) for r in stored] == [("exclude", True)]
    assert [(r.provenance.source, r.provenance.turn) for r in stored] == [("user", 1)]
    page.get_by_role("button", name="Remove rule exclude genres = Horror").click()
    playwright_api.expect(rules.get_by_role("listitem")).to_have_count(0)
    assert web_service.memory(DEFAULT_TENANT).feed_rules(user) == []


def test_errors_are_shown_to_the_user(browser: Any, base_url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base_url}/#key=not-a-real-key")
    alert = page.get_by_role("alert")
    playwright_api.expect(alert).to_contain_text("401")
    page.get_by_label("Message").fill("anything")
    page.get_by_role("button", name="Send").click()
    playwright_api.expect(alert).to_contain_text("Could not get an answer")
    context.close()


def test_screenshot_shows_rendered_recommendations(page: Any, tmp_path: Path) -> None:
    from PIL import Image, ImageStat

    _switch_user(page, "web-screenshot")
    cards = _ask(page, MESSAGE)
    path = tmp_path / "recommendations.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    with Image.open(path) as image:
        pixels = image.convert("L")
        assert ImageStat.Stat(pixels).stddev[0] > 10, "the screenshot is (almost) blank"
        for index in range(min(cards.count(), 3)):
            box = cards.nth(index).bounding_box()
            assert box is not None
            assert box["width"] > 100
            assert box["height"] > 50
            crop = pixels.crop(
                (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"]))
            )
            # Text on the card: dark pixels on a light background.
            assert ImageStat.Stat(crop).extrema[0][0] < 100
