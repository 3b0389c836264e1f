"""Form exports (CSV) from the inbox: encoding (per line when a file mixes UTF-8 and
Windows-1252; UTF-16 with or without a byte order mark) and delimiter sniffed, the common
exporters' header layouts recognised, every row yielded with its file name and 1-based row
number. Parsing is strict: a double quote that does not close quarantines the row it opens
in and the lines after it still load. No message ever repeats a cell value."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

PLATFORM = "Form exports"

# A question asking to keep in touch: consent to contact. Questions about terms, privacy
# or photos state no such wish and stay plain answers.
_CONSENT_INTENT = (
    r"\bkeep (me|you|us) (updated|informed|posted|in the loop)\b|\bsubscribe\b"
    r"|\bnewsletters?\b|\bopt ?in\b|\b(may|can|could) we (contact|e ?mail|text|sms|message)\b"
    r"|\b(may|can|could) we send you (e ?mails?|texts?|sms|text messages?|updates|news)\b"
    r"|\bok(ay)? to (contact|e ?mail|text|sms|message)\b"
    # "Email me" or "Email me updates", never "Email me a copy of my responses".
    r"|^(please )?(e ?mail|text) me$|\b(e ?mail|text) me (updates|news|about)\b"
    r"|\bhear (more )?from (you|us)\b|\bmailing list\b|\bstay in touch\b"
    r"|\b(receive|get) (e ?mails?|texts?|sms|text messages?|updates|news)\b"
    r"|\b(e ?mail|sms|text|marketing|contact) (consent|permission)s?\b|\bconsent to (be )?contact"
)
_SMS_WORD = r"\b(sms|texts?|texted|texting|text messages?)\b"
_EMAIL_WORD = r"\b(e ?mails?|newsletters?|mailing list)\b"
_CALL_WORD = r"\b(call|calls|phone|ring|whatsapp)\b"
# Consent and permission questions ("Can we text you on this number?", "May we call your
# mobile?") are never a contact, name or postal column, whatever words they hold.
CONTACT_QUESTION = re.compile(
    rf"{_CONSENT_INTENT}|\b(may|can|could) we (call|phone|ring)\b|\bok(ay)? to (call|phone|ring)\b"
)
# Canonical fields, in the order headers are claimed: consent questions first ("Keep me
# updated by email" is not the address), then "Email address" as the email before the
# address rule sees it.
FIELD_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("consent_sms", re.compile(rf"^(?=.*(?:{_CONSENT_INTENT}))(?=.*{_SMS_WORD})")),
    # A consent question naming no channel counts as email; one about calls counts as neither.
    (
        "consent_email",
        re.compile(
            rf"^(?=.*(?:{_CONSENT_INTENT}))"
            rf"(?:(?=.*{_EMAIL_WORD})|(?!.*(?:{_SMS_WORD}|{_CALL_WORD})))"
        ),
    ),
    # Before email: "Who referred you? (name, email or code)" is not the person's address.
    ("referred_by", re.compile(r"\b(who referred|referred by|referral|invited by|who invited)\b")),
    ("email", re.compile(r"\be ?mail\b")),
    ("given_name", re.compile(r"\b(first|given|preferred) ?name\b|^first$")),
    ("family_name", re.compile(r"\b(last|family|sur) ?name\b|^surname$|^last$")),
    ("full_name", re.compile(r"\bfull ?name\b|^name$|^your name$")),
    ("phone", re.compile(r"\b(phone|mobile|cell)\b")),
    ("postal_code", re.compile(r"\b(post ?code|postal ?code|zip ?(code)?)\b")),
    ("address", re.compile(r"\b(street )?address\b|^street$")),
    ("locality", re.compile(r"\b(city|suburb|town|locality)\b")),
    ("region", re.compile(r"^(state|region|province|county)\b|\bstate\b")),
    ("heard_about", re.compile(r"\bhow did you (hear|find)\b")),
    ("volunteer", re.compile(r"\b(volunteer|help with|get involved)\b")),
    ("attended", re.compile(r"\b(attendee status|checked in|check in|attended)\b")),
]
CONSENT_FIELDS = ("consent_email", "consent_sms")
NAME_FIELDS = ("given_name", "family_name", "full_name")
CONTACT_FIELDS = ("email", "phone")
POSTAL_FIELDS = ("address", "locality", "region", "postal_code")
# Fields a consent or permission question is never claimed for.
PERSON_FIELDS = (*CONTACT_FIELDS, *NAME_FIELDS, *POSTAL_FIELDS)
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
# NUL bytes (a file cut short or converted badly) and the other C0 control characters never
# belong in a name or an address; tab and line breaks may, inside a quoted answer.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A first line holding an address or a phone number is a person, not column headers.
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_LIKE = re.compile(r"\+?[\d\s().\-/]{7,}")
# ... and so is one holding a street address ("12 Main St"): typed-up sign-in sheets
# without a header row have no email or phone to give them away.
_STREET_LIKE = re.compile(
    r"\d+[a-z]?([-/]\d+[a-z]?)?,?\s+([a-z'.-]+\s+){1,4}(st|street|rd|road|ave|avenue|dr|"
    r"drive|ln|lane|ct|court|pl|place|blvd|boulevard|way|tce|terrace|cres|crescent|hwy|"
    r"highway|pde|parade|cl|close|sq|square|pkwy|parkway|cir|circle)\.?(\s+[nsew]{1,2})?",
    re.IGNORECASE,
)
# A row with none of these filled holds nobody to resolve.
IDENTITY_FIELDS = ("email", "phone", "given_name", "family_name", "full_name")
# Where the second value of a duplicated email column goes (an alternative address).
ALT_EMAIL = "alt_email"


class FormExportError(Exception):
    """The whole file cannot be read; the message names the file and what to do."""

    def __init__(self, file_name: str, problem: str) -> None:
        super().__init__(f"{file_name}: {problem}")
        self.file_name = file_name
        self.problem = problem


@dataclass
class Record:
    """One CSV record and the 1-based physical lines it spans; `problem` when the record
    could not be parsed (a double quote that does not close)."""

    first_line: int
    last_line: int
    cells: list[str]
    problem: str | None = None

    def lines(self) -> str:
        """'line 3' or 'lines 3-5', for messages."""
        if self.first_line == self.last_line:
            return f"line {self.first_line}"
        return f"lines {self.first_line}-{self.last_line}"


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
    # File-level notes for the log: column names and counts only, never a cell value.
    warnings: list[str] = field(default_factory=list)
    duplicate_columns: int = 0
    rows_cleaned: int = 0
    # The worksheet, for an export read from a workbook (connectors/spreadsheets.py).
    sheet: str | None = None

    @property
    def stored_name(self) -> str:
        """The name rows are kept under: 'book.xlsx:Sheet1' for a sheet (Excel allows no
        ':' in a sheet name), so each sheet's row numbers stay distinct."""
        return self.file_name if self.sheet is None else f"{self.file_name}:{self.sheet}"

    @property
    def where(self) -> str:
        """The file, and the sheet when there is one, for messages."""
        return self.file_name if self.sheet is None else f"{self.file_name} sheet {self.sheet!r}"


