"""Organiser downloads: consent, columns, formula neutralising in CSV and XLSX, groups and
safe file names, index.html, and the atomic swap."""

import csv
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.support.raw import NOW
from tests.transforms.test_lists import RUNGS, put_ladder, put_metrics
from transforms import exports
from transforms.exports import safe_name, write_list_exports
from transforms.ladder_config import parse
from transforms.segments import build_segments


def config(*lists: dict):
    return parse({"namespace": "gs:", "rungs": RUNGS, "lists": list(lists)})


def build(con, ladder, metrics: dict[str, dict]):
    put_metrics(con, metrics)
    put_ladder(con, dict.fromkeys(metrics, ("bottom", 3)))
    build_segments(con, ladder, NOW)


def leftovers(folder: Path) -> list[str]:
    """Temporary or set-aside folders left beside the exports."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".out")]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_xlsx(path: Path) -> list[list]:
    sheet = load_workbook(path).active
    return [[cell for cell in row] for row in sheet.iter_rows()]


PEOPLE = {
    "ana": {"phone": "+12025550101", "phone_reachable": True, "region": "North"},
    "bo": {"phone": "+12025550102", "phone_suppressed": True, "region": "North"},
    "cy": {"email_suppressed": True, "phone": "+12025550103", "region": "South"},
    "di": {"email": None, "region": "South"},
}


def test_email_list_leaves_out_email_opt_outs(con, tmp_path):
    ladder = config({"name": "mail", "where": "true", "channel": "email"})
    build(con, ladder, PEOPLE)
    # Even a member the segment step let through (an opt-out since) is left out here.
    con.execute(
        "INSERT INTO segment_members (segment, person_id, reason, computed_at) "
        "VALUES ('list:mail', 'cy', 'stale', ?)",
        [NOW],
    )
    write_list_exports(con, ladder, tmp_path / "out", NOW)
    rows = read_csv(tmp_path / "out" / "mail" / "all.csv")
    assert sorted(r["person_id"] for r in rows) == ["ana", "bo"]


def test_phone_list_never_includes_a_phone_opt_out(con, tmp_path):
    ladder = config(
        {"name": "call", "where": "true", "channel": "phone", "columns": ["given_name", "phone"]}
    )
    build(con, ladder, PEOPLE)
    con.execute(
        "INSERT INTO segment_members (segment, person_id, reason, computed_at) "
        "VALUES ('list:call', 'bo', 'stale', ?)",
        [NOW],
    )
    write_list_exports(con, ladder, tmp_path / "out", NOW)
    rows = read_csv(tmp_path / "out" / "call" / "all.csv")
    assert [r["given_name"] for r in rows] == ["Ana", "Cy"]
    assert "+12025550102" not in (tmp_path / "out" / "call" / "all.csv").read_text()
    sheet = read_xlsx(tmp_path / "out" / "call" / "all.xlsx")
    assert [c.value for c in sheet[0]] == ["given_name", "phone"]
    assert sorted(row[0].value for row in sheet[1:]) == ["Ana", "Cy"]


def test_both_channels_list_blanks_the_channel_opted_out_of(con, tmp_path):
    ladder = config(
        {
            "name": "any",
            "where": "true",
            "channel": "both",
            "columns": ["person_id", "email", "phone"],
        }
    )
    build(con, ladder, PEOPLE)
    write_list_exports(con, ladder, tmp_path / "out", NOW)
    rows = {r["person_id"]: r for r in read_csv(tmp_path / "out" / "any" / "all.csv")}
    assert set(rows) == {"ana", "bo", "cy"}  # di: no email, no phone
    assert rows["bo"]["phone"] == "" and rows["bo"]["email"] == "bo@example.org"
    assert rows["cy"]["email"] == "" and rows["cy"]["phone"] == "+12025550103"


def test_only_the_lists_columns(con, tmp_path):
    ladder = config(
        {
            "name": "mail",
            "where": "true",
            "columns": ["given_name", "tier", "reason"],
            "reason": "because",
        }
    )
    build(con, ladder, PEOPLE)
    write_list_exports(con, ladder, tmp_path / "out", NOW)
    text = (tmp_path / "out" / "mail" / "all.csv").read_text()
    assert text.splitlines()[0] == "given_name,tier,reason"
    assert "@example.org" not in text and "+1202" not in text
    assert read_csv(tmp_path / "out" / "mail" / "all.csv")[0] == {
        "given_name": "Ana",
        "tier": "bottom",
        "reason": "because",
    }
    sheet = read_xlsx(tmp_path / "out" / "mail" / "all.xlsx")
    assert [c.value for c in sheet[0]] == ["given_name", "tier", "reason"]


NASTY = {
    "f1": {"given_name": '=HYPERLINK("http://x","y")', "family_name": "a"},
    "f2": {"given_name": "+SUM(1,2)", "family_name": "b"},
    "f3": {"given_name": "-2+3", "family_name": "c"},
    "f4": {"given_name": "@cmd", "family_name": "d"},
    "f5": {"given_name": "\t=1", "family_name": "e"},
    "f6": {"given_name": "\r=1", "family_name": "f"},
    "f7": {"given_name": "Plain = fine", "family_name": "g"},
    "f8": {"given_name": "+44 20 7946 0958", "family_name": "h"},  # a phone number: kept
    "f9": {"given_name": "-1+cmd|' /C calc'!A0", "family_name": "i"},
}


def test_formulas_are_neutralised_in_csv_and_xlsx(con, tmp_path):
    ladder = config(
        {
            "name": "mail",
            "where": "true",
            "columns": ["given_name", "family_name", "reason"],
            "reason": "={given_name}",
        }
    )
    build(con, ladder, NASTY)
    write_list_exports(con, ladder, tmp_path / "out", NOW)
    expected = [
        '\'=HYPERLINK("http://x","y")',
        "'+SUM(1,2)",
        "'-2+3",
        "'@cmd",
        "'\t=1",
        "'\r=1",
        "Plain = fine",
        "+44 20 7946 0958",
        "'-1+cmd|' /C calc'!A0",
    ]
    rows = read_csv(tmp_path / "out" / "mail" / "all.csv")
    assert [r["given_name"] for r in rows] == expected
    assert all(r["reason"].startswith("'=") for r in rows)  # filled reasons too
    sheet = read_xlsx(tmp_path / "out" / "mail" / "all.xlsx")
    cells = [row[0] for row in sheet[1:]]
    # XML reads a carriage return back as a newline; the quote in front is what counts.
    assert [c.value for c in cells] == [v.replace("\r", "\n") for v in expected]
    assert all(c.data_type == "s" for c in cells), "no cell is stored as a formula"
    assert all(row[2].data_type == "s" and row[2].value.startswith("'=") for row in sheet[1:])


def test_safe_names():
    assert safe_name("North East") == "north-east"
    assert safe_name("../../etc/passwd") == "etc-passwd"
    assert safe_name("Île-de-France") == "ile-de-france"
    assert safe_name("CON") == "_con"
    assert safe_name("   ") == ""
    # Letters of any script are kept, whole (Hangul recomposed, not left as jamo).
    assert safe_name("北京") == "北京"
    assert safe_name("東京 都") == "東京-都"
    assert safe_name("서울") == "서울" and len(safe_name("서울")) == 2
    assert safe_name('a<b>c:"d|e?*f\\g') == "a-b-c-d-e-f-g"
    assert safe_name("★") == ""
    assert len(safe_name("x" * 500)) == 60


def test_groups_split_into_one_file_each_with_safe_names(con, tmp_path):
    ladder = config(
        {"name": "by_area", "where": "true", "group_by": "region", "columns": ["person_id"]},
        {
            "name": "by_postcode",
            "where": "true",
            "group_by": "left(postal_code, 2)",
            "columns": ["person_id", "postal_code"],
        },
    )
    build(
        con,
        ladder,
        {
            "a": {"region": "North East", "postal_code": "NE1 4ST"},
            "b": {"region": "north-east", "postal_code": "NE2 1AA"},
            "c": {"region": "../../etc", "postal_code": "SW1A 1AA"},
            "d": {"region": None, "postal_code": None},
            "e": {"region": "North East", "postal_code": "SW3"},
        },
    )
    report = write_list_exports(con, ladder, tmp_path / "out", NOW)
    area = tmp_path / "out" / "by_area"
    # `North East` sorts first and keeps the plain name; `north-east` gets a short hash of
    # its value, the same on every run.
    second = f"north-east-{exports._short_hash('north-east')}"
    assert sorted(p.name for p in area.iterdir()) == sorted(
        f"{n}.{ext}" for n in ("etc", "north-east", second, "unassigned") for ext in ("csv", "xlsx")
    )
    groups = {f.group: f.rows for f in report.files if f.list_name == "by_area"}
    assert groups == {"etc": 1, "north-east": 2, second: 1, "unassigned": 1}
    assert [r["person_id"] for r in read_csv(area / "north-east.csv")] == ["a", "e"]
    postcode = {f.group: f.rows for f in report.files if f.list_name == "by_postcode"}
    assert postcode == {"ne": 2, "sw": 2, "unassigned": 1}
    assert report.rows_per_list() == {"by_area": 5, "by_postcode": 5}
    # Nothing is written outside the exports folder.
    assert leftovers(tmp_path) == []


def test_index_lists_every_file_with_rows_and_time_and_no_personal_data(con, tmp_path):
    ladder = config(
        {
            "name": "by_area",
            "description": "Ask <b>them</b> & more",
            "where": "true",
            "group_by": "region",
            "columns": ["given_name", "email"],
        },
        {"name": "empty", "where": "false"},
    )
    build(
        con,
        ladder,
        {"a": {"region": "North", "given_name": "<script>x</script>"}, "b": {"region": "South"}},
    )
    write_list_exports(con, ladder, tmp_path / "out", NOW)
    page = (tmp_path / "out" / "index.html").read_text()
    for path in ("by_area/north.csv", "by_area/north.xlsx", "by_area/south.csv", "empty/all.csv"):
        assert f'href="{path}"' in page
    assert "<td>1</td>" in page and "<td>0</td>" in page
    assert "2026-11-24 12:00 UTC" in page
    assert "Ask &lt;b&gt;them&lt;/b&gt; &amp; more" in page
    assert "@example.org" not in page and "script" not in page
    # An empty list still gets its (header-only) files.
    assert read_csv(tmp_path / "out" / "empty" / "all.csv") == []


def test_old_exports_are_replaced_whole(con, tmp_path):
    out = tmp_path / "out"
    first = config({"name": "gone", "where": "true"}, {"name": "kept", "where": "true"})
    build(con, first, {"a": {}})
    write_list_exports(con, first, out, NOW)
    second = config({"name": "kept", "where": "true"})
    build(con, second, {"a": {}, "b": {}})
    write_list_exports(con, second, out, NOW)
    assert sorted(p.name for p in out.iterdir()) == [exports.MARKER, "index.html", "kept"]
    assert len(read_csv(out / "kept" / "all.csv")) == 2
    assert leftovers(tmp_path) == []


def test_a_failure_leaves_the_old_exports_intact(con, tmp_path, monkeypatch):
    out = tmp_path / "out"
    ladder = config({"name": "one", "where": "true"}, {"name": "two", "where": "true"})
    build(con, ladder, {"a": {}})
    write_list_exports(con, ladder, out, NOW)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    build(con, ladder, {"a": {}, "b": {}, "c": {}})
    real = exports._write_xlsx
    calls = []

    def failing(path, *args):
        calls.append(path)
        if len(calls) == 2:  # the first list done, the second half-written
            path.write_bytes(b"half")
            raise OSError("disk full")
        return real(path, *args)

    monkeypatch.setattr(exports, "_write_xlsx", failing)
    with pytest.raises(OSError, match="disk full"):
        write_list_exports(con, ladder, out, NOW)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert leftovers(tmp_path) == []


def test_a_failed_swap_puts_the_old_exports_back(con, tmp_path, monkeypatch):
    out = tmp_path / "out"
    ladder = config({"name": "one", "where": "true"})
    build(con, ladder, {"a": {}})
    write_list_exports(con, ladder, out, NOW)
    before = (out / "one" / "all.csv").read_bytes()
    real = exports.os.replace

    def replace(src, dst):
        if Path(src).name.startswith(".out.tmp-"):
            raise OSError("rename refused")
        return real(src, dst)

    build(con, ladder, {"a": {}, "b": {}})
    monkeypatch.setattr(exports.os, "replace", replace)
    with pytest.raises(OSError, match="rename refused"):
        write_list_exports(con, ladder, out, NOW)
    monkeypatch.undo()
    assert (out / "one" / "all.csv").read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_crash_between_renames_is_recovered_on_the_next_run(con, tmp_path):
    out = tmp_path / "out"
    ladder = config({"name": "one", "where": "true"})
    build(con, ladder, {"a": {}})
    write_list_exports(con, ladder, out, NOW)
    # As if the process died after moving the old folder aside, before the new one arrived.
    out.rename(tmp_path / ".out.old-deadbeef")
    (tmp_path / ".out.tmp-dead").mkdir()
    exports._recover(out)
    assert (out / "one" / "all.csv").exists()
    assert leftovers(tmp_path) == []


def test_default_lists_from_landed_records_to_downloads(con, tmp_path):
    """The whole path on landed records: the default ladder.yaml, segments and downloads."""
    from tests.support.raw import an_person, land
    from transforms.engagement import build_activities, build_person_metrics
    from transforms.identity import resolve
    from transforms.ladder import build_ladder
    from transforms.ladder_config import load
    from transforms.normalise import build_staging

    land(
        con,
        an=[
            an_person(
                "Sol", "Activ", "sol@example.org", uuid="u-sol", created="2026-11-22T00:00:00Z"
            ),
            an_person(
                "Lap",
                "Sed",
                "lap@example.org",
                status="unsubscribed",
                uuid="u-lap",
                created="2026-11-22T00:00:00Z",
            ),
        ],
        forms={
            "signup.csv": [
                {
                    "email": "new@example.org",
                    "given_name": '=HYPERLINK("x")',
                    "family_name": "+Nu",
                    "submitted_at": "11/23/2026 10:00:00",
                },
            ]
        },
    )
    build_staging(con, "US")
    resolve(con, NOW)
    build_activities(con)
    build_person_metrics(con, NOW)
    ladder = load("ladder.yaml")
    build_ladder(con, ladder, NOW)
    counts = build_segments(con, ladder, NOW)
    assert counts["list:welcome_new"] == 2  # not the unsubscribed newcomer
    report = write_list_exports(con, ladder, tmp_path / "out", NOW)
    assert report.rows_per_list()["welcome_new"] == 2
    files = [f for f in report.files if f.list_name == "welcome_new"]
    rows = [r for f in files for r in read_csv(tmp_path / "out" / f.csv)]
    assert sorted(r["email"] for r in rows) == ["new@example.org", "sol@example.org"]
    new = next(r for r in rows if r["email"] == "new@example.org")
    assert new["given_name"] == '\'=HYPERLINK("x")' and new["family_name"] == "'+Nu"
    assert new["reason"] == "joined on 2026-11-23 via forms"
    assert set(new) == set(ladder.lists[0].export_columns())
    assert new["ask"] == ladder.lists[0].ask  # the default list carries its ask, last
    assert (tmp_path / "out" / "index.html").exists()
    lists = ("first_action", "ready_to_host", "connectors", "slipping", "welcome_by_post")
    for name in (*lists, "door_knock"):
        assert (tmp_path / "out" / name).is_dir(), name


def test_rows_follow_the_lists_order_on_typed_values(con, tmp_path):
    ladder = config(
        {
            "name": "top",
            "where": "recruits_who_acted >= 1",
            "order_by": "recruits_who_acted DESC",
            "limit": 3,
            "columns": ["person_id", "recruits_who_acted"],
        }
    )
    build(
        con,
        ladder,
        {
            "nine": {"recruits_who_acted": 9},
            "ten": {"recruits_who_acted": 10},
            "two": {"recruits_who_acted": 2},
            "one": {"recruits_who_acted": 1},
        },
    )
    write_list_exports(con, ladder, tmp_path / "out", NOW)
    rows = read_csv(tmp_path / "out" / "top" / "all.csv")
    assert [r["person_id"] for r in rows] == ["ten", "nine", "two"]  # numbers, not text


# ------------------------------------------------------------ group names (issue 11, case 10)


def test_a_region_in_any_script_gets_its_own_file_and_never_takes_unassigned(con, tmp_path):
    ladder = config(
        {"name": "by_area", "where": "true", "group_by": "region", "columns": ["person_id"]}
    )
    build(
        con,
        ladder,
        {
            "tokyo1": {"region": "東京"},
            "tokyo2": {"region": "東京"},
            "seoul": {"region": "서울"},
            "none": {"region": None},
            "blank": {"region": "  "},
            "called_unassigned": {"region": "Unassigned"},
            "star": {"region": "★"},
            "north": {"region": "North"},
        },
    )
    report = write_list_exports(con, ladder, tmp_path / "out", NOW)
    area = tmp_path / "out" / "by_area"
    files = {f.group: f for f in report.files}
    named_unassigned = f"unassigned-{exports._short_hash('Unassigned')}"
    star = f"group-{exports._short_hash('★')}"
    assert set(files) == {"東京", "서울", "unassigned", named_unassigned, star, "north"}
    ids = {name: sorted(r["person_id"] for r in read_csv(area / f"{name}.csv")) for name in files}
    # People with no region (empty or blank) share `unassigned`, and nobody else is in it.
    assert ids["unassigned"] == ["blank", "none"]
    assert ids["東京"] == ["tokyo1", "tokyo2"]
    assert ids[named_unassigned] == ["called_unassigned"]
    assert ids[star] == ["star"] and ids["서울"] == ["seoul"] and ids["north"] == ["north"]
    assert sum(f.rows for f in report.files) == 8, "nobody lost or counted twice"
    assert (area / "東京.xlsx").is_file()
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert 'href="by_area/東京.csv"' in page
    # The same values give the same names on the next run.
    again = write_list_exports(con, ladder, tmp_path / "out", NOW)
    assert {f.group for f in again.files} == set(files)


def test_groups_that_clean_alike_are_told_apart_the_same_way_in_any_order():
    rows = {"North East": [("a",)], "north-east": [("b",)], "NORTH  EAST": [("c",)], None: []}
    forward = exports._name_groups(rows)
    backward = exports._name_groups(dict(reversed(list(rows.items()))))
    assert forward == backward
    assert len(forward) == 4 and "north-east" in forward and "unassigned" in forward


# ------------------------------------------------- folders it did not make (issue 11, case 9)


def data_folder(root: Path) -> dict[Path, bytes]:
    """A folder like `data/`: a warehouse, run history and a forms inbox."""
    files = {
        root / "warehouse.duckdb": b"DUCK" * 100,
        root / "dagster" / "history" / "runs.db": b"runs",
        root / "inbox" / "signups.csv": b"email\nsomeone@example.org\n",
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def test_an_exports_dir_holding_a_warehouse_is_refused_and_left_intact(con, tmp_path):
    data = tmp_path / "data"
    files = data_folder(data)
    ladder = config({"name": "mail", "where": "true"})
    build(con, ladder, {"a": {}})
    with pytest.raises(exports.ExportsFolderError, match="did not put there") as refused:
        write_list_exports(con, ladder, data, NOW)
    message = str(refused.value)
    assert str(data) in message and "EXPORTS_DIR" in message and "3 file(s)" in message
    assert "signups" not in message and "warehouse.duckdb" not in message
    assert {p: p.read_bytes() for p in files} == files, "every file still there, unchanged"
    assert sorted(p.name for p in data.iterdir()) == ["dagster", "inbox", "warehouse.duckdb"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".data")] == []


def test_an_exports_dir_that_is_a_file_is_refused(con, tmp_path):
    target = tmp_path / "exports"
    target.write_bytes(b"not a folder")
    ladder = config({"name": "mail", "where": "true"})
    build(con, ladder, {"a": {}})
    with pytest.raises(exports.ExportsFolderError, match="is a file, not a folder"):
        write_list_exports(con, ladder, target, NOW)
    assert target.read_bytes() == b"not a folder"


def test_an_empty_folder_is_used_and_marked(con, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    ladder = config({"name": "mail", "where": "true"})
    build(con, ladder, {"a": {}})
    write_list_exports(con, ladder, out, NOW)
    assert (out / exports.MARKER).is_file() and (out / "mail" / "all.csv").is_file()
    write_list_exports(con, ladder, out, NOW)  # marked: replaced on the next run
    assert len(read_csv(out / "mail" / "all.csv")) == 1


def test_an_exports_folder_from_before_the_mark_is_still_replaced(con, tmp_path):
    out = tmp_path / "out"
    (out / "old_list").mkdir(parents=True)
    (out / "old_list" / "north.csv").write_text("person_id\n")
    (out / "old_list" / "north.xlsx").write_bytes(b"PK")
    (out / "index.html").write_text("<title>Groundswell organiser lists</title>")
    ladder = config({"name": "mail", "where": "true"})
    build(con, ladder, {"a": {}})
    write_list_exports(con, ladder, out, NOW)
    assert sorted(p.name for p in out.iterdir()) == [exports.MARKER, "index.html", "mail"]
    # The same layout with anything else in it is not taken for Groundswell's.
    (tmp_path / "other" / "old_list").mkdir(parents=True)
    (tmp_path / "other" / "index.html").write_text("<title>Groundswell organiser lists</title>")
    (tmp_path / "other" / "old_list" / "notes.txt").write_text("mine")
    with pytest.raises(exports.ExportsFolderError):
        write_list_exports(con, ladder, tmp_path / "other", NOW)
    assert (tmp_path / "other" / "old_list" / "notes.txt").read_text() == "mine"


def test_leftovers_not_made_by_groundswell_are_never_removed(con, tmp_path):
    out = tmp_path / "out"
    ladder = config({"name": "one", "where": "true"})
    build(con, ladder, {"a": {}})
    write_list_exports(con, ladder, out, NOW)
    # Folders that only look like leftovers, holding someone else's files.
    for name in (".out.old-cafe", ".out.tmp-cafe"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "keep.txt").write_text("mine")
    (tmp_path / ".out.tmp-empty").mkdir()  # a run that died before marking its staging
    write_list_exports(con, ladder, out, NOW)
    assert (tmp_path / ".out.old-cafe" / "keep.txt").read_text() == "mine"
    assert (tmp_path / ".out.tmp-cafe" / "keep.txt").read_text() == "mine"
    assert not (tmp_path / ".out.tmp-empty").exists()
    # And one is never put in place of missing exports.
    shutil.rmtree(out)
    exports._recover(out)
    assert not out.exists()
    assert (tmp_path / ".out.old-cafe" / "keep.txt").read_text() == "mine"
