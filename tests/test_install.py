"""The extension is the installed one, built by ``pip install .``."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

import llserver
from llserver import _llhttp


@pytest.mark.skipif(
    not os.environ.get("LLSERVER_EXPECT_INSTALLED"),
    reason="only meaningful when the suite runs against a pip-installed llserver (CI)",
)
def test_extension_imports_from_site_packages_not_the_source_tree():
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    platsite = Path(sysconfig.get_paths()["platlib"]).resolve()
    ext = Path(_llhttp.__file__).resolve()
    assert site in ext.parents or platsite in ext.parents, ext
    assert Path(llserver.__file__).resolve().parent == ext.parent


def test_llhttp_licence_ships_with_the_package():
    text = (Path(llserver.__file__).parent / "LICENSE-llhttp.txt").read_text()
    assert "Fedor Indutny" in text and "MIT" in text


def test_extension_parses_a_request():
    parser = llserver.RequestParser()
    events = parser.feed_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert events[0].method == "GET"
