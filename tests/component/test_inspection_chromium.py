"""The HTML report in real headless Chromium: it opens with no console message, prints to PDF, pictures."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dancu_bus.inspection import find_chromium, html_text, print_pdf, screenshot
from dancu_bus.inspection.pdf import run_chromium
from tests.inspection_samples import BROKEN, sample_report

pytestmark = [pytest.mark.audit, pytest.mark.timeout(180)]

# Chromium logs each console message (console.*, uncaught errors, refused resources) at INFO as
# "...:INFO:CONSOLE:<line>] "<message>", source: <url> (<line>)" with --enable-logging=stderr --v=0.
_CONSOLE = re.compile(r":CONSOLE(?::\d+)?\]\s*(.*)")


def console_messages(page: Path) -> tuple[list[str], str]:
    """What Chromium's console said while loading ``page``, and the DOM it loaded."""
    done = run_chromium(find_chromium(), ["--enable-logging=stderr", "--v=0", "--dump-dom"], page, 60)
    return [m.group(1) for m in map(_CONSOLE.search, done.stderr.splitlines()) if m], done.stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample month's report, written to a file."""
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(html_text(sample_report()), encoding="utf-8")
    return path


def test_the_report_opens_with_no_console_message(page: Path) -> None:
    """Chromium loads the whole report (its verdict and last section are in the DOM) and logs nothing."""
    messages, dom = console_messages(page)
    assert messages == []
    assert 'id="verdict"' in dom and 'id="chain"' in dom and "<svg" in dom


def test_the_console_check_catches_a_script_error_and_an_external_resource(tmp_path: Path) -> None:
    """A page with an uncaught error, and the report with an external image, each make a console message."""
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>notDefined();</script></body></html>", encoding="utf-8")
    messages, _ = console_messages(broken)
    assert any("notDefined" in m for m in messages), messages
    external = tmp_path / "external.html"
    text = html_text(sample_report()).replace("</body>", '<img src="https://example.invalid/x.png"></body>')
    external.write_text(text, encoding="utf-8")
    messages, _ = console_messages(external)
    assert any("Content Security Policy" in m or "example.invalid" in m for m in messages), messages


def test_the_report_prints_to_pdf_and_a_screenshot(page: Path, tmp_path: Path) -> None:
    """A PDF of several A4 pages and a PNG picture are written from the HTML."""
    chromium = find_chromium()
    pdf, png = tmp_path / "report.pdf", tmp_path / "report.png"
    print_pdf(page, pdf, chromium)
    screenshot(page, png, chromium)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 3
    sizes = {
        (round(float(w)), round(float(h)))
        for w, h in re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)
    }
    assert sizes == {(595, 842)}  # A4 in points
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and png.stat().st_size > 10_000


def test_a_failed_chain_shows_in_the_printed_report(tmp_path: Path) -> None:
    """The failure verdict is in the DOM Chromium loads from a report whose chain did not verify."""
    path = tmp_path / "broken-chain.html"
    path.write_text(html_text(sample_report(BROKEN)), encoding="utf-8")
    messages, dom = console_messages(path)
    assert messages == [] and "VERIFICATION FAILED" in dom and 'class="verdict failed"' in dom


def test_a_missing_chromium_is_one_line_saying_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no Chromium on the PATH the error says apt-get install chromium."""
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(Exception, match="apt-get install chromium"):
        find_chromium()
