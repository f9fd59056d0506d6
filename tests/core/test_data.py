from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from reprobook.core import data
from reprobook.core.errors import DataError

PAYLOAD = b"time,tokens\n0,12\n1,40\n" * 100


def write_manifest(root: Path, url: str, sha: str | None = None, size: int | None = None,
                   name: str = "trace") -> None:
    d = root / "data" / "manifests"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.yaml").write_text(
        f"title: A trace\nlicence: CC BY 4.0\ncitation: Someone 2024\nfiles:\n"
        f"  - name: trace.csv\n    url: {url}\n"
        f"    sha256: '{sha or hashlib.sha256(PAYLOAD).hexdigest()}'\n"
        f"    size: {size if size is not None else len(PAYLOAD)}\n")


@pytest.fixture
def book(sandbox, tmp_path, monkeypatch):
    root = sandbox.root
    monkeypatch.setenv("REPROBOOK_CACHE_DIR", str(root / "data" / "cache"))
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    return root


CLOSED = "http://127.0.0.1:9/trace.csv"  # discard port: connection refused at once


def test_mirror_file_is_verified_and_used_in_place(book, tmp_path, monkeypatch):
    write_manifest(book, CLOSED)
    mirror = tmp_path / "mirror"
    (mirror / "trace").mkdir(parents=True)
    (mirror / "trace" / "trace.csv").write_bytes(PAYLOAD)
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    assert data.fetch("trace") == mirror / "trace" / "trace.csv"
    assert not (book / "data" / "cache" / "trace").exists()  # nothing copied


def test_offline_miss_says_what_to_download_and_where(book):
    write_manifest(book, CLOSED)
    with pytest.raises(DataError) as e:
        data.fetch("trace")
    msg = str(e.value)
    assert CLOSED in msg and "data/cache/trace/trace.csv" in msg
    assert data.MIRROR_ENV in msg and "download failed" in msg


def test_checksum_mismatch_in_mirror_names_file(book, tmp_path, monkeypatch):
    write_manifest(book, CLOSED, sha="0" * 64)
    (tmp_path / "m" / "trace").mkdir(parents=True)
    (tmp_path / "m" / "trace" / "trace.csv").write_bytes(PAYLOAD)
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path / "m"))
    with pytest.raises(DataError, match=r"trace\.csv: sha256 [0-9a-f]{64} does not match"):
        data.fetch("trace")


def test_truncated_cache_file_is_reported(book):
    write_manifest(book, CLOSED)
    cached = book / "data" / "cache" / "trace" / "trace.csv"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PAYLOAD[:10])
    with pytest.raises(DataError, match=f"10 bytes, the manifest expects {len(PAYLOAD)} "
                                        r"\(truncated\)"):
        data.fetch("trace")


@pytest.fixture
def server(tmp_path):
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "trace.csv").write_bytes(PAYLOAD)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "srv"))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_into_cache_then_cache_hit(book, server):
    write_manifest(book, f"{server}/trace.csv")
    path = data.fetch("trace")
    assert path == book / "data" / "cache" / "trace" / "trace.csv"
    assert path.read_bytes() == PAYLOAD
    assert data.fetch("trace", allow_download=False) == path


def test_download_with_wrong_checksum_is_rejected_and_not_cached(book, server):
    write_manifest(book, f"{server}/trace.csv", sha="f" * 64)
    with pytest.raises(DataError, match="does not match"):
        data.fetch("trace")
    assert not (book / "data" / "cache" / "trace" / "trace.csv").exists()


@pytest.mark.parametrize("text,match", [
    ("title: t\nlicence: l\ncitation: c\nfiles:\n  - name: a\n    url: u\n    size: 1\n",
     r"files\[0\] lacks \['sha256'\]"),
    ("title: t\nlicence: l\ncitation: c\nfiles:\n  - {name: a, url: u, size: 1, sha256: xyz}\n",
     "not a 64-digit hex digest"),
    ("title: t\nlicence: l\ncitation: c\nfiles:\n  - {name: a, url: u, size: 1, sha256: 12345}\n",
     "must be a quoted string"),
    ("title: t\ncitation: c\nfiles: []\n", "'licence' is required"),
    ("title: t\nlicence: l\ncitation: c\nurl: u\nfiles: [{}]\n", "unknown key"),
])
def test_malformed_manifests(book, text, match):
    (book / "data" / "manifests").mkdir(parents=True)
    (book / "data" / "manifests" / "bad.yaml").write_text(text)
    with pytest.raises(DataError, match=match):
        data.load_manifest("bad")


def test_unknown_data_set_and_file(book):
    write_manifest(book, CLOSED)
    with pytest.raises(DataError, match="no manifest for data set 'nope'.*'trace'"):
        data.fetch("nope")
    with pytest.raises(DataError, match="no file 'x.csv'"):
        data.fetch("trace", "x.csv")
