"""Obtain llhttp's release C sources from a package registry at build time.

llserver never commits llhttp's sources.  The pin in ``llhttp.json`` names a
source distribution on PyPI that carries them (``httptools`` 0.9.0 ships
llhttp 9.4.3 under ``vendor/llhttp``) together with the archive's sha256.
This script downloads that archive through the PyPI "simple" index
(PEP 503/691, honouring ``PIP_INDEX_URL``), checks the checksum, and extracts
only the files the build needs into a cache directory, so a rebuild works
without network.

Environment:
  LLSERVER_LLHTTP_CACHE    cache directory (default: ~/.cache/llserver)
  LLSERVER_LLHTTP_ARCHIVE  path to an already downloaded archive (offline)
  PIP_INDEX_URL            the simple index to ask (default: PyPI)

Run it directly to pre-fetch: ``python vendor/fetch_llhttp.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
PIN_FILE = HERE / "llhttp.json"
DEFAULT_INDEX = "https://pypi.org/simple"


class FetchError(RuntimeError):
    """The pinned llhttp sources could not be obtained or verified."""


def load_pin() -> Dict[str, object]:
    with open(PIN_FILE, encoding="utf-8") as f:
        return json.load(f)


def cache_root() -> Path:
    env = os.environ.get("LLSERVER_LLHTTP_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "llserver"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


class _LinkParser(HTMLParser):
    """Collects the anchors of a PEP 503 project page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: List[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)


def _find_archive_url(index: str, project: str, filename: str) -> str:
    page = f"{index.rstrip('/')}/{project}/"
    req = urllib.request.Request(
        page,
        headers={
            "Accept": "application/vnd.pypi.simple.v1+json, "
            "text/html;q=0.5",
            "User-Agent": "llserver-build",
        },
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        ctype = resp.headers.get("Content-Type", "")
        body = resp.read()
        base = resp.geturl()
    if "json" in ctype:
        for entry in json.loads(body)["files"]:
            if entry["filename"] == filename:
                return urllib.parse.urljoin(base, entry["url"])
    else:
        parser = _LinkParser()
        parser.feed(body.decode("utf-8", "replace"))
        for href in parser.links:
            url = urllib.parse.urljoin(base, href)
            if urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] == filename:
                return url.split("#", 1)[0]
    raise FetchError(f"{filename} is not listed on {page}")


def _download(pin: Dict[str, object], dest: Path) -> None:
    index = os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX
    project = str(pin["registry_project"])
    filename = str(pin["filename"])
    try:
        url = _find_archive_url(index, project, filename)
        req = urllib.request.Request(url, headers={"User-Agent": "llserver-build"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            tmp = dest.with_suffix(".part")
            with open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out)
        tmp.replace(dest)
    except (OSError, ValueError, KeyError) as exc:
        raise FetchError(
            f"could not download {filename} ({project} "
            f"{pin['registry_version']}, carrying llhttp {pin['llhttp_version']}) "
            f"from {index}: {exc}.\nPoint PIP_INDEX_URL at a reachable index, "
            f"or set LLSERVER_LLHTTP_ARCHIVE to a copy of the archive."
        ) from exc


def _archive(pin: Dict[str, object]) -> Path:
    expected = str(pin["sha256"])
    given = os.environ.get("LLSERVER_LLHTTP_ARCHIVE")
    if given:
        path = Path(given)
    else:
        path = cache_root() / str(pin["filename"])
        if not path.exists() or sha256_of(path) != expected:
            path.parent.mkdir(parents=True, exist_ok=True)
            _download(pin, path)
    actual = sha256_of(path)
    if actual != expected:
        raise FetchError(
            f"checksum mismatch for {path}:\n  expected sha256 {expected}\n"
            f"  got      sha256 {actual}\nRefusing to build llhttp from it."
        )
    return path


def fetch(pin: Optional[Dict[str, object]] = None) -> Dict[str, object]:
    """Return ``{'include_dir', 'sources', 'license', 'version'}`` for the build.

    The extracted tree lives in the cache, keyed by the archive checksum, so
    it is reused until the pin changes.
    """
    pin = pin or load_pin()
    root = cache_root() / f"llhttp-{pin['llhttp_version']}-{str(pin['sha256'])[:12]}"
    include = root / "include"
    src = root / "src"
    wanted = {
        f"{pin['include_dir']}/{h}": include / str(h) for h in pin["headers"]  # type: ignore[union-attr]
    }
    wanted.update(
        {f"{pin['source_dir']}/{c}": src / str(c) for c in pin["sources"]}  # type: ignore[union-attr]
    )
    wanted[str(pin["license"])] = root / "LICENSE-MIT"
    if not all(p.exists() for p in wanted.values()):
        archive = _archive(pin)
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="llhttp-", dir=root.parent))
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for member in tar.getmembers():
                    target = wanted.get(member.name)
                    if target is None or not member.isfile():
                        continue
                    data = tar.extractfile(member)
                    assert data is not None
                    out = staging / target.relative_to(root)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(data.read())
            missing = [n for n, t in wanted.items() if not (staging / t.relative_to(root)).exists()]
            if missing:
                raise FetchError(f"{archive} lacks {', '.join(missing)}")
            if root.exists():
                shutil.rmtree(root)
            staging.rename(root)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    return {
        "version": pin["llhttp_version"],
        "include_dir": str(include),
        "sources": [str(src / str(c)) for c in pin["sources"]],  # type: ignore[union-attr]
        "license": str(root / "LICENSE-MIT"),
    }


if __name__ == "__main__":
    try:
        info = fetch()
    except FetchError as exc:
        sys.exit(f"error: {exc}")
    print(json.dumps(info, indent=2))
