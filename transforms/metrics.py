"""person_metrics, declared: the windows, the activity types (and the columns each gets) and
the few derived columns, in table order, and the one set-based SELECT generated from them.

A new window is one line in WINDOWS; a new activity type is one `Activity(...)` line in
METRICS. Every build recreates the table from this declaration (`table_sql`), so neither
needs a migration, and column names never change unless a line here changes them: the
ladder's rules and lists are written over them. `python -m transforms.metrics` prints the
generated SQL."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from transforms import steps
from warehouse.load import transaction

TABLE = "person_metrics"

# A window of N days holds what happened at or after the run's time ($as_of) minus N days;
# later dates count too: a platform's clock may run ahead, and hosted events lie ahead.
WINDOWS: dict[str, int] = {
    "30d": 30,
    "90d": 90,
    "180d": 180,
    "365d": 365,
}
TOTAL = "total"  # the all-time count, beside the windows
COUNT = "INTEGER NOT NULL"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_WINDOW = re.compile(r"^[a-z0-9_]+$")  # a suffix: `petitions_30d`


@dataclass(frozen=True)
class Pick:
    """`value` of a person's one per-type row of `activity_type` (NULL without one)."""

    activity_type: str
    value: str


@dataclass(frozen=True)
class Column:
    """One column: `sql` over the parts joined at the end of `_TEMPLATE` (p people, a actions,
    t the per-type pivot, f first arrival, r/s recruits, co campaigns opened, ad addresses),
    stored as `type`. `pivot`, if given, picks the column from a person's row of one
    activity type, read as t.<name>."""

    name: str
    type: str
    sql: str
    pivot: Pick | None = None


@dataclass(frozen=True)
class Activity:
    """An activity type and its columns: `<stem>_<window>` counts (`windows`: None for every
    window then `total`), `last` its latest date, `ever` whether they have any. `action`:
    each record of it is an action, counted once in actions_* (a record that says several
    things, e.g. an RSVP marked attended, is one action dated by the latest of them)."""

    type: str
    stem: str | None = None
    windows: tuple[str, ...] | None = None
    last: str | None = None
    ever: str | None = None
    action: bool = True

    def columns(self, windows: dict[str, int]) -> list[Column]:
        chosen = self.windows if self.windows is not None else (*windows, TOTAL)
        found = []
        for w in chosen if self.stem else ():
            name = f"{self.stem}_{w}"
            found.append(Column(name, COUNT, f"coalesce(t.{name}, 0)", Pick(self.type, f"n_{w}")))
        if self.last:
            found.append(
                Column(self.last, "TIMESTAMP", f"t.{self.last}", Pick(self.type, "last_at"))
            )
        if self.ever:
            ever = f"coalesce(t.{self.ever}, 0) > 0"
            found.append(Column(self.ever, "BOOLEAN NOT NULL", ever, Pick(self.type, "n_total")))
        return found


@dataclass(frozen=True)
class Actions:
    """Actions of any type per window: one per record (see Activity.action)."""

    windows: tuple[str, ...] | None = None  # None: `total`, then every window

    def columns(self, windows: dict[str, int]) -> list[Column]:
        chosen = self.windows if self.windows is not None else (TOTAL, *windows)
        return [Column(f"actions_{w}", COUNT, f"coalesce(a.actions_{w}, 0)") for w in chosen]


Entry = Column | Activity | Actions


def latest(activity_type: str, name: str) -> Column:
    """The latest date of an activity type, as its own column."""
    return Column(name, "TIMESTAMP", f"t.{name}", Pick(activity_type, "last_at"))


def person(name: str, kind: str = "VARCHAR") -> Column:
    """A column of `people` as it is."""
    return Column(name, kind, f"p.{name}")


@dataclass(frozen=True)
class Metrics:
    """The declaration: windows and the table's columns, in order."""

    windows: dict[str, int] = field(default_factory=lambda: dict(WINDOWS))
    entries: tuple[Entry, ...] = ()

    def columns(self) -> list[Column]:
        """Every column of the table, in order."""
        found: list[Column] = []
        for entry in self.entries:
            found.extend([entry] if isinstance(entry, Column) else entry.columns(self.windows))
        return found

    def action_types(self) -> list[str]:
        return [e.type for e in self.entries if isinstance(e, Activity) and e.action]

    def check(self) -> None:
        """Names a declaration mistake (a duplicate column, an unknown window) by entry."""
        for name in self.windows:
            if not _WINDOW.match(name) or name == TOTAL:
                raise ValueError(f"transforms/metrics.py: window name '{name}' is not allowed")
        known = {*self.windows, TOTAL}
        for entry in self.entries:
            unknown = [w for w in getattr(entry, "windows", None) or () if w not in known]
            if unknown:
                what = f"activity '{entry.type}'" if isinstance(entry, Activity) else "Actions"
                raise ValueError(
                    f"transforms/metrics.py: {what} names window(s) {', '.join(unknown)}; "
                    f"declared: {', '.join(sorted(known))} (add a window to WINDOWS)"
                )
        seen: set[str] = set()
        for column in self.columns():
            if column.name in seen or not _NAME.match(column.name):
                raise ValueError(
                    f"transforms/metrics.py: column '{column.name}' is declared twice "
                    "or is not a lower-case name"
                )
            seen.add(column.name)


