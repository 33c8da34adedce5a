"""The data folder (database, task queue, generated keys) is its owner's only from the first start:
the folder 0700, every file in it 0600, the SQLite journal files included."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FIRST_START = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE probe (x integer)")
    cursor.execute("INSERT INTO probe VALUES (1)")
from huey.contrib.djhuey import HUEY
HUEY.storage.enqueue(b"probe", 0)
# While the connections are open: their journal files (-wal, -shm) exist now.
import json, os, stat, sys
folder = sys.argv[1]
print(json.dumps({n: stat.S_IMODE(os.stat(os.path.join(folder, n)).st_mode) for n in os.listdir(folder)}))
"""


def first_start(data_dir: Path, umask: int) -> dict[str, int]:
    """Start Yoyaku's settings on ``data_dir`` and write once; the modes of its files while open."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("YOYAKU_")},
        "YOYAKU_DATA_DIR": str(data_dir),
        "DJANGO_SETTINGS_MODULE": "yoyaku.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", FIRST_START, str(data_dir)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(umask),
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_a_fresh_data_folder_is_private(tmp_path: Path, umask: int) -> None:
    data_dir = tmp_path / "data"
    while_open = first_start(data_dir, umask)

    assert mode(data_dir) == 0o700
    assert {"secret_key", "encryption_key", "yoyaku.sqlite3", "yoyaku.sqlite3-wal", "huey.sqlite3"} <= set(
        while_open
    )
    # Files 0600; folders made inside it (the collected static files) 0700.
    private = {name: oct(0o700 if (data_dir / name).is_dir() else 0o600) for name in while_open}
    assert {name: oct(m) for name, m in while_open.items()} == private
    after = {p.name: oct(mode(p)) for p in data_dir.iterdir()}
    assert after == {p.name: oct(0o700 if p.is_dir() else 0o600) for p in data_dir.iterdir()}


def test_an_existing_data_folder_is_made_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    (data_dir / "yoyaku.sqlite3").touch(mode=0o644)
    (data_dir / "yoyaku.sqlite3").chmod(0o644)
    data_dir.chmod(0o755)

    first_start(data_dir, 0o022)

    assert mode(data_dir) == 0o700
    assert mode(data_dir / "yoyaku.sqlite3") == 0o600


def test_processes_starting_together_on_a_fresh_folder_share_one_secret(tmp_path: Path) -> None:
    # Web workers and a task consumer start at once on a new data folder: all must come up, with the
    # same keys (a second key would leave secrets one process encrypted unreadable to the others).
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("YOYAKU_")},
        "YOYAKU_DATA_DIR": str(tmp_path / "data"),
        "DJANGO_SETTINGS_MODULE": "yoyaku.settings",
    }
    script = "from django.conf import settings; print(settings.SECRET_KEY, settings.YOYAKU_ENCRYPTION_KEYS)"
    started = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(8)
    ]
    results = [(process.communicate(timeout=120), process.returncode) for process in started]
    assert [code for _out, code in results] == [0] * 8, [err for (_o, err), _c in results]
    assert len({out for (out, _err), _code in results}) == 1
    assert sorted(p.name for p in (tmp_path / "data").iterdir() if p.name.startswith(".")) == []