EXPORT_SUFFIXES = (".csv", ".xlsx")


def list_exports(inbox: Path) -> list[Path]:
    """Every CSV and Excel workbook in the inbox, in name order. Excel's '~$' lock files
    (left while a workbook is open) are not exports."""
    if not inbox.is_dir():
        return []
    return sorted(
        p
        for p in inbox.iterdir()
        if p.is_file() and p.suffix.lower() in EXPORT_SUFFIXES and not p.name.startswith("~$")
    )


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
    records = parse_records(decoded.lines, delimiter)
    headers = read_headers(records, decoded, name)
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
        raise FormExportError(name, refusal(columns, headers, "line 1"))
    export = FormExport(name, content_hash(data), decoded.encoding, delimiter, layout, columns)
    duplicates = duplicate_columns(headers)
    export.duplicate_columns = sum(len(group) - 1 for group in duplicates)
    export.warnings.extend(describe_duplicates(headers, duplicates, columns))
    read_rows(export, records[1:], headers, decoded, email_columns(headers, columns))
    repair_misfiled(export)
    if export.rows_cleaned:
        export.warnings.append(
            f"removed NUL bytes or other control characters from {export.rows_cleaned} "
            "row(s) that loaded; the file was probably cut short or converted badly, so "
            "check it in a spreadsheet"
        )
    return export