# What organisers recorded (stage.organiser_contact, transforms/organiser_activities.sql).
_DNC = "coalesce(oc.do_not_contact, false)"
_WRONG = "coalesce(list_contains(oc.wrong_phones, sha256(p.phone)), false)"

# fmt: off
METRICS = Metrics(WINDOWS, (
    Column("person_id", "VARCHAR NOT NULL", "p.person_id"),
    person("given_name"),
    person("family_name"),
    person("email"),
    person("phone"),
    person("postal_code"),
    person("region"),
    person("first_seen", "TIMESTAMP"),
    # Where they came from: the source of their first record of joining or acting.
    Column("first_source", "VARCHAR", "coalesce(f.first_source, p.sources[1])"),
    Column("first_action_at", "TIMESTAMP", "a.first_action_at"),
    Column("last_action_at", "TIMESTAMP", "a.last_action_at"),
    Column("days_since_joined", "INTEGER", "date_diff('day', p.first_seen, $as_of)"),
    Column("days_since_last_action", "INTEGER", "date_diff('day', a.last_action_at, $as_of)"),
    Actions(),
    Column("form_submissions", "INTEGER NOT NULL", "coalesce(t.form_submissions, 0)",
           Pick("form_submission", "n_total")),
    Activity("petition_signature", "petitions", last="last_petition_at"),
    Activity("event_rsvp", "events_rsvped", last="last_rsvp_at"),
    Activity("event_attended", "events_attended", last="last_attended_at"),
    Activity("event_hosted", "events_hosted", last="last_hosted_at", ever="hosted_ever"),
    Activity("form_submission", "forms", last="last_form_at"),
    Activity("volunteer_signup", "volunteer_signups", last="last_volunteered_at",
             ever="volunteered"),
    Activity("donation", "donations", last="last_donation_at"),
    Column("donated_amount_365d", "DECIMAL(14, 2) NOT NULL", "coalesce(t.donated_amount_365d, 0)",
           Pick("donation", "amount_365d")),
    Column("donated_amount_total", "DECIMAL(14, 2) NOT NULL",
           "coalesce(t.donated_amount_total, 0)", Pick("donation", "amount_total")),
    Column("recurring_donor", "BOOLEAN NOT NULL", "coalesce(t.recurring_donor, false)",
           Pick("donation", "recurring_365d")),
    Activity("outreach", "outreaches", last="last_outreach_at"),
    Activity("referral"),  # an action; who recruited whom is counted below
    # Email opens, clicks, bounces, unsubscribes, tags and joining are not actions.
    Activity("email_open", "email_opens", ("30d", "90d", "365d"), action=False),
    Column("campaigns_opened_90d", "INTEGER NOT NULL", "coalesce(co.campaigns_opened_90d, 0)"),
    Activity("email_click", "email_clicks", ("30d", "90d", "365d"), action=False),
    Activity("email_bounce", "email_bounces", ("365d",), action=False),
    latest("email_open", "last_open_at"),
    latest("email_click", "last_click_at"),
    latest("unsubscribe", "unsubscribed_at"),
    Column("recruits", "INTEGER NOT NULL", "coalesce(r.recruits, 0)"),
    Column("recruits_365d", "INTEGER NOT NULL", "coalesce(r.recruits_365d, 0)"),
    Column("recruits_who_acted", "INTEGER NOT NULL", "coalesce(r.recruits_who_acted, 0)"),
    Column("second_degree_reach", "INTEGER NOT NULL", "coalesce(s.second_degree_reach, 0)"),
    Column("recruited_by", "VARCHAR", "f.recruited_by"),
    # Consent, the latest answer across sources (people.sql), and what organisers recorded
    # in the portal (stage.organiser_contact): do not contact closes every channel, a wrong
    # number the phone it was recorded for.
    Column("email_reachable", "BOOLEAN NOT NULL", f"p.email_reachable AND NOT {_DNC}"),
    Column("phone_reachable", "BOOLEAN NOT NULL",
           f"p.phone_reachable AND NOT {_DNC} AND NOT {_WRONG}"),
    Column("email_suppressed", "BOOLEAN NOT NULL", f"p.email_suppressed OR {_DNC}"),
    Column("phone_suppressed", "BOOLEAN NOT NULL", f"p.phone_suppressed OR {_DNC} OR {_WRONG}"),
    Column("channels", "VARCHAR[] NOT NULL",
           f"list_filter([CASE WHEN p.email_reachable AND NOT {_DNC} THEN 'email' END, "
           f"CASE WHEN p.phone_reachable AND NOT {_DNC} AND NOT {_WRONG} THEN 'phone' END], "
           "lambda c: c IS NOT NULL)"),
    person("platform_tags", "VARCHAR[] NOT NULL"),
    Column("as_of", "TIMESTAMP NOT NULL", "$as_of"),
    # The address a canvass or mailing list needs; street_name/street_number as the
    # identity step reads them (for walk order), post_reachable/door_reachable the address
    # channels (docs: "Address channels"). Last: they were added last (migration 013).
    person("address_line"),
    person("locality"),
    Column("street_name", "VARCHAR", "ad.street_name"),
    Column("street_number", "VARCHAR", "ad.house_number"),
    Column("post_reachable", "BOOLEAN NOT NULL",
           f"coalesce(ad.post_reachable, false) AND NOT {_DNC}"),
    Column("door_reachable", "BOOLEAN NOT NULL",
           f"coalesce(ad.post_reachable AND ad.house_number IS NOT NULL, false) AND NOT {_DNC}"),
    # The ask loop (issue 15): what organisers recorded in the portal. A conversation is a
    # person reached (or saying yes), a commitment a yes to a list's ask; neither is an
    # action of the person's own. Open: a yes in the last 90 days with no action since.
    Activity("conversation", "conversations", last="last_conversation_at", action=False),
    Activity("commitment", "commitments", action=False),
    Column("open_commitments", "INTEGER NOT NULL", "coalesce(oc2.open_commitments, 0)"),
    Column("do_not_contact", "BOOLEAN NOT NULL", _DNC),
    Column("wrong_number", "BOOLEAN NOT NULL", _WRONG),
    Column("last_outcome", "VARCHAR", "oc.last_outcome"),
    Column("last_outcome_at", "TIMESTAMP", "oc.last_outcome_at"),
    # The follow-up date of their latest outcome; due once it has come (the follow_up list).
    Column("follow_up_on", "DATE", "oc.follow_up_on"),
    Column("follow_up_due", "BOOLEAN NOT NULL",
           "coalesce(oc.follow_up_on <= CAST($as_of AS DATE), false)"),
))
# fmt: on


