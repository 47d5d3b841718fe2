"""The HTML report printed to PDF (and photographed to PNG) by headless Chromium, Debian's ``chromium``.

Each run gets a throwaway profile directory and a time limit. ``--no-sandbox`` because inspectors'
machines and CI often run as root, where Chromium's sandbox refuses to start; what it opens is the
report this package wrote, with no script and a policy forbidding any external resource.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dancu_bus.errors import ConfigError, DancuError

__all__ = ["PRINT_TIMEOUT_S", "find_chromium", "print_pdf", "run_chromium", "screenshot"]

PRINT_TIMEOUT_S = 120.0
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions")


def find_chromium(configured: str | None = None) -> str:
    """The Chromium to print with: ``configured`` (DANCU_CHROMIUM) or ``chromium`` on the PATH."""
    if configured:
        chosen = shutil.which(configured)
        if chosen is None:
            raise ConfigError(f"DANCU_CHROMIUM={configured!r} is not an executable; point it at Chromium")
        return chosen
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise ConfigError(
            "no Chromium to print the PDF with: apt-get install chromium (or set DANCU_CHROMIUM)"
        )
    return found


def print_pdf(html: Path, pdf: Path, chromium: str, timeout_s: float = PRINT_TIMEOUT_S) -> None:
    """Print the HTML file to ``pdf`` (A4, as the report's print stylesheet asks, no header or footer)."""
    run_chromium(chromium, [f"--print-to-pdf={pdf.resolve()}", "--no-pdf-header-footer"], html, timeout_s)
    if not pdf.exists() or pdf.stat().st_size == 0:
        raise DancuError(f"Chromium wrote no PDF to {pdf}")


def screenshot(
    html: Path,
    png: Path,
    chromium: str,
    size: tuple[int, int] = (1100, 1500),
    timeout_s: float = PRINT_TIMEOUT_S,
) -> None:
    """A PNG picture of the HTML file's first ``size`` pixels, as a browser window shows it."""
    args = [f"--screenshot={png.resolve()}", f"--window-size={size[0]},{size[1]}", "--hide-scrollbars"]
    run_chromium(chromium, args, html, timeout_s)
    if not png.exists():
        raise DancuError(f"Chromium wrote no screenshot to {png}")


def run_chromium(
    chromium: str, args: Sequence[str], html: Path, timeout_s: float = PRINT_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on the file with ``args`` in a fresh profile; its output (stderr: its log)."""
    with tempfile.TemporaryDirectory(prefix="dancu-chromium-") as profile:
        command = [chromium, *_FLAGS, f"--user-data-dir={profile}", *args, html.resolve().as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise DancuError(f"Chromium did not finish with {html} within {timeout_s:g} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DancuError(f"Chromium failed on {html} (exit {done.returncode}): {last}")
    return done
