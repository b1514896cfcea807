"""Result tables, the checkpoint journal and summary metrics.

Completed chunks of users are committed to ``<output>/journal/chunk-NNNNNN/`` (``items.parquet`` and
``sessions.parquet``): both files are written into a temporary folder that is then renamed, which is
atomic on POSIX, so a run killed at any point leaves only whole chunks behind. A resumed run skips
committed chunks and removes half-written temporary folders; since every user-session's randomness
derives from the run seed, the recomputed chunks equal those of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from recpilot.errors import ConfigError
from recpilot.simulation.files import atomic_write_parquet, atomic_write_text
from recpilot.simulation.types import (
    ITEM_TABLE_COLUMNS,
    SESSION_TABLE_COLUMNS,
    InstructionOutcome,
    SessionRecord,
    SimColumns,
    SimulationConfig,
)

C = SimColumns
# How a run is executed, not what it computes: a resumed run may change these (e.g. replay a recording).
# How patiently the LLM is asked, like the rest of RECPILOT_LLM_*, is not part of a run's identity.
_IGNORED_FOR_IDENTITY = {
    "output_dir",
    "concurrency",
    "timeout_s",
    "rate",
    "llm_cache",
    "llm_cache_mode",
    "llm_timeout_s",
    "llm_max_tokens",
}


def run_identity(config: SimulationConfig) -> dict[str, Any]:
    """The config fields that determine a run's results (what a resumed run must match).

    Of ``llm`` only the model counts: the same model served at another address (a new loopback port,
    a mirror) continues a run, as it replays from the LLM cache.
    """
    identity = {k: v for k, v in config.model_dump().items() if k not in _IGNORED_FOR_IDENTITY}
    if not config.instructions:  # runs from before instructions existed keep their ids
        del identity["instructions"], identity["instruction_probability"]
    if config.llm and "://" in config.llm and "#" in config.llm:
        identity["llm"] = config.llm.partition("#")[2]
    return identity


def records_to_frames(
    run_id: str, records: list[tuple[str, SessionRecord]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two result tables for ``(persona user id, record)`` pairs."""
    rows: list[tuple[Any, ...]] = []
    sessions: list[tuple[Any, ...]] = []
    for persona_id, record in records:
        for page, decision in zip(record.pages, record.decisions, strict=True):
            outcome: dict[str, tuple[str, float]] = {}
            for action in decision.actions:
                if action.item_id is None:
                    continue
                kind, rating = outcome.get(action.item_id, ("skip", float("nan")))
                if action.kind == "rate" and action.rating is not None:
                    rating = float(action.rating)
                elif action.kind == "click" or (action.kind == "view" and kind == "skip"):
                    kind = action.kind
                elif action.kind == "rate":
                    kind = "click"
                outcome[action.item_id] = (kind, rating)
            for shown in page.items:
                kind, rating = outcome.get(shown.item_id, ("skip", float("nan")))
                rows.append(
                    (
                        run_id,
                        record.user_id,
                        record.session,
                        page.index,
                        shown.position,
                        shown.item_id,
                        kind,
                        rating,
                        decision.satisfaction,
                        decision.fatigue if decision.fatigue is not None else float("nan"),
                        decision.leave and record.exit_page == page.index,
                    )
                )
        interview = record.interview
        satisfaction = (
            interview.satisfaction
            if interview
            else (record.decisions[-1].satisfaction if record.decisions else float("nan"))
        )
        sessions.append(
            (
                run_id,
                record.user_id,
                persona_id,
                record.session,
                len(record.pages),
                record.exit_page,
                record.exit_page is None,
                interview.reason if interview else "",
                satisfaction,
                list(interview.liked) if interview else [],
                list(interview.disliked) if interview else [],
                list(record.errors),
                record.instruction.text if record.instruction else "",
                record.instruction.page if record.instruction else None,
                bool(record.instruction and record.instruction.acted_on),
            )
        )
    return items_frame(rows), sessions_frame(sessions)


#: The dtype pandas gives a column of Python strings (Arrow-backed from pandas 3, object before).
_STRING_DTYPE = pd.Series(["x"]).dtype


