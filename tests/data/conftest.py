"""Small MovieLens folders in the exact official formats, written into tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

GENRE_NAMES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


Writer = Callable[[Path, Mapping[str, str | bytes]], Path]


def _write(folder: Path, files: Mapping[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


def _flags(*genres: str) -> str:
    """The 19 pipe-separated genre flags of a u.item line."""
    return "|".join("1" if g in genres else "0" for g in GENRE_NAMES_100K)


def _ml100k_files() -> dict[str, bytes]:
    """u.data, u.item (latin-1, with an accented title), u.genre and u.user as in ML-100K."""
    u_item = "\n".join(
        [
            "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|"
            + _flags("Animation", "Children's", "Comedy"),
            f"2|GoldenEye (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?GoldenEye%20(1995)|"
            f"{_flags('Action', 'Adventure', 'Thriller')}",
            f'3|Misérables, Les "Director\'s cut"|01-Jan-1996||http://us.imdb.com/x|{_flags("Drama")}',
            f"267|unknown||||{_flags('unknown')}",
        ]
    )
    u_genre = "".join(f"{g}|{i}\n" for i, g in enumerate(GENRE_NAMES_100K)) + "\n"
    return {
        "u.data": b"196\t1\t3\t881250949\n186\t2\t5\t891717742\n196\t3\t1\t881251000\n22\t1\t4\t878887116\n",
        "u.item": (u_item + "\n").encode("latin-1"),
        "u.genre": u_genre.encode("latin-1"),
        "u.user": b"196|49|M|writer|55105\n186|39|F|executive|00000\n22|25|M|writer|40206\n",
    }


def _ml1m_files() -> dict[str, bytes]:
    """ratings.dat, movies.dat (latin-1) and users.dat as in ML-1M."""
    movies = "1::Toy Story (1995)::Animation|Children's|Comedy\n2::Misérables, Les (1995)::Drama|Musical\n"
    return {
        "ratings.dat": b"1::1::5::978300760\n1::2::3::978302109\n2::2::4::978298413\n",
        "movies.dat": movies.encode("latin-1"),
        "users.dat": b"1::F::1::10::48067\n2::M::56::16::70072\n",
    }


def _latest_files() -> dict[str, str]:
    """ratings.csv, movies.csv, tags.csv and links.csv as in ml-latest(-small), CRLF line ends."""
    files = {
        "ratings.csv": "userId,movieId,rating,timestamp\n"
        "1,1,4.0,964982703\n1,2,3.5,964981247\n2,1,5.0,964982224\n",
        "movies.csv": 'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,"City, The (2001) ",'
        "(no genres listed)\n3,Babylon 5,Sci-Fi\n",
        "tags.csv": "userId,movieId,tag,timestamp\n2,1,Pixar,1445714994\n1,1,fun,1445714996\n"
        "3,1,pixar,1445714997\n",
        "links.csv": "movieId,imdbId,tmdbId\n1,0114709,862\n2,0113497,\n3,0105946,8844\n",
    }
    return {name: text.replace("\n", "\r\n") for name, text in files.items()}


@pytest.fixture
def write_files() -> Writer:
    """``write_files(folder, {name: text or bytes})`` writes the files (text as UTF-8), returns the folder."""
    return _write


@pytest.fixture
def ml100k_files() -> dict[str, bytes]:
    """The files of a tiny ML-100K release."""
    return _ml100k_files()


@pytest.fixture
def ml1m_files() -> dict[str, bytes]:
    """The files of a tiny ML-1M release."""
    return _ml1m_files()


@pytest.fixture
def latest_files() -> dict[str, str]:
    """The files of a tiny ml-latest release."""
    return _latest_files()


@pytest.fixture
def ml100k(tmp_path: Path) -> Path:
    """An ML-100K folder."""
    return _write(tmp_path / "ml-100k", _ml100k_files())


@pytest.fixture
def ml1m(tmp_path: Path) -> Path:
    """An ML-1M folder."""
    return _write(tmp_path / "ml-1m", _ml1m_files())


@pytest.fixture
def ml_latest(tmp_path: Path) -> Path:
    """An ml-latest folder."""
    return _write(tmp_path / "ml-latest-tiny", _latest_files())


@pytest.fixture
def shared_data() -> Path:
    """The shared real datasets; the test is skipped when they are not beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA.resolve()
