"""The test matrix: the whole suite against each supported Wagtail, with the same Django.

    nox                        # every session (sessions are listed by ``nox --list``)
    nox -s "tests(wagtail='7.4.4')"

Each session installs ``requirements.txt`` with only the Wagtail pin replaced, checks that the
migrations are the same on that release (``makemigrations --check``), and runs pytest. The
database and cache come from the environment as for ``make test``: with ``DATABASE_URL`` and
``REDIS_URL`` set a session uses PostgreSQL and Redis, without them SQLite and local memory.
``.ci/run`` runs the newest release on PostgreSQL + Redis and the others on SQLite.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nox

# Keep in step with pyproject.toml (dependency range and classifiers) and the README; a test
# (tests/test_install.py) compares the three. Every Wagtail runs on Python 3.11 (the oldest
# supported); the newest Wagtail also runs on each newer Python.
WAGTAIL_VERSIONS = ["7.0.10", "7.4.4", "8.0.1"]
PYTHONS = ["3.12", "3.13"]

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
# Interpreters come from this machine (pyenv's versions included), never from a download.
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
for _bin in sorted(Path.home().glob(".pyenv/versions/3.*/bin")):
    os.environ["PATH"] = f"{os.environ['PATH']}{os.pathsep}{_bin}"

ROOT = Path(__file__).parent


def _requirements_for(session: nox.Session, wagtail: str) -> str:
    """requirements.txt with the Wagtail pin replaced (everything else stays as pinned)."""
    text = (ROOT / "requirements.txt").read_text()
    text, n = re.subn(r"(?m)^wagtail==\S+$", f"wagtail=={wagtail}", text)
    if n != 1:
        session.error("requirements.txt must pin wagtail exactly once")
    path = Path(session.create_tmp()) / f"requirements-wagtail-{wagtail}.txt"
    path.write_text(text)
    return str(path)


def _suite(session: nox.Session, wagtail: str) -> None:
    session.install("-r", _requirements_for(session, wagtail))
    session.run(
        "python", "-c", "import sys, wagtail; print(sys.version, 'Wagtail', wagtail.__version__)"
    )
    session.run("python", "manage.py", "makemigrations", "--check", "--dry-run", env={"DEBUG": "1"})
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
@nox.parametrize("wagtail", WAGTAIL_VERSIONS)
def tests(session: nox.Session, wagtail: str) -> None:
    """The whole suite on one Wagtail release."""
    _suite(session, wagtail)


@nox.session(python=PYTHONS)
def newer_python(session: nox.Session) -> None:
    """The whole suite on the newest Wagtail and a newer Python."""
    _suite(session, WAGTAIL_VERSIONS[-1])
