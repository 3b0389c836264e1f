"""Issue 12, item 3 (connector side): a form's consent questions are read per channel,
`consent_email` and `consent_sms`, with the answer kept exactly as typed; a consent
question is never taken for the email or phone column, and questions that are not about
contact (terms, privacy policy) are not consent. The SQL that reads the answers as yes or
no relies on `$.fields.consent_email` and `$.fields.consent_sms`."""

import json
from pathlib import Path

import pytest

from connectors.forms.config import load_column_maps
from connectors.forms.landing import land_form_exports
from connectors.forms.reader import FORM_FIELDS, read_form_export, recognise

GOOGLE = (
    "Timestamp,Email address,First name,Last name,Phone number,Postcode,"
    "Keep me updated by email?,Can we text you on this number?,How did you hear about us?\n"
    "11/20/2026 14:03:22,ana@example.org,Ana,Lima,(202) 555-0143,20009,Y,yes please,A friend\n"
    "11/20/2026 14:05:00,bo@example.org,Bo,Ng,(202) 555-0144,20010,No thanks,No thanks,\n"
    "11/20/2026 14:07:00,cy@example.org,Cy,Oh,,20011,,,Instagram\n"
    "11/20/2026 14:09:00,di@example.org,Di,Po,(202) 555-0145,20012,Yes,N,\n"
)
TYPEFORM = (
    "#,What's your first name?,What's your last name?,What's your email address?,"
    "What's your phone number?,Would you like us to keep you updated by email?,"
    "Can we send you text messages?,Response Type,Start Date (UTC),Stage Date (UTC),"
    "Submit Date (UTC),Network ID,Tags\n"
    "abc123,Zoë,Müller,zoe@example.org,+12025550100,1,0,completed,2026-11-20 14:00:00,"
    "2026-11-20 14:03:22,2026-11-20 14:03:22,9f8e,\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_google_forms_export_with_both_consent_questions(tmp_path):
    export = read_form_export(write(tmp_path, "google.csv", GOOGLE))
    assert export.layout == "google_forms"
    assert {f: export.columns[f] for f in ("email", "phone", "consent_email", "consent_sms")} == {
        "email": "Email address",
        "phone": "Phone number",
        "consent_email": "Keep me updated by email?",
        "consent_sms": "Can we text you on this number?",
    }
    assert "consent" not in export.columns
    # Answers reach the fields exactly as typed, blanks included: the SQL reads them.
    assert [(r.fields["consent_email"], r.fields["consent_sms"]) for r in export.rows] == [
        ("Y", "yes please"),
        ("No thanks", "No thanks"),
        ("", ""),
        ("Yes", "N"),
    ]
    assert [r.fields["email"] for r in export.rows][:2] == ["ana@example.org", "bo@example.org"]
    assert export.rows[0].fields["phone"] == "(202) 555-0143"


def test_typeform_export_with_both_consent_questions(tmp_path):
    export = read_form_export(write(tmp_path, "typeform.csv", TYPEFORM))
    assert export.layout == "typeform"
    fields = export.rows[0].fields
    assert export.columns["consent_email"] == "Would you like us to keep you updated by email?"
    assert export.columns["consent_sms"] == "Can we send you text messages?"
    assert (fields["consent_email"], fields["consent_sms"]) == ("1", "0")
    assert (fields["email"], fields["phone"]) == ("zoe@example.org", "+12025550100")


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Keep me updated by email?", "consent_email"),
        ("Keep me updated", "consent_email"),
        ("Keep me updated?", "consent_email"),  # no channel named: email
        ("I'd like to hear from you", "consent_email"),
        ("Subscribe to our newsletter", "consent_email"),
        ("Opt-in", "consent_email"),
        ("May we email you?", "consent_email"),
        ("Email me", "consent_email"),
        ("Join our mailing list", "consent_email"),
        ("Can we text you?", "consent_sms"),
        ("Can we text you on this number?", "consent_sms"),
        ("SMS opt-in", "consent_sms"),
        ("May we text you?", "consent_sms"),
        ("OK to text", "consent_sms"),
        ("Receive updates by SMS", "consent_sms"),
    ],
)
def test_consent_questions_by_channel(header, field):
    _, columns = recognise(["First name", "Email", "Phone", header])
    assert columns[field] == header
    other = "consent_sms" if field == "consent_email" else "consent_email"
    assert other not in columns
    assert (columns["email"], columns["phone"]) == ("Email", "Phone")


def test_a_question_naming_both_channels_counts_for_both():
    _, columns = recognise(["Name", "Email", "Keep me updated by email or text"])
    assert columns["consent_email"] == columns["consent_sms"] == "Keep me updated by email or text"
    assert columns["email"] == "Email"


@pytest.mark.parametrize(
    "header",
    [
        "I agree to the privacy policy",
        "I agree to the terms and conditions",
        "I accept the code of conduct",
        "I consent to photos being taken",
        "Can we send you a receipt?",
        "Unsubscribe",
    ],
)
def test_questions_not_about_contact_are_not_consent(header):
    _, columns = recognise(["First name", "Email", header])
    assert not {"consent", "consent_email", "consent_sms"} & columns.keys()


