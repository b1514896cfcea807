"""Every malformed input stops with one DataError naming the file, the 1-based line and the problem."""

import gzip
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from recpilot.data.loaders import load_dataset
from recpilot.errors import DataError

Writer = Callable[[Path, Mapping[str, str | bytes]], Path]


def expect_error(
    source: Path, file: str, line: int | None, *words: str, items: Path | None = None
) -> DataError:
    with pytest.raises(DataError) as caught:
        load_dataset(source, items=items)
    error = caught.value
    message = str(error)
    assert file in message, message
    if line is not None:
        assert f"line {line}:" in message, message
        assert error.line == line
    for word in words:
        assert word.lower() in message.lower(), message
    # One clean error: no pandas or codec exception chained behind it.
    assert error.__cause__ is None
    assert error.__suppress_context__ or error.__context__ is None
    return error


# -- MovieLens latest (UTF-8 CSV) ---------------------------------------------------------------------


def test_missing_column(ml_latest: Path) -> None:
    (ml_latest / "ratings.csv").write_text("userId,movieId,timestamp\n1,1,964982703\n")
    expect_error(ml_latest, "ratings.csv", 1, "missing", "rating")


def test_wrong_separator(ml_latest: Path) -> None:
    (ml_latest / "ratings.csv").write_text("userId;movieId;rating;timestamp\n1;1;4.0;964982703\n")
    expect_error(ml_latest, "ratings.csv", 1, "missing", "semicolons")


def test_invalid_utf8(ml_latest: Path) -> None:
    (ml_latest / "movies.csv").write_bytes(
        b"movieId,title,genres\n1,Toy Story (1995),Comedy\n2,Mis\xe9rables,Drama\n"
    )
    expect_error(ml_latest, "movies.csv", 3, "utf-8", "0xe9")


def test_non_numeric_rating(ml_latest: Path) -> None:
    (ml_latest / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n\n1,2,four,964981247\n"
    )
    # The blank line 3 is skipped by the parser but still counts in the line number.
    expect_error(ml_latest, "ratings.csv", 4, "rating", "'four'", "not a number")


def test_non_numeric_movie_id(ml_latest: Path) -> None:
    (ml_latest / "movies.csv").write_text(
        'movieId,title,genres\n1,"Toy Story, The (1995)",Comedy\nx2,Heat,Drama\n'
    )
    expect_error(ml_latest, "movies.csv", 3, "movieId", "not a number")


