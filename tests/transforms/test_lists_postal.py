"""Address channels (issue 12): people known only by name and postal address are on the
ladder and on `post` and `door` lists, never on email or phone lists; door lists export
addresses, not contact details; post and door lists are never pushed. Real temporary
warehouse, through normalise, identity, metrics, ladder, lists and exports."""

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from connectors.action_network.client import ActionNetworkClient
from connectors.action_network.landing import land_action_network_people
from connectors.forms.landing import land_form_exports
from connectors.mailchimp.client import MailchimpClient
from connectors.mailchimp.landing import land_mailchimp_members
from sandbox import start_sandbox
from tests.support.metrics_rows import put_metrics
from tests.support.raw import NOW, an_person, land
from transforms.engagement import build_activities, build_person_metrics
from transforms.exports import write_list_exports
from transforms.identity import resolve
from transforms.ladder import build_ladder
from transforms.ladder_config import ADDRESS_COLUMNS, LadderConfigError, load, parse
from transforms.normalise import build_staging
from transforms.placeholders import DEFAULT as PLACEHOLDERS
from transforms.segments import build_segments
from warehouse import migrate as migrations
from warehouse.connection import connect

DEFAULT = load("ladder.yaml")
DEFAULT_RUNGS = yaml.safe_load(Path("ladder.yaml").read_text())["rungs"]
OFFICE = "1 Campaign Way"  # the organisation's own address: a placeholder, never a home


def sheet_row(given: str, family: str, address: str | None, **more: str) -> dict:
    """A typed-up paper sign-in sheet row: a name and a postal address, no email or phone."""
    row = {"given_name": given, "family_name": family, "submitted_at": "06/01/2026 10:00:00"}
    if address is not None:
        row["address"] = address
    return {**row, **more}


SHEET = [
    sheet_row("Ada", "Door", "12 High Street", locality="Springfield", postal_code="62704"),
    sheet_row("Bo", "Street", "Main Street", postal_code="62704"),  # no house number
    sheet_row("Cy", "Box", "PO Box 12", postal_code="62705"),
    sheet_row("Dee", "Strasse", "Hauptstraße 5", locality="Berlin"),  # number after street
    sheet_row("Eli", "Nowhere", "12 High Street"),  # no postcode, no locality
    sheet_row("Fay", "Blank", "none", postal_code="62704"),  # a stand-in, not an address
    sheet_row("Gus", "Flat", "Flat 3, Rose Cottage", postal_code="62706"),  # a named house
    sheet_row("Hal", "Unit", "Flat 3, 14 Mill Lane", locality="Springfield"),
    sheet_row("Ivy", "Office", OFFICE, postal_code="62701"),
    sheet_row("Jo", "Recent", "7 Oak Road", postal_code="62702", submitted_at="11/20/2026 10:00"),
]
# given name -> (post, door)
EXPECTED_CHANNELS = {
    "Ada": (True, True),
    "Bo": (True, False),
    "Cy": (True, False),
    "Dee": (True, True),
    "Eli": (False, False),
    "Fay": (False, False),
    "Gus": (True, False),
    "Hal": (True, True),
    "Ivy": (False, False),
    "Jo": (True, True),
    "Ed": (True, True),
    "Opt": (True, True),
}


def build_people(con, forms: list[dict] = SHEET) -> None:
    """The sheet, plus Ed (an email and an address) and Opt (email and phone both opted
    out, with an address), through the real steps up to person_metrics."""
    land(
        con,
        an=[
            an_person("Ed", "Mail", "ed@example.org", address="9 Elm St", postal_code="90210"),
            an_person(
                "Opt",
                "Out",
                "opt@example.org",
                phone="+12025550188",
                status="unsubscribed",
                phone_status="unsubscribed",
                address="3 Birch Ave",
                postal_code="90211",
            ),
        ],
        forms={"sign-in sheet.csv": forms},
    )
    build_staging(con, "US", PLACEHOLDERS.extended(addresses=[OFFICE]))
    resolve(con, NOW)
    build_activities(con)
    build_person_metrics(con, NOW)


