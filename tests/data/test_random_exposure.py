"""Random-exposure layouts (Coat, Yahoo! R3) and folder detection, on small fixtures in their layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recpilot.data.columns import Columns
from recpilot.data.loaders import detect_source, load_dataset
from recpilot.data.loaders.detect import SourceKind
from recpilot.data.loaders.sequences import load_sequences
from recpilot.data.splits import has_random_exposure, random_exposure_split
from recpilot.errors import ConfigError, DataError
from recpilot.testing.backends import shared_data_dir

SHARED_COAT = shared_data_dir() / "coat"


def _matrix(rows: list[list[int]]) -> str:
    return "\n".join(" ".join(str(v) for v in row) for row in rows) + "\n"


@pytest.fixture
def coat(tmp_path: Path) -> Path:
    """3 users x 4 coats; user 2 rated coat 1 both on their own and when shown it at random."""
    folder = tmp_path / "coat"
    folder.mkdir()
    (folder / "train.ascii").write_text(_matrix([[5, 0, 2, 0], [0, 4, 0, 1], [0, 3, 0, 0]]))
    (folder / "test.ascii").write_text(_matrix([[0, 1, 0, 4], [2, 0, 0, 0], [0, 5, 1, 0]]))
    (folder / "item_features_map.txt").write_text("gender:men\ngender:women\ncolor:red")
    (folder / "item_features.ascii").write_text(_matrix([[1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 1, 1]]))
    (folder / "user_features_map.txt").write_text("gender:men\ngender:women\n")
    (folder / "user_features.ascii").write_text(_matrix([[1, 0], [0, 1], [0, 1]]))
    return folder


def _yahoo(folder: Path, train: str, test: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ydata-ymusic-rating-study-v1_0-train.txt").write_text(train)
    (folder / "ydata-ymusic-rating-study-v1_0-test.txt").write_text(test)
    return folder


def test_coat_folder_is_detected_and_keeps_its_random_test(coat: Path) -> None:
    assert detect_source(coat).kind is SourceKind.COAT
    data = load_dataset(coat)
    assert (data.n_users, data.n_items, data.n_interactions) == (3, 4, 5)
    assert data.catalog["categories"].tolist()[3] == ["gender:women", "color:red"]
    assert data.user_features is not None
    assert data.user_features["gender:women"].tolist() == [0, 1, 1]
    split = random_exposure_split(data)
    assert split.protocol == "random-exposure"
    assert split.train is data
    test = split.test
    users = data.users.to_external(test[Columns.USER_IDX])
    pairs = set(zip(users, data.items.to_external(test[Columns.ITEM_IDX]), strict=True))
    assert pairs == {(0, 1), (0, 3), (1, 0), (2, 1), (2, 2)}
    assert sorted(test[Columns.RATING].tolist()) == [1, 1, 2, 4, 5]


def test_coat_matrices_of_different_shapes_are_refused(coat: Path) -> None:
    (coat / "test.ascii").write_text(_matrix([[0, 1, 0], [2, 0, 0], [0, 5, 1]]))
    with pytest.raises(DataError, match=r"test\.ascii.*3x3 but train\.ascii is 3x4"):
        load_dataset(coat)


def test_coat_rating_out_of_range_names_the_line(coat: Path) -> None:
    (coat / "train.ascii").write_text(_matrix([[5, 0, 2, 0], [0, 7, 0, 1], [0, 3, 0, 0]]))
    with pytest.raises(DataError, match=r"train\.ascii, line 2: ratings must be whole numbers 0-5"):
        load_dataset(coat)


def test_yahoo_r3_layout_from_its_description(tmp_path: Path) -> None:
    folder = _yahoo(
        tmp_path / "r3",
        "1\t1\t5\n1\t2\t4\n2\t3\t1\n3\t1\t2\n",
        "1\t3\t1\n2\t1\t5\n2\t2\t2\n9\t1\t3\n",  # user 9 has no logged rating: dropped
    )
    assert detect_source(folder).kind is SourceKind.YAHOO_R3
    data = load_dataset(folder)
    assert (data.n_users, data.n_items, data.n_interactions) == (3, 3, 4)
    assert has_random_exposure(data)
    test = random_exposure_split(data).test
    assert len(test) == 3
    assert sorted(data.users.to_external(test[Columns.USER_IDX]).tolist()) == [1, 2, 2]


@pytest.mark.parametrize(
    ("line", "problem"),
    [("1\t2\n", "expected 'user<TAB>song<TAB>rating'"), ("1\t2\t6\n", "rating 6 is outside 1-5")],
)
def test_yahoo_r3_bad_lines_name_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    folder = _yahoo(tmp_path / "r3", "1\t1\t5\n" + line, "1\t2\t1\n")
    with pytest.raises(DataError, match=rf"train\.txt, line 2: {problem}"):
        load_dataset(folder)


def test_folder_with_several_s3rec_datasets_is_ambiguous(tmp_path: Path) -> None:
    for name in ("Beauty", "Sports"):
        (tmp_path / f"{name}.txt").write_text("1 1 2 3\n2 2 3\n")
        (tmp_path / f"{name}_item2attributes.json").write_text(json.dumps({"1": [1]}))
    ambiguous = r"holds 2 S3-Rec datasets \(Beauty\.txt, Sports\.txt\).*ambiguous"
    with pytest.raises(DataError, match=ambiguous):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match=ambiguous):  # the sequence loader given the folder says the same
        load_sequences(tmp_path)
    assert load_sequences(tmp_path / "Sports.txt").name == "Sports"  # the file itself is fine


def test_dataset_without_random_exposure_has_no_such_split(coat: Path) -> None:
    data = load_dataset(coat)
    plain = data.with_interactions(data.interactions)
    plain.extra.clear()
    assert not has_random_exposure(plain)
    with pytest.raises(ConfigError, match="no random-exposure test"):
        random_exposure_split(plain)


@pytest.mark.skipif(not SHARED_COAT.is_dir(), reason="shared Coat data not present (../shared/data/coat)")
def test_real_coat_shapes() -> None:
    data = load_dataset(SHARED_COAT)
    test = random_exposure_split(data).test
    assert (data.n_users, data.n_items, data.n_interactions, len(test)) == (290, 300, 6960, 4640)
    assert np.bincount(test[Columns.USER_IDX].to_numpy()).tolist() == [16] * 290
