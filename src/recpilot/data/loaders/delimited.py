"""Reading delimited text files so that every problem names its file and line.

pandas parses fast but reports problems without a place (or not at all: a short line silently becomes
missing values). :class:`DelimitedFile` parses with pandas and, only when something is wrong, re-scans
the file record by record to find the 1-based line the problem is on. Every failure is a single
:class:`~recpilot.errors.DataError`; no pandas exception escapes.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recpilot.errors import DataError

SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes", "::": "'::'"}


@contextmanager
def open_binary(file: Traversable) -> Iterator[IO[bytes] | gzip.GzipFile]:
    """Open ``file`` for reading bytes, decompressing it on the fly when its name ends in ``.gz``."""
    with file.open("rb") as handle:
        if file.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=handle) as unzipped:
                yield unzipped
        else:
            yield handle


@dataclass(frozen=True)
class DelimitedFile:
    """A delimited text file and how it is laid out.

    Attributes:
        file: The file: a path, a member of a zip archive or a package resource.
        sep: The field separator; may be several characters (MovieLens 1M uses ``::``).
        header: Whether the first line names the columns.
        encoding: The text encoding the file must be in.
        quoted: Whether fields may be double-quoted CSV-style. MovieLens 100K and 1M files are not
            quoted, and a ``"`` in one of their titles is a literal character.
    """

    file: Traversable
    sep: str
    header: bool = True
    encoding: str = "utf-8"
    quoted: bool = True

    @property
    def path(self) -> str:
        """The file's location, as shown in error messages."""
        return str(self.file)

    def read(
        self,
        *,
        names: Sequence[str] | None = None,
        required: Sequence[str] = (),
        text_columns: Sequence[str] = (),
    ) -> Table:
        """Parse the whole file.

        Args:
            names: Column names for a file without a header line; every line must have exactly this many
                fields.
            required: Columns that must exist and have a value on every line (for headerless files,
                a subset of ``names``).
            text_columns: Columns kept as text even when they look numeric (ids with leading zeros).

        Raises:
            DataError: The file is empty, is not in the expected encoding, has a line with the wrong
                number of fields, lacks a required column or leaves a required value empty.
        """
        if names is not None:
            frame = self._parse({list(names).index(c): "str" for c in text_columns})
            if frame.shape[1] != len(names):
                raise self._field_count_error(len(names))
            frame.columns = pd.Index(list(names))
        else:
            frame = self._parse(dict.fromkeys(text_columns, "str"))
            frame.columns = pd.Index([str(c).strip() for c in frame.columns])
            missing = [c for c in required if c not in frame.columns]
            if missing:
                problem = f"missing column(s) {missing}; the header line has {list(frame.columns)}"
                raise DataError(problem + self._separator_hint(), path=self.path, line=1)
            if len(frame) == 0:
                raise DataError("the file has a header line but no rows", path=self.path, line=2)
        table = Table(frame, self)
        for column in required:
            empty = frame[column].isna().to_numpy()
            if empty.any():
                raise table.error_at(int(np.flatnonzero(empty)[0]), f"no value for {column!r}")
        return table

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Yield ``(line number, fields)`` for every non-blank record, the header included.

        Used only to locate problems, so it favours exactness over speed. A quoted field may span
        lines; the number given is the line the record starts on.
        """
        with open_binary(self.file) as handle:
            text = io.TextIOWrapper(handle, encoding=self.encoding, errors="replace", newline="")
            if self.quoted and len(self.sep) == 1:
                reader = csv.reader(text, delimiter=self.sep)
                end = 0
                for fields in reader:
                    start, end = end + 1, reader.line_num
                    if fields:
                        yield start, fields
            else:
                for number, line in enumerate(text, start=1):
                    stripped = line.rstrip("\r\n")
                    if stripped:
                        yield number, stripped.split(self.sep)

    # -- parsing --------------------------------------------------------------------------------------

    def _parse(self, dtype: dict[str | int, str]) -> pd.DataFrame:
        options: dict[str, Any] = {
            "header": 0 if self.header else None,
            "encoding": self.encoding,
            "quoting": csv.QUOTE_MINIMAL if self.quoted else csv.QUOTE_NONE,
            # Without this, a first data line with one extra field silently becomes the index.
            "index_col": False,
            # Only an empty field is missing; a title or tag spelled "NA" or "None" is kept as text.
            "keep_default_na": False,
            "na_values": [""],
            "dtype": dtype or None,
        }
        try:
            with warnings.catch_warnings():
                # pandas only warns (and drops data) when a line has more fields than the header.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                with open_binary(self.file) as handle:
                    if len(self.sep) == 1:
                        return pd.read_csv(handle, sep=self.sep, **options)
                    return _read_multichar(handle.read(), self.sep, options)
        except UnicodeDecodeError:
            raise self._encoding_error() from None
        except pd.errors.EmptyDataError:
            raise DataError("the file is empty", path=self.path, line=1) from None
        except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
            raise self._shape_error(str(exc)) from None
        except (gzip.BadGzipFile, EOFError, zlib.error):
            raise DataError("the file is not a valid gzip archive", path=self.path) from None

    # -- locating problems ----------------------------------------------------------------------------

    def _encoding_error(self) -> DataError:
        with open_binary(self.file) as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    raw.decode(self.encoding)
                except UnicodeDecodeError as exc:
                    return DataError(
                        f"not valid {self._encoding_name} text (byte 0x{raw[exc.start]:02x} at column "
                        f"{exc.start + 1}); save the file as {self._encoding_name}",
                        path=self.path,
                        line=number,
                    )
        return DataError(f"the file is not valid {self._encoding_name} text", path=self.path)

    @property
    def _encoding_name(self) -> str:
        return self.encoding.upper().removesuffix("-SIG")

    def _shape_error(self, message: str) -> DataError:
        unclosed = re.search(r"EOF inside string starting at row (\d+)", message)
        if unclosed:
            # pandas counts rows from 0, header included.
            return DataError("a quoted field is never closed", path=self.path, line=int(unclosed[1]) + 1)
        records = self.records()
        first = next(records, None)
        if first is not None:
            expected = len(first[1])
            for number, fields in records:
                if len(fields) != expected:
                    return self.wrong_fields(number, expected, len(fields))
        line = re.search(r"line (\d+)", message)
        problem = message.split("C error: ")[-1].strip()
        return DataError(problem, path=self.path, line=int(line[1]) if line else None)

    def _field_count_error(self, expected: int) -> DataError:
        for number, fields in self.records():
            if len(fields) != expected:
                return self.wrong_fields(number, expected, len(fields))
        return DataError(f"expected {expected} fields on every line", path=self.path)

    def wrong_fields(self, line: int, expected: int, found: int) -> DataError:
        """A :class:`DataError` for a line with ``found`` fields where ``expected`` were due."""
        separator = SEPARATOR_NAMES.get(self.sep, repr(self.sep))
        problem = f"expected {expected} fields separated by {separator}, found {found}"
        hint = self._separator_hint() if found == 1 else ""
        return DataError(problem + hint, path=self.path, line=line)

    def _separator_hint(self) -> str:
        first = next(self.records(), None)
        if first is None:
            return ""
        line = self.sep.join(first[1])
        counts = {sep: line.count(sep) for sep in SEPARATOR_NAMES if sep != self.sep}
        other = max(counts, key=lambda sep: counts[sep])
        if counts[other] == 0:
            return ""
        return (
            f" (the fields look separated by {SEPARATOR_NAMES[other]}, but this file must use "
            f"{SEPARATOR_NAMES.get(self.sep, repr(self.sep))})"
        )


@dataclass(frozen=True)
class Table:
    """A parsed table that can still point at the line each row came from.

    Attributes:
        frame: The rows, with the file's column names.
        source: The file the rows were read from; ``None`` for formats without lines (Parquet).
        path: The file's location, as shown in error messages.
    """

    frame: pd.DataFrame
    source: DelimitedFile | None
    path: str = ""

    def __post_init__(self) -> None:
        if self.source is not None and not self.path:
            object.__setattr__(self, "path", self.source.path)

    def error_at(self, row: int, problem: str) -> DataError:
        """A :class:`DataError` about the 0-based data ``row``, located at its line in the file."""
        if self.source is None:
            return DataError(f"row {row + 1}: {problem}", path=self.path)
        wanted = row + (1 if self.source.header else 0)
        expected = self.frame.shape[1]
        for position, (number, fields) in enumerate(self.source.records()):
            if position == wanted:
                if len(fields) != expected:
                    return self.source.wrong_fields(number, expected, len(fields))
                return DataError(problem, path=self.path, line=number)
        return DataError(f"row {row + 1}: {problem}", path=self.path)

    def numbers(self, column: str) -> pd.Series:
        """The values of ``column`` as numbers; the first value that is not one is reported."""
        values = self.frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            converted = pd.to_numeric(values, errors="coerce")
            bad = (converted.isna() & values.notna()).to_numpy()
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise self.error_at(row, f"{column} {values.iloc[row]!r} is not a number")
            values = converted
        empty = values.isna().to_numpy()
        if empty.any():
            raise self.error_at(int(np.flatnonzero(empty)[0]), f"no value for {column!r}")
        return values

    def integers(self, column: str) -> npt.NDArray[np.int64]:
        """The values of ``column`` as int64; fractions and text are reported with their line."""
        values = self.numbers(column)
        if pd.api.types.is_integer_dtype(values):
            return np.asarray(values, dtype=np.int64)
        floats = values.to_numpy(dtype=np.float64)
        fractional = floats != np.floor(floats)
        if fractional.any():
            row = int(np.flatnonzero(fractional)[0])
            raise self.error_at(row, f"{column} {values.iloc[row]!r} is not a whole number")
        return np.asarray(floats, dtype=np.int64)

    def check_unique(self, column: str, what: str) -> None:
        """Report the first repeated value of ``column`` (``what`` names it, e.g. "movie id")."""
        repeated = self.frame[column].duplicated().to_numpy()
        if repeated.any():
            row = int(np.flatnonzero(repeated)[0])
            raise self.error_at(row, f"duplicate {what} {self.frame[column].iloc[row]!r}")


def _read_multichar(data: bytes, sep: str, options: dict[str, Any]) -> pd.DataFrame:
    # The C parser only splits on single characters and the python engine is ~20x slower, so a
    # multi-character separator becomes a tab unless the data already holds tabs.
    if b"\t" not in data:
        return pd.read_csv(io.BytesIO(data.replace(sep.encode(), b"\t")), sep="\t", **options)
    return pd.read_csv(io.BytesIO(data), sep=re.escape(sep), engine="python", **options)
