"""The history is private to its user (issue 15, item 6): folders 0700, files 0600 (POSIX).

Prompts are in ``index.sqlite`` and every ``meta.json``; images are what was paid for. A fresh
history is created private whatever the umask; one made before the rule (0755 folders, 0644
files, an index with leftover WAL/SHM files) is tightened the first time it is used, with one
warning; other things kept in that folder are left alone. The batch job records below
``batches/`` follow the same rule. Concurrent writers still lose nothing: 4 processes x 15
entries + 1 from the parent = 61 entries, all private.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gptimage_widgets import HistoryStore, ImageResult
from gptimage_widgets.batch_store import JobRecord, JobStore, new_job_id
from gptimage_widgets.client import AsyncImageClient, ImageClient
from gptimage_widgets.offline import OfflineServer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def result(prompt: str = "a private fox", value: int = 7) -> ImageResult:
    image = np.full((8, 8, 3), value, np.uint8)
    return ImageResult([image], model="gpt-image-2", request={"prompt": prompt})


def modes(folder: Path) -> dict[str, int]:
    """``{relative path: permission bits}`` of the folder and everything in it."""
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        found[path.relative_to(folder).as_posix()] = stat.S_IMODE(path.stat().st_mode)
    return found


def assert_private(folder: Path) -> dict[str, int]:
    found = modes(folder)
    wrong = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (folder / name).is_dir() else 0o600)
    }
    assert wrong == {}, f"not private: {wrong}"
    return found


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o002], ids=["umask000", "umask022", "umask002"])
def test_a_fresh_history_is_private_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    folder = tmp_path / "parent" / "history"
    with umask(mask):
        store = HistoryStore(folder)
        store.save(result())
        with store._connect() as conn:  # while open, the WAL and SHM files exist
            conn.execute("SELECT count(*) FROM entries").fetchone()
            store.save(result("a second fox"))
            found = assert_private(folder)
    assert {"index.sqlite", "index.sqlite-wal", "index.sqlite-shm"} <= set(found)
    assert sum(name.endswith("/meta.json") for name in found) == 2
    assert_private(folder)
    assert len(store.search(limit=None)) == 2


def old_history(folder: Path) -> None:
    """A history as an older version left it: 0755 folders, 0644 files.

    Written elsewhere and copied, so this process has not used `folder` yet.
    """
    with umask(0o022):
        HistoryStore(folder.with_name("elsewhere")).save(result("an old fox"))
        shutil.copytree(folder.with_name("elsewhere"), folder)
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (folder / "batches").mkdir(mode=0o755)
        (folder / "batches" / "batchjob_old.json").write_text("{}")


def test_an_existing_history_is_tightened_once_with_one_warning(tmp_path: Path) -> None:
    folder = tmp_path / "history"
    old_history(folder)
    holder = sqlite3.connect(folder / "index.sqlite")  # another process, still open
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("SELECT count(*) FROM entries").fetchone()
    (folder / "index.sqlite-wal").chmod(0o644)
    (folder / "index.sqlite-shm").chmod(0o644)
    try:
        assert modes(folder)["index.sqlite"] == 0o644
        with pytest.warns(UserWarning, match="readable by other users") as caught:
            store = HistoryStore(folder)
            assert [e.prompt for e in store.search()] == ["an old fox"]
        assert len(caught) == 1 and str(folder) in str(caught[0].message)
        assert caught[0].filename == __file__  # points at the user's line
        found = assert_private(folder)
        assert {"index.sqlite-wal", "index.sqlite-shm", "batches/batchjob_old.json"} <= set(found)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # said once: no second warning in this process
            HistoryStore(folder).save(result("a new fox"))
            assert len(HistoryStore(folder)) == 2
    finally:
        holder.close()
    assert_private(folder)


def test_only_what_the_history_owns_is_tightened(tmp_path: Path) -> None:
    """A history pointed at a folder that holds other things leaves those things alone."""
    folder = tmp_path / "project"
    old_history(folder)
    (folder / "notes.txt").write_text("mine")
    (folder / "notes.txt").chmod(0o644)
    (folder / "code").mkdir(mode=0o755)
    (folder / "code" / "run.sh").write_text("echo")
    (folder / "code" / "run.sh").chmod(0o755)
    with pytest.warns(UserWarning, match="made it private"):
        HistoryStore(folder).search()
    found = modes(folder)
    assert found["notes.txt"] == 0o644 and found["code"] == 0o755
    assert found["code/run.sh"] == 0o755
    assert found["."] == 0o700 and found["index.sqlite"] == 0o600
    assert found["batches"] == 0o700 and found["batches/batchjob_old.json"] == 0o600
    day = next(name for name in found if name.count("-") == 2 and "/" not in name)
    assert found[day] == 0o700
    assert all(mode == 0o600 for name, mode in found.items() if name.endswith(".png"))


def test_a_save_into_an_old_history_tightens_it_too(tmp_path: Path) -> None:
    folder = tmp_path / "history"
    old_history(folder)
    with pytest.warns(UserWarning, match="folders 0700, files 0600"):
        HistoryStore(folder).save(result("a new fox"))
    assert_private(folder)


def test_a_rebuilt_corrupt_index_is_private(tmp_path: Path) -> None:
    folder = tmp_path / "history"
    store = HistoryStore(folder)
    store.save(result())
    (folder / "index.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        assert len(store.search()) == 1
    assert_private(folder)


def test_batch_job_records_are_private(tmp_path: Path) -> None:
    with umask(0o000):
        jobs = JobStore(tmp_path / "history")
        record = JobRecord(job_id=new_job_id(), created="2026-12-06T00:00:00Z", base_url="x")
        jobs.save(record)
        jobs.append_result(record.job_id, {"custom_id": "item-0", "entry_id": "x"})
    found = assert_private(tmp_path / "history")
    assert f"batches/{record.job_id}.results.jsonl" in found


def test_the_client_saves_privately(offline_server: OfflineServer, tmp_path: Path) -> None:
    with umask(0o000), ImageClient(base_url=offline_server.base_url, history=tmp_path / "h") as c:
        c.generate("a fox", quality="low")
    assert_private(tmp_path / "h")


async def test_the_async_client_saves_privately(
    offline_server: OfflineServer, tmp_path: Path
) -> None:
    with umask(0o000):
        async with AsyncImageClient(base_url=offline_server.base_url, history=tmp_path / "h") as c:
            await c.generate("a fox", quality="low")
    assert_private(tmp_path / "h")


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from gptimage_widgets import HistoryStore, ImageResult

    folder, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = HistoryStore(folder)
    for i in range(count):
        image = np.full((8, 8, 3), i, np.uint8)
        store.save(ImageResult([image], model="gpt-image-2",
                               request={"prompt": f"writer {worker} image {i}"}))
    """
)
WRITERS, PER_WRITER = 4, 15


@pytest.mark.timeout(240)
def test_four_writer_processes_and_the_parent_lose_nothing(tmp_path: Path) -> None:
    """4 processes x 15 entries + 1 from the parent, at once: 61 entries, all private."""
    folder = tmp_path / "history"
    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), str(w), str(PER_WRITER)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    HistoryStore(folder).save(result("the parent's fox"))
    for proc in procs:
        _, stderr = proc.communicate(timeout=200)
        assert proc.returncode == 0, stderr
    store = HistoryStore(folder)
    expected = {f"writer {w} image {i}" for w in range(WRITERS) for i in range(PER_WRITER)}
    assert {e.prompt for e in store.search(limit=None)} == expected | {"the parent's fox"}
    assert len(store) == WRITERS * PER_WRITER + 1 == 61
    assert store.rebuild_index() == 61
    assert len(list(folder.glob("*/*/meta.json"))) == 61
    assert_private(folder)
