"""``recpilot serve`` (HTTP API, chat page and MCP endpoint) and ``recpilot mcp`` (MCP over stdio)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recpilot.cli._common import out_console, print_json, status
from recpilot.errors import ConfigError
from recpilot.llm.settings import LLM_OPTION_HELP

if TYPE_CHECKING:
    from recpilot.service import IssuedKey, KeyRing, RecommenderService, ServiceConfig

DatasetOpt = Annotated[
    str | None,
    typer.Option("--dataset", "-d", help="Built-in name or dataset path (default: RECPILOT_DATASET)."),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store-url", help="SQLAlchemy URL of the database (default: SQLite under the settings home)."
    ),
]
LlmOpt = Annotated[str | None, typer.Option("--llm", help=LLM_OPTION_HELP)]
DEFAULT_TENANT = "default"


def service_config(dataset: str | None, store_url: str | None, llm: str | None) -> ServiceConfig:
    """The service configuration of the ``RECPILOT_*`` settings with the command's options applied."""
    from recpilot.service import ServiceConfig

    overrides: dict[str, object] = {"llm": llm}
    if dataset is not None:
        overrides["dataset"] = dataset
    if store_url is not None:
        overrides["store_url"] = store_url
    return ServiceConfig.from_settings(None, **overrides)


def load_service(dataset: str | None, store_url: str | None, llm: str | None) -> RecommenderService:
    """The recommender service on the embedded default (or the given dataset, store and LLM)."""
    from recpilot.service import RecommenderService

    return RecommenderService.from_config(service_config(dataset, store_url, llm))


