"""Shared by the browser end-to-end tests: run a playwright-core node script against chromium.

`browser_script(name, *args)` runs `tests/e2e/<name>` with node (after the base URL, the
artifacts folder and a fresh chromium profile come `args`), and returns the JSON object the
script prints last; it skips the test when chromium, node or playwright-core is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT = HERE / "node_modules" / "playwright-core"
ARTIFACTS = HERE / "artifacts"

BrowserScript = Callable[..., dict[str, Any]]


def browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return "Debian chromium not installed (apt-get install chromium fonts-noto-cjk)"
    if shutil.which("node") is None:
        return "node not installed"
    if not PLAYWRIGHT.exists():
        return "playwright-core missing: run `npm ci` in tests/e2e"
    return None


@pytest.fixture(scope="module")
def browser_script(tmp_path_factory: pytest.TempPathFactory) -> BrowserScript:
    missing = browser_missing()
    if missing:
        pytest.skip(missing)

    def run(name: str, base: str, *args: str, timeout: float = 180) -> dict[str, Any]:
        ARTIFACTS.mkdir(exist_ok=True)
        profile = tmp_path_factory.mktemp("chromium-profile")
        done = subprocess.run(
            ["node", str(HERE / name), base, str(ARTIFACTS), str(profile), *args],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        assert lines, f"no JSON from {name}:\n{done.stdout}\n{done.stderr}"
        outcome: dict[str, Any] = json.loads(lines[-1])
        assert outcome["ok"], f"{outcome.get('error')}\nchecks: {outcome.get('checks')}"
        return outcome

    return run
