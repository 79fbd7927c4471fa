"""A page opened in a real headless browser (Debian's chromium, which `make test` installs as
root), and what plotly drew in it, for the tests of burst's reports."""

import re
import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium")
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium: `make test` installs Debian's as root"
)


def browser(page, *args, timeout=90):
    """Chromium, headless, on ``page``, with time for its scripts to draw."""
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        + ["--virtual-time-budget=10000", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


def drawn_charts(page) -> dict[str, int]:
    """Per chart section of the page, the marks plotly drew in it (bars, markers and lines)."""
    dom = browser(page, "--dump-dom").stdout
    sections = re.findall(r'<section class="chart" id="chart-(\w+)">(.*?)</section>', dom, re.S)
    return {
        name: len(re.findall(r'class="(?:point|js-line)"', body))
        for name, body in sections
        if 'class="main-svg"' in body
    }