def column_names(metrics: Metrics = METRICS) -> list[str]:
    """The table's columns, in order: what ladder rules and lists may name."""
    return [c.name for c in metrics.columns()]


def table_sql(metrics: Metrics = METRICS) -> str:
    """CREATE OR REPLACE TABLE person_metrics with the declared columns. No key index: one
    made each whole rebuild seven times slower (migration 004)."""
    lines = ",\n".join(f"    {c.name} {c.type}" for c in metrics.columns())
    return f"CREATE OR REPLACE TABLE {TABLE} (\n{lines}\n)"


def select_sql(metrics: Metrics = METRICS) -> str:
    """The one SELECT that computes every column for every person; binds $as_of."""
    metrics.check()
    columns = metrics.columns()
    actions = ", ".join(f"'{t}'" for t in metrics.action_types())
    flags = "".join(
        f",\n        occurred_at >= $as_of - INTERVAL {days} DAY AS in_{name}"
        for name, days in metrics.windows.items()
    )
    action_windows = "".join(
        f",\n        count(*) FILTER (WHERE occurred_at >= $as_of - INTERVAL {days} DAY)"
        f" AS actions_{name}"
        for name, days in metrics.windows.items()
    )
    type_windows = "".join(
        f"\n        count(*) FILTER (WHERE in_{name}) AS n_{name}," for name in metrics.windows
    )
    type_rows, by_type = _pivot(columns)
    listed = ",\n    ".join(f"{c.sql} AS {c.name}" for c in columns)
    return _TEMPLATE.format(
        actions=actions or "NULL",
        flags=flags,
        action_windows=action_windows,
        type_windows=type_windows,
        type_rows=type_rows,
        by_type=by_type,
        columns=listed,
    )


