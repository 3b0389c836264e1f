"""Form exports (CSV) from the inbox: encoding and delimiter sniffed, the common exporters'
header layouts recognised, every row yielded with its file name and 1-based row number."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

PLATFORM = "Form exports"

# Canonical fields, in the order headers are claimed: "Email address" must become the
# email before the address rule sees it.
FIELD_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # Before email: "Keep me updated by email" is a consent question, not the address.
    (
        "consent",
        re.compile(
            r"\b(consent|opt ?in|i agree|agree to|keep me (updated|informed|posted)|"
            r"subscribe|may we (contact|email|text))\b"
        ),
    ),
    ("email", re.compile(r"\be ?mail\b")),
    ("given_name", re.compile(r"\b(first|given|preferred) ?name\b|^first$")),
    ("family_name", re.compile(r"\b(last|family|sur) ?name\b|^surname$|^last$")),
    ("full_name", re.compile(r"\bfull ?name\b|^name$|^your name$")),
    ("phone", re.compile(r"\b(phone|mobile|cell)\b")),
    ("postal_code", re.compile(r"\b(post ?code|postal ?code|zip ?(code)?)\b")),
    ("address", re.compile(r"\b(street )?address\b|^street$")),
    ("locality", re.compile(r"\b(city|suburb|town|locality)\b")),
    ("region", re.compile(r"^(state|region|province|county)\b|\bstate\b")),
    ("referred_by", re.compile(r"\b(who referred|referred by|referral|invited by|who invited)\b")),
    ("heard_about", re.compile(r"\bhow did you (hear|find)\b")),
    ("volunteer", re.compile(r"\b(volunteer|help with|get involved)\b")),
    ("attended", re.compile(r"\b(attendee status|checked in|check in|attended)\b")),
]
FORM_FIELDS = (*(name for name, _ in FIELD_PATTERNS), "submitted_at")
SUBMITTED_AT_HEADERS = {
    "google_forms": "timestamp",
    "typeform": "submit date utc",
    "jotform": "submission date",
    "meta_lead_ads": "created time",
    "eventbrite": "order date",
}
# Meta lead ads prefix values with their type ("p:+61...", "l:12345").
_TYPE_PREFIX = re.compile(r"^[a-z]{1,2}:(?!//)")


class FormExportError(Exception):
    """The whole file cannot be read; the message names the file and what to do."""

    def __init__(self, file_name: str, problem: str) -> None:
        super().__init__(f"{file_name}: {problem}")
        self.file_name = file_name
        self.problem = problem


@dataclass
class FormRow:
    row_number: int
    fields: dict[str, str]
    answers: dict[str, str]


@dataclass
class RowProblem:
    row_number: int
    reason: str
    cells: list[str]


@dataclass
class FormExport:
    file_name: str
    content_hash: str
    encoding: str
    delimiter: str
    layout: str
    columns: dict[str, str]
    rows: list[FormRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def list_exports(inbox: Path) -> list[Path]:
    """Every CSV in the inbox, in name order."""
    if not inbox.is_dir():
        return []
    return sorted(p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() == ".csv")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalise_header(header: str) -> str:
    """Lower case, punctuation to spaces, spaces folded: 'What's your e-mail?' -> 'what s your e mail'."""
    text = re.sub(r"[^0-9a-z#]+", " ", header.strip().lower().replace("\ufeff", ""))
    return re.sub(r"\s+", " ", text).strip()


