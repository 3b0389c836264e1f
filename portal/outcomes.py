"""Outcomes organisers record for the people on their lists: the words, checking one
outcome, and reading an uploaded workbook (XLSX) or CSV into checked rows.

Messages name the row, the column and what is allowed; they never repeat a cell's value
(a note or a name may hold anything)."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from portal.store import NewOutcome

# The words, exactly: also the values of the workbook's drop-down (pipeline part 4 reads them).
OUTCOMES = ("reached", "not_reached", "said_yes", "said_no", "wrong_number", "do_not_contact")
LABELS = {
    "reached": "Reached",
    "not_reached": "Not reached",
    "said_yes": "Said yes",
    "said_no": "Said no",
    "wrong_number": "Wrong number",
    "do_not_contact": "Do not contact",
}
FOLLOW_UP_WITH = ("said_yes", "reached")
NOTE_MAX = 500
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_ROWS = 100_000
# The columns an upload reads; the download appends them after the list's own.
REQUIRED = ("person_id", "outcome")
OPTIONAL = ("follow_up", "note")
EXTRA_COLUMNS = ("person_id", "outcome", "follow_up", "note")
_ZIP_MAGIC = b"PK\x03\x04"


class UploadRefused(ValueError):
    """The whole file is refused (not readable, too large, a column missing)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Refused:
    row: int
    reason: str


@dataclass
class Checked:
    """An upload read and checked: what to record (with its row numbers) and what not."""

    good: list[tuple[int, NewOutcome]] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    blank: int = 0  # rows with no outcome and nothing else filled: left alone


def earliest_today(now: datetime) -> date:
    """Today's date where it is earliest on Earth (UTC-12): an organiser's "today" is
    never refused as past, wherever they are."""
    return (now - timedelta(hours=12)).date()


def _text(value: object) -> str:
    """A cell as text: numbers without a trailing .0, None as empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _date(value: object) -> date | None:
    """A follow-up cell as a date; None when it is no date (a workbook's date cell arrives
    as a datetime, typed text as YYYY-MM-DD)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def check(
    person_id: object, outcome: object, follow_up: object, note: object, today: date
) -> NewOutcome | str:
    """One outcome checked: a NewOutcome, or what is wrong with it (never the value)."""
    pid = _text(person_id)
    if not pid:
        return "person_id is empty: keep the person_id column of the downloaded file"
    # "Said yes" or "said-yes" typed by hand is the word said_yes.
    word = re.sub(r"[\s-]+", "_", _text(outcome).lower())
    if word not in OUTCOMES:
        return "outcome is not one of " + ", ".join(OUTCOMES)
    when = None
    if _text(follow_up):
        if word not in FOLLOW_UP_WITH:
            return "follow_up is only for said_yes or reached: leave it empty for other outcomes"
        when = _date(follow_up)
        if when is None:
            return "follow_up is not a date: write it as YYYY-MM-DD"
        if when < today:
            return "follow_up is in the past: give today's date or a later one"
    text = "" if note is None else str(note).strip()
    if len(text) > NOTE_MAX:
        return f"note is longer than {NOTE_MAX} characters: shorten it"
    return NewOutcome(pid, word, when, text or None)


# ------------------------------------------------------------------------------- upload


def read_table(name: str, content: bytes) -> list[tuple[object, ...]]:
    """The rows of an uploaded XLSX (its first sheet) or CSV, the header first."""
    if len(content) > MAX_UPLOAD_BYTES:
        raise UploadRefused(
            f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: upload the "
            "rows you filled in, or split the file.",
            413,
        )
    if not content.strip():
        raise UploadRefused(
            "The file is empty: upload the downloaded file with outcomes filled in."
        )
    if content.startswith(_ZIP_MAGIC) or name.lower().endswith(".xlsx"):
        return _xlsx_rows(content)
    return _csv_rows(content)


def _xlsx_rows(content: bytes) -> list[tuple[object, ...]]:
    from openpyxl import load_workbook  # only uploads need it: production writes its own XLSX

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise UploadRefused(
            "The file could not be read as an Excel workbook (.xlsx): save it as .xlsx or CSV "
            "(UTF-8) and upload it again."
        ) from exc
    try:
        rows = []
        for row in book.worksheets[0].iter_rows(values_only=True):
            rows.append(tuple(row))
            if len(rows) > MAX_UPLOAD_ROWS + 1:
                raise UploadRefused(_too_many())
        return rows
    except UploadRefused:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a damaged sheet
        raise UploadRefused(
            "The workbook's first sheet could not be read: save it again as .xlsx or CSV "
            "(UTF-8) and upload it again."
        ) from exc
    finally:
        book.close()


