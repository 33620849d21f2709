"""The report in a real browser: headless Chromium parses it, lays it out and screenshots it.

Skipped when no Chromium is installed (`apt-get install chromium`). Set
AGENT_REPORT_SCREENSHOTS=DIR to keep the screenshots (docs/img/ was made from a real run the
same way: see docs/report.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from agents.report.html import write_report
from tests.agents.report.test_html import TIMELINE, _run_folder

pytestmark = pytest.mark.slow

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "headless_shell"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on PATH (apt-get install chromium)")


def browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )


def opened_section(page: str, anchor: str) -> str:
    """The page cut to one task's section with every collapsed part open (a screenshot
    cannot click)."""
    start = page.index(f"<section class='task' id='{anchor}'>")
    end = page.index("</section>", start) + len("</section>")
    head = page[: page.index("<body>") + len("<body>")]
    return head + page[start:end].replace("<details>", "<details open>") + "</body></html>"


def inked_rows(png: Path) -> int:
    """How many pixel rows hold something other than the white background."""
    from PIL import Image

    with Image.open(png) as image:
        grey = image.convert("L")
        width, height = grey.size
        pixels = grey.load()
        return sum(1 for y in range(height) if any(pixels[x, y] < 200 for x in range(0, width, 3)))


def test_chromium_renders_the_report_and_its_sections(tmp_path: Path) -> None:
    folder = _run_folder(tmp_path / "run", timeline=TIMELINE)
    report = write_report(folder)
    profile = tmp_path / "profile"

    dom = browse(report, profile, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    # What the browser built from the page: three task sections, the figures, the
    # collapsed parts (timeline, prompts/replies and two attempts), a link per task.
    assert len(re.findall(r"<section class=\"task\"", dom.stdout)) == 3
    assert dom.stdout.count("<svg") == 4
    assert dom.stdout.count("<details>") == 4
    assert len(re.findall(r"href=\"#task-step-", dom.stdout)) == 3

    shots = Path(os.environ.get("AGENT_REPORT_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    top = shots / "report-top.png"
    done = browse(report, profile, "--window-size=1200,1400", f"--screenshot={top}")
    assert done.returncode == 0 and top.is_file(), done.stderr[-2000:]
    assert inked_rows(top) > 400  # text, tables and figures all down the page

    section = tmp_path / "section.html"
    section.write_text(opened_section(report.read_text(), "task-step-gemm"))
    shot = shots / "report-task.png"
    done = browse(section, profile, "--window-size=1200,1400", f"--screenshot={shot}")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    assert inked_rows(shot) > 400
