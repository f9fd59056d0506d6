"""core.cache: results cached by arguments, and a fresh cache when the chapter's code changes."""

from __future__ import annotations

from reprobook.core import cache


def test_memory_caches_by_argument_and_lives_under_the_code_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("REPROBOOK_CACHE_DIR", str(tmp_path))
    calls = []

    def square(x: int) -> int:
        calls.append(x)
        return x * x

    f = cache.memory("selfcheck").cache(square)
    assert [f(3), f(3), f(4)] == [9, 9, 16] and calls == [3, 4]
    loc = cache.location("selfcheck")
    assert loc.parent == tmp_path / "results" / "selfcheck" and len(loc.name) == 12
    assert cache.code_hash("selfcheck") != cache.code_hash("burstgpt")
    cache.clear("selfcheck")
    assert not (tmp_path / "results" / "selfcheck").exists()
