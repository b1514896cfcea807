import json
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recpilot.data import Columns, Dataset
from recpilot.data.loaders import (
    SourceKind,
    detect_source,
    load_dataset,
    load_movielens,
    load_sequences,
    load_tabular,
)
from recpilot.data.loaders.detect import sniff_separator
from recpilot.errors import ConfigError, DataError

Writer = Callable[[Path, Mapping[str, str | bytes]], Path]


def row_of(dataset: Dataset, item_id: object) -> pd.Series:
    return dataset.catalog.iloc[dataset.items.index_of(item_id)]


def ratings_of(dataset: Dataset) -> set[tuple[object, object, float, int]]:
    table = dataset.interactions
    users = dataset.users.to_external(table[Columns.USER_IDX])
    items = dataset.items.to_external(table[Columns.ITEM_IDX])
    return {
        (u, i, float(r), int(t))
        for u, i, r, t in zip(users, items, table[Columns.RATING], table[Columns.TIMESTAMP], strict=True)
    }


# -- MovieLens ----------------------------------------------------------------------------------------


def test_ml100k_folder(ml100k: Path) -> None:
    dataset = load_dataset(ml100k)
    assert dataset.name == "ml-100k"
    assert not dataset.implicit
    assert ratings_of(dataset) == {
        (196, 1, 3.0, 881250949),
        (186, 2, 5.0, 891717742),
        (196, 3, 1.0, 881251000),
        (22, 1, 4.0, 878887116),
    }
    toy = row_of(dataset, 1)
    assert toy[Columns.TITLE] == "Toy Story (1995)"
    assert toy["year"] == 1995
    assert toy["genres"] == ["Animation", "Children's", "Comedy"]
    assert "Animation" in toy[Columns.TEXT]
    # latin-1 accent decoded, literal quotes kept, year taken from the release date when the title has none
    les = row_of(dataset, 3)
    assert les[Columns.TITLE] == 'Misérables, Les "Director\'s cut"'
    assert les["year"] == 1996
    unknown = row_of(dataset, 267)
    assert unknown["genres"] == []
    assert pd.isna(unknown["year"])
    features = dataset.user_features
    assert features is not None
    user = features.loc[dataset.users.index_of(186)]
    assert (user["age"], user["gender"], user["occupation"], user["zip_code"]) == (
        39,
        "F",
        "executive",
        "00000",
    )


def test_ml100k_genre_names_come_from_u_genre(
    tmp_path: Path, write_files: Writer, ml100k_files: dict[str, bytes]
) -> None:
    files = ml100k_files
    # A u.genre that renames "Action" proves the names are read, not assumed.
    files["u.genre"] = files["u.genre"].replace(b"Action|1", b"Action & Stunts|1")
    dataset = load_dataset(write_files(tmp_path / "ml-100k", files))
    assert row_of(dataset, 2)["genres"] == ["Action & Stunts", "Adventure", "Thriller"]


def test_ml1m_folder(ml1m: Path) -> None:
    dataset = load_dataset(ml1m)
    assert dataset.n_users == 2
    assert dataset.n_interactions == 3
    assert ratings_of(dataset) >= {(1, 1, 5.0, 978300760)}
    assert row_of(dataset, 2)[Columns.TITLE] == "Misérables, Les (1995)"
    assert row_of(dataset, 1)["genres"] == ["Animation", "Children's", "Comedy"]
    features = dataset.user_features
    assert features is not None
    assert list(features["occupation"]) == ["K-12 student", "self-employed"]


def test_ml10m_layout_reads_tags_dat(tmp_path: Path, write_files: Writer) -> None:
    folder = write_files(
        tmp_path / "ml-10M100K",
        {
            "ratings.dat": "1::1::4.5::838985046\n",
            "movies.dat": "1::Toy Story (1995)::Adventure|Animation\n",
            "tags.dat": "15::1::Pixar::1138537770\n20::1::funny::1188263867\n30::1::pixar::1188263868\n",
        },
    )
    dataset = load_dataset(folder)
    assert dataset.user_features is None
    assert row_of(dataset, 1)["tags"] == ["pixar", "funny"]
    assert float(dataset.interactions[Columns.RATING].iloc[0]) == 4.5