@pytest.fixture(scope="module")
def people_built(tmp_path_factory) -> Path:
    """A warehouse built once through person_metrics; each test works on its own copy."""
    path = tmp_path_factory.mktemp("postal") / "built.duckdb"
    con = connect(path)
    try:
        build_people(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return path


@pytest.fixture
def con(people_built, tmp_path) -> Iterator[duckdb.DuckDBPyConnection]:
    """This test's copy of the built warehouse."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(people_built, copy)
    connection = connect(copy)
    try:
        yield connection
    finally:
        connection.close()


def channel_lists(**extra: dict) -> list[dict]:
    lists = [
        {"name": name, "where": "true", "channel": channel, "reason": "{given_name} on {tier}"}
        for name, channel in (
            ("mail", "email"),
            ("text", "phone"),
            ("either", "both"),
            ("letters", "post"),
            ("doors", "door"),
        )
    ]
    return [{**item, **extra.get(item["name"], {})} for item in lists]


def config(lists: list[dict]):
    return parse({"namespace": "gs:", "rungs": DEFAULT_RUNGS, "lists": lists})


def on_list(con, name: str) -> dict[str, str]:
    """given name -> reason, for everyone on list `name`."""
    return dict(
        con.execute(
            "SELECT p.given_name, s.reason FROM segment_members s JOIN people p USING (person_id) "
            "WHERE s.segment = ? ORDER BY 1",
            ["list:" + name],
        ).fetchall()
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_address_rules_for_post_and_door(con):
    got = {
        given: (post, door)
        for given, post, door in con.execute(
            "SELECT given_name, post_reachable, door_reachable FROM person_metrics"
        ).fetchall()
    }
    assert got == EXPECTED_CHANNELS
    # The address a canvass list needs is there, as people has it.
    row = con.execute(
        "SELECT address_line, locality, region, postal_code, street_name, street_number "
        "FROM person_metrics WHERE given_name = 'Hal'"
    ).fetchone()
    assert row == ("Flat 3, 14 Mill Lane", "Springfield", None, None, "MILL LN", "14")


def test_name_and_address_people_are_on_the_ladder_and_only_on_address_lists(con):
    counts = build_ladder(con, DEFAULT, NOW)
    people = con.execute("SELECT count(*) FROM people").fetchone()[0]
    assert people == len(EXPECTED_CHANNELS), "every sheet row is a person"
    assert sum(counts.values()) == people, "nobody vanished from the ladder"
    tiers = dict(
        con.execute(
            "SELECT p.given_name, l.tier FROM ladder l JOIN people p USING (person_id)"
        ).fetchall()
    )
    # A sign-in is an action: a signer this year is a supporter, reachable or not.
    assert tiers["Ada"] == "supporter" and tiers["Eli"] == "supporter"
    assert tiers["Ed"] == "subscriber" and tiers["Opt"] == "lapsed"

    ladder = config(channel_lists())
    build_segments(con, ladder, NOW)
    posts = {g for g, (post, _) in EXPECTED_CHANNELS.items() if post}
    doors = {g for g, (_, door) in EXPECTED_CHANNELS.items() if door}
    assert set(on_list(con, "letters")) == posts
    assert set(on_list(con, "doors")) == doors
    assert on_list(con, "doors")["Ada"] == "Ada on supporter", "the reason is explained"
    # Only Ed has an email consent allows; nobody a phone: the sheet's people are on none.
    assert set(on_list(con, "mail")) == {"Ed"}
    assert set(on_list(con, "text")) == set()
    assert set(on_list(con, "either")) == {"Ed"}


def test_an_email_or_phone_opt_out_leaves_the_address_channels(con):
    """Decision: an opt-out covers its own channel. Opt unsubscribed from email and
    texts, and asked nothing about post or visits: they stay on door and post lists."""
    build_ladder(con, DEFAULT, NOW)
    build_segments(con, config(channel_lists()), NOW)
    assert "Opt" in on_list(con, "doors") and "Opt" in on_list(con, "letters")
    for name in ("mail", "text", "either"):
        assert "Opt" not in on_list(con, name), name


def test_where_rules_hold_on_both_kinds_of_list(con):
    build_ladder(con, DEFAULT, NOW)
    only_ed_and_ada = {"where": "given_name IN ('Ed', 'Ada')"}
    ladder = config(channel_lists(mail=only_ed_and_ada, doors=only_ed_and_ada))
    build_segments(con, ladder, NOW)
    assert set(on_list(con, "doors")) == {"Ed", "Ada"}
    assert set(on_list(con, "mail")) == {"Ed"}, "Ada has no email"
    assert "Ed" in on_list(con, "either") and "Ed" in on_list(con, "letters")


def test_default_door_knock_list(con):
    build_ladder(con, DEFAULT, NOW)
    build_segments(con, DEFAULT, NOW)
    got = on_list(con, "door_knock")
    # Door-reachable people on lower rungs with no action in 90 days; Jo signed 4 days ago.
    assert set(got) == {g for g, (_, door) in EXPECTED_CHANNELS.items() if door} - {"Jo"}
    assert got["Ada"] == "on the supporter rung, 1 action(s) in 365 days, known since 2026-06-01"
    assert got["Ed"].startswith("on the subscriber rung, 0 action(s) in 365 days")
    (door_knock,) = [a for a in DEFAULT.lists if a.name == "door_knock"]
    assert door_knock.channel == "door" and door_knock.push == ()


def test_default_welcome_by_post_list(con):
    build_ladder(con, DEFAULT, NOW)
    build_segments(con, DEFAULT, NOW)
    # Newcomers no email or phone may reach: Jo signed the sheet 4 days ago. Ed (an email)
    # joined long ago and is welcomed, if at all, by email.
    assert on_list(con, "welcome_by_post") == {
        "Jo": "joined on 2026-11-20 via forms; no email or phone we may use"
    }
    assert set(on_list(con, "welcome_new")) == set(), "Jo has no email"


def test_door_list_export_holds_addresses_not_contact_details(con, tmp_path):
    build_ladder(con, DEFAULT, NOW)
    build_segments(con, DEFAULT, NOW)
    report = write_list_exports(con, DEFAULT, tmp_path / "out", NOW)
    files = [f for f in report.files if f.list_name == "door_knock"]
    # One file per postcode district; Dee (Berlin, no postcode) is unassigned.
    assert sorted(f.group for f in files) == ["627", "902", "unassigned"]
    rows = [r for f in files for r in read_csv(tmp_path / "out" / f.csv)]
    assert len(rows) == report.rows_per_list()["door_knock"] == 5
    header = list(rows[0])
    assert header == [
        "person_id",
        "given_name",
        "family_name",
        "address_line",
        "locality",
        "region",
        "postal_code",
        "tier",
        "reason",
        "ask",  # the list's ask, last: its columns do not name it
    ]
    assert "email" not in header and "phone" not in header
    ada = next(r for r in rows if r["given_name"] == "Ada")
    assert (ada["address_line"], ada["locality"], ada["postal_code"]) == (
        "12 High Street",
        "Springfield",
        "62704",
    )
    assert ada["reason"].startswith("on the supporter rung")
    for f in files:
        text = (tmp_path / "out" / f.csv).read_text()
        assert "@" not in text and "+1202" not in text


def test_door_list_defaults_to_address_columns_and_blanks_opted_out_contacts(con, tmp_path):
    lists = channel_lists(
        doors={"columns": None},
        letters={"columns": ["given_name", "address_line", "postal_code", "email", "phone"]},
    )
    ladder = config(lists)
    (doors,) = [a for a in ladder.lists if a.name == "doors"]
    assert doors.columns == ADDRESS_COLUMNS
    build_ladder(con, DEFAULT, NOW)
    build_segments(con, ladder, NOW)
    write_list_exports(con, ladder, tmp_path / "out", NOW)
    header = list(read_csv(tmp_path / "out" / "doors" / "all.csv")[0])
    assert header == list(ADDRESS_COLUMNS)
    # Asked for, email and phone are shown where consent allows and blank where it does not.
    letters = {r["given_name"]: r for r in read_csv(tmp_path / "out" / "letters" / "all.csv")}
    assert letters["Ed"]["email"] == "ed@example.org"
    assert letters["Opt"]["email"] == "" and letters["Opt"]["phone"] == ""
    assert letters["Opt"]["address_line"] == "3 Birch Ave"


def test_an_email_list_blanks_a_phone_opted_out(con, tmp_path):
    """Any list showing the other channel leaves it blank where the person opted out."""
    put_metrics(
        con,
        {
            "texts_no": {
                "email": "a@example.org",
                "phone": "+12025550111",
                "phone_suppressed": True,
            },
            "texts_ok": {"email": "b@example.org", "phone": "+12025550112"},
        },
    )
    ladder = config(channel_lists(mail={"columns": ["person_id", "email", "phone"]}))
    build_ladder(con, ladder, NOW)
    build_segments(con, ladder, NOW)
    write_list_exports(con, ladder, tmp_path / "out", NOW)
    rows = {r["person_id"]: r for r in read_csv(tmp_path / "out" / "mail" / "all.csv")}
    assert rows["texts_no"] == {"person_id": "texts_no", "email": "a@example.org", "phone": ""}
    assert rows["texts_ok"]["phone"] == "+12025550112"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"channel": "door", "push": ["mailchimp"]},
            "list 'canvass': channel 'door' lists are not pushed, but 'push' names mailchimp",
        ),
        (
            {"channel": "post", "push": ["action_network"]},
            "list 'canvass': channel 'post' lists are not pushed, but 'push' names action_network",
        ),
        (
            {"channel": "door", "start_journeys": True},
            "list 'canvass': 'start_journeys' needs the list pushed to mailchimp",
        ),
        (
            {"channel": "sms"},
            "list 'canvass': channel 'sms' is not one of email, phone, both, post, door",
        ),
    ],
)
def test_address_list_config_errors_are_clear_and_lose_nothing(con, tmp_path, change, expected):
    build_ladder(con, DEFAULT, NOW)
    build_segments(con, DEFAULT, NOW)
    before = con.execute("SELECT * FROM segment_members ORDER BY ALL").fetchall()
    broken = yaml.safe_load(Path("ladder.yaml").read_text())
    broken["lists"].append({"name": "canvass", "where": "true", **change})
    path = tmp_path / "ladder.yaml"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(LadderConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and expected in message
    if change["channel"] == "sms":
        assert "door (a street address with a house number)" in message
    if change.get("push"):
        assert "Set 'push: []'" in message
    # The step never ran: the lists built before are as they were.
    assert con.execute("SELECT * FROM segment_members ORDER BY ALL").fetchall() == before


def test_existing_warehouse_gains_the_address_columns(tmp_path):
    """Migration 013 on a warehouse with metrics rows: the columns arrive, the rows stay
    (not reachable by post or at the door until the next metrics run)."""
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    for version, name, sql in migrations.available():
        if version >= 13:
            continue
        old.execute(sql.read_text())
        old.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
    required = old.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'person_metrics' AND is_nullable = 'NO'"
    ).fetchall()
    fill = {"BOOLEAN": False, "VARCHAR[]": [], "TIMESTAMP": NOW}
    values = {name: fill.get(kind, 0) for name, kind in required}
    values["person_id"] = "p1"
    old.execute(
        f"INSERT INTO person_metrics ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
        list(values.values()),
    )
    old.close()
    con = connect(path)
    try:
        row = con.execute(
            "SELECT person_id, address_line, locality, street_name, street_number, "
            "post_reachable, door_reachable FROM person_metrics"
        ).fetchall()
        assert row == [("p1", None, None, None, None, False, False)]
    finally:
        con.close()


def test_sandbox_paper_sheet_people_reach_the_ladder_and_address_lists_only(tmp_path):
    """A sandbox organisation with its typed-up paper sign-in sheet, landed over HTTP and
    built with the default ladder: nobody vanishes from the ladder, and people known only
    by name and address are on address lists and on no email, phone or two-channel list."""
    con = connect(tmp_path / "warehouse.duckdb")
    try:
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        with start_sandbox(people=200, seed=21, an_rate=0, forms_dir=inbox) as sb:
            env, quiet = sb.env, (lambda _: None)
            an = ActionNetworkClient(
                env["ACTION_NETWORK_API_KEY"],
                env["ACTION_NETWORK_BASE_URL"],
                requests_per_second=0,
            )
            mc = MailchimpClient(
                env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"]
            )
            land_action_network_people(con, an, "b1", quiet)
            land_mailchimp_members(con, mc, "b1", quiet)
            land_form_exports(con, inbox, "b1", quiet, quiet)
            now = sb.clock.now()
        build_staging(con, "US")
        resolve(con, now)
        build_activities(con)
        build_person_metrics(con, now)
        build_ladder(con, DEFAULT, now)
        build_segments(con, DEFAULT, now)
        people, on_ladder = con.execute(
            "SELECT (SELECT count(*) FROM people), (SELECT count(*) FROM ladder)"
        ).fetchone()
        assert people == on_ladder > 0
        address_only = """(SELECT person_id FROM person_metrics
                           WHERE email IS NULL AND phone IS NULL AND post_reachable)"""
        if not con.execute(f"SELECT count(*) FROM {address_only}").fetchone()[0]:
            pytest.skip("this sandbox organisation has no name-and-address-only people")
        per_list = dict(
            con.execute(
                f"SELECT segment, count(*) FROM segment_members "
                f"WHERE person_id IN {address_only} GROUP BY 1"
            ).fetchall()
        )
        address_lists = {f"list:{a.name}" for a in DEFAULT.lists if a.channel in ("post", "door")}
        on_lists = {s for s in per_list if s.startswith("list:")}
        assert on_lists and on_lists <= address_lists, per_list
    finally:
        con.close()