def read_headers(records: list[Record], decoded: Decoded, file_name: str) -> list[str]:
    """The header row, cleaned; refuses a file whose first line is missing, unreadable or a
    person's details. Messages name positions, never the cells."""
    if not records:
        raise FormExportError(file_name, "the first line holds no column headers")
    first = records[0]
    if first.problem:
        raise FormExportError(
            file_name,
            "the header row on line 1 has a double quote that does not close; fix the "
            "quote in a text editor and drop the file in again",
        )
    headers = [strip_controls(h).replace("\ufeff", "").strip() for h in first.cells]
    if not any(headers):
        raise FormExportError(file_name, "the first line holds no column headers")
    fault = decoded.fault_in(first)
    if fault:
        raise FormExportError(file_name, f"{fault.describe()}, in the header; {RESAVE}")
    personal = [i + 1 for i, h in enumerate(headers) if looks_like_person(h)]
    if personal:
        raise FormExportError(
            file_name,
            f"line 1 looks like a person's details, not column headers (column "
            f"{personal[0]} holds an email address, a phone number or a street address); "
            "add a header row such as First name,Last name,Email,Phone above it, or export "
            "the file again with its headers",
        )
    return headers


def looks_like_person(cell: str) -> bool:
    """An email address, a phone number or a street address: a value, never a header."""
    return looks_like_contact(cell) or bool(_STREET_LIKE.fullmatch(cell.strip()))


def looks_like_contact(cell: str) -> bool:
    """An email address or a phone number: a value, never a column header."""
    if _EMAIL_LIKE.fullmatch(cell):
        return True
    return bool(_PHONE_LIKE.fullmatch(cell)) and sum(ch.isdigit() for ch in cell) >= 7


def strip_controls(cell: str) -> str:
    """The cell without NUL bytes and other control characters (tab and line breaks stay)."""
    return _CONTROL.sub("", cell) if _CONTROL.search(cell) else cell


def read_rows(
    export: FormExport,
    records: list[Record],
    headers: list[str],
    decoded: Decoded,
    emails: list[int],
) -> None:
    """Every data record into `rows`, or into `problems` with a reason that names its
    lines and what to do. Row numbers are 1-based data rows, header excluded."""
    keys = unique_keys(headers)
    positions = {f: headers.index(h) for f, h in export.columns.items()}
    # Most files hold no control character at all: look once, not in every cell.
    dirty = any(_CONTROL.search(line) for line in decoded.lines)
    for row_number, record in enumerate(records, start=1):
        cells = [strip_controls(cell) for cell in record.cells] if dirty else record.cells
        cleaned = dirty and cells != record.cells
        if record.problem is None and not cleaned and not any(c.strip() for c in cells):
            continue  # an empty line
        problem = record.problem or row_problem(record, headers, decoded, export.delimiter)
        row = None
        if problem is None:
            row = build_row(export.layout, row_number, cells, keys, positions, emails)
            if cleaned and not any(row.fields.get(f) for f in IDENTITY_FIELDS):
                problem = (
                    f"row has no email, phone or name once NUL bytes and control characters "
                    f"are removed ({record.lines()}), so it was not loaded; fix that line or "
                    "export the file again"
                )
        if row is None or problem is not None:
            export.problems.append(RowProblem(row_number, problem or "", cells))
            continue
        export.rows_cleaned += cleaned
        export.rows.append(row)


def build_row(
    layout: str,
    row_number: int,
    cells: list[str],
    keys: list[str],
    positions: dict[str, int],
    emails: list[int],
) -> FormRow:
    """One loadable row: every answer by its unique column key, the canonical fields from
    the columns the layout claimed, and a second address when the email column repeats."""
    padded = cells + [""] * (len(keys) - len(cells))
    answers = {key: padded[i].strip() for i, key in enumerate(keys)}
    fields = {f: padded[i].strip() for f, i in positions.items()}
    if len(emails) > 1:
        fields.update(choose_emails([padded[i].strip() for i in emails]))
    if layout == "meta_lead_ads":
        fields = {f: _TYPE_PREFIX.sub("", v) for f, v in fields.items()}
    return FormRow(row_number, fields, answers)


