"""Erasure keeps the deterministic name + postcode + street number key too (issue 12, item
5): a forgotten person who comes back on a typed-up paper sheet or a new platform record
with only their name and address is dropped before identity sees them; a namesake at
another house number, and their neighbour, stay."""

from __future__ import annotations

from tests.support.raw import NOW, an_person, land
from transforms.erasure import Target, email_hash, forget
from transforms.identity import resolve
from transforms.normalise import build_staging


def build(con) -> dict[str, int]:
    counts = build_staging(con, "US")
    resolve(con, NOW)
    return counts


def family_names(con) -> list[str]:
    return sorted(r[0] for r in con.execute("SELECT family_name FROM people").fetchall())


def test_a_forgotten_person_does_not_come_back_by_name_and_address(con):
    land(
        con,
        an=[
            an_person(
                "Rosa",
                "Eraseworth",
                "rosa.e@example.org",
                postal_code="62701",
                address="12 High Street",
                uuid="u-rosa",
            ),
            an_person(
                "Tom",
                "Keeper",
                "tom.k@example.org",
                postal_code="62701",
                address="14 High Street",
                uuid="u-tom",
            ),
        ],
    )
    build(con)
    forget(con, Target(email_hash=email_hash("rosa.e@example.org")), NOW, "US")
    kinds = {r[0] for r in con.execute("SELECT kind FROM erasure_suppressions").fetchall()}
    assert "name_address" in kinds

    # Back on a paper sheet (no email, no phone; 'St' for 'Street', a nickname-free match),
    # beside a namesake at another number and the neighbour; and as a new activist.
    land(
        con,
        forms={
            "paper_sheet.csv": [
                {
                    "given_name": "Rosa",
                    "family_name": "ERASEWORTH",
                    "address": "12 High St",
                    "postal_code": "62701",
                },
                {
                    "given_name": "Rosa",
                    "family_name": "Eraseworth",
                    "address": "40 High Street",
                    "postal_code": "62701",
                },
                {
                    "given_name": "Tom",
                    "family_name": "Keeper",
                    "address": "14 High St",
                    "postal_code": "62701",
                },
            ]
        },
        an=[
            an_person(
                "Rosa",
                "Eraseworth",
                "rosa.new@example.net",
                postal_code="62701",
                address="12 High Street",
                uuid="u-rosa-again",
            ),
        ],
    )
    counts = build(con)
    assert counts["dropped_forgotten_forms"] == 1
    assert counts["dropped_forgotten_action_network"] == 1
    # The namesake at number 40 and Tom (both records, joined) stay; Rosa of number 12 is gone.
    assert family_names(con) == ["Eraseworth", "Keeper"]
    assert (
        con.execute(
            "SELECT count(*) FROM raw_forms WHERE row_number = 1 AND file_name = 'paper_sheet.csv'"
        ).fetchone()[0]
        == 0
    )
    assert (
        con.execute(
            "SELECT count(*) FROM raw_action_network WHERE record_id = 'u-rosa-again'"
        ).fetchone()[0]
        == 0
    )
    # Later runs keep her out without finding anything new.
    again = build(con)
    assert not any(k.startswith("dropped_forgotten") for k in again)
    assert family_names(con) == ["Eraseworth", "Keeper"]


def test_without_name_and_address_suppressions_staging_runs_once(con):
    land(
        con,
        forms={
            "sheet.csv": [
                {
                    "given_name": "Ann",
                    "family_name": "Other",
                    "address": "1 Low Rd",
                    "postal_code": "62702",
                }
            ]
        },
    )
    counts = build(con)
    assert counts == {"forms": 1}