def _too_many() -> str:
    return f"The file has more than {MAX_UPLOAD_ROWS:,} rows: split it."


def _csv_rows(content: bytes) -> list[tuple[object, ...]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadRefused(
            "The file is neither an Excel workbook (.xlsx) nor a CSV in UTF-8: save it as "
            "'CSV UTF-8' or .xlsx and upload it again."
        ) from exc
    first = text.split("\n", 1)[0]
    # A spreadsheet set up for a comma decimal separator saves CSV with semicolons.
    delimiter = ";" if ";" in first and "," not in first else ","
    try:
        rows = [tuple(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise UploadRefused("The CSV file could not be read: save it again as CSV UTF-8.") from exc
    if len(rows) > MAX_UPLOAD_ROWS + 1:
        raise UploadRefused(_too_many())
    return rows


def _header(row: Sequence[object]) -> dict[str, int]:
    """Column name -> index for the columns an upload reads; refuses a missing or doubled one."""
    names = [_text(v).lower() for v in row]
    found: dict[str, int] = {}
    for wanted in (*REQUIRED, *OPTIONAL):
        at = [i for i, n in enumerate(names) if n == wanted]
        if len(at) > 1:
            raise UploadRefused(
                f"The first row names the column {wanted} twice: keep one and upload again."
            )
        if at:
            found[wanted] = at[0]
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        raise UploadRefused(
            "The first row has no column named "
            + " or ".join(missing)
            + ": keep the column names of the downloaded file ("
            + ", ".join(EXTRA_COLUMNS)
            + ") and upload it again. Nothing was recorded."
        )
    return found


def check_rows(rows: Iterable[Sequence[object]], today: date) -> Checked:
    """Every row after the header checked (row numbers as the spreadsheet shows them).
    A person on two rows with different outcomes has both refused; people are not looked
    up here (`place`)."""
    it = iter(rows)
    try:
        header = next(it)
    except StopIteration:
        raise UploadRefused("The file is empty: upload the downloaded file.") from None
    columns = _header(header)
    result = Checked()

    def cell(row: Sequence[object], name: str) -> object:
        i = columns.get(name)
        return row[i] if i is not None and i < len(row) else None

    for number, row in enumerate(it, start=2):
        word, when, note = cell(row, "outcome"), cell(row, "follow_up"), cell(row, "note")
        if not _text(word):
            if _text(when) or _text(note):
                result.refused.append(
                    Refused(
                        number,
                        "outcome is empty but follow_up or note is filled: choose an outcome",
                    )
                )
            else:
                result.blank += 1
            continue
        checked = check(cell(row, "person_id"), word, when, note, today)
        if isinstance(checked, str):
            result.refused.append(Refused(number, checked))
        else:
            result.good.append((number, checked))
    _refuse_conflicts(result)
    return result


def _refuse_conflicts(result: Checked) -> None:
    """A person on several rows that differ: all of their rows refused (which one is
    meant cannot be known); identical rows are one outcome."""
    rows_of: dict[str, list[tuple[int, NewOutcome]]] = {}
    for number, item in result.good:
        rows_of.setdefault(item.person_id, []).append((number, item))
    keep: list[tuple[int, NewOutcome]] = []
    for entries in rows_of.values():
        if len({item for _, item in entries}) > 1:
            numbers = ", ".join(str(n) for n, _ in entries)
            for number, _ in entries:
                result.refused.append(
                    Refused(
                        number,
                        f"the same person_id is on rows {numbers} with different outcomes: "
                        "keep one row per person",
                    )
                )
        else:
            keep.append(entries[0])
    result.good = sorted(keep, key=lambda entry: entry[0])
    result.refused.sort(key=lambda r: r.row)


def place(result: Checked, on_list: set[str], known: set[str], team: str) -> None:
    """Refuse the rows of people not on the team's part of the list (`on_list`), saying
    whether the person is one of the user's teams' (`known`) or not known at all."""
    keep = []
    for number, item in result.good:
        if item.person_id in on_list:
            keep.append((number, item))
        elif item.person_id in known:
            result.refused.append(
                Refused(number, f"this person is not on {team}'s part of this list")
            )
        else:
            result.refused.append(
                Refused(number, "person_id is not known among the people of your teams")
            )
    result.good = keep
    result.refused.sort(key=lambda r: r.row)
