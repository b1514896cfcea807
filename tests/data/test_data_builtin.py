import gzip
from pathlib import Path

import pandas as pd
import pytest

from recpilot.data import Columns
from recpilot.data.builtin import BUILTIN_DATASETS, builtin_folder, load_builtin
from recpilot.data.loaders import load_dataset
from recpilot.errors import ConfigError


def test_ml_latest_small_sizes() -> None:
    dataset = load_builtin()
    assert (dataset.n_users, dataset.n_items, dataset.n_interactions) == (610, 9742, 100836)
    assert dataset.name == "ml-latest-small"
    assert not dataset.implicit
    ratings = dataset.interactions[Columns.RATING]
    assert (ratings.min(), ratings.max()) == (0.5, 5.0)


def test_toy_story_metadata() -> None:
    dataset = load_builtin()
    toy = dataset.catalog.iloc[dataset.items.index_of(1)]
    assert toy[Columns.TITLE] == "Toy Story (1995)"
    assert toy["year"] == 1995
    assert toy["genres"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert "pixar" in toy["tags"]
    assert (toy["imdb_id"], toy["tmdb_id"]) == ("tt0114709", 862)
    assert toy[Columns.TEXT].startswith("Toy Story (1995). Genres: Adventure, Animation")


def test_unusual_titles() -> None:
    catalog = load_builtin().catalog.set_index(Columns.ITEM)
    death_note = catalog.loc[171749]  # "Death Note: Desu nôto (2006–2007)", (no genres listed)
    assert death_note[Columns.TITLE] == "Death Note: Desu nôto (2006–2007)"
    assert death_note["year"] == 2006
    assert death_note["genres"] == []
    assert catalog.loc[27008, Columns.TITLE].endswith("(1999)")  # trailing space in the source stripped
    assert catalog.loc[27008, "year"] == 1999
    assert pd.isna(catalog.loc[40697, "year"])  # "Babylon 5" has no year
    assert catalog["year"].notna().sum() == 9742 - 12


def test_parsed_once_per_process() -> None:
    assert load_builtin() is load_builtin("ml-latest-small")
    assert load_dataset("ml-latest-small") is load_builtin()


def test_renamed_copy_keeps_the_data() -> None:
    renamed = load_dataset("ml-latest-small", name="demo")
    assert renamed.name == "demo"
    assert renamed.n_interactions == load_builtin().n_interactions
    assert load_builtin().name == "ml-latest-small"


def test_unknown_builtin() -> None:
    with pytest.raises(ConfigError, match="ml-latest-small"):
        load_builtin("ml-huge")


def test_files_sit_directly_in_the_package_folder() -> None:
    # pyproject ships data/builtin/*/*, so nothing may be nested deeper.
    for name in BUILTIN_DATASETS:
        entries = list(builtin_folder(name).iterdir())
        assert entries
        assert all(entry.is_file() for entry in entries)


def test_builtin_copy_matches_shared_original(shared_data: Path) -> None:
    original = shared_data / "ml-latest-small"
    folder = builtin_folder("ml-latest-small")
    assert folder.joinpath("README.txt").read_bytes() == (original / "README.txt").read_bytes()
    for name in ("ratings", "movies", "tags", "links"):
        copied = gzip.decompress(folder.joinpath(f"{name}.csv.gz").read_bytes())
        source = (original / f"{name}.csv").read_bytes()
        assert copied.count(b"\n") == source.count(b"\n"), name
        assert copied == source, name
