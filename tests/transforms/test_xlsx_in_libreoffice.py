"""Our own XLSX writer (transforms/xlsx.py) read by another spreadsheet program: LibreOffice
Calc, headless, turns a workbook the exports write back into CSV, and every cell comes
back as the text we wrote: formula-like text stays text, accents, quotes, long text, leading
zeros and control characters the format cannot hold (dropped)."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest

from transforms.exports import write_xlsx

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = pytest.mark.skipif(
    SOFFICE is None,
    reason="LibreOffice is not installed (apt-get install libreoffice-calc-nogui); the "
    "workbook's own structure is tested by test_xlsx_rendered.py with openpyxl",
)

HEADER = ["person_id", "given_name", "postal_code", "note"]
ROWS = [
    ["p-1", "Zoë", "02134", "plain"],
    ["p-2", '=HYPERLINK("http://x.example","click")', "00501", 'said "yes", then no'],
    ["p-3", "+44 20 7946 0018", "10001", "x" * 2000],
    ["p-4", "@handle", "", "tab\there and a bell\x07"],
    ["p-5", "-12", "99999", "Ünïcödé 漢字 ✓"],
]


def test_libreoffice_reads_every_cell_as_the_text_we_wrote(tmp_path: Path):
    book = tmp_path / "list.xlsx"
    write_xlsx(book, "a list", HEADER, ROWS)
    profile = tmp_path / "profile"  # its own profile: no state shared with another run
    done = subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",  # comma, double quote, UTF-8
            "--outdir",
            str(tmp_path / "out"),
            str(book),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with open(tmp_path / "out" / "list.csv", newline="", encoding="utf-8") as handle:
        read = list(csv.reader(handle))
    expected = [HEADER, *[[_as_written(v) for v in row] for row in ROWS]]
    assert read == expected


def _as_written(value: str) -> str:
    """What the exports write for a cell: formula-like text gets a leading apostrophe,
    characters XML 1.0 cannot hold are dropped."""
    if value.startswith(("=", "+", "-", "@")) and not value.lstrip("+-").replace(" ", "").isdigit():
        value = "'" + value
    return "".join(c for c in value if c in "\t\n\r" or ord(c) >= 32)