def test_fractional_user_id(ml_latest: Path) -> None:
    (ml_latest / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,9\n1.5,2,3,9\n")
    expect_error(ml_latest, "ratings.csv", 3, "whole number")


def test_empty_file(ml_latest: Path) -> None:
    (ml_latest / "ratings.csv").write_text("")
    expect_error(ml_latest, "ratings.csv", 1, "empty")


def test_header_without_rows(ml_latest: Path) -> None:
    (ml_latest / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    expect_error(ml_latest, "ratings.csv", 2, "no rows")


def test_duplicate_movie_id(ml_latest: Path) -> None:
    (ml_latest / "movies.csv").write_text(
        "movieId,title,genres\n1,A (1990),Drama\n2,B (1991),Drama\n1,C (1992),War\n"
    )
    expect_error(ml_latest, "movies.csv", 4, "duplicate", "1")


def test_line_with_too_many_fields(ml_latest: Path) -> None:
    (ml_latest / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,9\n1,2,3,9\n2,1,5,9,77\n")
    expect_error(ml_latest, "ratings.csv", 4, "expected 4 fields", "found 5")


def test_first_data_line_with_too_many_fields(ml_latest: Path) -> None:
    # pandas would silently turn the extra field into an index here.
    (ml_latest / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,9,77\n1,2,3,9\n")
    expect_error(ml_latest, "ratings.csv", 2, "expected 4 fields", "found 5")


def test_line_with_too_few_fields(ml_latest: Path) -> None:
    (ml_latest / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,9\n1,2,3\n")
    expect_error(ml_latest, "ratings.csv", 3, "expected 4 fields", "found 3")


def test_empty_value(ml_latest: Path) -> None:
    (ml_latest / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4,9\n1,2,,9\n")
    expect_error(ml_latest, "ratings.csv", 3, "no value", "rating")


def test_unclosed_quote(ml_latest: Path) -> None:
    (ml_latest / "movies.csv").write_text('movieId,title,genres\n1,A (1990),Drama\n2,"B (1991),Drama\n')
    expect_error(ml_latest, "movies.csv", 3, "quoted field")


def test_bad_tmdb_id(ml_latest: Path) -> None:
    (ml_latest / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n2,0113497,abc\n")
    expect_error(ml_latest, "links.csv", 3, "tmdbId", "not a number")


def test_corrupt_gzip(ml_latest: Path) -> None:
    (ml_latest / "tags.csv").unlink()
    (ml_latest / "tags.csv.gz").write_bytes(gzip.compress(b"userId,movieId,tag,timestamp\n")[:15])
    expect_error(ml_latest, "tags.csv.gz", None, "gzip")


# -- MovieLens 100K and 1M ----------------------------------------------------------------------------


def test_100k_line_with_wrong_field_count(ml100k: Path) -> None:
    (ml100k / "u.data").write_bytes(b"196\t1\t3\t881250949\n186\t2\t5\n")
    expect_error(ml100k, "u.data", 2, "expected 4 fields separated by tabs", "found 3")


def test_100k_wrong_separator(ml100k: Path) -> None:
    (ml100k / "u.data").write_bytes(b"196,1,3,881250949\n186,2,5,891717742\n")
    expect_error(ml100k, "u.data", 1, "found 1", "commas")


def test_100k_bad_genre_flag(ml100k: Path, ml100k_files: dict[str, bytes]) -> None:
    lines = ml100k_files["u.item"].split(b"\n")
    lines[1] = lines[1][:-1] + b"x"
    (ml100k / "u.item").write_bytes(b"\n".join(lines))
    expect_error(ml100k, "u.item", 2, "Western", "'x'", "not a number")


def test_1m_non_numeric_user(ml1m: Path) -> None:
    (ml1m / "ratings.dat").write_bytes(b"1::1::5::978300760\n1::2::3::978302109\nabc::2::4::978298413\n")
    expect_error(ml1m, "ratings.dat", 3, "UserID", "'abc'")


def test_1m_line_with_extra_field(ml1m: Path) -> None:
    (ml1m / "movies.dat").write_bytes(b"1::Toy Story (1995)::Comedy\n2::Heat (1995)::Drama::extra\n")
    expect_error(ml1m, "movies.dat", 2, "expected 3 fields separated by '::'", "found 4")


def test_1m_duplicate_movie(ml1m: Path) -> None:
    (ml1m / "movies.dat").write_bytes(
        b"1::Toy Story (1995)::Comedy\n2::Heat (1995)::Drama\n2::Heat (1995)::Drama\n"
    )
    expect_error(ml1m, "movies.dat", 3, "duplicate movie id")


def test_1m_unknown_occupation(ml1m: Path) -> None:
    (ml1m / "users.dat").write_bytes(b"1::F::1::10::48067\n2::M::56::42::70072\n")
    expect_error(ml1m, "users.dat", 2, "occupation code 42")


# -- S3-Rec sequences ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        (b"1 2 3\n2 4 x5 6\n", 2, ("item id", "'x5'", "not an integer")),
        (b"1 2 3\nu2 4 5\n", 2, ("user id", "'u2'")),
        (b"1 2 3\n\n3\n", 3, ("no items",)),
        (b"1 2 3\n1 4 5\n", 2, ("already has a sequence on line 1",)),
        (b"", 1, ("empty",)),
        (b"1 2 3\n2 \xff 4\n", 2, ("UTF-8", "0xff")),
        (b"1 2,3,4\n", 1, ("not an integer",)),
    ],
    ids=["item-id", "user-id", "no-items", "repeated-user", "empty", "encoding", "commas"],
)
def test_bad_sequence_file(
    tmp_path: Path, write_files: Writer, content: bytes, line: int, words: tuple[str, ...]
) -> None:
    path = write_files(tmp_path, {"Shop.txt": content}) / "Shop.txt"
    expect_error(path, "Shop.txt", line, *words)


@pytest.mark.parametrize(
    ("content", "line", "words"),
    [
        ('{\n"1": [1, 2],\n"2": [3,]\n}', 3, ("not valid JSON",)),
        ('{\n"1": [1],\n"two": [3]\n}', 3, ("item id", "'two'")),
        ('{\n"1": [1],\n"2": "brand"\n}', 3, ("list of integers",)),
        ("[1, 2]", 1, ("JSON object",)),
    ],
    ids=["syntax", "key", "value", "not-object"],
)
def test_bad_attribute_file(
    tmp_path: Path, write_files: Writer, content: str, line: int, words: tuple[str, ...]
) -> None:
    write_files(tmp_path, {"Shop.txt": "1 1 2\n", "Shop_item2attributes.json": content})
    expect_error(tmp_path / "Shop.txt", "Shop_item2attributes.json", line, *words)


def test_attribute_file_is_valid_json_example(tmp_path: Path, write_files: Writer) -> None:
    # Control for the cases above: the same layout with valid content loads.
    write_files(tmp_path, {"Shop.txt": "1 1 2\n", "Shop_item2attributes.json": json.dumps({"1": [1]})})
    assert load_dataset(tmp_path / "Shop.txt").n_items == 2


# -- generic tables -----------------------------------------------------------------------------------


def test_table_without_user_column(tmp_path: Path, write_files: Writer) -> None:
    path = write_files(tmp_path, {"log.csv": "customer,item\n1,2\n"}) / "log.csv"
    expect_error(path, "log.csv", 1, "no user id column", "customer")


def test_table_non_numeric_rating(tmp_path: Path, write_files: Writer) -> None:
    path = write_files(tmp_path, {"log.csv": "user;item;score\n1;2;5\n1;3;5\n2;3;good\n"}) / "log.csv"
    expect_error(path, "log.csv", 4, "score", "'good'", "not a number")


def test_table_bad_time(tmp_path: Path, write_files: Writer) -> None:
    path = write_files(tmp_path, {"log.csv": "user,item,time\n1,2,2024-01-01\n1,3,yesterday\n"}) / "log.csv"
    expect_error(path, "log.csv", 3, "'yesterday'", "not a time")


def test_table_missing_item(tmp_path: Path, write_files: Writer) -> None:
    path = write_files(tmp_path, {"log.csv": "user,item,rating\n1,2,5\n1,,4\n"}) / "log.csv"
    expect_error(path, "log.csv", 3, "no value", "item")


def test_items_table_duplicate_id(tmp_path: Path, write_files: Writer) -> None:
    write_files(
        tmp_path, {"log.csv": "user,item\n1,a\n", "items.csv": "item_id,title\na,Alpha\nb,Beta\na,Again\n"}
    )
    expect_error(
        tmp_path / "log.csv", "items.csv", 4, "duplicate item id", "'a'", items=tmp_path / "items.csv"
    )


def test_items_table_invalid_utf8(tmp_path: Path, write_files: Writer) -> None:
    write_files(
        tmp_path, {"log.csv": "user,item\n1,a\n", "items.csv": b"item_id,title\na,Alpha\nb,B\xe9ta\n"}
    )
    expect_error(tmp_path / "log.csv", "items.csv", 3, "utf-8", items=tmp_path / "items.csv")


def test_table_empty(tmp_path: Path, write_files: Writer) -> None:
    path = write_files(tmp_path, {"log.csv": ""}) / "log.csv"
    expect_error(path, "log.csv", 1, "empty")


def test_parquet_that_is_not_parquet(tmp_path: Path, write_files: Writer) -> None:
    path = write_files(tmp_path, {"log.parquet": "user,item\n1,2\n"}) / "log.parquet"
    expect_error(path, "log.parquet", None, "parquet")
