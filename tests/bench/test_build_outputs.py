"""A faster build must build the same thing: a small sandbox organisation's outputs (every
table after landing, every export) against their fingerprint from before the speed work.
A change meant to alter outputs rewrites the fingerprint:
`python -m tests.support.build_outputs --write`, and says why in its commit."""

from __future__ import annotations

import json

from tests.support.build_outputs import EXPECTED, build_and_fingerprint, differences


def test_the_build_makes_exactly_what_it_made_before(tmp_path):
    expected = json.loads(EXPECTED.read_text())
    found = build_and_fingerprint(tmp_path)
    assert not differences(expected, found), "\n".join(differences(expected, found))
    assert found["people"]["rows"] > 300 and found["activities"]["rows"] > 1000


def test_a_changed_output_is_named_with_both_counts():
    expected = {"people": {"rows": 2, "md5": "a"}, "ladder": {"rows": 2, "md5": "b"}}
    found = {"people": {"rows": 3, "md5": "c"}, "ladder": {"rows": 2, "md5": "b"}}
    assert differences(expected, found) == [
        "people: expected {'rows': 2, 'md5': 'a'}, built {'rows': 3, 'md5': 'c'}"
    ]
