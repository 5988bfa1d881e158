"""Fetch a Helm chart from a pinned commit of a Git repository's source archive.

The chart is third-party code: it is downloaded at deploy time, never copied into this
repository. The archive URL names a commit, so what is installed cannot drift.
"""

from __future__ import annotations

import io
import re
import tarfile
import urllib.request
from collections.abc import Callable
from pathlib import Path, PurePosixPath

COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$")
REPOSITORY_PATTERN = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")

Fetch = Callable[[str], bytes]


class ChartSourceError(Exception):
    """The chart could not be fetched or is not where the request says."""


def archive_url(repository: str, commit: str) -> str:
    """``codeload`` archive of one commit (``https://github.com/o/r`` + sha -> tar.gz URL)."""
    if not REPOSITORY_PATTERN.match(repository):
        raise ChartSourceError(
            f"ChartRepository {repository!r} is not allowed; expected https://github.com/<owner>/<name>"
        )
    if not COMMIT_PATTERN.match(commit):
        raise ChartSourceError(f"ChartCommit {commit!r} is not allowed; expected a full 40-character commit sha")
    owner_and_name = repository.removeprefix("https://github.com/")
    return f"https://codeload.github.com/{owner_and_name}/tar.gz/{commit}"


def download(url: str, timeout: float = 60.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


def extract_chart(archive: bytes, chart_path: str, destination: Path) -> Path:
    """Extract ``chart_path`` (e.g. ``helm_chart/HyperPodHelmChart``) from the archive into ``destination``.

    GitHub archives wrap everything in one ``<repo>-<sha>/`` folder; members outside the
    chart, links, and paths that climb out of ``destination`` are skipped.
    """
    wanted = PurePosixPath(chart_path.strip("/"))
    found = False
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts[1:]
            relative = PurePosixPath(*parts) if parts else PurePosixPath(".")
            if not (member.isfile() or member.isdir()) or ".." in relative.parts:
                continue
            if relative != wanted and wanted not in relative.parents:
                continue
            found = True
            target = destination / relative.relative_to(wanted.parent)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has content
            target.write_bytes(source.read())
    if not found:
        raise ChartSourceError(f"ChartPath {chart_path!r} is not in the archive")
    return destination / wanted.name
