"""The Next.js example against the demo, in Debian's Chromium: accept the banner, read three AI
articles, and the home page's banner turns into the "AI readers" variant. Also: the events route
refuses a purchase and a body that is not JSON, a double-sent page view counts once, and a
forged token makes the example start again as a new visitor.

    .venv/bin/python tests/install/check_nextjs_example.py     # after: cd examples/nextjs &&
                                                               #   npm ci && npm run build

Runs the demo (SQLite in a temporary folder, eager Celery, no Redis) with an API key and
``next start``, both on free loopback ports. Run by ``.ci/run``; exits non-zero on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "nextjs"
PY = sys.executable
KEY = "e2e-secret"
AI_ARTICLES = [
    "introducing-northwind-ai-assistant",
    "detecting-anomalies-with-ai",
    "opinion-ai-will-not-replace-on-call",
]
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def step(message: str) -> None:
    print(f"--- {message}", flush=True)


def fail(message: str, *logs: Path) -> None:
    for log in logs:
        if log.exists():
            print(f"=== {log.name}\n{log.read_text()[-3000:]}")
    sys.exit(f"FAILED: {message}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            fail(f"{url}: the server exited", log)
        try:
            urllib.request.urlopen(url, timeout=5).close()  # noqa: S310 (loopback)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    fail(f"{url} did not answer within {seconds:.0f} s", log)


def post(url: str, data: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def main() -> None:
    if not (EXAMPLE / ".next").exists():
        fail("build the example first: cd examples/nextjs && npm ci && npm run build")
    if not os.path.exists(CHROMIUM):
        fail("needs Chromium (apt-get install chromium)")
    tmp = Path(tempfile.mkdtemp(prefix="pz-nextjs-"))
    django_port, next_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CACHE_KEY_PREFIX"}
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp / 'demo.sqlite3'}",
        PERSONALIZATION_API_KEYS=f"nextjs={KEY}",
        DEBUG="1",  # the demo host refuses to start on its published key without it
        NEXT_TELEMETRY_DISABLED="1",
    )
    processes: list[subprocess.Popen] = []
    django_log, next_log = tmp / "django.log", tmp / "next.log"
    try:
        step("demo: migrate, seed content (no synthetic visitors), runserver")
        # The demo's banner experiment shows the "AI readers" banner to half of the visitors it
        # would give the default (by a hash of their random id): paused here, so the banner
        # this check reads follows the visitor's segments alone.
        pause_experiments = (
            "from personalization.experiments.models import Experiment; "
            "Experiment.objects.update(status=Experiment.Status.PAUSED)"
        )
        for args in (
            ["migrate", "--noinput"],
            ["seed_demo", "--no-visitors", "--seed", "1"],
            ["shell", "-c", pause_experiments],
        ):
            result = subprocess.run(  # noqa: S603
                [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
            )
            if result.returncode:
                fail(f"manage.py {args[0]}: {result.stdout[-2000:]}{result.stderr[-2000:]}")
        with django_log.open("w") as out:
            processes.append(
                subprocess.Popen(  # noqa: S603
                    [PY, "manage.py", "runserver", "--noreload", f"127.0.0.1:{django_port}"],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        wait_for(f"http://127.0.0.1:{django_port}/", processes[-1], django_log)

        step("next start")
        next_env = {
            **env,
            "WAGTAIL_URL": f"http://127.0.0.1:{django_port}",
            "PERSONALIZATION_API_KEY": KEY,
            "COOKIE_SECURE": "false",
            "PORT": str(next_port),
        }
        with next_log.open("w") as out:
            processes.append(
                subprocess.Popen(  # noqa: S603
                    ["npx", "next", "start", "-H", "127.0.0.1", "-p", str(next_port)],  # noqa: S607
                    cwd=EXAMPLE,
                    env=next_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        base = f"http://127.0.0.1:{next_port}"
        wait_for(f"{base}/", processes[-1], next_log)

        step("route handlers: 400 to non-JSON, to a purchase, to an event without an id")
        for body, what in (
            (b"not json", "a body that is not JSON"),
            (json.dumps({"events": [{"type": "purchase", "id": "p1"}]}).encode(), "a purchase"),
            (json.dumps({"events": [{"type": "page_view"}]}).encode(), "an event without id"),
        ):
            status = post(f"{base}/api/events", body, {"Content-Type": "application/json"})
            if status != 400:
                fail(f"/api/events answered {status} to {what}", next_log)
        if post(f"{base}/api/consent", b"{", {"Content-Type": "application/json"}) != 400:
            fail("/api/consent did not answer 400 to a body that is not JSON", next_log)

        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox", "--disable-gpu"]
            )
            context = browser.new_context(base_url=base, user_agent=DESKTOP)
            context.set_default_timeout(30_000)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            step("home page, accept the banner")
            page.goto("/")
            before = page.locator("section[data-variant]").get_attribute("data-variant")
            page.get_by_role("button", name="Accept all").click()
            page.locator("aside[role=dialog]").wait_for(state="detached")
            if "pz_token" not in {c["name"] for c in context.cookies()}:
                fail("no token cookie after consent", next_log)

            step("an event sent twice with its id is counted once")
            answers = page.evaluate(
                """async () => {
                  const send = () => fetch("/api/events", {method: "POST",
                    headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({events: [{type: "click", id: "twice-1"}]})})
                    .then(r => r.json());
                  return [await send(), await send()];
                }"""
            )
            if [a.get("duplicates") for a in answers] != [0, 1]:
                fail(f"a repeated event id was not deduplicated: {answers}", next_log)

            step(f"read three AI articles (banner before: {before!r})")
            for i, slug in enumerate(AI_ARTICLES):
                page.goto(f"/articles/{slug}")
                page.locator("article h1").wait_for()
                page.wait_for_timeout(500)  # the page view's beacon
                if i == 1:  # two articles: one short of the segment, whatever re-sends happened
                    page.goto("/")
                    early = page.locator("section[data-variant]").get_attribute("data-variant")
                    if early == "AI readers":
                        fail("the AI variant showed after two articles (double counting)")
            deadline, after = time.monotonic() + 20, before
            while time.monotonic() < deadline:
                page.goto("/")
                after = page.locator("section[data-variant]").get_attribute("data-variant")
                if after == "AI readers":
                    break
                page.wait_for_timeout(500)
            if after != "AI readers":
                fail(f"the banner is {after!r} after three AI articles", next_log, django_log)
            segments = page.locator("main").inner_text()
            print(f"banner after: {after!r}; {segments.splitlines()[-1]}")

            step("a forged token: the example starts again as a new visitor")
            token = next(c for c in context.cookies() if c["name"] == "pz_token")
            forged = token["value"].split(":")[0] + ":forged"
            context.add_cookies([{**token, "value": forged}])
            page.goto("/")
            page.locator("aside[role=dialog]").wait_for(state="visible")  # the banner asks again
            if any(c["name"] == "pz_token" for c in context.cookies()):
                fail("the refused token was kept", next_log)
            if errors:
                fail(f"JavaScript errors: {errors}")
            browser.close()
        print("OK: the Next.js example personalizes after three AI articles", flush=True)
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
