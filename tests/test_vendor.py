"""The build-time fetch of llhttp's sources: verified, cached, and failing
with a clear message (no network is used here)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import tarfile
from pathlib import Path

import pytest

VENDOR = Path(__file__).resolve().parent.parent / "vendor" / "fetch_llhttp.py"


@pytest.fixture
def fetch_llhttp(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("fetch_llhttp_under_test", VENDOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("LLSERVER_LLHTTP_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LLSERVER_LLHTTP_ARCHIVE", raising=False)
    return module


def test_pin_names_llhttp_943_from_httptools_090(fetch_llhttp):
    pin = fetch_llhttp.load_pin()
    assert pin["llhttp_version"] == "9.4.3"
    assert pin["filename"] == "httptools-0.9.0.tar.gz"
    assert len(pin["sha256"]) == 64


def test_archive_with_wrong_checksum_is_refused(fetch_llhttp, monkeypatch, tmp_path):
    bogus = tmp_path / "httptools-0.9.0.tar.gz"
    bogus.write_bytes(b"not the release")
    monkeypatch.setenv("LLSERVER_LLHTTP_ARCHIVE", str(bogus))
    with pytest.raises(fetch_llhttp.FetchError, match="checksum mismatch"):
        fetch_llhttp.fetch()


def test_unreachable_registry_gives_a_clear_error(fetch_llhttp, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens
    with pytest.raises(fetch_llhttp.FetchError, match="(?s)could not download .*PIP_INDEX_URL"):
        fetch_llhttp.fetch()


def test_verified_archive_is_extracted_with_only_the_needed_files(fetch_llhttp, monkeypatch, tmp_path):
    # A stand-in release with the pinned layout, and a pin that names it.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in {
            "pkg-1/vendor/llhttp/include/llhttp.h": b"/* h */",
            "pkg-1/vendor/llhttp/src/api.c": b"/* api */",
            "pkg-1/vendor/llhttp/src/http.c": b"/* http */",
            "pkg-1/vendor/llhttp/src/llhttp.c": b"/* llhttp */",
            "pkg-1/vendor/llhttp/LICENSE-MIT": b"MIT",
            "pkg-1/setup.py": b"unrelated",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = tmp_path / "pkg-1.tar.gz"
    archive.write_bytes(buf.getvalue())
    pin = dict(fetch_llhttp.load_pin())
    pin.update(
        filename="pkg-1.tar.gz",
        sha256=hashlib.sha256(buf.getvalue()).hexdigest(),
        include_dir="pkg-1/vendor/llhttp/include",
        source_dir="pkg-1/vendor/llhttp/src",
        license="pkg-1/vendor/llhttp/LICENSE-MIT",
    )
    monkeypatch.setenv("LLSERVER_LLHTTP_ARCHIVE", str(archive))
    info = fetch_llhttp.fetch(pin)
    monkeypatch.delenv("LLSERVER_LLHTTP_ARCHIVE")
    assert [Path(p).read_bytes() for p in info["sources"]] == [b"/* api */", b"/* http */", b"/* llhttp */"]
    assert Path(info["license"]).read_bytes() == b"MIT"
    root = Path(info["include_dir"]).parent
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == [
        "LICENSE-MIT", "api.c", "http.c", "llhttp.c", "llhttp.h",
    ]
    # Cached: a second call needs neither the archive nor the network.
    again = fetch_llhttp.fetch(pin)
    assert again == info
    assert json.dumps(info)  # plain data for build_ffi.py
