"""The command-line examples in the README and docs/ run as written against the demo.

Every ```sh demo block is run with bash against a live server holding the demo's content, from
a directory with the demo's `.demo-api-key`, exactly as a reader who ran `make demo` would
paste it (only the demo's address is swapped for the test server's). `--fail-with-body` in the
examples makes an error answer (a 401 for a missing key, say) fail the run.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
DEMO_ADDRESS = "http://127.0.0.1:8000"
BLOCK = re.compile(r"^```sh demo\n(.*?)^```", re.S | re.M)


def demo_examples() -> list[tuple[str, str]]:
    found = []
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in BLOCK.finditer(document.read_text()):
            found.append((document.relative_to(ROOT).as_posix(), match.group(1)))
    return found


def test_the_docs_have_runnable_examples_for_the_api():
    where = [name for name, _ in demo_examples()]
    assert where.count("README.md") >= 2 and where.count("docs/headless.md") >= 2, where
    assert all(DEMO_ADDRESS in code for _, code in demo_examples())


def test_every_demo_example_runs_as_written(wagtail_root, live_server, settings, tmp_path):
    call_command("seed_demo", "--no-visitors", stdout=StringIO())
    key = secrets.token_urlsafe(24)
    (tmp_path / ".demo-api-key").write_text(key + "\n")
    settings.PERSONALIZATION_API_KEYS = {"demo": key}
    failures = []
    for where, code in demo_examples():
        script = "set -euo pipefail\n" + code.replace(DEMO_ADDRESS, live_server.url)
        run = subprocess.run(  # noqa: S603 - the docs' own examples
            ["/bin/bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        if run.returncode != 0 or not run.stdout.strip() or 'ignored_reason": "bot' in run.stdout:
            failures.append(f"{where}:\n{code}\n-> exit {run.returncode}\n{run.stdout}{run.stderr}")
    assert not failures, "\n\n".join(failures)


def test_seed_demo_prints_the_demo_api_key_and_keeps_it(db, settings, tmp_path):
    settings.DEMO_API_KEY_FILE = tmp_path / ".demo-api-key"
    out = StringIO()
    call_command("seed_demo", "--no-visitors", stdout=out)
    key = settings.DEMO_API_KEY_FILE.read_text().strip()
    assert len(key) >= 24
    assert f"API key (demo):   {key}" in out.getvalue()
    again = StringIO()
    call_command("seed_demo", "--no-visitors", stdout=again)
    assert settings.DEMO_API_KEY_FILE.read_text().strip() == key  # the same key on a re-run
    assert key in again.getvalue()


def test_the_demo_settings_read_the_key_file_only_with_debug(tmp_path):
    key_file = tmp_path / ".demo-api-key"
    key_file.write_text("demo-key-from-file\n")
    code = (
        "from django.conf import settings; "
        "print(settings.PERSONALIZATION_API_KEYS.get('demo', 'none'))"
    )

    def demo_key(debug: str) -> str:
        env = {
            "PATH": "/usr/bin:/bin",
            "DEBUG": debug,
            "DEMO_API_KEY_FILE": str(key_file),
            "SECRET_KEY": "x" * 60,
        }
        run = subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout.strip().splitlines()[-1]

    assert demo_key("1") == "demo-key-from-file"
    assert demo_key("0") == "none"
