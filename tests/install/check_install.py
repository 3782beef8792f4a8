"""What a new user does, end to end: build the wheel and sdist, ``wagtail start`` a project in a
temporary folder, install the wheel into a fresh virtualenv beside it, apply the README's
settings and urls exactly as written, migrate, and drive the site over HTTP.

    .venv/bin/python tests/install/check_install.py [--wagtail 7.4.4] [--keep]

Proves: ``twine check`` passes and both archives carry templates, static files and migrations;
``manage.py check`` is clean; with no Celery app, no broker and no Redis a consented page view
answers 200 and is folded into the profile in the request; a broker that is configured but down
still answers 200; the OpenAPI schema answers 200; the README's Redis-free default needs no
Redis; a deliberate mistake (``rules`` left out) and an unreachable cache fail ``check``.
Run by ``.ci/run``; takes about a minute with a warm package cache. Exits non-zero on failure.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
BIN = Path(PY).parent
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
MUST_SHIP = [
    "personalization/static/personalization/tracker.js",
    "personalization/templates/personalization/",
    "personalization/migrations/0001_initial.py",
    "personalization/py.typed",
]


def step(message: str) -> None:
    print(f"--- {message}", flush=True)


def run(*args, cwd=None, env=None, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run(  # noqa: S603 (our own fixed commands)
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        sys.exit(
            f"FAILED: {' '.join(map(str, args))}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result


def readme_block(marker: str) -> str:
    """The README's code block that starts with ``marker``, as written."""
    readme = (ROOT / "README.md").read_text()
    for block in re.findall(r"```python\n(.*?)```", readme, re.S):
        if block.startswith(marker):
            return block
    sys.exit(f"FAILED: the README has no python block starting with {marker!r}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(out: Path) -> tuple[Path, Path]:
    step("python -m build (sdist and wheel), twine check")
    run(PY, "-m", "build", "--outdir", out, ROOT)
    wheel = next(out.glob("*.whl"))
    sdist = next(out.glob("*.tar.gz"))
    run(BIN / "twine", "check", "--strict", wheel, sdist)
    with zipfile.ZipFile(wheel) as archive:
        wheel_names = archive.namelist()
    with tarfile.open(sdist) as archive:
        sdist_names = ["/".join(n.split("/")[1:]) for n in archive.getnames()]
    for names, archive in ((wheel_names, wheel.name), (sdist_names, sdist.name)):
        for path in MUST_SHIP:
            if not any(n.startswith(path) for n in names):
                sys.exit(f"FAILED: {archive} lacks {path}")
    return wheel, sdist


def install(venv: Path, wheel: Path, wagtail: str | None) -> Path:
    step(f"fresh virtualenv, pip install the wheel (Wagtail {wagtail or 'as pinned'})")
    run(BIN / "uv", "venv", "--quiet", "--python", PY, venv)
    python = venv / "bin" / "python"
    constraints = ROOT / "requirements.txt"
    text = constraints.read_text()
    if wagtail:
        text = re.sub(r"(?m)^wagtail==\S+$", f"wagtail=={wagtail}", text)
    pinned = venv / "constraints.txt"
    pinned.write_text(text)
    run(BIN / "uv", "pip", "install", "--quiet", "--python", python, "-c", pinned, wheel)
    return python


def start_project(python: Path, where: Path) -> Path:
    step("wagtail start mysite, README settings and urls appended as written")
    where.mkdir()
    run(python.parent / "wagtail", "start", "mysite", where)
    settings = where / "mysite" / "settings" / "base.py"
    urls = where / "mysite" / "urls.py"
    settings.write_text(settings.read_text() + "\n\n" + readme_block("# settings.py"))
    urls.write_text(urls.read_text() + "\n\n" + readme_block("# urls.py"))
    return where


def manage(python: Path, project: Path, *args, env=None, check=True):
    return run(python, "manage.py", *args, cwd=project, env=env, check=check)


def clean_env(**extra: str) -> dict[str, str]:
    """No DATABASE_URL, REDIS_URL or Celery settings leak in from CI's environment."""
    drop = ("DATABASE_URL", "REDIS_URL", "CACHE_KEY_PREFIX", "DJANGO_SETTINGS_MODULE", "CELERY_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


class Site:
    """``manage.py runserver`` on a free port, and a cookie-keeping client for it."""

    def __init__(self, python: Path, project: Path, env: dict[str, str]):
        self.port = free_port()
        self.log = (project / f"server-{self.port}.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603
            [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            cwd=project,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.request("GET", "/")
                return
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        sys.exit(f"FAILED: runserver did not start\n{(project / self.log.name).read_text()}")

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"User-Agent": DESKTOP, "Content-Type": "application/json"},
        )
        try:
            with self.opener.open(req, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def expect(condition: bool, message: str, site: Site | None = None) -> None:
    if not condition:
        if site is not None:
            site.stop()
            print(Path(site.log.name).read_text()[-4000:])
        sys.exit(f"FAILED: {message}")


def consented_page_view(python: Path, project: Path, env: dict[str, str], label: str) -> None:
    step(f"runserver ({label}): consent, a page view, the profile, the schema")
    site = Site(python, project, env)
    try:
        status, body = site.request(
            "POST",
            "/api/personalization/v1/consent",
            {"purposes": {"analytics": True, "personalization": True}},
        )
        expect(status == 200, f"consent answered {status}: {body[:500]!r}", site)
        status, body = site.request("GET", "/")
        expect(status == 200, f"a consented page view answered {status}: {body[:500]!r}", site)
        status, body = site.request("GET", "/api/personalization/v1/profile")
        expect(status == 200, f"profile answered {status}", site)
        profile = json.loads(body)
        expect(
            profile["event_count"] >= 1,
            f"the page view was not folded into the profile: {profile}",
            site,
        )
        status, body = site.request("GET", "/api/personalization/v1/schema")
        expect(status == 200 and b"openapi" in body, f"schema answered {status}", site)
    finally:
        site.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wagtail", help="install this Wagtail (default: requirements.txt's)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="pz-install-"))
    try:
        wheel, _sdist = build(tmp / "dist")
        python = install(tmp / "venv", wheel, args.wagtail)
        project = start_project(python, tmp / "project")
        env = clean_env(DJANGO_SETTINGS_MODULE="mysite.settings.dev")

        step("migrate, create_personalization_roles, check")
        manage(python, project, "migrate", "--noinput", env=env)
        manage(python, project, "create_personalization_roles", env=env)
        result = manage(python, project, "check", env=env)
        expect("no issues" in result.stdout, f"check is not clean:\n{result.stdout}")

        consented_page_view(python, project, env, "no Celery app, no broker, no Redis")
        down = clean_env(
            DJANGO_SETTINGS_MODULE="mysite.settings.dev",
            CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:9//",
        )
        consented_page_view(python, project, down, "a broker that is down")

        step("deliberate mistakes fail check: rules left out, an unreachable cache")
        settings = project / "mysite" / "settings" / "base.py"
        original = settings.read_text()
        settings.write_text(original.replace('"rules.apps.AutodiscoverRulesConfig",', ""))
        result = manage(python, project, "check", env=env, check=False)
        expect(
            result.returncode != 0 and "personalization.E008" in result.stderr,
            f"check did not catch the missing rules app:\n{result.stdout}{result.stderr}",
        )
        settings.write_text(
            original
            + '\nCACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",'
            + ' "LOCATION": "redis://127.0.0.1:9/0"}}\n'
        )
        result = manage(python, project, "check", env=env, check=False)
        expect(
            result.returncode != 0 and "personalization.E010" in result.stderr,
            f"check did not catch the unreachable cache:\n{result.stdout}{result.stderr}",
        )
        settings.write_text(original)
        print(f"OK: install check passed in {time.monotonic() - started:.0f} s", flush=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
