"""Fetching MovieLens releases from GroupLens into a local cache.

Only ``ml-latest-small`` ships with the package; the other releases are downloaded once, checked,
unzipped and then read from the cache like any folder::

    from recpilot.data.download import download_movielens
    from recpilot.data.loaders import load_dataset

    dataset = load_dataset(download_movielens("ml-1m"))
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Final, Literal

import pooch

from recpilot.errors import ConfigError, DataError
from recpilot.settings import get_settings

MovieLensRelease = Literal["ml-100k", "ml-1m", "ml-10m", "ml-latest-small", "ml-25m", "ml-32m"]

GROUPLENS_URL: Final = "https://files.grouplens.org/datasets/movielens/"

# Archives GroupLens has frozen. ml-latest-small is rebuilt from time to time, so no hash can be pinned
# for it; the 25M and 32M hashes are not recorded here. Those download unchecked unless the caller
# passes ``checksum=``.
KNOWN_CHECKSUMS: Final[dict[str, str]] = {
    "ml-100k": "md5:0e33842e24a9c977be4e0107933c0723",
    "ml-1m": "md5:c4d9eecfca2ab87c1945afe126590906",
    "ml-10m": "md5:ce571fd55effeba0271552578f2648bd",
}
RELEASES: Final = ("ml-100k", "ml-1m", "ml-10m", "ml-latest-small", "ml-25m", "ml-32m")


def default_cache_dir() -> Path:
    """The cache folder: ``$RECPILOT_CACHE_DIR`` (read at each call) or else ``~/.cache/recpilot``."""
    return get_settings().cache_dir.expanduser()


def download_movielens(
    name: MovieLensRelease,
    cache_dir: str | Path | None = None,
    *,
    base_url: str = GROUPLENS_URL,
    checksum: str | None = None,
) -> Path:
    """Download a MovieLens release (once) and return the folder it unzips into.

    The archive ``<name>.zip`` is fetched from ``base_url`` into ``<cache_dir>/movielens/`` and unzipped
    next to it; later calls find both there and make no request. Pass the result to
    :func:`recpilot.data.loaders.load_dataset`.

    Integrity: ml-100k, ml-1m and ml-10m are checked against their known MD5 hashes
    (:data:`KNOWN_CHECKSUMS`). ml-latest-small changes over time and the 25M/32M hashes are not
    recorded, so those are **not verified** unless you give ``checksum``.

    Args:
        name: The release, e.g. ``"ml-1m"``.
        cache_dir: Where to keep archives and extracted files; defaults to :func:`default_cache_dir`.
        base_url: Where the archives live (a mirror, or a local server in tests).
        checksum: The expected hash as ``"<algorithm>:<hex>"`` (``"md5:..."``, ``"sha256:..."``);
            overrides the known hash.

    Returns:
        The extracted release folder, e.g. ``<cache_dir>/movielens/ml-1m/ml-1m``.

    Raises:
        DataError: ``name`` is not a release, the download fails, the archive's hash does not match
            (the broken download is not kept) or the archive cannot be unzipped.
        ConfigError: ``checksum`` is not in a form pooch understands.
    """
    if name not in RELEASES:
        raise DataError(f"unknown MovieLens release {name!r}; choose one of {list(RELEASES)}")
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = folder / "movielens"
    url = f"{base_url.rstrip('/')}/{name}.zip"
    expected = checksum or KNOWN_CHECKSUMS.get(name)
    try:
        pooch.retrieve(url, known_hash=expected, fname=f"{name}.zip", path=folder, progressbar=False)
    except ValueError as exc:
        if "does not match" not in str(exc):
            raise ConfigError(
                f"checksum {expected!r} cannot be used ({exc}); give it as 'md5:<hex>' or 'sha256:<hex>'"
            ) from None
        # pooch downloads to a temporary file and only keeps it once the hash matches.
        raise DataError(
            f"checksum mismatch for {url}: the downloaded archive does not match {expected} ({exc}); "
            "the download was discarded: retry, or pass checksum= if the archive changed upstream",
            path=folder / f"{name}.zip",
        ) from None
    except OSError as exc:  # requests' errors derive from OSError
        raise DataError(
            f"could not download {url}: {exc}; check the network, or pass base_url= for a mirror",
            path=folder / f"{name}.zip",
        ) from None
    return _extract(folder / f"{name}.zip", folder / name)


def _extract(archive: Path, target: Path) -> Path:
    if not target.is_dir():
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            with zipfile.ZipFile(archive) as opened:
                opened.extractall(partial)
        except zipfile.BadZipFile:
            archive.unlink(missing_ok=True)
            shutil.rmtree(partial, ignore_errors=True)
            raise DataError(
                "the downloaded file is not a zip archive; it was removed, retry", path=archive
            ) from None
        # Renamed only when complete, so an interrupted extraction is never mistaken for a cached one.
        partial.rename(target)
    entries = [p for p in target.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else target
