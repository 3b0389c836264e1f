"""Form exports (CSV) from the inbox: encoding (per line when a file mixes UTF-8 and
Windows-1252) and delimiter sniffed, the common exporters' header layouts recognised, every
row yielded with its file name and 1-based row number."""

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
RESAVE = "open the file in a spreadsheet and save it again as 'CSV UTF-8'"
# A well-formed multi-byte UTF-8 sequence. Windows-1252 text almost never forms one, so a
# file with one that still fails as UTF-8 is a mix of the two, not Windows-1252.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
# Lines as csv sees them: ended by \r\n, \r or \n. Both candidate encodings are ASCII
# supersets, so these bytes are line ends whatever the line's encoding.
_PHYSICAL_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


class FormExportError(Exception):
    """The whole file cannot be read; the message names the file and what to do."""

    def __init__(self, file_name: str, problem: str) -> None:
        super().__init__(f"{file_name}: {problem}")
        self.file_name = file_name
        self.problem = problem


@dataclass
class Record:
    """One CSV record and the 1-based physical lines it spans."""

    first_line: int
    last_line: int
    cells: list[str]


@dataclass
class LineFault:
    """A line valid in neither UTF-8 nor Windows-1252: where, and which byte (a byte value
    and a position, never the text around it)."""

    line: int
    offset: int
    byte: int

    def describe(self) -> str:
        return (
            f"byte 0x{self.byte:02x} on line {self.line} (offset {self.offset}) is neither "
            "UTF-8 nor Windows-1252"
        )


@dataclass
class Decoded:
    lines: list[str]
    encoding: str
    faults: dict[int, LineFault] = field(default_factory=dict)

    @classmethod
    def whole(cls, text: str, encoding: str) -> Decoded:
        # StringIO splits lines exactly as csv expects (\r\n, \r or \n, kept on the line).
        return cls(io.StringIO(text, newline="").readlines(), encoding)

    def fault_in(self, record: Record) -> LineFault | None:
        """The first undecodable line among those the record spans."""
        for line in range(record.first_line, record.last_line + 1):
            if line in self.faults:
                return self.faults[line]
        return None


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
    decoded = decode(data, name)
    delimiter = sniff_delimiter(decoded.lines[0] if decoded.lines else "")
    records = parse_records(decoded.lines, delimiter, name)
    if not records or not any(cell.strip() for cell in records[0].cells):
        raise FormExportError(name, "the first line holds no column headers")
    header_fault = decoded.fault_in(records[0])
    if header_fault:
        raise FormExportError(name, f"{header_fault.describe()}, in the header; {RESAVE}")
    headers = [h.replace("\ufeff", "").strip() for h in records[0].cells]
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
    export = FormExport(name, content_hash(data), decoded.encoding, delimiter, layout, columns)
    keys = unique_keys(headers)
    index = {keys[i]: i for i in range(len(keys))}
    for row_number, record in enumerate(records[1:], start=1):
        cells = record.cells
        if not any(cell.strip() for cell in cells):
            continue
        problem = row_problem(record, headers, decoded)
        if problem:
            export.problems.append(RowProblem(row_number, problem, cells))
            continue
        padded = cells + [""] * (len(headers) - len(cells))
        answers = {key: padded[index[key]].strip() for key in keys}
        fields = {f: answers[keys[headers.index(h)]] for f, h in columns.items()}
        if layout == "meta_lead_ads":
            fields = {f: _TYPE_PREFIX.sub("", v) for f, v in fields.items()}
        export.rows.append(FormRow(row_number, fields, answers))
    return export


def row_problem(record: Record, headers: list[str], decoded: Decoded) -> str | None:
    """Why a data row cannot load, or None. The reason carries counts and byte values only,
    never a cell: it is shown in logs (rule 5)."""
    fault = decoded.fault_in(record)
    if fault:
        return f"{fault.describe()}; {RESAVE}"
    cells = record.cells
    if len(cells) > len(headers) and any(c.strip() for c in cells[len(headers) :]):
        return (
            f"row has {len(cells)} cells but the header has {len(headers)} columns "
            "(a stray delimiter or an unquoted line break)"
        )
    return None


