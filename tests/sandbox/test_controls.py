"""The sandbox's control routes: the clock (advance) and fault injection, over HTTP."""

import pytest
import requests

from sandbox import start_sandbox

# Simulator tests write tags and statuses themselves: not a sync's writes to audit.
pytestmark = pytest.mark.writes_outside_namespace


def control(base_url: str, suffix: str) -> str:
    return base_url.rsplit(suffix, 1)[0] + "/_sandbox"


def test_advance_makes_organising_happen(tmp_path):
    with start_sandbox(people=500, seed=4, an_rate=0, forms_dir=tmp_path, truth_dir=tmp_path) as sb:
        people_before = len(sb.action_network.people)
        newest_before = max(p.modified for p in sb.action_network.people)
        truth_before = (tmp_path / "truth.csv").read_text().count("\n")
        response = requests.post(
            control(sb.env["MAILCHIMP_BASE_URL"], "/3.0") + "/advance?days=3", timeout=10
        )
        counts = response.json()
        assert response.status_code == 200 and counts["people_joined"] >= 3
        assert len(sb.action_network.people) == people_before + counts["action_network_new"]
        assert counts["action_network_modified"] > 0 and counts["mailchimp_unsubscribed"] > 0
        assert max(p.modified for p in sb.action_network.people) > newest_before
        assert (tmp_path / "truth.csv").read_text().count("\n") > truth_before
        bad = requests.post(
            control(sb.env["ACTION_NETWORK_BASE_URL"], "/api/v2") + "/advance?days=-1", timeout=5
        )
        assert bad.status_code == 400


def test_fault_injection_is_configurable():
    with start_sandbox(people=50, seed=4, an_rate=0) as sb:
        base = control(sb.env["ACTION_NETWORK_BASE_URL"], "/api/v2")
        headers = {"OSDI-API-Token": sb.env["ACTION_NETWORK_API_KEY"]}
        url = sb.env["ACTION_NETWORK_BASE_URL"] + "/people"
        requests.post(base + "/faults", json={"error_rate": 1.0}, timeout=5)
        assert requests.get(url, headers=headers, timeout=5).status_code in (500, 502, 503)
        requests.post(base + "/faults", json={"error_rate": 0, "html_404_rate": 1.0}, timeout=5)
        response = requests.get(url, headers=headers, timeout=5)
        assert response.status_code == 404 and response.headers["Content-Type"].startswith(
            "text/html"
        )
        requests.post(base + "/faults", json={"html_404_rate": 0, "truncate_rate": 1.0}, timeout=5)
        cut = requests.get(url, headers=headers, timeout=5)
        assert cut.status_code == 200 and not cut.text.rstrip().endswith("}")
        requests.post(base + "/faults", json={"truncate_rate": 0, "burst_429": 2}, timeout=5)
        codes = [requests.get(url, headers=headers, timeout=5).status_code for _ in range(3)]
        assert codes == [429, 429, 200]
        state = requests.get(base + "/faults", timeout=5).json()
        assert state["injected"] == {"error": 1, "html_404": 1, "truncate": 1, "burst_429": 2}


def test_warmed_member_text_follows_tag_changes():
    with start_sandbox(people=50, seed=4, an_rate=0) as sb:
        sb.mailchimp.warm()
        member = sb.org.mc_members[0]
        url = f"{sb.env['MAILCHIMP_BASE_URL']}/lists/{sb.env['MAILCHIMP_LIST_ID']}/members"
        auth = ("x", sb.env["MAILCHIMP_API_KEY"])
        requests.post(
            f"{url}/{member.id}/tags",
            json={"tags": [{"name": "gs:x", "status": "active"}]},
            auth=auth,
            timeout=5,
        )
        page = requests.get(
            url, params={"count": 1000, "exclude_fields": "members._links"}, auth=auth, timeout=5
        ).json()
        tags = next(m["tags"] for m in page["members"] if m["id"] == member.id)
        assert "gs:x" in {t["name"] for t in tags}