def mcp(
    dataset: DatasetOpt = None,
    store_url: StoreOpt = None,
    user: Annotated[
        str, typer.Option("--user", "-u", help="The user a call is for when it names none.")
    ] = "mcp",
    tenant: Annotated[
        str, typer.Option(help="Whose memory the tools read and write (the API key's tenant in `serve`).")
    ] = DEFAULT_TENANT,
    allow_write: Annotated[
        bool, typer.Option("--allow-write", help="Offer the tools that write preferences to memory.")
    ] = False,
) -> None:
    """The MCP server on stdio, for MCP clients that launch it (Claude Desktop, IDEs, agents)."""
    from recpilot.mcp_server import McpServerConfig, create_mcp_server, service_dispatcher

    # stdout carries the protocol: progress and errors go to stderr only.
    service = load_service(dataset, store_url, None)
    service.create_tenant(tenant)
    server, _ = create_mcp_server(
        service.runtime,
        McpServerConfig(default_user=user, allow_write=allow_write),
        memory_for=lambda _tenant: service.memory(tenant),
        recommendations=service.recommendations,
        dispatcher=service_dispatcher(service),
        policy_for=lambda _tenant: service.policy_for(tenant),
    )
    try:
        server.run("stdio")
    finally:
        service.close()


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind (127.0.0.1 keeps it on this machine).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).")] = 8000,
    dataset: DatasetOpt = None,
    store_url: StoreOpt = None,
    llm: LlmOpt = None,
    allow_write: Annotated[
        bool, typer.Option("--allow-write", help="Offer MCP tools that write preferences to memory.")
    ] = False,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Agent tool policy: default, read-only, allow-all, or a .toml/.json policy file "
            "(default: default)."
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the URLs and key as one JSON line.")
    ] = False,
    system: Annotated[
        Path | None,
        typer.Option(
            "--system",
            help="System config (TOML/JSON): dataset, model roles, memory, brain, store, policy, as for "
            "`recpilot ask --system`; --dataset, --store-url and --policy, when given, win; --llm makes "
            "the LLM brain on that endpoint decide (a file's offline brain becomes its fallback; a brain "
            "that takes no model is refused).",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API, the chat page and the MCP endpoint on the embedded default."""
    import socket

    import uvicorn

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
    from recpilot.service import default_key_path

    service, config, brain = serving_service(
        dataset=dataset, store_url=store_url, llm=llm, policy=policy, system=system, quiet=json_out
    )
    # Reuse the default key kept (mode 0600) under the settings home; a new one only when none works.
    where = default_key_path(config.home, config.resolved_store_url(service.runtime.catalog.name))
    issued = service.keys.default_key(DEFAULT_TENANT, where)
    key = issued.key
    app = build_serving_app(service, host=host, page_api_key=key, allow_write=allow_write)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        service.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port") from None
    bound = sock.getsockname()[1]
    _announce(host, bound, issued, service, brain, json_out=json_out)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        service.close()


def serving_service(
    *,
    dataset: str | None = None,
    store_url: str | None = None,
    llm: str | None = None,
    policy: str | None = None,
    system: Path | None = None,
    quiet: bool = True,
) -> tuple[RecommenderService, ServiceConfig, str]:
    """The service ``recpilot serve`` runs, its configuration and the name of its agents' brain.

    Args:
        dataset: Built-in name or dataset path (wins over the system file's).
        store_url: The database (wins over the system file's).
        llm: ``URL#MODEL``: the LLM brain on that endpoint decides (with a system file, see
            :meth:`~recpilot.agent.system.SystemSpec.with_llm`).
        policy: The tool policy (wins over the system file's).
        system: A system config file: its dataset, store, model roles, memory, brain, fallback, ``k``
            and policy are served.
        quiet: No progress on the terminal.

    Raises:
        ConfigError: A bad system file, policy or combination, before the catalog is loaded.
    """
    from recpilot.agent.system import SystemSpec, agent_factory
    from recpilot.safety import load_policy
    from recpilot.service import RecommenderService

    # A bad file fails before any work (an LLM brain in it gets its model from --llm).
    spec = SystemSpec.load(system, supplied=["model"] if llm else ()) if system is not None else None
    policy = policy or (spec.policy if spec is not None else "default")
    load_policy(policy)  # a bad policy file fails before the catalog is loaded
    factory = None
    brain = "llm" if llm else "offline"
    if spec is not None:
        spec = spec.with_llm(llm)
        llm = spec.llm
        brain = spec.brain.class_
        factory = agent_factory(spec)  # the brain fails before the models are fitted
    config = service_config(
        dataset or (spec.dataset if spec is not None else None),
        store_url or (spec.store_url if spec is not None else None),
        llm,
    ).model_copy(update={"policy": policy})
    if spec is not None:
        config = config.model_copy(update={"roles": dict(spec.roles), "memory": spec.memory})
    with status("Loading the catalog and models...", quiet=quiet):
        service = RecommenderService.from_config(config, agent_factory=factory)
    return service, config, brain


def build_serving_app(
    service: RecommenderService, *, host: str, page_api_key: str | None = None, allow_write: bool = False
) -> Any:
    """The API app with the chat page and the MCP endpoint (``/mcp``, API key required) mounted.

    Args:
        service: The loaded service.
        host: The interface served (loopback turns on the MCP SDK's Host/Origin checks).
        page_api_key: The key ``GET /config.json`` hands to the chat page on loopback.
        allow_write: Offer MCP tools that write preferences to memory.
    """
    from recpilot.api import create_app
    from recpilot.mcp_server import McpServerConfig, create_mcp_server, service_dispatcher
    from recpilot.mcp_server.http import mount_mcp
    from recpilot.service import AuthenticationError

    app = create_app(service=service, page_api_key=page_api_key)
    server, _ = create_mcp_server(
        service.runtime,
        McpServerConfig(allow_write=allow_write),
        memory_for=lambda tenant: service.memory(tenant or DEFAULT_TENANT),
        recommendations=service.recommendations,
        dispatcher=service_dispatcher(service),
        policy_for=lambda tenant: service.policy_for(tenant or DEFAULT_TENANT),
    )

    def verify(key: str) -> str | None:
        try:
            return service.authenticate(key).tenant_id
        except AuthenticationError:
            return None

    mount_mcp(app, server, path="/mcp", host=host, verify=verify)
    return app


def _announce(
    host: str, port: int, issued: IssuedKey, service: RecommenderService, brain: str, *, json_out: bool
) -> None:
    key = issued.key
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):
        shown = "127.0.0.1"
    base = f"http://{shown}:{port}"
    urls = {
        "page": f"{base}/",
        "api_docs": f"{base}/docs",
        "mcp": f"{base}/mcp",
        "api_key": key,
        "api_key_created": issued.created,
        "dataset": service.runtime.catalog.name,
        "brain": brain,
    }
    if json_out:
        print_json(urls)
    else:
        out_console().print(
            f"[bold]recpilot[/] serving {urls['dataset']} ({urls['brain']} brain)\n"
            f"  chat page  {urls['page']}\n"
            f"  API docs   {urls['api_docs']}\n"
            f"  MCP        {urls['mcp']}  (streamable HTTP, Authorization: Bearer <key>)\n"
            f"  API key    {key}  ({'new' if issued.created else 'reused'})\n"
            "Press Ctrl-C to stop.",
            highlight=False,
        )
    sys.stdout.flush()


keys_app = typer.Typer(
    help="API keys of the HTTP API and the MCP endpoint (stored as hashes).", no_args_is_help=True
)


@keys_app.command("create")
def create_key(
    tenant: Annotated[
        str, typer.Option("--tenant", "-t", help="The tenant the key acts for (created if new).")
    ],
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    dataset: DatasetOpt = None,
    store_url: StoreOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the key as one JSON object.")] = False,
) -> None:
    """Issue an API key for a tenant; the key is printed once (only its hash is stored)."""
    with _key_ring(dataset, store_url, quiet=json_out) as ring:
        issued = ring.create_key(tenant, name=name)
    payload = {"tenant": issued.tenant_id, "key_id": issued.key_id, "api_key": issued.key}
    if json_out:
        print_json(payload)
    else:
        out_console().print(
            f"API key for tenant [bold]{issued.tenant_id}[/] (id {issued.key_id}; shown once):\n{issued.key}",
            highlight=False,
        )


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (the part after 'rp_').")],
    dataset: DatasetOpt = None,
    store_url: StoreOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Revoke an API key (servers stop accepting it within 30 s)."""
    with _key_ring(dataset, store_url, quiet=json_out) as ring:
        revoked = ring.revoke(key_id)
    if not revoked:
        raise ConfigError(f"no active API key with id {key_id!r} in this store")
    if json_out:
        print_json({"key_id": key_id, "revoked": True})
    else:
        out_console().print(f"revoked API key {key_id}")


@contextmanager
def _key_ring(dataset: str | None, store_url: str | None, *, quiet: bool) -> Iterator[KeyRing]:
    """The key ring of the store ``serve`` would use (no models are loaded)."""
    import sqlalchemy as sa

    from recpilot.service import KeyRing
    from recpilot.service.storage import ServiceStore

    config = service_config(dataset, store_url, None)
    name = config.dataset
    if not config.store_url:  # the default store lives under the dataset's own name
        from recpilot.data.loaders import load_dataset

        with status("Reading the dataset name...", quiet=quiet):
            name = load_dataset(config.dataset).name
        config.dataset_home(name).mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(config.resolved_store_url(name))
    try:
        yield KeyRing(ServiceStore(engine))
    finally:
        engine.dispose()
