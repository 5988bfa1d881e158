"""SQL execution match: generated and reference queries run, contained, on the record's SQLite database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from model_evaluation.sql_match import (
    ReferenceQueryError,
    SqlLimits,
    extract_sql,
    run_query,
    sql_execution_match,
)

LIMITS = SqlLimits(seconds=0.5, rows=100)
REFERENCE = "SELECT name FROM city WHERE country = 'FR' ORDER BY name"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "geo.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE city (name TEXT, country TEXT, people INTEGER)")
        connection.executemany(
            "INSERT INTO city VALUES (?, ?, ?)",
            [("Paris", "FR", 2100000), ("Lyon", "FR", 520000), ("Berlin", "DE", 3700000)],
        )
    return path


def test_a_query_that_returns_the_reference_rows_matches(database):
    answer = "Here you go:\n```sql\nSELECT name FROM city WHERE people > 100000 AND country = 'FR' ORDER BY name;\n```"

    assert sql_execution_match(answer, REFERENCE, database, LIMITS) == (1.0, "same rows")


def test_row_order_counts_only_when_the_reference_orders(database):
    unordered = "SELECT name FROM city WHERE country = 'FR'"
    reversed_rows = "SELECT name FROM city WHERE country = 'FR' ORDER BY name DESC"

    assert sql_execution_match(reversed_rows, unordered, database, LIMITS)[0] == 1.0
    assert sql_execution_match(reversed_rows, REFERENCE, database, LIMITS)[0] == 0.0


def test_different_rows_do_not_match(database):
    score, reason = sql_execution_match("SELECT name FROM city", REFERENCE, database, LIMITS)

    assert (score, reason) == (0.0, "different rows (3 against 2 expected)")


def test_a_query_that_never_ends_is_stopped_at_its_time_limit(database):
    forever = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"

    score, reason = sql_execution_match(forever, REFERENCE, database, LIMITS)

    assert (score, reason) == (0.0, "the query failed: ran past its time limit")


@pytest.mark.parametrize(
    "attack",
    [
        "DELETE FROM city",
        "DROP TABLE city",
        "UPDATE city SET people = 0",
        "SELECT 1; DELETE FROM city",
        "ATTACH DATABASE '/tmp/x.sqlite' AS x",
        "PRAGMA query_only = OFF",
    ],
)
def test_a_query_that_would_change_data_is_refused_and_changes_nothing(database, attack):
    score, reason = sql_execution_match(attack, REFERENCE, database, LIMITS)

    assert score == 0.0 and reason.startswith("the query failed")
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM city").fetchone() == (3,)


def test_too_many_rows_fail_the_match(database):
    many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 500) SELECT i FROM n"

    assert sql_execution_match(many, REFERENCE, database, LIMITS) == (0.0, "the query returned more than 100 rows")


def test_a_broken_reference_is_the_datasets_fault(database):
    with pytest.raises(ReferenceQueryError, match="no such table: town"):
        sql_execution_match("SELECT 1", "SELECT name FROM town", database, LIMITS)


def test_the_query_is_taken_from_a_fenced_block_or_the_whole_answer():
    assert extract_sql("```sql\nSELECT 1;\n```") == "SELECT 1"
    assert extract_sql("SELECT 2") == "SELECT 2"
    assert extract_sql("text ```SELECT 3``` more") == "SELECT 3"


def test_an_empty_answer_is_a_failed_query(database):
    assert sql_execution_match("", REFERENCE, database, LIMITS) == (0.0, "no query in the answer")


def test_run_query_returns_plain_tuples(database):
    assert run_query(database, "SELECT name, people FROM city WHERE name = 'Lyon'", LIMITS) == [("Lyon", 520000)]


@pytest.mark.parametrize(
    "hog",
    [
        "SELECT zeroblob(900000000)",
        "WITH RECURSIVE s(x) AS (SELECT 'ab' UNION ALL SELECT x || x FROM s) SELECT length(x) FROM s",
    ],
)
def test_a_query_that_would_build_a_huge_value_is_refused_not_run_out_of_memory(database, hog):
    score, reason = sql_execution_match(hog, REFERENCE, database, LIMITS)

    assert score == 0.0 and reason.startswith("the query failed")
