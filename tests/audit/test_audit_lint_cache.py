"""cfn-lint results are cached by template: the same bytes give the same findings without linting again, and a
changed template is linted afresh (a cached clean result can never hide a new finding)."""

from __future__ import annotations

import json

import pytest

from auditing import lint


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(lint, "CACHE_DIR", tmp_path / "cache")
    return tmp_path / "cache"


def template(tmp_path, properties: dict) -> object:
    path = tmp_path / "t.template.json"
    path.write_text(json.dumps({"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": properties}}}))
    return path


def test_a_cached_result_is_the_linters_and_a_changed_template_is_linted_again(tmp_path, cache, monkeypatch):
    clean = template(tmp_path, {})
    assert lint.lint_template(clean) == []
    assert len(list(cache.glob("*.json"))) == 1

    calls = []
    real = lint._lint
    monkeypatch.setattr(lint, "_lint", lambda path, regions: calls.append(path) or real(path, regions))
    assert lint.lint_template(clean) == []
    assert calls == []  # from the cache

    broken = template(tmp_path, {"NoSuchProperty": "x"})  # same path, new bytes
    findings = lint.lint_template(broken)
    assert calls == [broken]
    assert [f.rule for f in findings] == ["E3002"]
    assert lint.lint_template(broken) == findings  # and that result is cached as it was


def test_a_template_another_worker_is_linting_is_waited_for_not_linted_twice(tmp_path, cache, monkeypatch):
    """Test workers lint the same templates: the second waits on the first's lock and reads its result."""
    import fcntl
    import threading

    clean = template(tmp_path, {})
    cached = cache / f"{lint._cache_key(clean, lint.LINT_REGIONS)}.json"
    cache.mkdir()
    calls = []
    monkeypatch.setattr(lint, "_lint", lambda path, regions: calls.append(path) or [])
    results = []
    with open(cached.with_suffix(".lock"), "w") as held:  # the other worker, linting
        fcntl.flock(held, fcntl.LOCK_EX)
        waiting = threading.Thread(target=lambda: results.append(lint.lint_template(clean)))
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive()  # waits for the lock
        finding = {"rule": "W1", "severity": "warning", "location": "Resources", "line": 1, "message": "m"}
        cached.write_text(json.dumps([finding]))
    waiting.join(timeout=10)
    assert results == [[lint.LintFinding(**finding)]]  # the other worker's result
    assert calls == []
