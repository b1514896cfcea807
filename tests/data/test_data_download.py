"""The downloader against a real HTTP server on loopback; nothing here touches the internet."""

import hashlib
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from recpilot.data.download import download_movielens
from recpilot.data.loaders import load_dataset
from recpilot.errors import ConfigError, DataError


class ArchiveServer:
    """Serves a folder over HTTP on 127.0.0.1 and records the paths requested."""

    def __init__(self, folder: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def archives(tmp_path: Path, ml100k_files: dict[str, bytes]) -> Path:
    """A folder holding a tiny ``ml-100k.zip`` laid out like the official archive."""
    folder = tmp_path / "served"
    folder.mkdir()
    with zipfile.ZipFile(folder / "ml-100k.zip", "w") as zipped:
        for name, data in ml100k_files.items():
            zipped.writestr(f"ml-100k/{name}", data)
    (folder / "ml-latest-small.zip").write_bytes((folder / "ml-100k.zip").read_bytes())
    (folder / "ml-1m.zip").write_bytes(b"this is not a zip archive")
    return folder


@pytest.fixture
def server(archives: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArchiveServer]:
    # A proxy configured in the environment must not intercept loopback requests.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    running = ArchiveServer(archives)
    yield running
    running.close()


def md5_of(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def test_download_extract_and_cache_hit(tmp_path: Path, archives: Path, server: ArchiveServer) -> None:
    cache = tmp_path / "cache"
    checksum = md5_of(archives / "ml-100k.zip")
    folder = download_movielens("ml-100k", cache, base_url=server.url, checksum=checksum)
    assert folder == cache / "movielens" / "ml-100k" / "ml-100k"
    assert (folder / "u.data").is_file()
    assert load_dataset(folder).n_interactions == 4
    assert server.requests == ["/ml-100k.zip"]

    again = download_movielens("ml-100k", cache, base_url=server.url, checksum=checksum)
    assert again == folder
    assert server.requests == ["/ml-100k.zip"]  # served from the cache


def test_checksum_mismatch_leaves_nothing(tmp_path: Path, server: ArchiveServer) -> None:
    cache = tmp_path / "cache"
    # The tiny archive cannot match the official ml-100k md5 that the downloader pins.
    with pytest.raises(DataError, match="checksum mismatch") as caught:
        download_movielens("ml-100k", cache, base_url=server.url)
    assert "ml-100k.zip" in str(caught.value)
    assert server.requests == ["/ml-100k.zip"]
    leftovers = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert leftovers == []


def test_cache_dir_from_environment_and_unpinned_release(
    tmp_path: Path, server: ArchiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECPILOT_CACHE_DIR", str(tmp_path / "env-cache"))
    folder = download_movielens("ml-latest-small", base_url=server.url)  # no known hash: unchecked
    assert folder.is_relative_to(tmp_path / "env-cache")
    assert (folder / "u.item").is_file()


def test_not_a_zip_is_removed(tmp_path: Path, archives: Path, server: ArchiveServer) -> None:
    cache = tmp_path / "cache"
    checksum = md5_of(archives / "ml-1m.zip")  # the right hash of a file that is not a zip
    with pytest.raises(DataError, match="not a zip archive"):
        download_movielens("ml-1m", cache, base_url=server.url, checksum=checksum)
    assert not (cache / "movielens" / "ml-1m.zip").exists()


def test_missing_archive_on_server(tmp_path: Path, server: ArchiveServer) -> None:
    with pytest.raises(DataError, match="could not download"):
        download_movielens("ml-32m", tmp_path / "cache", base_url=server.url)


def test_unusable_checksum(tmp_path: Path, server: ArchiveServer) -> None:
    with pytest.raises(ConfigError, match="md5:<hex>"):
        download_movielens("ml-100k", tmp_path / "cache", base_url=server.url, checksum="crc99:abc")