def _pivot(columns: list[Column]) -> tuple[str, str]:
    """The CTEs of each picked type's rows, and by_type's SELECT: one row per person with
    every pivot column. A Pick joins its type's rows rather than aggregating with a FILTER:
    one filtered aggregate state per picked column and person (76 of them) made the query
    allocate twice the memory at 3M records."""
    picks: dict[str, list[Column]] = {}
    for c in columns:
        if c.pivot is not None:
            picks.setdefault(c.pivot.activity_type, []).append(c)
    type_rows = "".join(
        f", type_{i} AS (\n    SELECT person_id"
        + "".join(f",\n        {c.pivot.value} AS {c.name}" for c in picked)  # type: ignore[union-attr]
        + f"\n    FROM per_type WHERE activity_type = '{activity_type}'\n)"
        for i, (activity_type, picked) in enumerate(picks.items())
    )
    chosen = "".join(
        f",\n        type_{i}.{c.name}" for i, picked in enumerate(picks.values()) for c in picked
    )
    joins = "".join(f"\n    LEFT JOIN type_{i} USING (person_id)" for i in range(len(picks)))
    # Every person, whether or not they have activities: the joins below are LEFT joins.
    by_type = f"SELECT g.person_id{chosen}\n    FROM people g{joins}"
    return type_rows, by_type


def build_person_metrics(
    con: duckdb.DuckDBPyConnection, as_of: datetime, metrics: Metrics = METRICS
) -> int:
    """Recreate person_metrics from the declaration and fill it, all or nothing (readers
    never see it half-built); returns its rows. $as_of: the run's time."""
    steps.require(con, TABLE)
    select = select_sql(metrics)
    with transaction(con):
        con.execute(table_sql(metrics))
        con.execute(f"INSERT INTO {TABLE} BY NAME\n{select}", {"as_of": as_of})
        row = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    return int(row[0]) if row else 0