def read_form_export(path: Path, column_map: dict[str, str] | None = None) -> FormExport:
    """Read one export. Raises FormExportError when the file as a whole is unusable; bad
    rows are returned in `problems` and the good rows still load."""
    data = path.read_bytes()
    name = path.name
    if not data.strip():
        raise FormExportError(name, "the file is empty; export it again from the form tool")
    text, encoding = decode(data, name)
    delimiter = sniff_delimiter(text)
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not records or not any(cell.strip() for cell in records[0]):
        raise FormExportError(name, "the first line holds no column headers")
    headers = [h.replace("\ufeff", "").strip() for h in records[0]]
    if column_map:
        missing = [h for h in column_map.values() if h not in headers]
        if missing:
            raise FormExportError(
                name,
                f"the configured column map names column(s) the file does not have: "
                f"{', '.join(repr(h) for h in missing)}; fix the map in the forms configuration",
            )
    layout, columns = recognise(headers, column_map)
    if layout is None:
        shown = ", ".join(repr(_masked(h)) for h in headers[:8]) + (
            " ..." if len(headers) > 8 else ""
        )
        raise FormExportError(
            name,
            f"unknown header layout (columns {shown}); no email or name column was "
            "recognised. Map its columns in the forms configuration, or re-export it from "
            "Google Forms, Typeform or as First name / Last name / Email / Phone.",
        )
    export = FormExport(name, content_hash(data), encoding, delimiter, layout, columns)
    keys = unique_keys(headers)
    index = {keys[i]: i for i in range(len(keys))}
    for row_number, cells in enumerate(records[1:], start=1):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(headers) and any(c.strip() for c in cells[len(headers) :]):
            export.problems.append(
                RowProblem(
                    row_number,
                    f"row has {len(cells)} cells but the header has {len(headers)} columns "
                    "(a stray delimiter or an unquoted line break)",
                    cells,
                )
            )
            continue
        padded = cells + [""] * (len(headers) - len(cells))
        answers = {key: padded[index[key]].strip() for key in keys}
        fields = {f: answers[keys[headers.index(h)]] for f, h in columns.items()}
        if layout == "meta_lead_ads":
            fields = {f: _TYPE_PREFIX.sub("", v) for f, v in fields.items()}
        export.rows.append(FormRow(row_number, fields, answers))
    return export


def _masked(header: str) -> str:
    """A file with no header row puts a person's details where headers should be: never
    repeat an address or a number in a message."""
    if "@" in header or sum(ch.isdigit() for ch in header) >= 6:
        return "<hidden: looks like personal data>"
    return header


def decode(data: bytes, file_name: str) -> tuple[str, str]:
    """Text and the encoding used: a BOM decides; else UTF-8, else Windows-1252."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError as exc:
                raise _undecodable(file_name, data, exc, codec) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise _undecodable(file_name, data, exc, "UTF-8 or Windows-1252") from None


def _undecodable(
    file_name: str, data: bytes, exc: UnicodeDecodeError, tried: str
) -> FormExportError:
    line = data[: exc.start].count(b"\n") + 1
    return FormExportError(
        file_name,
        f"byte 0x{data[exc.start]:02x} on line {line} (offset {exc.start}) is not valid "
        f"{tried}; open the file in a spreadsheet and save it again as 'CSV UTF-8'",
    )


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon (some locales' Excel) or tab (some lead-ad downloads)."""
    first_line = text.split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def recognise(
    headers: list[str], column_map: dict[str, str] | None = None
) -> tuple[str | None, dict[str, str]]:
    """The layout name and {canonical field: header}; (None, {}) when nothing fits."""
    normal = [normalise_header(h) for h in headers]
    if column_map:
        return "configured", dict(column_map)
    present = set(normal)
    if normal and normal[0] == "#" and {"submit date utc", "network id"} <= present:
        layout = "typeform"
    elif normal and normal[0] == "timestamp" and any("email" in h for h in normal):
        layout = "google_forms"
    elif normal and normal[0] == "submission date":
        layout = "jotform"
    elif {"created time", "ad id", "form id"} <= present:
        layout = "meta_lead_ads"
    elif "order #" in present and ({"attendee status", "ticket type"} & present):
        layout = "eventbrite"
    else:
        layout = "plain"
    columns = match_fields(headers, normal)
    stamp = SUBMITTED_AT_HEADERS.get(layout)
    if stamp and stamp in normal:
        columns["submitted_at"] = headers[normal.index(stamp)]
    has_contact = "email" in columns or "phone" in columns
    has_name = bool({"given_name", "family_name", "full_name"} & columns.keys())
    if layout == "plain" and not (has_contact and has_name):
        return None, {}
    if not has_contact:
        return None, {}
    return layout, columns


def match_fields(headers: list[str], normal: list[str]) -> dict[str, str]:
    """Claim each header for at most one field, the first pattern that fits."""
    claimed: set[int] = set()
    columns: dict[str, str] = {}
    for name, pattern in FIELD_PATTERNS:
        for i, header in enumerate(normal):
            if i not in claimed and pattern.search(header):
                columns[name] = headers[i]
                claimed.add(i)
                break
    return columns


def unique_keys(headers: list[str]) -> list[str]:
    """Headers made unique (Google Forms repeats question texts): 'Name', 'Name (2)'."""
    seen: dict[str, int] = {}
    keys = []
    for header in headers:
        seen[header] = seen.get(header, 0) + 1
        keys.append(header if seen[header] == 1 else f"{header} ({seen[header]})")
    return keys
