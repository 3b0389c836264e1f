"""The data checks' measures over hand-built history, with exact expected figures."""

from __future__ import annotations

from datetime import datetime, timedelta

from transforms.data_checks import (
    HARM_CHECKS,
    Landing,
    fetch_trend,
    harm_measures,
    harm_problem,
    harm_problems,
    quarantined_share,
    record_landing,
)

EARLIER = datetime(2026, 11, 29, 2, 0)
STARTED = datetime(2026, 11, 30, 2, 0)
NOW = STARTED + timedelta(minutes=5)
LIMITS = {
    "CHECK_PEOPLE_DROP_SHARE": 0.2,
    "CHECK_MERGE_SHARE": 0.05,
    "CHECK_RUNG_CHANGE_SHARE": 0.25,
}


def _people(con, count: int) -> None:
    con.execute(
        "INSERT INTO people (person_id, email_suppressed, phone_suppressed, email_reachable, "
        "phone_reachable, sources, source_records, platform_tags, created_at) "
        "SELECT 'p' || i, false, false, true, true, [], 1, [], ? FROM range(?) t(i)",
        [EARLIER, count],
    )


def _ladder(con, at: datetime, tiers: list[str]) -> None:
    con.executemany(
        "INSERT INTO ladder_history VALUES (?, ?, ?, 1)",
        [[at, f"p{i}", tier] for i, tier in enumerate(tiers)],
    )


def test_the_measures_compare_this_run_with_the_last_one_before_it(con):
    _ladder(con, EARLIER - timedelta(days=1), ["old"] * 50)  # an older run: ignored
    _ladder(con, EARLIER, ["a"] * 100)
    _people(con, 70)
    _ladder(con, NOW, ["a"] * 60 + ["b"] * 10)  # 10 of the 70 still here moved rung
    con.execute(
        "INSERT INTO person_merges SELECT 'p_old' || i, 'p1', 'merged by email', ? "
        "FROM range(6) t(i)",
        [NOW],
    )
    # Before this run, and a split: neither counts as merged this run.
    con.execute("INSERT INTO person_merges VALUES ('x', 'p1', 'merged by email', ?)", [EARLIER])
    con.execute("INSERT INTO person_merges VALUES ('y', 'p1', 'split', ?)", [NOW])
    harm = harm_measures(con, STARTED)
    assert (harm.people_before, harm.people_now, harm.merged, harm.rung_changed) == (
        100,
        70,
        6,
        10,
    )
    assert harm.previous_run_at == EARLIER
    assert round(harm.people_lost_share, 2) == 0.30
    problems = harm_problems(con, STARTED, LIMITS)
    assert len(problems) == 2  # 30% lost > 20%, 6% merged > 5%; 10% moved < 25%
    assert "fell by 30" in problems[0] and "CHECK_PEOPLE_DROP_SHARE" in problems[0]
    assert "6 people were merged" in problems[1]


def test_the_first_run_and_a_steady_run_pass(con):
    _people(con, 40)
    assert harm_problems(con, STARTED, LIMITS) == []  # nothing to compare with yet
    _ladder(con, EARLIER, ["a"] * 40)
    _ladder(con, NOW, ["a"] * 35 + ["b"] * 5)
    assert harm_problems(con, STARTED, LIMITS) == []
    # A stricter limit trips on the same run.
    strict = {**LIMITS, "CHECK_RUNG_CHANGE_SHARE": 0.1}
    rung = next(c for c in HARM_CHECKS if c.name == "rung_changes_within_share")
    problem = harm_problem(harm_measures(con, STARTED), rung, strict)
    assert problem and "5 people changed rung" in problem and "12% of 40" in problem


def _landing(con, run: str, records: int, mode: str, at: datetime) -> int:
    return record_landing(
        con, Landing(run, "mailchimp_members", "mailchimp", mode, records, at, at)
    )


def test_a_landing_is_compared_with_the_median_of_its_recent_landings_in_the_same_mode(con):
    for day, records in enumerate([90, 110, 100, 5000]):
        mode = "full" if records == 5000 else "incremental"
        _landing(con, f"r{day}", records, mode, EARLIER - timedelta(days=10 - day))
    _landing(con, "now", 40, "incremental", NOW)
    trend = fetch_trend(con, "mailchimp_members", "now")
    assert (trend.records, trend.median, trend.earlier) == (40, 100.0, 3)
    assert trend.dropped(0.5) and not trend.dropped(0.3)


def test_too_few_landings_make_no_trend(con):
    _landing(con, "r1", 100, "incremental", EARLIER)
    _landing(con, "now", 1, "incremental", NOW)
    trend = fetch_trend(con, "mailchimp_members", "now")
    assert trend.median is None and not trend.dropped(0.5)


def test_a_landing_counts_the_rows_its_platform_quarantined_during_it(con):
    con.execute(
        "INSERT INTO quarantine VALUES ('mailchimp', NULL, NULL, 'cut off', NULL, 'now', ?), "
        "('mailchimp', NULL, NULL, 'cut off', NULL, 'now', ?), "
        "('mailchimp', NULL, NULL, 'cut off', NULL, 'other', ?), "
        "('forms', 'f.csv', 2, 'bad row', NULL, 'now', ?)",
        [NOW, NOW, NOW, NOW],
    )
    assert _landing(con, "now", 98, "incremental", STARTED) == 2
    assert quarantined_share(98, 2) == 0.02 and quarantined_share(0, 0) == 0.0
