"""The directory sink against a same-user writer: planted names, tampering, permissions.

The agent runs as the runner's user by default, so it can write the transcript directory.
hgate cannot stop that, but it must never follow what the agent planted and must notice
(at the next checkpoint or the seal) a transcript changed, moved or replaced under it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hgate.audit import DirectorySink
from hgate.errors import SinkError


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A permissive umask, as a CI runner may have: the modes must not depend on it."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _open(directory: Path, session_id: str = "s") -> DirectorySink:
    sink = DirectorySink(directory)
    sink.open(session_id)
    sink.write(b'{"seq":1}\n')
    sink.sync()
    return sink


@pytest.mark.usefixtures("open_umask")
def test_transcript_and_new_directory_are_private_to_the_runner(tmp_path: Path) -> None:
    directory = tmp_path / "runs"
    sink = _open(directory)
    sink.close()
    # identity, policy and masked output: no group or other access at all
    assert stat.S_IMODE((directory / "s.jsonl").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_symlink_planted_at_the_name_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"victim\n")
    (tmp_path / "s.jsonl").symlink_to(target)
    with pytest.raises(SinkError, match="already exists"):
        DirectorySink(tmp_path).open("s")
    assert target.read_bytes() == b"victim\n"


def test_fifo_planted_at_the_name_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "s.jsonl")
    with pytest.raises(SinkError, match="already exists"):
        DirectorySink(tmp_path).open("s")


def test_truncation_by_another_process_fails_the_next_sync(tmp_path: Path) -> None:
    sink = _open(tmp_path)
    os.truncate(tmp_path / "s.jsonl", 0)
    sink.write(b'{"seq":2}\n')
    with pytest.raises(SinkError, match="was truncated by another process"):
        sink.sync()
    sink.close()


def test_bytes_added_by_another_process_fail_the_next_sync(tmp_path: Path) -> None:
    sink = _open(tmp_path)
    with open(tmp_path / "s.jsonl", "ab") as other:
        other.write(b'{"forged":true}\n')
    with pytest.raises(SinkError, match="was appended to by another process"):
        sink.sync()
    sink.close()


def test_made_read_only_does_not_stop_hgate(tmp_path: Path) -> None:
    sink = _open(tmp_path)
    os.chmod(tmp_path / "s.jsonl", 0o400)
    sink.write(b'{"seq":2}\n')
    sink.sync()  # the descriptor was opened for writing before the chmod
    sink.close()
    assert (tmp_path / "s.jsonl").read_bytes() == b'{"seq":1}\n{"seq":2}\n'


@pytest.mark.parametrize("how", ["renamed", "removed", "replaced", "directory replaced"])
def test_transcript_moved_away_fails_the_next_sync(tmp_path: Path, how: str) -> None:
    directory = tmp_path / "runs"
    sink = _open(directory)
    path = directory / "s.jsonl"
    if how == "renamed":
        path.rename(directory / "other.jsonl")
    elif how == "removed":
        path.unlink()
    elif how == "replaced":
        copy = directory / "copy"
        copy.write_bytes(path.read_bytes())
        copy.replace(path)
    else:
        directory.rename(tmp_path / "runs.old")
        directory.mkdir()
        path.write_bytes((tmp_path / "runs.old" / "s.jsonl").read_bytes())
    with pytest.raises(SinkError, match="was moved, removed or replaced during the session"):
        sink.sync()
    sink.close()


def test_an_untouched_transcript_syncs_many_times(tmp_path: Path) -> None:
    sink = _open(tmp_path)
    for n in range(2, 50):
        sink.write(b'{"seq":%d}\n' % n)
        sink.sync()
    sink.close()
