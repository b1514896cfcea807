"""Catalog search with hard constraints: the typed query and the SQL it becomes.

Text goes to the database's own full-text engine (SQLite FTS5 with BM25, PostgreSQL ``tsvector`` with
``ts_rank``). User text is never spliced into SQL or into FTS syntax: it is cut into word tokens
(letters and digits), each token is quoted for FTS5 and every value travels as a bound parameter, so
quotes, ``*``, ``-``, ``:``, ``AND``/``NEAR`` or anything else in the input are plain words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from recpilot.errors import ConfigError
from recpilot.store import schema
from recpilot.store.ingest import encode_value
from recpilot.store.records import AttributeInfo, AttributeValue

MAX_LIMIT: Final = 10_000
MAX_IDS: Final = 10_000
MAX_TOKENS: Final = 32
"""Longer texts keep their first tokens: a search box, not a document similarity engine."""

TITLE_WEIGHT: Final = 3.0
"""How much more a keyword in the title counts than one in the text."""
# ts_rank normalisation 1 divides by 1 + log(length): shorter documents (the exact title) rank first.
_TS_RANK_NORMALISATION: Final = 1
_TOKEN = re.compile(r"[^\W_]+")

OrderBy = Literal["relevance", "popularity", "title", "year", "-year"]
NumericRange = tuple[float | None, float | None]


class CatalogQuery(BaseModel):
    """A catalog search: optional keywords plus hard constraints that every hit satisfies.

    Attribute values match case-insensitively and exactly (``"comedy"`` matches ``"Comedy"`` but not
    ``"Dark Comedy"``; ``1995``, ``1995.0`` and ``"1995"`` are the same year). The values an
    attribute takes: :meth:`CatalogStore.vocabulary <recpilot.store.CatalogStore.vocabulary>`.

    Attributes:
        text: Keywords searched in title and text; stemmed, case- and accent-insensitive. None means
            no text condition. A text without any letter or digit matches nothing.
        match: ``"all"``: every keyword must occur (PostgreSQL ignores English stop words);
            ``"any"``: at least one must, and items with more of them rank higher.
        attributes: Attribute -> values; an item must have at least one of the values of each
            attribute listed (OR within an attribute, AND across attributes).
        exclude_attributes: Attribute -> values; an item must have none of them.
        numeric: Attribute -> ``(min, max)``, inclusive, either bound may be None (``{"year": (1990,
            1999)}``). Items without a value for the attribute are excluded.
        item_ids: Only consider these external item ids (e.g. a recommender's candidates).
        exclude_item_ids: Never return these (e.g. items the user has already seen).
        limit: Maximum number of hits.
        order_by: ``"relevance"`` (text score, then popularity; popularity alone without text),
            ``"popularity"``, ``"title"``, ``"year"`` (oldest first) or ``"-year"`` (newest first).
            Ties are broken by popularity, then catalog order.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: Annotated[str | None, Field(max_length=2_000)] = None
    match: Literal["all", "any"] = "all"
    attributes: dict[str, Annotated[list[AttributeValue], Field(min_length=1)]] = Field(default_factory=dict)
    exclude_attributes: dict[str, list[AttributeValue]] = Field(default_factory=dict)
    numeric: dict[str, NumericRange] = Field(default_factory=dict)
    item_ids: Annotated[list[int | str] | None, Field(max_length=MAX_IDS)] = None
    exclude_item_ids: Annotated[list[int | str], Field(max_length=MAX_IDS)] = Field(default_factory=list)
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 100
    order_by: OrderBy = "relevance"

    @model_validator(mode="after")
    def _check_ranges(self) -> CatalogQuery:
        for name, (low, high) in self.numeric.items():
            if low is not None and high is not None and low > high:
                raise ValueError(f"numeric range for {name!r} is empty: min {low} > max {high}")
        return self

    @model_validator(mode="after")
    def _check_strings(self) -> CatalogQuery:
        # PostgreSQL cannot take NUL characters in text parameters; no stored value holds one.
        strings = [
            *self.attributes,
            *self.exclude_attributes,
            *self.numeric,
            *(v for values in (*self.attributes.values(), *self.exclude_attributes.values()) for v in values),
            *(self.item_ids or []),
            *self.exclude_item_ids,
        ]
        if any(isinstance(value, str) and "\x00" in value for value in strings):
            raise ValueError("attribute names, values and item ids must not contain NUL characters")
        return self


def text_tokens(text: str) -> list[str]:
    """The word tokens of user text (letters and digits), at most :data:`MAX_TOKENS`."""
    return _TOKEN.findall(text)[:MAX_TOKENS]


def fts5_expression(tokens: list[str], match: Literal["all", "any"]) -> str:
    """An FTS5 MATCH expression for word tokens.

    Each token is a quoted string, so FTS5 reads it as a plain word, never as an operator. With
    ``"any"`` the whole phrase is OR-ed in as well: it adds no hits (its documents already contain
    every token) but BM25 sums over query phrases, so the exact phrase ranks above scattered words.
    """
    words = [f'"{token}"' for token in tokens]
    if match == "all":
        return " AND ".join(words)
    if len(words) > 1:
        words.append('"' + " ".join(tokens) + '"')
    return " OR ".join(words)


def validate_query(query: CatalogQuery, known: Mapping[str, AttributeInfo]) -> None:
    """Check the attribute names a query uses against the store's attributes.

    Raises:
        ConfigError: An attribute is unknown, or a numeric range names a non-numeric attribute.
    """
    names = sorted(known)
    used = [*query.attributes, *query.exclude_attributes, *query.numeric]
    for name in used:
        if name not in known:
            raise ConfigError(
                f"catalog search: unknown attribute {name!r}; this catalog has "
                f"{', '.join(map(repr, names)) or 'no attributes'}. Use one of those names."
            )
    for name in query.numeric:
        if known[name].value_type not in ("int", "float"):
            numeric = [n for n in names if known[n].value_type in ("int", "float")]
            raise ConfigError(
                f"catalog search: numeric range on {name!r}, whose values are "
                f"{known[name].value_type}s; numeric attributes here: "
                f"{', '.join(map(repr, numeric)) or 'none'}. Filter {name!r} with 'attributes' instead."
            )


def build_search(
    query: CatalogQuery, dialect: str, *, indices_only: bool = False, every: bool = False
) -> sa.Select[tuple[object, ...]] | None:
    """The SELECT for a validated query, or None when its text has no searchable token.

    Columns: ``external_id``, ``external_type``, ``title``, ``year``, ``popularity``, ``score``; with
    ``indices_only``, ``id`` (the item's internal index) and ``score``.

    Args:
        query: The query (already checked with :func:`validate_query`).
        dialect: SQLAlchemy dialect name, ``"sqlite"`` or ``"postgresql"``; another dialect can
            serve queries without text only.
        indices_only: Select only the internal index and the score (no record is built from them).
        every: Select every hit, whatever ``query.limit`` says.
    """
    items = schema.items
    score: sa.ColumnElement[float] = sa.literal(0.0, sa.Float)
    source: sa.FromClause = items
    conditions: list[sa.ColumnElement[bool]] = []

    if query.text is not None:
        tokens = text_tokens(query.text)
        if not tokens:
            return None
        source, condition, score = _text_match(tokens, query.match, dialect)
        conditions.append(condition)

    conditions.extend(_attribute_conditions(query))
    if query.item_ids is not None:
        conditions.append(items.c.external_id.in_([str(i) for i in query.item_ids]))
    if query.exclude_item_ids:
        conditions.append(items.c.external_id.not_in([str(i) for i in query.exclude_item_ids]))

    score_column = score.label("score")
    columns: tuple[sa.ColumnElement[Any], ...] = (
        (items.c.id, score_column)
        if indices_only
        else (
            items.c.external_id,
            items.c.external_type,
            items.c.title,
            items.c.year,
            items.c.popularity,
            score_column,
        )
    )
    statement = (
        sa.select(*columns)
        .select_from(source)
        .where(*conditions)
        .order_by(*_ordering(query, score_column, has_text=query.text is not None))
    )
    return statement if every else statement.limit(query.limit)


def _text_match(
    tokens: list[str], match: Literal["all", "any"], dialect: str
) -> tuple[sa.FromClause, sa.ColumnElement[bool], sa.ColumnElement[float]]:
    """The FROM clause, the match condition and the relevance score of a text search.

    Title and text together decide the match. Relevance is ``TITLE_WEIGHT`` times the title's score
    plus the text's score, each from its own index (see :mod:`recpilot.store.schema`).
    """
    items = schema.items
    if dialect == "sqlite":
        fts = sa.table(schema.FTS_TABLE, sa.column("rowid"))
        fts_query: sa.BindParameter[str] = sa.bindparam("fts_query", fts5_expression(tokens, match))
        # Fields are scored on any keyword: a title holding some of them still ranks above one
        # holding none.
        ranking: sa.BindParameter[str] = sa.bindparam("rank_query", fts5_expression(tokens, "any"))
        title = _fts5_field_scores(schema.TITLE_FTS_TABLE, ranking)
        text = _fts5_field_scores(schema.TEXT_FTS_TABLE, ranking)
        source = (
            items.join(fts, fts.c.rowid == items.c.id)
            .outerjoin(title, title.c.item_id == items.c.id)
            .outerjoin(text, text.c.item_id == items.c.id)
        )
        condition = sa.literal_column(schema.FTS_TABLE).bool_op("MATCH")(fts_query)
        score = TITLE_WEIGHT * sa.func.coalesce(title.c.score, 0.0) + sa.func.coalesce(text.c.score, 0.0)
        return source, condition, score
    if dialect == "postgresql":

        def vector(name: str) -> sa.ColumnElement[object]:
            return sa.literal_column(f"{items.name}.{name}")

        tsquery = _tsquery(tokens, match, "ts")
        # ts_rank scores OR queries on a far smaller scale than AND queries, so unlike on SQLite the
        # fields are scored with the matching query itself.
        title_score = sa.func.ts_rank(
            vector(schema.TITLE_VECTOR), tsquery, _TS_RANK_NORMALISATION, type_=sa.Float
        )
        text_score = sa.func.ts_rank(
            vector(schema.TEXT_VECTOR), tsquery, _TS_RANK_NORMALISATION, type_=sa.Float
        )
        return (
            items,
            vector(schema.SEARCH_VECTOR).bool_op("@@")(tsquery),
            TITLE_WEIGHT * title_score + text_score,
        )
    raise ConfigError(
        f"catalog search: full-text search needs SQLite or PostgreSQL, not {dialect!r}; "
        "drop 'text' from the query or store the catalog in one of those databases"
    )


def _fts5_field_scores(table: str, expression: sa.BindParameter[str]) -> sa.Subquery:
    rows = sa.table(table, sa.column("rowid"))
    return (
        sa.select(
            rows.c.rowid.label("item_id"), sa.literal_column(f"-bm25({table})", sa.Float).label("score")
        )
        .where(sa.literal_column(table).bool_op("MATCH")(expression))
        .subquery(f"{table}_hits")
    )


def _tsquery(tokens: list[str], match: Literal["all", "any"], prefix: str) -> sa.ColumnElement[object]:
    def one(text: str, name: str) -> sa.ColumnElement[object]:
        config: sa.ColumnElement[str] = sa.literal_column(f"'{schema.TEXT_CONFIG}'::regconfig")
        return sa.func.plainto_tsquery(config, sa.bindparam(name, text, type_=sa.Text))

    if match == "all":
        return one(" ".join(tokens), f"{prefix}_all")
    combined = one(tokens[0], f"{prefix}_0")
    for position, token in enumerate(tokens[1:], start=1):
        combined = combined.op("||")(one(token, f"{prefix}_{position}"))  # tsquery || tsquery is OR
    return combined


def _attribute_conditions(query: CatalogQuery) -> list[sa.ColumnElement[bool]]:
    items, values = schema.items, schema.item_attributes

    def having(name: str, *where: sa.ColumnElement[bool]) -> sa.Select[tuple[int]]:
        return sa.select(values.c.item_id).where(values.c.name == name, *where)

    conditions: list[sa.ColumnElement[bool]] = []
    for name, wanted in query.attributes.items():
        keys = _value_keys(wanted)
        conditions.append(items.c.id.in_(having(name, values.c.value_key.in_(keys))))
    for name, unwanted in query.exclude_attributes.items():
        if unwanted:
            keys = _value_keys(unwanted)
            # item_id is NOT NULL, so NOT IN has no NULL trap here.
            conditions.append(items.c.id.not_in(having(name, values.c.value_key.in_(keys))))
    for name, (low, high) in query.numeric.items():
        bounds: list[sa.ColumnElement[bool]] = [values.c.value_num.is_not(None)]
        if low is not None:
            bounds.append(values.c.value_num >= low)
        if high is not None:
            bounds.append(values.c.value_num <= high)
        conditions.append(items.c.id.in_(having(name, *bounds)))
    return conditions


def _value_keys(values: list[AttributeValue]) -> list[str]:
    # The same text the import wrote: True -> "true", 1995.0 -> "1995".
    return sorted({encode_value(value)[0].casefold() for value in values})


def _ordering(
    query: CatalogQuery, score: sa.ColumnElement[float], *, has_text: bool
) -> list[sa.ColumnElement[Any]]:
    items = schema.items
    tail: list[sa.ColumnElement[Any]] = [items.c.popularity.desc(), items.c.id.asc()]
    match query.order_by:
        case "relevance":
            return [score.desc(), *tail] if has_text else tail
        case "popularity":
            return tail
        case "title":
            return [sa.func.lower(items.c.title).asc(), *tail]
        case "year":
            return [items.c.year.asc().nulls_last(), *tail]
        case "-year":
            return [items.c.year.desc().nulls_last(), *tail]
