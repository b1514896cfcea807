"""MovieLens, in each of its layouts, from a folder or from the official ``.zip`` archive.

Layouts (recognised from the file names, see :func:`~recpilot.data.loaders.detect.movielens_layout`):

* ``100k``: ``u.data`` (tab-separated), ``u.item`` and ``u.user`` (pipe-separated, latin-1), ``u.genre``.
* ``1m``: ``ratings.dat``, ``movies.dat`` and ``users.dat`` separated by ``::``, latin-1. ML-10M uses the
  same layout with ``tags.dat`` instead of ``users.dat``.
* ``latest``: ``ratings.csv``, ``movies.csv``, optional ``tags.csv`` and ``links.csv``; UTF-8 CSV with a
  header. ML-20M, 25M and 32M share it.

Every file may also be gzipped (``ratings.csv.gz``), which is how the built-in copy is stored.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
import pandas as pd

from recpilot.data.columns import Columns
from recpilot.data.dataset import Dataset
from recpilot.data.loaders.delimited import DelimitedFile, Table, open_binary
from recpilot.data.loaders.detect import find_file, movielens_layout, movielens_root
from recpilot.errors import DataError

GENRE = "genres"
YEAR = "year"
TAGS = "tags"
IMDB = "imdb_id"
TMDB = "tmdb_id"

# The 19 genres of ML-100K, in flag order, for archives that lack u.genre.
GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)  # fmt: skip
# ML-1M codes occupations as integers (its README lists them).
OCCUPATIONS_1M = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip
# Genre markers that mean "no genre", dropped so that an unknown genre is an empty list.
_NO_GENRE = {"(no genres listed)", "unknown", ""}
_TOP_TAGS_IN_TEXT = 10
_YEAR_IN_TITLE = r"\((\d{4})(?:[–-]\d{0,4})?\)\s*$"


@dataclass
class _Tables:
    ratings: pd.DataFrame
    movies: pd.DataFrame
    users: pd.DataFrame | None = None
    tags: pd.DataFrame | None = None
    links: pd.DataFrame | None = None


def load_movielens(source: str | Path | Traversable, *, name: str | None = None) -> Dataset:
    """Load a MovieLens release from its folder or its official ``.zip``.

    The catalog has ``item_id``, ``title`` (as given, e.g. ``"Toy Story (1995)"``, surrounding spaces
    trimmed), ``year`` (nullable Int64, from the title's trailing ``(YYYY)`` or else the release date),
    ``genres`` (list of str, empty when none is listed), ``tags`` (distinct lowercased user tags, most
    used first, when the release has tags), ``imdb_id`` (``"tt0114709"``) and ``tmdb_id`` when it has
    links, and ``text``: a readable description from title, year, genres and top tags.
    ML-100K and ML-1M user demographics become user features.

    Args:
        source: A folder, a ``.zip`` archive, or any :class:`~importlib.resources.abc.Traversable`
            folder (a package resource).
        name: Dataset name; defaults to the name of the folder holding the files (``"ml-100k"``).

    Raises:
        DataError: The folder or archive holds no MovieLens layout, or one of its files is malformed
            (the message names the file and line).
    """
    if isinstance(source, str | Path) and Path(source).is_file():
        path = Path(source)
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError):
            raise DataError("not a readable zip archive", path=path) from None
        with archive:
            return _load_root(zipfile.Path(archive), name, path)
    if isinstance(source, str | Path) and not Path(source).is_dir():
        raise DataError("no such file or folder", path=source)
    folder = Path(source) if isinstance(source, str) else source
    return _load_root(folder, name, folder)


def _load_root(folder: Traversable, name: str | None, shown: object) -> Dataset:
    root = movielens_root(folder)
    layout = movielens_layout(root) if root is not None else None
    if root is None or layout is None:
        raise DataError(
            "no MovieLens files here: expected u.data + u.item (100K), ratings.dat + movies.dat (1M/10M) "
            "or ratings.csv + movies.csv (latest, 20M, 25M, 32M)",
            path=str(shown),
        )
    reader = {"100k": _read_100k, "1m": _read_1m, "latest": _read_latest}[layout]
    tables = reader(root)
    return Dataset.from_frames(
        tables.ratings,
        _catalog(tables),
        tables.users,
        name=name or root.name.removesuffix(".zip"),
        source=str(shown),
    )


# -- the three layouts --------------------------------------------------------------------------------


def _read_100k(root: Traversable) -> _Tables:
    names = _genres_100k(root)
    ratings = _text_file(root, "u.data", sep="\t", encoding="latin-1").read(
        names=["user", "item", "rating", "timestamp"], required=["user", "item", "rating", "timestamp"]
    )
    item_columns = ["movie id", "title", "release date", "video release date", "URL", *names]
    movies = _text_file(root, "u.item", sep="|").read(
        names=item_columns, required=["movie id", "title", *names]
    )
    flags = np.column_stack([movies.integers(genre) for genre in names]).astype(bool)
    genre_lists = [
        [g for g, on in zip(names, row, strict=True) if on and g not in _NO_GENRE] for row in flags
    ]
    return _Tables(
        ratings=_ratings(ratings, "user", "item", "rating", "timestamp"),
        movies=_movies(movies, "movie id", "title", genre_lists, movies.frame["release date"]),
        users=_users_100k(root),
    )


def _read_1m(root: Traversable) -> _Tables:
    ratings = _text_file(root, "ratings.dat", sep="::", encoding="latin-1").read(
        names=["UserID", "MovieID", "Rating", "Timestamp"],
        required=["UserID", "MovieID", "Rating", "Timestamp"],
    )
    movies = _text_file(root, "movies.dat", sep="::").read(
        names=["MovieID", "Title", "Genres"], required=["MovieID", "Title", "Genres"], text_columns=["Title"]
    )
    tags = None
    tags_file = _optional(root, "tags.dat", sep="::")
    if tags_file is not None:
        tags_table = tags_file.read(names=["UserID", "MovieID", "Tag", "Timestamp"], text_columns=["Tag"])
        tags = _tags(tags_table, "MovieID", "Tag")
    return _Tables(
        ratings=_ratings(ratings, "UserID", "MovieID", "Rating", "Timestamp"),
        movies=_movies(movies, "MovieID", "Title", _genre_lists(movies.frame["Genres"])),
        users=_users_1m(root),
        tags=tags,
    )


def _read_latest(root: Traversable) -> _Tables:
    columns = ["userId", "movieId", "rating", "timestamp"]
    ratings = _text_file(root, "ratings.csv", sep=",", header=True, encoding="utf-8").read(required=columns)
    movies = _text_file(root, "movies.csv", sep=",", header=True, encoding="utf-8").read(
        required=["movieId", "title", "genres"], text_columns=["title", "genres"]
    )
    tables = _Tables(
        ratings=_ratings(ratings, *columns),
        movies=_movies(movies, "movieId", "title", _genre_lists(movies.frame["genres"])),
    )
    tags_file = _optional(root, "tags.csv", sep=",", header=True, encoding="utf-8")
    if tags_file is not None:
        tables.tags = _tags(
            tags_file.read(required=["movieId", "tag"], text_columns=["tag"]), "movieId", "tag"
        )
    links_file = _optional(root, "links.csv", sep=",", header=True, encoding="utf-8")
    if links_file is not None:
        tables.links = _links(links_file.read(required=["movieId", "imdbId"], text_columns=["imdbId"]))
    return tables


# -- files --------------------------------------------------------------------------------------------


def _text_file(
    root: Traversable, name: str, *, sep: str, header: bool = False, encoding: str | None = None
) -> DelimitedFile:
    file = find_file(root, name)
    if file is None:
        raise DataError(f"the MovieLens file {name} is missing from this folder", path=str(root))
    # 100K/1M text files are documented as latin-1, yet re-packaged copies are often UTF-8; a file that
    # decodes as UTF-8 is read as such (latin-1 accents almost never form valid UTF-8).
    chosen = encoding or _utf8_or_latin1(file)
    return DelimitedFile(file, sep=sep, header=header, encoding=chosen, quoted=header)


def _optional(
    root: Traversable, name: str, *, sep: str, header: bool = False, encoding: str | None = None
) -> DelimitedFile | None:
    if find_file(root, name) is None:
        return None
    return _text_file(root, name, sep=sep, header=header, encoding=encoding)


def _utf8_or_latin1(file: Traversable) -> str:
    with open_binary(file) as handle:
        data = handle.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _genres_100k(root: Traversable) -> list[str]:
    file = find_file(root, "u.genre")
    if file is None:
        return list(GENRES_100K)
    genres = DelimitedFile(file, sep="|", header=False, encoding="latin-1", quoted=False).read(
        names=["genre", "flag"], required=["genre", "flag"]
    )
    order = np.argsort(genres.integers("flag"), kind="stable")
    return [str(g) for g in genres.frame["genre"].to_numpy()[order]]


# -- tables -------------------------------------------------------------------------------------------


def _ratings(table: Table, user: str, item: str, rating: str, timestamp: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            Columns.USER: table.integers(user),
            Columns.ITEM: table.integers(item),
            Columns.RATING: table.numbers(rating).to_numpy(dtype=np.float32),
            Columns.TIMESTAMP: table.integers(timestamp),
        }
    )


def _movies(
    table: Table, item: str, title: str, genres: list[list[str]], release: pd.Series | None = None
) -> pd.DataFrame:
    table.check_unique(item, "movie id")
    titles = table.frame[title].astype(str).str.strip()
    year = pd.to_numeric(titles.str.extract(_YEAR_IN_TITLE)[0], errors="coerce").astype("Int64")
    if release is not None:
        released = release.astype("str").str.extract(r"(\d{4})\s*$")[0]
        year = year.fillna(pd.to_numeric(released, errors="coerce").astype("Int64"))
    return pd.DataFrame(
        {
            Columns.ITEM: table.integers(item),
            Columns.TITLE: titles.to_numpy(),
            YEAR: year.array,
            GENRE: genres,
        }
    )


def _genre_lists(genres: pd.Series) -> list[list[str]]:
    return [
        [g for g in str(value).split("|") if g not in _NO_GENRE] if isinstance(value, str) else []
        for value in genres.to_numpy()
    ]


def _tags(table: Table, item: str, tag: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            Columns.ITEM: table.integers(item),
            TAGS: table.frame[tag].fillna("").astype(str).str.strip().str.lower(),
        }
    )


def _links(table: Table) -> pd.DataFrame:
    tmdb = table.frame.get("tmdbId", pd.Series(np.nan, index=table.frame.index))
    numeric = pd.to_numeric(tmdb, errors="coerce")
    bad = (numeric.isna() & tmdb.notna()).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise table.error_at(row, f"tmdbId {tmdb.iloc[row]!r} is not a number")
    return pd.DataFrame(
        {
            Columns.ITEM: table.integers("movieId"),
            IMDB: ("tt" + table.frame["imdbId"].astype(str).str.strip()).to_numpy(),
            TMDB: numeric.astype("Int64").array,
        }
    )


def _users_100k(root: Traversable) -> pd.DataFrame | None:
    file = _optional(root, "u.user", sep="|")
    if file is None:
        return None
    names = ["user", "age", "gender", "occupation", "zip"]
    users = file.read(names=names, required=names[:4], text_columns=["zip"])
    return pd.DataFrame(
        {
            Columns.USER: users.integers("user"),
            "age": users.integers("age"),
            "gender": users.frame["gender"].astype(str).to_numpy(),
            "occupation": users.frame["occupation"].astype(str).to_numpy(),
            "zip_code": users.frame["zip"].to_numpy(),
        }
    )


def _users_1m(root: Traversable) -> pd.DataFrame | None:
    file = _optional(root, "users.dat", sep="::")
    if file is None:
        return None
    names = ["UserID", "Gender", "Age", "Occupation", "Zip-code"]
    users = file.read(names=names, required=names[:4], text_columns=["Zip-code"])
    codes = users.integers("Occupation")
    unknown = (codes < 0) | (codes >= len(OCCUPATIONS_1M))
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise users.error_at(row, f"occupation code {codes[row]} is not one of 0-{len(OCCUPATIONS_1M) - 1}")
    return pd.DataFrame(
        {
            Columns.USER: users.integers("UserID"),
            "age": users.integers("Age"),
            "gender": users.frame["Gender"].astype(str).to_numpy(),
            "occupation": np.asarray(OCCUPATIONS_1M, dtype=object)[codes],
            "zip_code": users.frame["Zip-code"].to_numpy(),
        }
    )


# -- catalog ------------------------------------------------------------------------------------------


def _catalog(tables: _Tables) -> pd.DataFrame:
    catalog = tables.movies
    ids = catalog[Columns.ITEM]
    tag_lists: list[list[str]] = [[] for _ in range(len(catalog))]
    if tables.tags is not None:
        by_item = _tags_by_item(tables.tags)
        tag_lists = [list(t) if isinstance(t, list) else [] for t in ids.map(by_item).to_numpy()]
        catalog[TAGS] = tag_lists
    if tables.links is not None:
        links = tables.links.drop_duplicates(Columns.ITEM).set_index(Columns.ITEM)
        catalog[IMDB] = ids.map(links[IMDB]).to_numpy()
        catalog[TMDB] = ids.map(links[TMDB]).astype("Int64").array
    catalog[Columns.TEXT] = [
        _describe(title, year, genres, tags)
        for title, year, genres, tags in zip(
            catalog[Columns.TITLE].tolist(), catalog[YEAR].tolist(), catalog[GENRE], tag_lists, strict=True
        )
    ]
    first = [Columns.ITEM, Columns.TITLE, Columns.TEXT]
    return catalog[first + [c for c in catalog.columns if c not in first]]


def _tags_by_item(tags: pd.DataFrame) -> pd.Series:
    """Each movie's distinct tags, most used first (ties alphabetical)."""
    tags = tags[tags[TAGS] != ""]
    counts = tags.groupby([Columns.ITEM, TAGS]).size().rename("uses").reset_index()
    ordered = counts.sort_values([Columns.ITEM, "uses", TAGS], ascending=[True, False, True])
    return ordered.groupby(Columns.ITEM, sort=False)[TAGS].agg(list)


def _describe(title: str, year: object, genres: list[str], tags: list[str]) -> str:
    parts = [title if pd.isna(year) or str(year) in title else f"{title} ({year})"]
    if genres:
        parts.append("Genres: " + ", ".join(genres))
    if tags:
        parts.append("Tags: " + ", ".join(tags[:_TOP_TAGS_IN_TEXT]))
    return ". ".join(parts) + "."