def repair_misfiled(export: FormExport) -> None:
    """An email address or phone number in a name, postal or consent column (a shifted
    column, a wrong header, a detail written in the wrong box) is never loaded there: it
    becomes the row's email (phone) when the row has none, else it stays only among the
    answers. Other values load as before. One warning per column, counts only."""
    # Consent columns too: "Email address (we'll add you to our newsletter)" reads as a
    # consent question, but answers that are addresses are the person's email.
    for name in (*NAME_FIELDS, *POSTAL_FIELDS, *CONSENT_FIELDS):
        header = export.columns.get(name)
        if header is None:
            continue
        filled = sum(1 for row in export.rows if row.fields.get(name))
        for contact, (found, moved) in take_misfiled(export, name).items():
            if moved and contact not in export.columns:
                export.columns[contact] = header  # the file's only source of this contact
            export.warnings.append(misfiled_note(header, name, contact, filled, found, moved))


def take_misfiled(export: FormExport, name: str) -> dict[str, tuple[int, int]]:
    """Move the email and phone values out of field `name`: {contact: (found, moved)}."""
    found = dict.fromkeys(CONTACT_FIELDS, 0)
    moved = dict.fromkeys(CONTACT_FIELDS, 0)
    for row in export.rows:
        value = row.fields.get(name, "")
        contact = misfiled_as(name, value) if value else None
        if contact is None:
            continue
        del row.fields[name]
        found[contact] += 1
        if not row.fields.get(contact):
            row.fields[contact] = value
            moved[contact] += 1
    return {c: (found[c], moved[c]) for c in CONTACT_FIELDS if found[c]}


def misfiled_as(name: str, value: str) -> str | None:
    """'email' or 'phone' when a value of field `name` is really that; None otherwise. A
    postcode needs ten digits to be a phone (a US ZIP+4 has nine)."""
    if _EMAIL_LIKE.fullmatch(value):
        return "email"
    digits = sum(ch.isdigit() for ch in value)
    if _PHONE_LIKE.fullmatch(value) and digits >= (10 if name == "postal_code" else 7):
        return "phone"
    return None


def misfiled_note(header: str, name: str, contact: str, filled: int, found: int, moved: int) -> str:
    """The warning for a column holding contacts: its header and counts, never a value."""
    kind = "email addresses" if contact == "email" else "phone numbers"
    kept = found - moved
    return (
        f"column {header!r} was read as {name}, but {found} of its {filled} filled values "
        f"are {kind}: none of them was loaded as {name}; {moved} became the row's {contact} "
        f"(the row had none) and {kept} stayed only among the answers (the row had "
        f"{'one' if contact == 'email' else 'a number'} already). Correct the column's header "
        "in the form tool or sheet (or map it under column_maps in FORMS_CONFIG) and drop "
        "the file in again"
    )


def choose_emails(values: list[str]) -> dict[str, str]:
    """The email and an alternative address from a repeated email column: the first value
    that looks like an address is the email, the next different one the alternative."""
    filled = [v for v in values if v]
    addresses = [v for v in filled if "@" in v]
    ordered = addresses + [v for v in filled if "@" not in v]
    chosen = {"email": ordered[0] if ordered else ""}
    others = [v for v in addresses[1:] if v.lower() != chosen["email"].lower()]
    if others:
        chosen[ALT_EMAIL] = others[0]
    return chosen


def duplicate_columns(headers: list[str]) -> list[list[int]]:
    """Groups of column positions (0-based) whose headers read the same once normalised."""
    groups: dict[str, list[int]] = {}
    for i, header in enumerate(headers):
        key = normalise_header(header)
        if key:  # blank headers (trailing empty columns) are not duplicates of anything
            groups.setdefault(key, []).append(i)
    return [group for group in groups.values() if len(group) > 1]


def describe_duplicates(
    headers: list[str], groups: list[list[int]], columns: dict[str, str]
) -> list[str]:
    """One warning per repeated header, naming the columns (header text and positions) and
    which value is read; headers only, never a cell."""
    claimed = {header: name for name, header in columns.items()}
    keys = unique_keys(headers)
    notes = []
    for group in groups:
        positions = ", ".join(str(i + 1) for i in group[:-1]) + f" and {group[-1] + 1}"
        first = headers[group[0]]
        later = ", ".join(repr(keys[i]) for i in group[1:])
        role = claimed.get(first)
        if role == "email":
            use = (
                "the first filled address is read as the email and a second, different "
                f"one is kept as an alternative address (answers {later})"
            )
        elif role:
            use = f"the first is read as {role}, the others kept among the answers as {later}"
        else:
            use = f"all are kept among the answers, the later ones as {later}"
        notes.append(
            f"columns {positions} are all named {first!r}: {use}. Rename or remove the extra "
            "column in the form tool if that is not what you want"
        )
    return notes