# The parts that are not per activity type or window. An action is one record of a person
# doing something (see Activity.action): a record that says several things is one action,
# dated by the latest of them.
_TEMPLATE = """\
WITH acts AS NOT MATERIALIZED (
    -- Read where used: materialised, every activity row with its flags would be held (or
    -- spilled) whole before the first aggregate.
    SELECT
        *,
        activity_type IN ({actions}) AS is_action{flags}
    FROM activities
), action_records AS (
    SELECT person_id, source, source_record_id, max(occurred_at) AS occurred_at
    FROM acts
    WHERE is_action
    GROUP BY ALL
), actions AS (
    SELECT
        person_id,
        min(occurred_at) AS first_action_at,
        max(occurred_at) AS last_action_at,
        count(*) AS actions_total{action_windows}
    FROM action_records
    GROUP BY person_id
), per_type AS (
    -- One row per person and activity type first: the pivot below then reads few rows.
    -- Numbers only: a string in each of its 19M groups (at 10M records) made it 2.6 times
    -- slower; the first source and referrer are found below, over the rows they need.
    SELECT
        person_id,
        activity_type,{type_windows}
        count(*) AS n_total,
        max(occurred_at) AS last_at,
        sum(amount) FILTER (WHERE occurred_at >= $as_of - INTERVAL 365 DAY) AS amount_365d,
        sum(amount) AS amount_total,
        bool_or(recurring) FILTER (WHERE occurred_at >= $as_of - INTERVAL 365 DAY)
            AS recurring_365d
    FROM acts
    GROUP BY person_id, activity_type
), firsts AS (
    -- Where they came from: the source of their first record of joining or acting; and who
    -- recruited them: the referrer of their first referred action. At the same moment, the
    -- first by name: the same every run.
    SELECT
        person_id,
        arg_min(source, (occurred_at, source)) AS first_source,
        arg_min(referred_by_person_id, (occurred_at, referred_by_person_id))
            FILTER (WHERE activity_type = 'referral') AS recruited_by
    FROM acts
    WHERE activity_type = 'joined' OR is_action
    GROUP BY person_id
), campaigns_opened AS (
    SELECT person_id, count(DISTINCT object_id) AS campaigns_opened_90d
    FROM activities
    WHERE activity_type = 'email_open' AND occurred_at >= $as_of - INTERVAL 90 DAY
    GROUP BY person_id
){type_rows}, by_type AS (
    {by_type}
), pairs AS (
    -- Who recruited whom, and when first.
    SELECT referred_by_person_id AS recruiter, person_id AS recruit,
           min(occurred_at) AS recruited_at
    FROM activities
    WHERE activity_type = 'referral' AND referred_by_person_id IS NOT NULL
      AND referred_by_person_id <> person_id
    GROUP BY ALL
), recruiting AS (
    -- A recruit acted when they took an action after the one they were recruited to.
    SELECT p.recruiter AS person_id,
           count(*) AS recruits,
           count(*) FILTER (WHERE p.recruited_at >= $as_of - INTERVAL 365 DAY) AS recruits_365d,
           count(*) FILTER (WHERE a.last_action_at > p.recruited_at) AS recruits_who_acted
    FROM pairs p
    LEFT JOIN actions a ON a.person_id = p.recruit
    GROUP BY p.recruiter
), second_degree AS (
    -- Recruits of recruits, other than the person and their own direct recruits.
    SELECT p1.recruiter AS person_id, count(DISTINCT p2.recruit) AS second_degree_reach
    FROM pairs p1
    JOIN pairs p2 ON p2.recruiter = p1.recruit AND p2.recruit <> p1.recruiter
    ANTI JOIN pairs d ON d.recruiter = p1.recruiter AND d.recruit = p2.recruit
    GROUP BY p1.recruiter
), open_commitments AS (
    -- A yes to an organiser's ask in the last 90 days, with no action of the person since.
    SELECT c.person_id, count(*) AS open_commitments
    FROM activities c
    LEFT JOIN actions a USING (person_id)
    WHERE c.activity_type = 'commitment' AND c.occurred_at >= $as_of - INTERVAL 90 DAY
      AND coalesce(a.last_action_at <= c.occurred_at, true)
    GROUP BY c.person_id
), address_read AS (
    -- The identity step's reading of each address line a person has (staging.sql): the
    -- house number and the street up to the first comma, any flat or unit part dropped,
    -- neither for the organisation's own address (a placeholder in identity.yaml).
    SELECT ps.person_id, s.address_line,
           max(s.street_number) AS street_number,
           max(s.street_name) AS street_name
    FROM person_sources ps
    JOIN stg_source_records s USING (source, source_record_id)
    WHERE s.address_line IS NOT NULL
    GROUP BY ALL
), address_parts AS (
    -- The person's own line (people's best one) with its reading, and what it says:
    -- a post-office box or private bag (mail only), a stand-in such as 'none' (nothing),
    -- and a place to deliver to (a postcode or a locality).
    SELECT p.person_id,
           r.street_name,
           r.street_number,
           coalesce(regexp_matches(r.street_name,
               '^((P ?O|POST OFFICE|GPO) BOX|BOX|POBOX|LOCKED BAG|PRIVATE BAG|POSTFACH|BP'
               || '|APARTADO|CASILLA|CAIXA POSTAL) ?[0-9]'), false) AS po_box,
           coalesce(regexp_matches(r.street_name, '\\pL\\pL')
               AND r.street_name NOT IN ('NONE', 'NA', 'NULL', 'NIL', 'UNKNOWN', 'TBC', 'TBA',
                                         'TEST', 'XXX', 'ASDF', 'NO ADDRESS', 'NOT GIVEN'),
               false) AS has_words,
           coalesce(regexp_matches(p.postal_code, '[\\pL\\pN]')
                    AND NOT contains(p.postal_code, '@'), false)
               OR coalesce(regexp_matches(p.locality, '\\pL\\pL'), false) AS has_place
    FROM people p
    JOIN address_read r ON r.person_id = p.person_id AND r.address_line = p.address_line
), addresses AS (
    -- post: a line to mail to (words, not a stand-in) and a postcode or locality.
    -- door: that, with a house number (leading, or trailing as in 'Hauptstrasse 5'),
    -- never a post-office box.
    SELECT person_id,
           street_name,
           CASE WHEN NOT po_box THEN coalesce(
               street_number, nullif(regexp_extract(street_name, ' ([0-9]+[A-Z]?)$', 1), ''))
           END AS house_number,
           has_words AND has_place AS post_reachable
    FROM address_parts
)
SELECT
    {columns}
FROM people p
LEFT JOIN actions a USING (person_id)
LEFT JOIN by_type t USING (person_id)
LEFT JOIN firsts f USING (person_id)
LEFT JOIN recruiting r USING (person_id)
LEFT JOIN second_degree s USING (person_id)
LEFT JOIN campaigns_opened co USING (person_id)
LEFT JOIN addresses ad USING (person_id)
LEFT JOIN stage.organiser_contact oc USING (person_id)
LEFT JOIN open_commitments oc2 USING (person_id)"""


if __name__ == "__main__":
    sys.stdout.write(f"{table_sql()};\n\nINSERT INTO {TABLE} BY NAME\n{select_sql()};\n")
