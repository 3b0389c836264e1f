"""The whole job on the sandbox platforms: unified people against the generator's ground
truth, tier tags on the simulated Mailchimp members, stable ids and an idle second push."""

import csv
import re

import dagster as dg
import duckdb
import pytest
import requests

from connectors.mailchimp.client import MailchimpClient
from sandbox import start_sandbox
from tests.support.pipeline import ROOT, configure, logged_text, run_job
from transforms.ladder_config import load
from transforms.summary import summarise

PEOPLE = 400


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    inbox = tmp_path_factory.mktemp("inbox")
    truth = tmp_path_factory.mktemp("truth")
    with start_sandbox(
        people=PEOPLE, seed=11, an_rate=0, mc_connections=10, forms_dir=inbox, truth_dir=truth
    ) as sandbox:
        yield sandbox, inbox, truth / "truth.csv"


@pytest.fixture(scope="module")
def first_run(world, tmp_path_factory):
    sandbox, inbox, _ = world
    workdir = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as monkeypatch:
        warehouse = configure(monkeypatch, workdir, sandbox.env, inbox)
        instance = dg.DagsterInstance.ephemeral()
        first = run_job(instance)
        ids_after_first = _person_ids(warehouse)
        first_writes = sandbox.mailchimp.audit.writes + sandbox.action_network.audit.writes
        first_violations = sandbox.violations("groundswell:")
        sandbox.mailchimp.audit.clear()
        sandbox.action_network.audit.clear()
        requests.post(
            sandbox.env["MAILCHIMP_BASE_URL"].rsplit("/3.0", 1)[0] + "/_sandbox/reset", timeout=5
        )
        second = run_job(instance)
        ids_after_second = _person_ids(warehouse)
    return {
        "instance": instance,
        "first": first,
        "second": second,
        "warehouse": warehouse,
        "workdir": workdir,
        "ids": (ids_after_first, ids_after_second),
        "first_writes": first_writes,
        "violations": first_violations + sandbox.violations("groundswell:"),
        "second_writes": sandbox.mailchimp.audit.writes + sandbox.action_network.audit.writes,
    }


def _person_ids(warehouse) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "SELECT source, source_record_id, person_id FROM person_sources ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()


def test_the_job_succeeds_twice(first_run):
    assert first_run["first"].success
    assert first_run["second"].success


def test_unified_people_match_ground_truth(world, first_run):
    _, _, truth_path = world
    con = duckdb.connect(str(first_run["warehouse"]), read_only=True)
    try:
        con.execute(
            f"CREATE TEMP TABLE truth AS SELECT * FROM read_csv('{truth_path}', all_varchar=true)"
        )
        records, humans = con.execute(
            "SELECT count(*), count(DISTINCT human_id) FROM truth"
        ).fetchone()
        landed = con.execute("SELECT count(*) FROM person_sources").fetchone()[0]
        people = con.execute("SELECT count(*) FROM people").fetchone()[0]
        # Pairwise precision and recall over records that share a person or a human.
        tp, predicted, actual = con.execute(
            """
            WITH j AS (SELECT ps.person_id, t.human_id, ps.source, ps.source_record_id
                       FROM person_sources ps JOIN truth t USING (source, source_record_id)),
            pairs AS (SELECT a.person_id = b.person_id AS same_person, a.human_id = b.human_id AS same_human
                      FROM j a JOIN j b ON (a.source, a.source_record_id) < (b.source, b.source_record_id)
                      WHERE a.person_id = b.person_id OR a.human_id = b.human_id)
            SELECT count(*) FILTER (WHERE same_person AND same_human),
                   count(*) FILTER (WHERE same_person), count(*) FILTER (WHERE same_human) FROM pairs
            """
        ).fetchone()
    finally:
        con.close()
    assert landed == records, "every source record the sandbox holds was landed"
    precision, recall = tp / predicted, tp / actual
    print(
        f"people {people} vs humans {humans}; pairwise precision {precision:.4f} recall {recall:.4f}"
    )
    assert precision >= 0.99
    assert recall >= 0.80
    assert humans <= people <= humans * 1.15


