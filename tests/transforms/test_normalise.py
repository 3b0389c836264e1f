"""Normalisation keys in staging: names, nicknames, emails, phones, streets, platform ids,
placeholders and empty records, on hand-built raw records in a real DuckDB file."""

from __future__ import annotations

import duckdb
import pytest

from tests.support.raw import an_person, land, mc_member
from transforms import nicknames, phones
from transforms.normalise import build_staging
from transforms.placeholders import DEFAULT, Placeholders, from_config
from warehouse.connection import connect
from warehouse.migrate import available

KEYS = (
    "given_norm, family_norm, given_key, email, email_key, email_placeholder, phone, "
    "phone_key, phone_valid, phone_type, address_line, street_number, street_name, "
    "platform_ids, is_empty"
)


def staged(con, where: str = "true", params: list | None = None) -> list[dict]:
    cursor = con.execute(
        f"SELECT source, source_record_id, {KEYS} FROM stg_source_records WHERE {where} "
        "ORDER BY source, source_record_id",
        params or [],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def one(con, record_id: str) -> dict:
    rows = staged(con, "source_record_id = ?", [record_id])
    assert len(rows) == 1
    return rows[0]


def form(**fields: str) -> dict:
    return fields


def with_address(person: dict, line: str) -> dict:
    person["postal_addresses"] = [
        {"primary": True, "address_lines": [line], "locality": "Springfield", "region": "IL"}
    ]
    return person


# Names and nicknames.


def test_given_key_folds_nicknames_to_one_canonical(con):
    given = {
        "u-1": "William",
        "u-2": "Bill",
        "u-3": "billy",
        "u-4": "Will",
        "u-5": "Liz",
        "u-6": "Beth",
        "u-7": "Elizabeth",
        "u-8": "Bob",
        "u-9": "Zebulon-Quux",
    }
    land(con, an=[an_person(g, "Smith", f"{u}@example.org", uuid=u) for u, g in given.items()])
    build_staging(con, "US")
    keys = {row["source_record_id"]: row["given_key"] for row in staged(con)}
    assert {keys[u] for u in ("u-1", "u-2", "u-3", "u-4")} == {"william"}
    assert {keys[u] for u in ("u-5", "u-6", "u-7")} == {"elizabeth"}
    assert keys["u-8"] == "robert"
    # Not a known name: its first word, as it is.
    assert keys["u-9"] == "zebulon"


def test_names_lose_case_accents_and_punctuation(con):
    land(
        con,
        an=[
            an_person("José", "O'Brien", "jose@example.org", uuid="u-1"),
            an_person("  MARY   ann ", "Smith-Jones", "mary@example.org", uuid="u-2"),
            an_person("Zoë", "Núñez\u2019s", "zoe@example.org", uuid="u-3"),
        ],
    )
    build_staging(con, "US")
    jose, mary, zoe = (one(con, u) for u in ("u-1", "u-2", "u-3"))
    assert (jose["given_norm"], jose["family_norm"], jose["given_key"]) == (
        "jose",
        "obrien",
        "jose",
    )
    assert (mary["given_norm"], mary["family_norm"]) == ("mary ann", "smith jones")
    assert mary["given_key"] == "mary"  # the first word only
    assert (zoe["given_norm"], zoe["family_norm"]) == ("zoe", "nunezs")


def test_name_canonical_is_deterministic_and_settled(con):
    nicknames.ensure(con)
    nicknames.ensure(con)  # a second call keeps the table
    assert con.execute(
        "SELECT count(*) = count(DISTINCT name) FROM stage.name_canonical"
    ).fetchone() == (True,)
    # A canonical maps to itself, so a key never moves again.
    assert con.execute(
        "SELECT count(*) FROM stage.name_canonical a JOIN stage.name_canonical b ON b.name = a.canonical "
        "WHERE b.canonical <> a.canonical"
    ).fetchone() == (0,)
    picks = dict(con.execute("SELECT name, canonical FROM stage.name_canonical").fetchall())
    for name, canonical in {
        "bill": "william",
        "willy": "william",
        "william": "william",
        "lizzie": "elizabeth",
        "bobby": "robert",
        "tony": "anthony",
        "katie": "katherine",
        "jimmy": "james",
        "peggy": "margaret",
        "chuck": "charles",
        "steve": "steven",
        "mary": "mary",  # a canonical in its own right
    }.items():
        assert picks[name] == canonical, name

    other = duckdb.connect()
    try:
        nicknames.ensure(other)
        assert (
            other.execute("SELECT * FROM stage.name_canonical ORDER BY name").fetchall()
            == con.execute("SELECT * FROM stage.name_canonical ORDER BY name").fetchall()
        )
    finally:
        other.close()


# Emails.


def test_email_match_key_folds_provider_aliases(con):
    land(
        con,
        an=[
            an_person("A", "A", "  Will.Smith+News@GoogleMail.com ", uuid="u-1"),
            an_person("B", "B", "ana+list@Outlook.com", uuid="u-2"),
            an_person("C", "C", "first.last+tag@example.org", uuid="u-3"),
        ],
    )
    build_staging(con, "US")
    rows = {r["source_record_id"]: (r["email"], r["email_key"]) for r in staged(con)}
    assert rows["u-1"] == ("will.smith+news@googlemail.com", "willsmith@gmail.com")
    assert rows["u-2"] == ("ana+list@outlook.com", "ana@outlook.com")
    # Unknown providers may treat dots and +tags as different mailboxes: kept.
    assert rows["u-3"] == ("first.last+tag@example.org", "first.last+tag@example.org")


# Phones.


def test_phone_key_validity_and_line_type(con):
    land(
        con,
        an=[
            an_person("A", "A", "a@example.org", phone="(202) 555-0143", uuid="u-us"),
            an_person("B", "B", "b@example.org", phone="+44 7400 123456", uuid="u-mobile"),
            an_person("C", "C", "c@example.org", phone="+44 20 7946 0000", uuid="u-landline"),
            an_person("D", "D", "d@example.org", phone="(555) 123-4567", uuid="u-invalid"),
            an_person("E", "E", "e@example.org", phone="n/a", uuid="u-junk"),
            an_person("F", "F", "f@example.org", uuid="u-none"),
        ],
    )
    build_staging(con, "US")
    got = {
        r["source_record_id"]: (r["phone"], r["phone_key"], r["phone_valid"], r["phone_type"])
        for r in staged(con)
    }
    assert got["u-us"] == ("+12025550143", "+12025550143", True, "fixed_or_mobile")
    assert got["u-mobile"] == ("+447400123456", "+447400123456", True, "mobile")
    assert got["u-landline"] == ("+442079460000", "+442079460000", True, "landline")
    # Possible (the right length) but not a number anyone was given: kept, flagged.
    assert got["u-invalid"] == ("+15551234567", "+15551234567", False, None)
    assert got["u-junk"] == (None, None, False, None)
    assert got["u-none"] == (None, None, None, None)


def test_phone_default_region_applies_to_national_numbers(con):
    land(con, an=[an_person("A", "A", "a@example.org", phone="07400 123456", uuid="u-1")])
    build_staging(con, "GB")
    row = one(con, "u-1")
    assert (row["phone_key"], row["phone_type"]) == ("+447400123456", "mobile")


def test_phone_parsed_once_per_distinct_number(con, monkeypatch):
    seen: list[str] = []
    real = phones.parts

    def counting(raw, region="US"):
        seen.append(raw)
        return real(raw, region)

    monkeypatch.setattr(phones, "parts", counting)
    land(
        con,
        an=[
            an_person("A", "A", "a@example.org", phone="(202) 555-0143", uuid="u-1"),
            an_person("B", "B", "b@example.org", phone="202.555.0143", uuid="u-2"),
            an_person("C", "C", "c@example.org", phone="202 555 0143", uuid="u-3"),
            an_person("D", "D", "d@example.org", phone="202 555 0199", uuid="u-4"),
        ],
        mc=[mc_member("E", "E", "e@example.org", phone="(202) 555-0143")],
    )
    build_staging(con, "US")
    # The three spellings of one number cost one parse; placeholders add their own few.
    assert seen.count("2025550143") == 1
    assert seen.count("2025550199") == 1
    assert len([s for s in seen if s.startswith("202")]) == 2
    assert con.execute(
        "SELECT count(DISTINCT phone_key), count(phone_key) FROM stg_source_records"
    ).fetchone() == (2, 5)


def test_phone_parses_are_kept_for_the_next_run(con, monkeypatch):
    seen: list[str] = []
    real = phones.parts

    def counting(raw, region="US"):
        seen.append(raw)
        return real(raw, region)

    monkeypatch.setattr(phones, "parts", counting)
    # Two numbers: DuckDB may fold a function of a one-valued column while planning.
    land(
        con,
        an=[
            an_person("A", "A", "a@example.org", phone="(202) 555-0143", uuid="u-1"),
            an_person("B", "B", "b@example.org", phone="(202) 555-0199", uuid="u-2"),
        ],
    )
    build_staging(con, "US")
    first = staged(con)
    assert seen.count("2025550143") == 1
    seen.clear()

    build_staging(con, "US")
    assert "2025550143" not in seen  # parsed last run, with the same region and parser
    assert staged(con) == first

    # Another default region parses again, and the old region's parses go.
    build_staging(con, "GB")
    assert seen.count("2025550143") == 1
    assert con.execute("SELECT DISTINCT region FROM phone_parses").fetchall() == [("GB",)]

    # A number no record has any more is not kept.
    land(
        con,
        an=[an_person("A", "A", "a@example.org", uuid="u-1", modified="2026-11-20T00:00:00Z")],
    )
    build_staging(con, "GB")
    assert con.execute("SELECT phone_text FROM phone_parses").fetchall() == [("2025550199",)]


def test_restaging_swaps_only_changes_and_matches_a_full_build(con, tmp_path):
    first = dict(
        an=[
            an_person("Ana", "Lima", "ana@example.org", phone="2025550143", uuid="u-1"),
            an_person("Bo", "Ng", "bo@example.org", uuid="u-2"),
        ],
        mc=[mc_member("Cy", "Po", "cy@example.org"), mc_member("Di", "Qu", "di@example.org")],
    )
    later = dict(
        an=[
            an_person(
                "Ana", "Lima-Silva", "ana@example.org", uuid="u-1", modified="2026-11-20T00:00:00Z"
            ),
            an_person("Ed", "Ru", "ed@example.org", uuid="u-3"),
        ],
        mc=[
            mc_member(
                "Di", "Qu", "di@example.org", status="deleted", last_changed="2026-11-20T00:00:00Z"
            )
        ],
    )
    land(con, **first)
    build_staging(con, "US")
    land(con, **later)
    build_staging(con, "US")
    build_staging(con, "US")  # nothing changed: nothing swapped, nothing lost

    fresh = connect(tmp_path / "fresh.duckdb")
    try:
        land(fresh, **first)
        land(fresh, **later)
        build_staging(fresh, "US")
        everything = "SELECT * FROM stg_source_records ORDER BY source, source_record_id"
        assert con.execute(everything).fetchall() == fresh.execute(everything).fetchall()
    finally:
        fresh.close()
    rows = {r["source_record_id"]: r for r in staged(con)}
    assert rows["u-1"]["family_norm"] == "lima silva"
    assert "u-3" in rows
    assert mc_member("D", "Q", "di@example.org")["id"] not in rows


def test_to_e164_keeps_working():
    assert phones.to_e164("(202) 555-0143") == "+12025550143"
    assert phones.to_e164("0412 345 678", "AU") == "+61412345678"
    assert phones.to_e164("0000000000") is None
    assert phones.parts("+44 7400 123456") == phones.PhoneParts("+447400123456", True, "mobile")


# Streets.


@pytest.mark.parametrize(
    ("line", "number", "street"),
    [
        ("12A High Street, Apt 4", "12A", "HIGH ST"),
        ("Flat 3, 221B Baker Street", "221B", "BAKER ST"),
        ("1600 Pennsylvania Avenue NW", "1600", "PENNSYLVANIA AVE NW"),
        ("12 O'Connell Road #5", "12", "OCONNELL RD"),
        ("12-14 North Boulevard, Suite 200", "12-14", "N BLVD"),
        ("7 rue de l'Église", "7", "RUE DE LEGLISE"),
        ("PO Box 123", None, "PO BOX 123"),
        ("45 Flat Rock Lane", "45", "FLAT ROCK LN"),
    ],
)
def test_street_number_and_name(con, line, number, street):
    land(con, forms={"signups.csv": [form(given_name="Ana", address=line)]})
    build_staging(con, "US")
    row = one(con, "signups.csv:1")
    assert (row["address_line"], row["street_number"], row["street_name"]) == (
        line,
        number,
        street,
    )


# Platform ids.


def test_platform_ids_per_source(con):
    person = an_person("Ana", "Lima", "ana@example.org", uuid="u-1")
    person["identifiers"].append("salesforce:0031x00000ABC")
    member = mc_member("Ana", "Lima", "ana@example.org")
    land(
        con,
        an=[person],
        mc=[member],
        forms={"signups.csv": [form(given_name="Ana", email="ana@example.org")]},
    )
    build_staging(con, "US")
    ids = {r["source"]: r["platform_ids"] for r in staged(con)}
    assert ids == {
        "action_network": ["action_network:u-1", "salesforce:0031x00000ABC"],
        "mailchimp": [f"mailchimp:{member['id']}"],
        "forms": [],
    }


# Placeholders and empty records.


def test_placeholders_never_produce_keys(con):
    org = from_config(
        {
            "addresses": ["1 Main Street, Springfield"],
            "emails": ["@mailinator.com"],
            "phones": [2025550100],  # YAML reads unquoted digits as a number
        }
    )
    land(
        con,
        an=[
            an_person("Test", "N/A", "test@test.com", phone="123-456-7890", uuid="u-1"),
            an_person(
                "Ana", "Lima", "NoReply@campaign.example", phone="(202) 555-0100", uuid="u-2"
            ),
            an_person("Bo", "Ng", "bo@mailinator.com", phone="555-555-5555", uuid="u-3"),
            with_address(
                an_person("Cy", "Po", "cy@example.org", uuid="u-4"), "1 Main St., Suite 9"
            ),
            with_address(an_person("Di", "Qu", "di@example.org", uuid="u-5"), "1 Main Street"),
            with_address(an_person("Ed", "Ru", "ed@example.org", uuid="u-6"), "2 Main Street"),
        ],
    )
    build_staging(con, "US", org)
    test, noreply, mailinator, cy, di, ed = (one(con, f"u-{i}") for i in range(1, 7))
    # Kept for display and sending, but nothing to match on.
    assert (test["email"], test["email_key"], test["email_placeholder"]) == (
        "test@test.com",
        None,
        True,
    )
    assert (test["given_norm"], test["family_norm"], test["given_key"]) == (None, None, None)
    assert (test["phone"], test["phone_key"]) == ("+11234567890", None)
    assert test["is_empty"] is True
    assert (noreply["email_key"], noreply["email_placeholder"]) == (None, True)
    assert (noreply["phone"], noreply["phone_key"]) == ("+12025550100", None)
    assert noreply["given_key"] == "ana"
    assert noreply["is_empty"] is False
    assert (mailinator["email_key"], mailinator["email_placeholder"]) == (None, True)
    assert mailinator["phone_key"] is None
    # The organisation's own address, however it is written.
    assert (cy["address_line"], cy["street_number"], cy["street_name"]) == (
        "1 Main St., Suite 9",
        None,
        None,
    )
    assert (di["street_number"], di["street_name"]) == (None, None)
    assert (ed["street_number"], ed["street_name"]) == ("2", "MAIN ST")
    assert (ed["email_key"], ed["email_placeholder"]) == ("ed@example.org", False)


def test_default_placeholders_apply_without_configuration(con):
    land(
        con,
        mc=[mc_member("Unknown", "Anonymous", "na@na.com", phone="0123456789")],
        forms={"signups.csv": [form(full_name="First Last", email="none@example.org")]},
    )
    build_staging(con, "US")
    for row in staged(con):
        assert row["email_key"] is None
        assert row["email_placeholder"] is True
        assert row["given_key"] is None and row["family_norm"] is None
        assert row["phone_key"] is None
        assert row["is_empty"] is True


def test_empty_records_are_kept_and_flagged(con):
    land(
        con,
        an=[
            an_person(None, None, None, uuid="u-1"),
            an_person(None, None, None, uuid="u-2"),
            an_person("Ana", None, None, uuid="u-3"),
            an_person(None, None, None, phone="2025550143", uuid="u-4"),
        ],
        forms={"signups.csv": [form(address="12 High Street")]},
    )
    counts = build_staging(con, "US")
    assert counts == {"action_network": 4, "forms": 1}
    empty = {r["source_record_id"]: r["is_empty"] for r in staged(con)}
    assert empty == {"u-1": True, "u-2": True, "u-3": False, "u-4": False, "signups.csv:1": True}


def test_placeholder_config_extends_the_defaults():
    org = from_config(
        {"emails": ["info@our-campaign.example"], "addresses": ["1 Main Street, Springfield"]}
    )
    assert org.emails[: len(DEFAULT.emails)] == DEFAULT.emails
    assert org.emails[-1] == "info@our-campaign.example"
    assert org.addresses == ("1 Main Street, Springfield",)
    assert org.names == DEFAULT.names
    assert Placeholders.from_config({}) == DEFAULT == Placeholders()
    assert from_config(None) == DEFAULT
    # Repeats are dropped, order kept.
    assert from_config({"names": ["test", "nobody"]}).names == (*DEFAULT.names, "nobody")


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"emails": "test@test.com"}, "emails"),
        ({"phones": [["123"]]}, "phones: entry 1"),
        ({"names": ["ok", ""]}, "names: entry 2"),
        ({"emails": ["nobody"]}, "emails: entry 1"),
        ({"addresses": [True]}, "addresses: entry 1"),
        ({"postcodes": ["X"]}, "postcodes"),
        (["test@test.com"], "mapping"),
    ],
)
def test_placeholder_config_errors_name_the_key(data, names):
    with pytest.raises(ValueError, match=names):
        Placeholders.from_config(data)


# Migrations.


def test_a_warehouse_at_migration_1_upgrades(tmp_path):
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    first = available()[0]
    assert first[0] == 1
    old.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    old.execute(first[2].read_text())
    old.execute("INSERT INTO schema_migrations (version, name) VALUES (1, ?)", [first[1]])
    old.execute(
        "INSERT INTO stg_source_records (source, source_record_id, email, email_key) "
        "VALUES ('forms', 'old.csv:1', 'ana@example.org', 'ana@example.org')"
    )
    old.close()

    con = connect(path)
    try:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] >= 2
        # The staged row survives with empty keys until staging runs again.
        assert con.execute(
            "SELECT email_key, given_key, platform_ids, is_empty FROM stg_source_records"
        ).fetchall() == [("ana@example.org", None, None, None)]
        land(con, an=[an_person("Bill", "Smith", "bill@example.org", uuid="u-1")])
        build_staging(con, "US")
        assert [(r["given_key"], r["is_empty"]) for r in staged(con)] == [("william", False)]
    finally:
        con.close()
