"""A verifiable metric: does the generated SQL return what the reference SQL returns on the dataset's database?

Text overlap cannot tell a query that runs and answers correctly from one that merely looks
alike, so for text-to-SQL records (a ``sqlite_db`` in the record) both queries run against the
SQLite database the record names and their result sets are compared, order-insensitively unless
the reference orders its rows. Each query runs contained:

- read-only: the database is opened ``mode=ro``, ``query_only`` is on, and an authorizer refuses
  anything but reading (no writes, no ATTACH, no pragmas that change state);
- bounded: a progress handler interrupts a query after ``seconds``, at most ``rows`` rows are
  fetched (one more means "too many", and the match fails), no value may exceed 1 MB and SQLite's
  heap 256 MB.

A generated query that fails, runs too long or returns too many rows scores 0 with its reason; a
reference query that fails is the dataset's fault and is raised.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FENCED = re.compile(r"```(?:sql|sqlite)?\s*(.*?)```", re.IGNORECASE | re.DOTALL)
_ORDERED = re.compile(r"\border\s+by\b", re.IGNORECASE)
# sqlite3 authorizer action codes that only read (Python's sqlite3 module constants).
_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)


MAX_VALUE_BYTES = 1_000_000
MAX_HEAP_BYTES = 256 * 1024 * 1024  # process-wide in SQLite; the batch function has 1,024 MB


class QueryError(Exception):
    """A query failed, ran past its time limit or returned more rows than allowed; the message says which."""


class ReferenceQueryError(Exception):
    """The dataset's own reference query failed: the record is wrong, not the model."""


@dataclass(frozen=True)
class SqlLimits:
    seconds: float = 2.0
    """Wall-clock time per query."""
    rows: int = 10_000
    """Rows fetched per query at most."""


def extract_sql(answer: str) -> str:
    """The query in an answer: the first fenced code block if there is one, else the whole answer."""
    fenced = _FENCED.search(answer)
    return (fenced.group(1) if fenced else answer).strip().rstrip(";").strip()


def _authorizer(action: int, *_: Any) -> int:
    return sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY


def run_query(database: Path, sql: str, limits: SqlLimits) -> list[tuple[Any, ...]]:
    """The query's rows, contained as the module says; ``QueryError`` when it cannot answer within the limits."""
    if not sql:
        raise QueryError("no query in the answer")
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=limits.seconds)
    try:
        # A single huge value (zeroblob, a string doubled in a recursive CTE) is refused, not built in memory.
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        connection.execute(f"PRAGMA hard_heap_limit = {MAX_HEAP_BYTES}")
        connection.execute("PRAGMA query_only = ON")
        connection.set_authorizer(_authorizer)
        deadline = time.monotonic() + limits.seconds
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cursor = connection.execute(sql)
            rows = cursor.fetchmany(limits.rows + 1)
        except sqlite3.Error as error:
            reason = "ran past its time limit" if "interrupted" in str(error) else str(error)
            raise QueryError(f"the query failed: {reason}") from error
        except (ValueError, OverflowError) as error:  # more than one statement, or values sqlite cannot return
            raise QueryError(f"the query failed: {error}") from error
        if len(rows) > limits.rows:
            raise QueryError(f"the query returned more than {limits.rows} rows")
        return [tuple(row) for row in rows]
    finally:
        connection.close()


def sql_execution_match(answer: str, reference_sql: str, database: Path, limits: SqlLimits) -> tuple[float, str]:
    """(1.0 or 0.0, why): whether the answer's query returns the reference query's rows on ``database``."""
    try:
        expected = run_query(database, extract_sql(reference_sql), limits)
    except QueryError as error:
        raise ReferenceQueryError(f"reference query: {error}") from error
    try:
        got = run_query(database, extract_sql(answer), limits)
    except QueryError as error:
        return 0.0, str(error)
    if _ORDERED.search(reference_sql):
        same = got == expected
    else:
        same = Counter(map(repr, got)) == Counter(map(repr, expected))
    return (1.0, "same rows") if same else (0.0, f"different rows ({len(got)} against {len(expected)} expected)")