def test_ml_latest_folder(ml_latest: Path) -> None:
    dataset = load_dataset(ml_latest)
    assert (dataset.n_users, dataset.n_items, dataset.n_interactions) == (2, 3, 3)
    toy = row_of(dataset, 1)
    assert toy["genres"] == ["Adventure", "Animation"]
    assert toy["tags"] == ["pixar", "fun"]  # lowercased, distinct, most used first
    assert (toy["imdb_id"], toy["tmdb_id"]) == ("tt0114709", 862)
    assert toy[Columns.TEXT] == "Toy Story (1995). Genres: Adventure, Animation. Tags: pixar, fun."
    city = row_of(dataset, 2)
    assert city[Columns.TITLE] == "City, The (2001)"
    assert city["year"] == 2001
    assert city["genres"] == []
    assert pd.isna(city["tmdb_id"])
    assert pd.isna(row_of(dataset, 3)["year"])
    assert str(dataset.catalog["year"].dtype) == "Int64"


def test_movielens_zip_with_top_folder(tmp_path: Path, latest_files: dict[str, str]) -> None:
    archive = tmp_path / "ml-latest-tiny.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, text in latest_files.items():
            zipped.writestr(f"ml-latest-tiny/{name}", text)
        zipped.writestr("__MACOSX/ml-latest-tiny/._ratings.csv", "junk")
    dataset = load_dataset(archive)
    assert dataset.name == "ml-latest-tiny"
    assert (dataset.n_users, dataset.n_items) == (2, 3)
    assert row_of(dataset, 1)["tags"] == ["pixar", "fun"]


def test_movielens_zip_100k_same_as_folder(
    tmp_path: Path, ml100k: Path, ml100k_files: dict[str, bytes]
) -> None:
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, data in ml100k_files.items():
            zipped.writestr(f"ml-100k/{name}", data)
    from_zip, from_folder = load_dataset(archive), load_dataset(ml100k)
    assert ratings_of(from_zip) == ratings_of(from_folder)
    pd.testing.assert_frame_equal(from_zip.catalog, from_folder.catalog)


def test_zip_without_movielens_files(tmp_path: Path) -> None:
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("data/notes.txt", "hello")
    with pytest.raises(DataError, match=r"other\.zip.*no MovieLens files"):
        load_movielens(archive)


# -- S3-Rec sequences ---------------------------------------------------------------------------------


def test_sequences_small(tmp_path: Path, write_files: Writer) -> None:
    folder = write_files(
        tmp_path,
        {
            "Toys.txt": "1 10 11 12\n2 12 10\n\n3 13 14\n",
            "Toys_item2attributes.json": json.dumps({"10": [1, 2], "12": [3], "99": [4]}),
        },
    )
    dataset = load_dataset(folder / "Toys.txt")
    assert dataset.implicit
    assert dataset.name == "Toys"
    assert dataset.n_interactions == 7
    # Positions are the timestamps, so sequences come back in file order.
    assert list(dataset.items.to_external(dataset.user_sequence(dataset.users.index_of(2)))) == [12, 10]
    assert list(dataset.interactions[Columns.TIMESTAMP][:3]) == [0, 1, 2]
    # Items only in the attribute file are still part of the item space.
    assert list(dataset.catalog[Columns.ITEM]) == [10, 11, 12, 13, 14, 99]
    assert row_of(dataset, 10)["attributes"] == [1, 2]
    assert row_of(dataset, 11)["attributes"] == []
    assert row_of(dataset, 12)[Columns.TITLE] == "item 12"


def test_beauty(shared_data: Path) -> None:
    folder = shared_data / "amazon-beauty"
    dataset = load_dataset(folder)  # the folder also holds README and PROVENANCE .txt files
    assert (dataset.n_users, dataset.n_items, dataset.n_interactions) == (22363, 12101, 198502)
    assert dataset.implicit
    attributes = json.loads((folder / "Beauty_item2attributes.json").read_text())
    assert row_of(dataset, 4)["attributes"] == attributes["4"]
    first_line = (folder / "Beauty.txt").read_text().split("\n", 1)[0].split()
    user = dataset.users.index_of(int(first_line[0]))
    assert list(dataset.items.to_external(dataset.user_sequence(user))) == [int(i) for i in first_line[1:]]


def test_sequences_without_attributes(tmp_path: Path, write_files: Writer) -> None:
    path = write_files(tmp_path, {"Plain.txt": "5 1 2\n"}) / "Plain.txt"
    dataset = load_sequences(path)
    assert list(dataset.catalog.columns) == [Columns.ITEM, Columns.TITLE, Columns.TEXT, "attributes"]
    assert row_of(dataset, 2)["attributes"] == []


# -- generic tables -----------------------------------------------------------------------------------


def test_table_aliases_and_semicolons(tmp_path: Path, write_files: Writer) -> None:
    path = (
        write_files(tmp_path, {"log.csv": "UserID;MovieId;Score;TS\nu1;10;4.5;100\nu2;11;3;200\n"})
        / "log.csv"
    )
    dataset = load_dataset(path)
    assert ratings_of(dataset) == {("u1", 10, 4.5, 100), ("u2", 11, 3.0, 200)}
    assert dataset.name == "log"