def string_column(values: Sequence[Any] | np.ndarray[Any, Any], codes: np.ndarray[Any, Any]) -> Any:
    """``values[codes]`` as a string column of the dtype pandas infers for strings.

    Built by an Arrow ``take`` where strings are Arrow-backed: no Python object per row (a result table
    has millions of rows).
    """
    if not isinstance(_STRING_DTYPE, pd.StringDtype):
        return np.asarray([str(v) for v in values], dtype=object)[codes]
    taken = pa.array([str(v) for v in values], type=pa.large_string()).take(pa.array(codes))
    return pd.array(taken, dtype=_STRING_DTYPE)


def items_frame(rows: list[tuple[Any, ...]] | dict[str, Any]) -> pd.DataFrame:
    """The per-shown-item table with its column types."""
    frame = (
        pd.DataFrame(rows, columns=list(ITEM_TABLE_COLUMNS)) if isinstance(rows, list) else pd.DataFrame(rows)
    )
    return frame.astype(
        {
            C.SESSION: "int32",
            C.PAGE: "int32",
            C.POSITION: "int32",
            C.RATING: "float64",
            C.SATISFACTION: "float64",
            C.FATIGUE: "float64",
            C.LEFT: "bool",
        }
    )[list(ITEM_TABLE_COLUMNS)]


def sessions_frame(rows: list[tuple[Any, ...]] | dict[str, Any]) -> pd.DataFrame:
    """The per-session table with its column types."""
    frame = (
        pd.DataFrame(rows, columns=list(SESSION_TABLE_COLUMNS))
        if isinstance(rows, list)
        else pd.DataFrame(rows)
    )
    frame[C.EXIT_PAGE] = pd.array(frame[C.EXIT_PAGE].tolist(), dtype="Int32")
    frame[C.INSTRUCTION_PAGE] = pd.array(frame[C.INSTRUCTION_PAGE].tolist(), dtype="Int32")
    return frame.astype(
        {C.SESSION: "int32", C.PAGES_SEEN: "int32", C.STAYED: "bool", C.INSTRUCTION_ACTED: "bool"}
    )[list(SESSION_TABLE_COLUMNS)]


