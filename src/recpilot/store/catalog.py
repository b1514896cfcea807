"""The catalog store: a dataset's items, attributes, users and interactions in a SQL database."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from recpilot.data.dataset import Dataset
from recpilot.errors import ConfigError, DataError, UnknownIdError
from recpilot.store import backend, ingest, migrate, schema
from recpilot.store.records import (
    AttributeInfo,
    AttributeValue,
    HistoryEvent,
    ItemRecord,
    SearchHit,
    StoreInfo,
)
from recpilot.store.search import CatalogQuery, build_search, validate_query

# Far below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters per statement.
_LOOKUP_CHUNK = 5_000


class CatalogStore:
    """A dataset's catalog, users and interactions in SQLite or PostgreSQL, with full-text search.

    Opening a store creates its tables, or upgrades them to this recpilot's schema (alembic
    migrations, :mod:`recpilot.store.migrate`), keeping their rows. Several processes may read at once; an
    import replaces the whole content in one transaction (readers see the old content until it
    commits on SQLite, and wait for it on PostgreSQL, where the import locks the tables).

    Args:
        url: A SQLAlchemy URL (``"sqlite:///catalog.db"``,
            ``"postgresql+psycopg://user@host/db"``) or a filesystem path, which means SQLite.
            ``":memory:"`` is a private in-memory SQLite database.
        echo: Log every SQL statement (for debugging).

    Raises:
        ConfigError: The URL is malformed, its driver is missing, the database cannot be reached, or
            it holds a store written with another schema version or by a newer recpilot.

    Example:
        >>> store = CatalogStore(":memory:")
        >>> store.info().n_items
        0
    """

    def __init__(self, url: str | Path, *, echo: bool = False) -> None:
        self._url = backend.normalise_url(url)
        self._engine = backend.create_engine(self._url, echo=echo)
        self._attributes: dict[str, AttributeInfo] | None = None
        try:
            migrate.upgrade(self._engine, schema.CATALOG)
            version = self._meta("schema_version")
        except sa.exc.DBAPIError as err:
            self._engine.dispose()
            raise ConfigError(
                f"cannot open catalog store at {self.url}: {err.orig}. Check the URL, that the server "
                "is running and that the user may create tables there"
            ) from err
        if version is not None and int(version) != schema.SCHEMA_VERSION:
            self._engine.dispose()
            raise ConfigError(
                f"catalog store at {self.url} has schema version {version}, this recpilot uses "
                f"{schema.SCHEMA_VERSION}; import the dataset into a new store"
            )

    @classmethod
    def open(cls, url: str | Path, *, echo: bool = False) -> CatalogStore:
        """Open (creating if needed) the store at ``url``; the same as the constructor."""
        return cls(url, echo=echo)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._url.render_as_string(hide_password=True)

    @property
    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine, for queries the store has no method for."""
        return self._engine

    def close(self) -> None:
        """Release the store's database connections."""
        self._engine.dispose()

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CatalogStore({self.url!r})"

    # -- writing ---------------------------------------------------------------------------------------

    def import_dataset(self, dataset: Dataset, *, replace: bool = False) -> StoreInfo:
        """Write a dataset's items, attributes, users and interactions in one transaction.

        Either everything is written or, on any failure, the store is left exactly as it was.

        Args:
            dataset: The dataset to store.
            replace: Replace the dataset already in the store; without it a non-empty store is an
                error, so a store is never overwritten by accident.

        Returns:
            The store's summary after the import.

        Raises:
            ConfigError: The store already holds a dataset and ``replace`` is False.
            DataError: The dataset cannot be stored (ids or attribute values of unsupported types) or
                the database refused it.
        """
        # Build every row before touching the database, so data errors surface with nothing begun.
        items = ingest.item_rows(dataset)
        attributes = ingest.attribute_rows(dataset)
        users = ingest.id_rows(dataset.users.external_ids, "user", dataset.source)
        interactions = ingest.interaction_rows(dataset)
        meta = [
            {"key": "schema_version", "value": str(schema.SCHEMA_VERSION)},
            {"key": "dataset", "value": dataset.name},
            {"key": "implicit", "value": str(dataset.implicit).lower()},
        ]
        definitions = [
            {"name": a.name, "value_type": a.value_type, "multivalued": a.multivalued, "n_values": a.n_values}
            for a in attributes
        ]
        self._attributes = None
        try:
            with self._engine.begin() as conn:
                current = conn.execute(sa.select(sa.func.count()).select_from(schema.items)).scalar_one()
                if current and not replace:
                    name = self._meta("dataset", conn)
                    raise ConfigError(
                        f"catalog store at {self.url} already holds dataset {name!r} ({current} items); "
                        f"pass replace=True to overwrite it with {dataset.name!r}, or use another store"
                    )
                backend.clear(conn, schema.DELETE_ORDER)
                conn.execute(schema.meta.insert(), meta)
                backend.bulk_insert(conn, schema.items, items)
                if definitions:
                    conn.execute(schema.attributes.insert(), definitions)
                backend.bulk_insert(conn, schema.users, users)
                with backend.foreign_keys_deferred(conn, [schema.item_attributes, schema.interactions]):
                    for attribute in attributes:
                        backend.bulk_insert(conn, schema.item_attributes, attribute.values)
                    backend.bulk_insert(conn, schema.interactions, interactions)
                backend.rebuild_text_index(conn)
                backend.analyze(conn, schema.metadata.sorted_tables)
        except sa.exc.DBAPIError as err:
            raise DataError(
                f"importing dataset {dataset.name!r} into the catalog store at {self.url} failed, the "
                f"store is unchanged: {err.orig}",
                path=dataset.source,
            ) from err
        return self.info()

    # -- reading ---------------------------------------------------------------------------------------

    def info(self) -> StoreInfo:
        """Counts and the name of the dataset held."""
        with self._engine.connect() as conn:

            def count(table: sa.Table) -> int:
                return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

            return StoreInfo(
                url=self.url,
                dataset=self._meta("dataset", conn),
                schema_version=schema.SCHEMA_VERSION,
                n_items=count(schema.items),
                n_users=count(schema.users),
                n_interactions=count(schema.interactions),
            )

    def item(self, item_id: int | str) -> ItemRecord:
        """One item by external id (``1`` and ``"1"`` name the same item).

        Raises:
            UnknownIdError: No item has this id.
        """
        return self.items([item_id])[0]

    def items(self, item_ids: Sequence[int | str]) -> list[ItemRecord]:
        """Items by external id, in the order asked.

        Raises:
            UnknownIdError: Some ids are unknown (all of them are named).
        """
        keys = [str(i) for i in item_ids]
        found: dict[str, sa.Row[Any]] = {}
        values: dict[int, list[sa.Row[Any]]] = {}
        with self._engine.connect() as conn:
            for chunk in _chunks(sorted({key for key in keys if _storable(key)})):
                for row in conn.execute(sa.select(schema.items).where(schema.items.c.external_id.in_(chunk))):
                    found[row.external_id] = row
            for chunk in _chunks(sorted({row.id for row in found.values()})):
                ia = schema.item_attributes
                query = (
                    sa.select(ia.c.item_id, ia.c.name, ia.c.value, ia.c.value_num)
                    .where(ia.c.item_id.in_(chunk))
                    .order_by(ia.c.item_id, ia.c.name, ia.c.position)
                )
                for row in conn.execute(query):
                    values.setdefault(row.item_id, []).append(row)
        missing = [i for i, key in zip(item_ids, keys, strict=True) if key not in found]
        if missing:
            raise UnknownIdError("item", missing, self._holds_hint())
        known = self.attributes()
        return [_item_record(found[key], values.get(found[key].id, []), known) for key in keys]

    def search(self, query: CatalogQuery) -> list[SearchHit]:
        """Items that satisfy every constraint of ``query``, best first.

        Raises:
            ConfigError: The query names an unknown attribute, or a numeric range on a non-numeric one.
        """
        rows = self._search_rows(query, indices_only=False, every=False)
        # Rows come from our own typed columns: plain tuples unpacked into slotted hits (hot path).
        return [
            SearchHit(ingest.decode_id(ext, kind), title, float(score), year, popularity)
            for ext, kind, title, year, popularity, score in rows
        ]

    def search_indices(
        self, query: CatalogQuery, *, every: bool = False
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The hits of :meth:`search` as internal item indices (the rows of the imported
        :class:`~recpilot.data.Dataset`'s catalog) and scores, in the same order, building no records:
        for callers that hold the dataset (a search may return thousands of hits).

        Args:
            query: The search.
            every: Return every hit, past ``query.limit`` (a whole catalog's indices are cheap).

        Raises:
            ConfigError: As :meth:`search`.
        """
        rows = self._search_rows(query, indices_only=True, every=every)
        # Column by column: numpy probing each SQLAlchemy row for the array protocol costs ~10 us a row.
        count = len(rows)
        indices = np.fromiter((row[0] for row in rows), dtype=np.int64, count=count)
        scores = np.fromiter((row[1] for row in rows), dtype=np.float64, count=count)
        return indices, scores

    def _search_rows(self, query: CatalogQuery, *, indices_only: bool, every: bool) -> list[Any]:
        try:
            validate_query(query, self.attributes())
        except ConfigError:
            self._attributes = None  # another process may have imported since: check once more
            validate_query(query, self.attributes())
        statement = build_search(query, self._engine.dialect.name, indices_only=indices_only, every=every)
        if statement is None:
            return []
        with self._engine.connect() as conn:
            return list(conn.execute(statement).all())

    def user_history(self, user_id: int | str) -> list[HistoryEvent]:
        """A user's interactions in time order (ties in dataset order).

        Raises:
            UnknownIdError: The store has no such user.
        """
        users, events, items = schema.users, schema.interactions, schema.items
        with self._engine.connect() as conn:
            key = str(user_id)
            internal = (
                conn.execute(sa.select(users.c.id).where(users.c.external_id == key)).scalar()
                if _storable(key)
                else None
            )
            if internal is None:
                raise UnknownIdError("user", [user_id], self._holds_hint())
            rows = conn.execute(
                sa.select(items.c.external_id, items.c.external_type, events.c.rating, events.c.timestamp)
                .join_from(events, items, events.c.item_id == items.c.id)
                .where(events.c.user_id == internal)
                .order_by(events.c.timestamp, events.c.id)
            )
            return [
                HistoryEvent(
                    item_id=ingest.decode_id(row.external_id, row.external_type),
                    rating=row.rating,
                    timestamp=row.timestamp,
                )
                for row in rows
            ]

    def attributes(self) -> dict[str, AttributeInfo]:
        """The catalog's attributes by name: their value types and number of distinct values."""
        if self._attributes is None:
            with self._engine.connect() as conn:
                rows = conn.execute(sa.select(schema.attributes).order_by(schema.attributes.c.name))
                self._attributes = {
                    row.name: AttributeInfo(
                        name=row.name,
                        value_type=row.value_type,
                        multivalued=row.multivalued,
                        n_values=row.n_values,
                    )
                    for row in rows
                }
        return self._attributes

    def vocabulary(self, attribute: str) -> dict[AttributeValue, int]:
        """The values of an attribute with the number of items having each, most common first.

        Values that differ only in case count as one (as in search filters), shown in one of their
        spellings.

        Raises:
            ConfigError: The catalog has no such attribute.
        """
        info = self.attributes().get(attribute)
        if info is None:
            raise ConfigError(
                f"vocabulary: unknown attribute {attribute!r}; this catalog has "
                f"{', '.join(map(repr, self.attributes())) or 'no attributes'}"
            )
        ia = schema.item_attributes
        n_items = sa.func.count(sa.distinct(ia.c.item_id)).label("n_items")
        query = (
            sa.select(
                sa.func.min(ia.c.value).label("value"), sa.func.min(ia.c.value_num).label("num"), n_items
            )
            .where(ia.c.name == attribute)
            .group_by(ia.c.value_key)
            .order_by(n_items.desc(), ia.c.value_key)
        )
        with self._engine.connect() as conn:
            return {
                ingest.decode_value(row.value, row.num, info.value_type): int(row.n_items)
                for row in conn.execute(query)
            }

    # -- helpers ---------------------------------------------------------------------------------------

    def _meta(self, key: str, conn: sa.Connection | None = None) -> str | None:
        query = sa.select(schema.meta.c.value).where(schema.meta.c.key == key)
        if conn is not None:
            return conn.execute(query).scalar()
        with self._engine.connect() as own:
            return own.execute(query).scalar()

    def _holds_hint(self) -> str:
        name = self._meta("dataset")
        if name is None:
            return f"the catalog store at {self.url} is empty; import a dataset first"
        return f"the catalog store at {self.url} holds dataset {name!r}"


def _item_record(row: sa.Row[Any], values: list[sa.Row[Any]], known: dict[str, AttributeInfo]) -> ItemRecord:
    attributes: dict[str, list[AttributeValue]] = {name: [] for name in known}
    for value in values:
        value_type = known[value.name].value_type if value.name in known else "str"
        attributes.setdefault(value.name, []).append(
            ingest.decode_value(value.value, value.value_num, value_type)
        )
    return ItemRecord(
        item_id=ingest.decode_id(row.external_id, row.external_type),
        index=row.id,
        title=row.title,
        text=row.text,
        attributes=attributes,
    )


def _storable(key: str) -> bool:
    """False for ids no store can hold (PostgreSQL refuses NUL characters even in a lookup)."""
    return "\x00" not in key


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _LOOKUP_CHUNK):
        yield values[start : start + _LOOKUP_CHUNK]