def test_table_tabs_and_implicit(tmp_path: Path, write_files: Writer) -> None:
    path = write_files(tmp_path, {"clicks.tsv": "user\titem\na\tx\nb\tx\nb\ty\n"}) / "clicks.tsv"
    dataset = load_tabular(path)
    assert dataset.implicit
    assert dataset.n_interactions == 3
    # Without a time column, file order within each user is the time.
    assert list(dataset.items.to_external(dataset.user_sequence(dataset.users.index_of("b")))) == ["x", "y"]


def test_table_date_strings_become_epoch_seconds(tmp_path: Path, write_files: Writer) -> None:
    path = write_files(
        tmp_path, {"t.csv": "user_id,item_id,time\n1,2,2024-01-01\n1,3,2024-01-01T00:01:00Z\n"}
    )
    dataset = load_tabular(path / "t.csv")
    assert list(dataset.interactions[Columns.TIMESTAMP]) == [1704067200, 1704067260]


def test_table_parquet_with_items_table(tmp_path: Path, write_files: Writer) -> None:
    pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"], "rating": [5, 3, 4]}).to_parquet(
        tmp_path / "ratings.parquet"
    )
    write_files(
        tmp_path,
        {
            "items.csv": "ItemId|Title|Description|color\n"
            "a|Alpha|first|red\nb|Beta|second|blue\nc|Gamma|third|red\n",
            "tagged.csv": 'item_id,title,genres\na,Alpha,"Action|Comedy"\nb,Beta,\n',
        },
    )
    dataset = load_dataset(tmp_path / "ratings.parquet", items=tmp_path / "items.csv")
    assert dataset.n_items == 3  # c is in the catalog though nobody rated it
    assert row_of(dataset, "b")[Columns.TEXT] == "second"
    assert row_of(dataset, "c")["color"] == "red"
    tagged = load_dataset(tmp_path / "ratings.parquet", items=tmp_path / "tagged.csv")
    assert row_of(tagged, "a")["genres"] == ["Action", "Comedy"]
    assert row_of(tagged, "b")["genres"] == []


def test_table_ids_numeric_in_one_file_text_in_other(tmp_path: Path, write_files: Writer) -> None:
    write_files(tmp_path, {"r.csv": "user,item\n1,7\n", "i.csv": "item,title\n7,Seven\nB8,Eight\n"})
    dataset = load_tabular(tmp_path / "r.csv", items=tmp_path / "i.csv")
    assert row_of(dataset, "7")[Columns.TITLE] == "Seven"
    assert dataset.n_items == 2


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b\n1;2,5\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        # pipes inside values must not beat the real separator
        ("item_id,genres\n1,Action|Comedy|Drama\n2,Drama|War\n", ","),
    ],
)
def test_sniff_separator(sample: str, expected: str) -> None:
    assert sniff_separator(sample) == expected


# -- detection ----------------------------------------------------------------------------------------


def test_detect_kinds(tmp_path: Path, ml_latest: Path, write_files: Writer) -> None:
    write_files(tmp_path, {"a.csv": "user,item\n1,2\n", "b.txt": "1 2 3\n"})
    assert detect_source(ml_latest).kind is SourceKind.MOVIELENS
    assert detect_source(tmp_path / "a.csv").kind is SourceKind.TABLE
    assert detect_source(tmp_path / "b.txt").kind is SourceKind.SEQUENCES


def test_unrecognised_file_lists_layouts(tmp_path: Path, write_files: Writer) -> None:
    path = write_files(tmp_path, {"data.xlsx": b"PK"}) / "data.xlsx"
    with pytest.raises(DataError, match=r"data\.xlsx.*MovieLens.*S3-Rec.*CSV") as caught:
        load_dataset(path)
    assert "built-in" in str(caught.value)


def test_empty_folder_lists_layouts(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="supported layouts"):
        load_dataset(tmp_path)


def test_missing_release_points_at_downloader(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"download_movielens\('ml-1m'\)"):
        load_dataset(str(tmp_path / "ml-1m"))


def test_items_only_for_tables(ml_latest: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="items="):
        load_dataset(ml_latest, items=tmp_path / "items.csv")


def test_interaction_arrays_have_documented_dtypes(ml100k: Path) -> None:
    table = load_dataset(ml100k).interactions
    assert table[Columns.USER_IDX].dtype == np.int32
    assert table[Columns.RATING].dtype == np.float32
    assert table[Columns.TIMESTAMP].dtype == np.int64


def test_movielens_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        load_movielens(tmp_path / "absent")