class Journal:
    """Committed chunks of a run, on disk (``root`` given) or in memory.

    Args:
        root: The run's output folder, or ``None`` to keep results in memory.
        config: The run's config (saved beside the journal; a resume must match it).
        resume: Continue a run found in ``root``; without it an existing journal is an error.
    """

    def __init__(self, root: Path | None, config: SimulationConfig, *, resume: bool) -> None:
        self.root = root
        self._memory: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}
        if root is None:
            return
        self.dir = root / "journal"
        identity = run_identity(config)
        saved = root / "config.json"
        if saved.exists():
            if not resume:
                raise ConfigError(
                    f"{root} already holds a simulation run; pass --resume or choose another --output"
                )
            previous = json.loads(saved.read_text(encoding="utf-8"))
            if previous != json.loads(json.dumps(identity, default=str)):
                raise ConfigError(
                    f"{root} holds a run with other settings ({_diff(previous, identity)}); "
                    "resume with the same settings or choose another --output"
                )
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(saved, json.dumps(identity, indent=2, default=str))
        for leftover in self.dir.glob("*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)

    def done(self) -> set[int]:
        """Ids of committed chunks."""
        if self.root is None:
            return set(self._memory)
        return {int(p.name.split("-")[1]) for p in self.dir.glob("chunk-*") if p.is_dir() and not p.suffix}

    def commit(self, chunk: int, items: pd.DataFrame, sessions: pd.DataFrame) -> None:
        """Store one finished chunk atomically."""
        if self.root is None:
            self._memory[chunk] = (items, sessions)
            return
        commit_chunk(self.dir, chunk, items, sessions)

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """All committed chunks in chunk order, as the two result tables."""
        if self.root is None:
            parts = [self._memory[c] for c in sorted(self._memory)]
        else:
            parts = [
                (pd.read_parquet(d / "items.parquet"), pd.read_parquet(d / "sessions.parquet"))
                for d in sorted(p for p in self.dir.glob("chunk-*") if not p.suffix)
            ]
        if not parts:
            return items_frame([]), sessions_frame([])
        items = pd.concat([p[0] for p in parts], ignore_index=True)
        sessions = pd.concat([p[1] for p in parts], ignore_index=True)
        return items, sessions

    def finalize(self, items: pd.DataFrame, sessions: pd.DataFrame, summary: dict[str, Any]) -> None:
        """Write ``items.parquet``, ``sessions.parquet`` and ``summary.json`` into the output folder."""
        if self.root is None:
            return
        atomic_write_parquet(self.root / "items.parquet", items)
        atomic_write_parquet(self.root / "sessions.parquet", sessions)
        atomic_write_text(self.root / "summary.json", json.dumps(summary, indent=2))


def commit_chunk(folder: Path, chunk: int, items: pd.DataFrame, sessions: pd.DataFrame) -> None:
    """Write chunk ``chunk``'s two tables into ``folder`` atomically (a temporary folder, then a rename)."""
    final = folder / f"chunk-{chunk:06d}"
    tmp = folder / f"chunk-{chunk:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    items.to_parquet(tmp / "items.parquet", index=False)
    sessions.to_parquet(tmp / "sessions.parquet", index=False)
    os.rename(tmp, final)


@dataclass
class SummaryTotals:
    """The additive counts behind the summary metrics: one chunk's, or a whole run's (their sum).

    The summary of a run is a function of these counts alone, so a run streamed chunk by chunk and a
    run held in memory get their metrics from the same code (:meth:`metrics`).

    Attributes:
        sessions: User-sessions.
        shown: Shown items (rows of the items table).
        clicks: Clicks.
        likes: Liked clicks.
        rating_sum: Sum of ratings given.
        ratings: Ratings given.
        pages: Pages seen, summed over sessions.
        exits: Sessions left before the last page.
        stayed: Sessions that reached the last page.
        errors: Sessions with at least one recorded error.
        diversity_sum: Sum over sessions with shown items of their normalised genre entropy.
        diverse_sessions: Sessions with shown items (the denominator of diversity).
        items: Distinct item ids shown (for coverage).
        instructions: Sessions with a reflective instruction.
        instructions_acted: Instructions the recommender took.
        retained_after: Sessions with an instruction not left on the page after it.
        completed_after_instruction: Sessions with an instruction that reached the last page.
    """

    sessions: int = 0
    shown: int = 0
    clicks: int = 0
    likes: int = 0
    rating_sum: float = 0.0
    ratings: int = 0
    pages: int = 0
    exits: int = 0
    stayed: int = 0
    errors: int = 0
    diversity_sum: float = 0.0
    diverse_sessions: int = 0
    items: list[str] = field(default_factory=list)
    instructions: int = 0
    instructions_acted: int = 0
    retained_after: int = 0
    completed_after_instruction: int = 0

    @classmethod
    def of(
        cls,
        items: pd.DataFrame,
        sessions: pd.DataFrame,
        catalog_ids: np.ndarray[Any, Any],
        genres: sp.csr_matrix,
    ) -> SummaryTotals:
        """The counts of one pair of result tables (``genres``: the catalog's item x genre matrix)."""
        clicks = items[C.ACTION] == "click"
        ratings = items.loc[clicks, C.RATING].dropna()
        entropy = _session_entropy(items, catalog_ids, genres)
        given = sessions[C.INSTRUCTION_PAGE].notna().to_numpy(bool)
        exits = sessions[C.EXIT_PAGE].astype("float64").to_numpy()
        after = sessions[C.INSTRUCTION_PAGE].astype("float64").to_numpy() + 1
        completed = given & np.isnan(exits)
        return cls(
            sessions=len(sessions),
            shown=len(items),
            clicks=int(clicks.sum()),
            likes=int(sessions[C.LIKED].map(len).sum()),
            rating_sum=float(ratings.sum()),
            ratings=len(ratings),
            pages=int(sessions[C.PAGES_SEEN].sum()),
            exits=int(sessions[C.EXIT_PAGE].notna().sum()),
            stayed=int(sessions[C.STAYED].sum()),
            errors=int((sessions[C.ERRORS].map(len) > 0).sum()),
            diversity_sum=float(entropy.sum()),
            diverse_sessions=len(entropy),
            items=sorted(items[C.ITEM].astype(str).unique().tolist()),
            instructions=int(given.sum()),
            instructions_acted=int(sessions[C.INSTRUCTION_ACTED].sum()),
            retained_after=int((completed | (given & (exits > after))).sum()),
            completed_after_instruction=int(completed.sum()),
        )

    @classmethod
    def total(cls, parts: Sequence[SummaryTotals]) -> SummaryTotals:
        """The sum of several chunks' counts (items: the union)."""
        out = cls()
        for part in parts:
            for name in (f.name for f in fields(cls) if f.name != "items"):
                setattr(out, name, getattr(out, name) + getattr(part, name))
        out.items = sorted(set().union(*(p.items for p in parts)))
        return out

    def metrics(self, n_items: int, *, instructions: bool = False) -> dict[str, Any]:
        """Click-through rate, mean rating, likes per session, session length, exit and completion
        rates, coverage of a catalog of ``n_items``, diversity, sessions with errors; with
        ``instructions``, retention with and without reflective instructions under ``instructions``."""
        sessions = max(self.sessions, 1)
        out: dict[str, Any] = {
            "user_sessions": self.sessions,
            "ctr": self.clicks / self.shown if self.shown else 0.0,
            "mean_rating": self.rating_sum / self.ratings if self.ratings else None,
            "likes_per_session": self.likes / sessions,
            "mean_session_length": self.pages / sessions,
            "exit_rate": self.exits / sessions,
            "completion_rate": self.stayed / sessions,
            "coverage": len(self.items) / max(1, n_items),
            "diversity": self.diversity_sum / self.diverse_sessions if self.diverse_sessions else 0.0,
            "errors": self.errors,
        }
        if instructions:
            out["instructions"] = InstructionOutcome(
                given=self.instructions,
                acted_on=self.instructions_acted,
                retained_after=self.retained_after,
                retention_with_instructions=self.stayed / sessions,
                retention_without=(self.stayed - self.completed_after_instruction) / sessions,
            )
        return out


def summary_metrics(
    items: pd.DataFrame,
    sessions: pd.DataFrame,
    catalog_ids: np.ndarray[Any, Any],
    genres: sp.csr_matrix,
    *,
    instructions: bool = False,
) -> dict[str, Any]:
    """Click-through rate, mean rating, likes per session, session length, exit and completion rates,
    coverage, diversity (see :class:`SummaryTotals`).

    A session is an exit when the user left before its last page (``exit_page`` set); otherwise it is
    complete, whether or not the user would have left after the last page: the two rates sum to 1.
    With ``instructions`` the result has an ``instructions`` entry (:class:`InstructionOutcome`).
    """
    totals = SummaryTotals.of(items, sessions, catalog_ids, genres)
    return totals.metrics(len(catalog_ids), instructions=instructions)


def _session_entropy(
    items: pd.DataFrame, catalog_ids: np.ndarray[Any, Any], genres: sp.csr_matrix
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Normalised genre entropy of the items shown in each (user, session) of ``items``."""
    if genres.shape[1] <= 1 or not len(items):
        return np.zeros(0)
    item_idx = pd.Index([str(i) for i in catalog_ids.tolist()]).get_indexer(items[C.ITEM])
    users, _ = pd.factorize(items[C.USER])
    session = items[C.SESSION].to_numpy(np.int64)
    codes, _ = pd.factorize(users.astype(np.int64) * (int(session.max()) + 1) + session)
    incidence = sp.csr_matrix(
        (np.ones(len(items)), (codes, item_idx)), shape=(codes.max() + 1, len(catalog_ids))
    )
    counts = np.asarray((incidence @ genres).todense(), dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    logs = np.log(share, out=np.zeros_like(share), where=share > 0)
    entropy: np.ndarray[Any, np.dtype[np.float64]] = -(share * logs).sum(axis=1) / np.log(genres.shape[1])
    return entropy


def _diff(previous: dict[str, Any], current: dict[str, Any]) -> str:
    keys = sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))
    return ", ".join(f"{k}: {previous.get(k)!r} -> {current.get(k)!r}" for k in keys[:3])