def test_a_consent_column_never_becomes_the_email_or_phone(tmp_path):
    # Consent questions first, the real contact columns after: before issue 12, "Can we
    # text you on this number?" came after a consent already claimed, and "Can we call
    # your mobile?" was the phone.
    text = (
        "Email me,Can we text you on this number?,Can we call your mobile?,"
        "Keep me updated by email?,Name,Email,Mobile\n"
        "Yes,No,Yes,Y,Ana Lima,ana@example.org,0412 345 678\n"
    )
    export = read_form_export(write(tmp_path, "consent_first.csv", text))
    fields = export.rows[0].fields
    assert (export.columns["email"], export.columns["phone"]) == ("Email", "Mobile")
    assert (fields["email"], fields["phone"]) == ("ana@example.org", "0412 345 678")
    assert (fields["consent_email"], fields["consent_sms"]) == ("Yes", "No")
    # The call question is no consent we record, and stays an answer.
    assert export.rows[0].answers["Can we call your mobile?"] == "Yes"


def test_consent_questions_without_contact_columns_are_no_contact(tmp_path):
    text = (
        "Name,Keep me updated by email?,Can we text you on this number?,Can we contact you "
        "by phone?\nAna Lima,Yes,yes please,No\n"
    )
    export = read_form_export(write(tmp_path, "consent_only.csv", text))
    # Names and no email or phone: a sign-in sheet, whose consent answers still load.
    assert export.layout == "sign_in_sheet"
    assert export.rows[0].fields == {
        "full_name": "Ana Lima",
        "consent_email": "Yes",
        "consent_sms": "yes please",
    }


def test_consent_answers_reach_raw_forms_unchanged(con, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write(inbox, "google.csv", GOOGLE)
    write(inbox, "typeform.csv", TYPEFORM)
    messages, warnings = [], []
    report = land_form_exports(con, inbox, "batch", messages.append, warnings.append)
    assert report.rows_loaded == 5 and report.rows_quarantined == 0 and not warnings
    rows = con.execute(
        "SELECT file_name, row_number, payload ->> '$.fields.consent_email', "
        "payload ->> '$.fields.consent_sms', payload ->> '$.fields.consent' "
        "FROM raw_forms ORDER BY ALL"
    ).fetchall()
    assert rows == [
        ("google.csv", 1, "Y", "yes please", None),
        ("google.csv", 2, "No thanks", "No thanks", None),
        ("google.csv", 3, "", "", None),
        ("google.csv", 4, "Yes", "N", None),
        ("typeform.csv", 1, "1", "0", None),
    ]
    answers = json.loads(con.execute("SELECT payload FROM raw_forms LIMIT 1").fetchone()[0])
    assert answers["answers"]["Keep me updated by email?"] == answers["fields"]["consent_email"]


def test_column_maps_name_the_consent_fields(tmp_path):
    assert {"consent_email", "consent_sms"} <= set(FORM_FIELDS)
    assert "consent" not in FORM_FIELDS
    config = tmp_path / "forms.yaml"
    config.write_text(
        "column_maps:\n  'x.csv': {email: Correo, consent_email: Noticias, consent_sms: SMS}\n"
    )
    maps = load_column_maps(str(config))
    assert maps["x.csv"]["consent_sms"] == "SMS"
    # An old map naming 'consent' still works: it meant email consent.
    config.write_text("column_maps:\n  'x.csv': {email: Correo, consent: Noticias}\n")
    maps = load_column_maps(str(config))
    assert maps["x.csv"] == {"email": "Correo", "consent_email": "Noticias"}
    # A misspelt field is refused with the fields it may use.
    config.write_text("column_maps:\n  'x.csv': {email: Correo, consnet: Noticias}\n")
    with pytest.raises(
        ValueError, match=r"consnet: unknown field; allowed fields: .*consent_email"
    ):
        load_column_maps(str(config))


def test_a_consent_header_over_email_addresses_gives_them_to_the_email(tmp_path):
    # The header reads as a consent question, but the answers are addresses: they are the
    # person's email, never a consent answer, and no row loses its address.
    text = (
        "Name,Email address (we'll add you to our newsletter)\n"
        "Ana Lima,ana@example.org\nBo Ng,bo@example.org\nCy Oh,\n"
    )
    export = read_form_export(write(tmp_path, "newsletter.csv", text))
    assert [r.fields for r in export.rows] == [
        {"full_name": "Ana Lima", "email": "ana@example.org"},
        {"full_name": "Bo Ng", "email": "bo@example.org"},
        {"full_name": "Cy Oh", "consent_email": ""},
    ]
    [note] = export.warnings
    assert "was read as consent_email, but 2 of its 2 filled values are email addresses" in note
    assert "example.org" not in note
