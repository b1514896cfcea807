"""recpilot's HTTP API (FastAPI): ``create_app(config) -> FastAPI``.

Routes (all under ``/v1`` need ``Authorization: Bearer <api key>``): ``POST /v1/recommend``,
``POST /v1/sessions``, ``GET|POST /v1/sessions/{id}/messages`` (JSON, or server-sent events with
``Accept: text/event-stream`` or at ``.../messages/stream``), ``POST /v1/feedback``,
``GET /v1/users/{id}/profile``, ``DELETE /v1/users/{id}[/preferences/{pid}|/feed-rules/{rid}]``,
``GET /v1/users/{id}/explanations/{item}``, ``POST /v1/simulations``, ``GET /v1/simulations/{id}``
and ``.../result``; ``/healthz``, ``/readyz``, ``/metrics`` (Prometheus); OpenAPI at ``/openapi.json``
and ``/docs``.

``POST /v1/recommend`` obeys the user's remembered likes, dislikes and active feed rules through the one
ranking pipeline (:class:`recpilot.ranking.Ranking`, which also answers the MCP ``recommend`` tool,
the agent's ranking tool and ``recpilot recommend``); ``model`` picks the ranking, ``explain: false``
skips the evidence. Rankings are cached per history and filtered per request, with results identical
to ranking the whole catalog (see :mod:`recpilot.ranking.cache`).

Simulation jobs run in background threads of the server that accepted them, on the served dataset,
with the offline engine (``llm`` only when the server has an LLM); a server runs at most
``LimitsConfig.max_simulation_jobs`` at once (more: 429) with at most ``max_simulation_users`` users
each (more: 422). Jobs are rows of the store: their state survives restarts, and a job interrupted by a
restart is reported ``failed`` (submit it again: the seed reproduces it).

Keys and tenants: ``recpilot keys create --tenant T`` (or ``RecommenderService.create_api_key``)
issues a key (shown once, stored as a hash); ``recpilot keys revoke KEY_ID`` revokes one. Each key's
tenant sees only its own users, sessions, memories, feedback and simulation jobs.

How the chat page gets its key: ``recpilot serve`` uses a default key for the ``default`` tenant,
prints it, and passes it as ``create_app(..., page_api_key=key)``. Its plaintext is kept in a file of
mode 0600 under the settings home (``keys/default-<store hash>.key``) and reused on every start while
the store accepts it, so restarts do not pile up keys; a new one is issued only when it is missing or
revoked. The page (served at ``/`` from
``recpilot/api/web/static`` when that folder exists) fetches ``GET /config.json`` ->
``{"api_key": "...", "api_base": "/v1"}``; that route answers loopback clients only (404 for anyone
else, or when no page key was given), so a server exposed beyond the machine never hands keys out.
A page opened from elsewhere can take the key from the URL fragment (``/#key=...``), which browsers
never send to the server.
"""

from recpilot.api.app import create_app

__all__ = ["create_app"]
