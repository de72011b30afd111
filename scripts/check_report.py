"""Render rnnkit HTML reports in headless Chromium; fail on console errors, page errors,
images that did not decode, or any request beyond the page itself; save a screenshot of each.

    apt-get install chromium                # Debian's package: /usr/bin/chromium
    .venv/bin/pip install playwright==1.65.2
    .venv/bin/python scripts/check_report.py runs/x/report.html [more.html ...]

Playwright drives Debian's Chromium (no browser download). Screenshots go to ``--screenshots
DIR`` (default: a new temporary folder, printed), not beside the reports, where the next
``rnnkit report`` would take them for figures; exit status 1 if any page fails.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def check(page, path: Path, shot: Path) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(
        f"console {m.type}: {m.text}"))  # fmt: skip
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    url = path.resolve().as_uri()
    page.on("request", lambda r: r.url != url and not r.url.startswith("data:") and
            problems.append(f"request beyond the page: {r.url}"))  # fmt: skip
    page.goto(url, wait_until="load")
    broken = page.evaluate("""() => Array.from(document.images)
        .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt || i.src.slice(0, 40))""")
    problems += [f"image did not load: {alt}" for alt in broken]
    count = page.evaluate("document.images.length")
    page.screenshot(path=str(shot), full_page=True)
    print(f"{path}: {count} images, {len(problems)} problems; screenshot {shot}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--screenshots", type=Path, help="folder for the screenshots")
    args = parser.parse_args()
    if not Path(args.chromium).is_file():
        print(f"check_report: no Chromium at {args.chromium} (apt-get install chromium)",
              file=sys.stderr)  # fmt: skip
        return 2
    from playwright.sync_api import sync_playwright

    shots = args.screenshots or Path(tempfile.mkdtemp(prefix="report-screenshots-"))
    shots.mkdir(parents=True, exist_ok=True)

    failed = False
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=FLAGS)
        for i, path in enumerate(args.reports):
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            shot = shots / f"{i}-{path.parent.name or 'report'}.png"
            for problem in check(page, path, shot):
                print(f"  {problem}", file=sys.stderr)
                failed = True
            page.close()
        browser.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