def test_tier_tags_are_on_the_simulated_members(world, first_run, monkeypatch):
    sandbox, _, _ = world
    con = duckdb.connect(str(first_run["warehouse"]), read_only=True)
    try:
        expected = dict(
            con.execute(
                """SELECT ps.source_record_id,
                          CASE WHEN NOT m.email_suppressed THEN 'groundswell:tier:' || l.tier END
                   FROM person_sources ps JOIN ladder l USING (person_id)
                   JOIN person_metrics m USING (person_id)
                   JOIN stg_source_records s USING (source, source_record_id)
                   WHERE ps.source = 'mailchimp' AND s.email_status <> 'archived'"""
            ).fetchall()
        )
    finally:
        con.close()
    env = sandbox.env
    client = MailchimpClient(
        env["MAILCHIMP_API_KEY"], env["MAILCHIMP_LIST_ID"], env["MAILCHIMP_BASE_URL"]
    )
    seen = {}
    for page in client.iter_member_pages():
        for member in page:
            tier_tags = [
                t["name"] for t in member["tags"] if t["name"].startswith("groundswell:tier:")
            ]
            seen[member["id"]] = tier_tags
    monkeypatch.chdir(ROOT)
    pushed = {
        f"groundswell:tier:{r.name}" for r in load("ladder.yaml").rungs if "mailchimp" in r.push
    }
    assert any(expected.values()), "some members have tiers"
    assert None in expected.values(), "members who opted out of email carry no tier tag"
    for member_id, tag in expected.items():
        assert seen[member_id] == ([tag] if tag in pushed else []), member_id
    # Tags Groundswell does not manage are untouched.
    assert any(
        t["name"] == "Core Team" for p in client.iter_member_pages() for m in p for t in m["tags"]
    )


def test_pushes_never_resubscribe_or_touch_other_tags(world, first_run):
    assert first_run["violations"] == []
    platforms = {w.platform for w in first_run["first_writes"] if w.tags_added}
    assert platforms == {"mailchimp", "action_network"}, "the audit saw both pushes"


def test_person_ids_survive_a_second_run(first_run):
    before, after = first_run["ids"]
    assert before == after


def test_second_push_sends_no_writes(world, first_run):
    sandbox, _, _ = world
    base = sandbox.env["MAILCHIMP_BASE_URL"].rsplit("/3.0", 1)[0]
    stats = requests.get(base + "/_sandbox/stats", timeout=5).json()["requests"]
    writes = {route: n for route, n in stats.items() if not route.startswith("GET")}
    assert writes == {}
    assert first_run["second_writes"] == [], "no write to either platform"


def test_activation_list_is_exported(first_run):
    exports = first_run["workdir"] / "exports"
    rows = []
    for path in sorted((exports / "welcome_new").glob("*.csv")):
        with open(path, newline="") as handle:
            rows.extend(csv.DictReader(handle))
        assert path.with_suffix(".xlsx").is_file()
    assert len(list((exports / "welcome_new").glob("*.csv"))) > 1, "split by region"
    assert rows, "the sandbox has people who joined this week"
    assert set(rows[0]) == {
        "person_id",
        "given_name",
        "family_name",
        "email",
        "postal_code",
        "region",
        "tier",
        "reason",
        "ask",  # the list's ask (ladder.yaml), last
    }
    assert {r["ask"] for r in rows} == {load(ROOT / "ladder.yaml").lists[0].ask}
    index = (exports / "index.html").read_text()
    assert "welcome_new/" in index and "@" not in index
    for name in (
        "welcome_new",
        "first_action",
        "ready_to_host",
        "connectors",
        "slipping",
        "welcome_by_post",
        "door_knock",
    ):
        assert (exports / name).is_dir(), name


def test_no_personal_data_in_metadata_or_logs(first_run):
    instance = first_run["instance"]
    text = logged_text(instance, first_run["first"]) + logged_text(instance, first_run["second"])
    assert "Resolved" in text, "the log was read"
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), "an email address leaked"
    assert not re.search(r"\+1\d{10}", text), "a phone number leaked"


TEAM_METADATA = {"teams", "members", "memberships", "people_in_no_team", "teams_without_organisers"}


def test_most_sandbox_people_are_in_a_team_and_some_in_none(first_run):
    """The shipped teams.yaml on the sandbox organisation, as the run summary says."""
    result, warehouse = first_run["second"], first_run["warehouse"]
    assert result.success
    summary = summarise(str(warehouse), result.run_id, [])
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        people, in_team, several = con.execute(
            """SELECT (SELECT count(*) FROM people),
                      (SELECT count(DISTINCT person_id) FROM team_members),
                      (SELECT count(*) FROM (SELECT person_id FROM team_members
                                             GROUP BY 1 HAVING count(*) > 1))"""
        ).fetchone()
        ladder_rows = con.execute("SELECT count(*) FROM team_ladder").fetchone()[0]
        teams_count = con.execute("SELECT count(*) FROM teams").fetchone()[0]
        list_sizes = con.execute("SELECT count(*) FROM team_list_sizes").fetchone()[0]
    finally:
        con.close()
    assert in_team >= 0.6 * people, (in_team, people)
    assert in_team < people, "some people are in no team"
    assert several > 0, "the event hosts are also in their area's team"
    assert ladder_rows > 0 and list_sizes > 0
    metadata = result.asset_materializations_for_node("teams")[0].metadata
    assert set(metadata) == TEAM_METADATA
    assert all(isinstance(v.value, int) for v in metadata.values())
    assert metadata["teams"].value == teams_count
    assert metadata["members"].value == in_team
    line = f"Teams:               {teams_count}, people in a team {in_team:,}, in none "
    assert line + f"{people - in_team:,}\n" in summary