def parse_records(lines: list[str], delimiter: str, file_name: str) -> list[Record]:
    """CSV records with the physical lines each spans: a quoted cell may hold line breaks,
    and an undecodable line must be traced to the row it belongs to."""
    reader = csv.reader(lines, delimiter=delimiter)
    records: list[Record] = []
    first = 1
    try:
        for cells in reader:
            records.append(Record(first, reader.line_num, cells))
            first = reader.line_num + 1
    except csv.Error as exc:
        # Typically a stray double quote that swallows the rest of the file into one cell:
        # refuse this file by name rather than stop the whole inbox.
        raise FormExportError(
            file_name,
            f"the row starting on line {first} cannot be read: {exc}. A double quote there "
            "is probably not closed; fix it and drop the file in again.",
        ) from None
    return records


def _masked(header: str) -> str:
    """A file with no header row puts a person's details where headers should be: never
    repeat an address or a number in a message."""
    if "@" in header or sum(ch.isdigit() for ch in header) >= 6:
        return "<hidden: looks like personal data>"
    return header


def decode(data: bytes, file_name: str) -> Decoded:
    """The file as lines, in one encoding when it has one: a BOM decides; else UTF-8; else
    Windows-1252 when no UTF-8 sequence appears. Anything else is a UTF-8 export with
    lines appended in Excel: each line is decoded on its own."""
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return Decoded.whole(data.decode(codec), codec)
            except UnicodeDecodeError as exc:
                raise _undecodable(file_name, data, exc, codec) from None
    codec = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    try:
        return Decoded.whole(data.decode(codec), codec)
    except UnicodeDecodeError:
        pass
    if codec == "utf-8" and not _UTF8_SEQUENCE.search(data):
        try:
            return Decoded.whole(data.decode("cp1252"), "cp1252")
        except UnicodeDecodeError:
            pass
    return decode_lines(data)


def decode_lines(data: bytes) -> Decoded:
    """Each physical line as UTF-8, else Windows-1252. A line that is neither is kept,
    decoded with replacement characters so the CSV structure survives, and its row is
    quarantined rather than the file refused."""
    bom = data.startswith(codecs.BOM_UTF8)
    lines = _PHYSICAL_LINE.finditer(data, len(codecs.BOM_UTF8) if bom else 0)
    decoded = Decoded([], "")
    used: set[str] = set()
    for number, line in enumerate(lines, start=1):
        text, codec, bad_at = _decode_line(line.group())
        decoded.lines.append(text)
        if codec:
            used.add(codec)
        if bad_at is not None:
            # Offsets count from the start of the file, BOM included, as a hex editor does.
            offset = line.start() + bad_at
            decoded.faults[number] = LineFault(number, offset, data[offset])
    decoded.encoding = _mixed_label(bom, used)
    return decoded


def _decode_line(raw: bytes) -> tuple[str, str | None, int | None]:
    """(text, the codec a non-ASCII line needed, index of the byte neither codec takes)."""
    try:
        return raw.decode("utf-8"), None if raw.isascii() else "utf-8", None
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252", None
    except UnicodeDecodeError as exc:
        return raw.decode("utf-8", errors="replace"), None, exc.start


def _mixed_label(bom: bool, used: set[str]) -> str:
    """'utf-8+cp1252', 'utf-8-sig+cp1252'; just 'cp1252' when no line needed UTF-8."""
    labels = []
    if bom or "utf-8" in used or "cp1252" not in used:
        labels.append("utf-8-sig" if bom else "utf-8")
    if "cp1252" in used:
        labels.append("cp1252")
    return "+".join(labels)


def _undecodable(
    file_name: str, data: bytes, exc: UnicodeDecodeError, tried: str
) -> FormExportError:
    line = data[: exc.start].count(b"\n") + 1
    return FormExportError(
        file_name,
        f"byte 0x{data[exc.start]:02x} on line {line} (offset {exc.start}) is not valid "
        f"{tried}; {RESAVE}",
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