def email_columns(headers: list[str], columns: dict[str, str]) -> list[int]:
    """Positions of the email column and of every column repeating its header."""
    header = columns.get("email")
    if header is None or header not in headers:
        return []
    target = normalise_header(header)
    first = headers.index(header)
    return [first] + [
        i for i, h in enumerate(headers) if i != first and normalise_header(h) == target
    ]


def row_problem(
    record: Record, headers: list[str], decoded: Decoded, delimiter: str = ","
) -> str | None:
    """Why a data row cannot load, or None. The reason carries counts and byte values only,
    never a cell: it is shown in logs (rule 5)."""
    fault = decoded.fault_in(record)
    if fault:
        return f"{fault.describe()}; {RESAVE}"
    swallowed = rows_inside(record, headers, decoded, delimiter)
    if swallowed:
        return (
            f"the row starting on line {record.first_line} holds a quoted cell that runs on "
            f"over {record.lines()}, and {swallowed} of those lines look like rows of their "
            "own (two stray double quotes), so all of them were set aside rather than "
            "merged into one person; fix the quotes and drop the file in again"
        )
    cells = record.cells
    if len(cells) > len(headers) and any(c.strip() for c in cells[len(headers) :]):
        return (
            f"row has {len(cells)} cells but the header has {len(headers)} columns "
            f"(a stray delimiter or an unquoted line break) on {record.lines()}; fix that "
            "line and drop the file in again"
        )
    return None


def rows_inside(record: Record, headers: list[str], decoded: Decoded, delimiter: str) -> int:
    """How many of a multi-line record's continuation lines hold a whole row's worth of
    delimiters: a line break inside a real answer (an address, a comment) rarely does, the
    rows a pair of stray quotes swallowed always do. 0 for files of fewer than 3 columns."""
    if record.last_line == record.first_line or len(headers) < 3:
        return 0
    continued = decoded.lines[record.first_line : record.last_line]
    return sum(1 for line in continued if line.count(delimiter) >= len(headers) - 1)


def parse_records(lines: list[str], delimiter: str) -> list[Record]:
    """CSV records with the physical lines each spans, parsed strictly: a quoted cell may
    hold line breaks, but a double quote that does not close makes its first line a bad
    record and reading resumes on the next line, so one stray quote costs one row."""
    records: list[Record] = []
    start = 0  # lines consumed so far
    while start < len(lines):
        reader = csv.reader(itertools.islice(lines, start, None), delimiter=delimiter, strict=True)
        first = start + 1
        try:
            for cells in reader:
                records.append(Record(first, start + reader.line_num, cells))
                first = start + reader.line_num + 1
            return records
        except csv.Error as exc:
            reached = start + reader.line_num
            records.append(unclosed_quote(lines[first - 1], first, reached, delimiter, exc))
            start = first
    return records


def unclosed_quote(line: str, first: int, reached: int, delimiter: str, exc: csv.Error) -> Record:
    """The bad record a stray double quote leaves: its first line alone, split on the
    delimiter without quoting so the quarantine keeps what it held."""
    if "end of data" in str(exc):
        where = "it runs on to the end of the file"
    elif reached > first:
        where = f"it runs on to line {reached}"
    else:
        where = "text follows its closing quote"
    problem = (
        f"the row starting on line {first} has a double quote that does not close its "
        f"cell ({where}); only line {first} was set aside and the lines after it loaded. "
        "Fix the quote and drop the file in again"
    )
    cells = next(csv.reader([line], delimiter=delimiter, quoting=csv.QUOTE_NONE), [])
    return Record(first, first, cells, problem)


def decode(data: bytes, file_name: str) -> Decoded:
    """The file as lines, in one encoding when it has one: a byte order mark decides, or
    UTF-16's NUL pattern; else UTF-8; else Windows-1252 when no UTF-8 sequence appears.
    Anything else is a UTF-8 export with lines appended in Excel: each line is decoded on
    its own."""
    utf16 = utf16_codec(data)
    if utf16:
        try:
            return Decoded.whole(data.decode(utf16), utf16)
        except UnicodeDecodeError as exc:
            raise _undecodable(file_name, data, exc, utf16) from None
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


def utf16_codec(data: bytes) -> str | None:
    """The UTF-16 codec for a file with a UTF-16 byte order mark or, without one, with
    UTF-16's NUL pattern; None for anything else."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if data.startswith(codecs.BOM_UTF8):
        return None
    return utf16_without_bom(data)


def utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when the bytes have UTF-16's NUL pattern, else None.
    Text in UTF-16 puts a NUL beside every ASCII character (headers, delimiters, line
    ends), all on one side of each byte pair; stray NULs in a UTF-8 file fall on both."""
    sample = data[:4096]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even = sample[0 : pairs * 2 : 2].count(0)
    odd = sample[1 : pairs * 2 : 2].count(0)
    if odd >= pairs * 0.1 and even * 10 <= odd:
        return "utf-16-le"
    if even >= pairs * 0.1 and odd * 10 <= even:
        return "utf-16-be"
    return None


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
    """The layout name and {canonical field: header}. The layout is None when the headers
    hold neither a name nor an email or phone column; the columns then say what was
    recognised, for the refusal message (refusal())."""
    normal = [normalise_header(h) for h in headers]
    if column_map:
        return "configured", dict(column_map)
    layout = exporter_layout(normal)
    columns = match_fields(headers, normal)
    stamp = SUBMITTED_AT_HEADERS.get(layout)
    if stamp and stamp in normal:
        columns["submitted_at"] = headers[normal.index(stamp)]
    has_contact = any(f in columns for f in CONTACT_FIELDS)
    has_name = any(f in columns for f in NAME_FIELDS)
    if not (has_contact or has_name):
        return None, columns
    if layout == "plain" and not has_contact:
        # Typed-up paper: names, often a postal address, no email or phone.
        layout = "sign_in_sheet"
    return layout, columns


def exporter_layout(normal: list[str]) -> str:
    """Which form tool wrote these (normalised) headers; 'plain' for any other sheet."""
    present = set(normal)
    first = normal[0] if normal else ""
    if first == "#" and {"submit date utc", "network id"} <= present:
        return "typeform"
    if first == "timestamp":
        return "google_forms"  # with or without the collected "Email address"
    if first == "submission date":
        return "jotform"
    if {"created time", "ad id", "form id"} <= present:
        return "meta_lead_ads"
    if "order #" in present and ({"attendee status", "ticket type"} & present):
        return "eventbrite"
    return "plain"


def match_fields(headers: list[str], normal: list[str]) -> dict[str, str]:
    """Claim each header for at most one field, the first pattern that fits. A consent
    question is never claimed as a contact, name or postal column, and one naming both
    channels ("by email or text") is claimed for both consent fields."""
    claimed: dict[int, str] = {}
    questions = {i for i, header in enumerate(normal) if CONTACT_QUESTION.search(header)}
    columns: dict[str, str] = {}
    for name, pattern in FIELD_PATTERNS:
        for i, header in enumerate(normal):
            if name in PERSON_FIELDS and i in questions:
                continue
            taken = claimed.get(i)
            if taken and not (taken in CONSENT_FIELDS and name in CONSENT_FIELDS):
                continue
            if pattern.search(header):
                columns[name] = headers[i]
                claimed.setdefault(i, name)
                break
    return columns


def refusal(columns: dict[str, str], headers: list[str], where: str) -> str:
    """Why a header row was not recognised: the columns it did have, by position and
    canonical field (a header row may really be a person, so never its text), and what
    it needs. `where` says which row: 'line 1', 'sheet row 2'."""
    found = [(headers.index(h) + 1, f) for f, h in columns.items() if h in headers]
    listed = ", ".join(f"column {n} as {f}" for n, f in sorted(found)) or "none"
    return (
        f"unknown header layout: among the {sum(1 for h in headers if h)} column headers on "
        f"{where}, neither a name column nor an email or phone column was recognised "
        f"(recognised: {listed}). A file needs a name column (First name, Last name, Full "
        "name or Name) or an email or phone column. Map its columns under column_maps in the "
        "forms configuration (FORMS_CONFIG, default forms.yaml), or re-export it with a "
        "header row such as First name, Last name, Email, Phone, Address, City, State, "
        "Postcode"
    )


def unique_keys(headers: list[str]) -> list[str]:
    """Headers made unique (Google Forms repeats question texts): 'Name', 'Name (2)'."""
    seen: dict[str, int] = {}
    keys = []
    for header in headers:
        seen[header] = seen.get(header, 0) + 1
        keys.append(header if seen[header] == 1 else f"{header} ({seen[header]})")
    return keys
