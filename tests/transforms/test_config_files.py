"""ladder.yaml, identity.yaml and forms.yaml are typed: a typo'd key or a value of the wrong
kind is refused with one message naming the file, the path inside it and what is allowed,
and repeating no value from the file (only its keys and the names of rungs and lists)."""

from pathlib import Path

import pytest
import yaml

from connectors.forms.config import FormsConfigError, load_column_maps
from transforms.identity_config import IdentityConfigError, load_identity_config
from transforms.ladder_config import LadderConfigError, load, parse

ROOT = Path(__file__).resolve().parents[2]
# A value that must never be repeated in a message (it could be a person's address).
SECRET = "ana.lima@example.org"
RUNG = {"name": "hq", "where": "true"}
LIST = {"name": "new_joiners", "where": "true"}
RUNG_KEYS = "name, description, where, tags, emails, reason, next_ask, push"


def _ladder(**changes):
    return {"namespace": "gs:", "rungs": [RUNG], **changes}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _ladder(namespaces=SECRET),
            "ladder.yaml: namespaces: unknown key; allowed keys: namespace, rungs, lists, sync",
        ),
        (
            _ladder(rungs=[RUNG, {"name": "activist", "wher": SECRET}]),
            f"ladder.yaml: rungs.activist.wher: unknown key; allowed keys: {RUNG_KEYS}",
        ),
        (
            _ladder(rungs=[RUNG, {"name": "Not A Name", "where": SECRET}]),
            "ladder.yaml: rungs[2].name: must be lower case letters, digits and underscores, "
            "starting with a letter",
        ),
        (
            _ladder(rungs=[RUNG, {"where": SECRET}]),
            "ladder.yaml: rungs[2].name: missing; give lower case letters",
        ),
        (
            _ladder(rungs=[RUNG, {"name": "b", "where": [SECRET]}]),
            "ladder.yaml: rungs.b.where: must be text",
        ),
        (
            _ladder(rungs=[{"name": "hq", "emails": SECRET}]),
            "ladder.yaml: rungs.hq.emails: must be a list, each text",
        ),
        (
            _ladder(lists=[{**LIST, "order_by": {"recruits": SECRET}}]),
            "ladder.yaml: lists.new_joiners.order_by: must be text",
        ),
        (
            _ladder(lists=[{**LIST, "limit": SECRET, "order_by": "actions_90d"}]),
            "ladder.yaml: lists.new_joiners.limit: must be a whole number",
        ),
        (
            _ladder(lists=[{**LIST, "grup_by": "region"}]),
            "ladder.yaml: lists.new_joiners.grup_by: unknown key; allowed keys: name, "
            "description, where, reason, channel, columns, push, group_by, order_by, limit, "
            "start_journeys",
        ),
        (
            _ladder(lists=[{**LIST, "columns": ["email", {"to": SECRET}]}]),
            "ladder.yaml: lists.new_joiners.columns[2]: must be text",
        ),
        (
            _ladder(lists={"new_joiners": LIST}),
            "ladder.yaml: lists: must be a list, each a mapping with the keys name,",
        ),
        (
            _ladder(sync={"mailchimp": {"journeys": SECRET}}),
            "ladder.yaml: sync.mailchimp.journeys: unknown key; allowed keys: tier_merge_field, "
            "add_new_people, batch_above, batch_size",
        ),
        (
            _ladder(sync={"max_remove_share": 1.5}),
            "ladder.yaml: sync.max_remove_share: must be a number between 0 and 1",
        ),
        (
            _ladder(sync={"mailchimp": {"batch_size": 0}}),
            "ladder.yaml: sync.mailchimp.batch_size: must be a whole number of at least 1",
        ),
        (
            _ladder(sync={"action_network": {"add_new_people": "yes"}}),
            "ladder.yaml: sync.action_network.add_new_people: must be true or false",
        ),
        (
            _ladder(sync={"mailchimp": {"tier_merge_field": SECRET}}),
            "ladder.yaml: sync.mailchimp.tier_merge_field: not a Mailchimp merge tag: up to 10",
        ),
        (
            _ladder(sync=[SECRET]),
            "ladder.yaml: sync: must be a mapping with the keys max_remove_share,",
        ),
        ([SECRET], "ladder.yaml: must be a mapping with the keys namespace, rungs, lists, sync"),
    ],
)
def test_ladder_mistakes_name_the_path_and_what_is_allowed(data, message):
    with pytest.raises(LadderConfigError) as raised:
        parse(data)
    text = str(raised.value)
    assert text.startswith(message), text
    assert len(text.splitlines()) == 1, "one message"
    assert SECRET not in text and "Not A Name" not in text, "no value from the file"


def test_typo_in_every_mapping_of_the_shipped_ladder_is_refused():
    """Each mapping of the shipped file, given one extra key, is refused by its path."""
    shipped = yaml.safe_load((ROOT / "ladder.yaml").read_text())
    places = [
        ((), "typo"),
        (("rungs", 1), "rungs.organiser.typo"),
        (("lists", 3), "lists.connectors.typo"),
        (("sync",), "sync.typo"),
        (("sync", "mailchimp"), "sync.mailchimp.typo"),
        (("sync", "action_network"), "sync.action_network.typo"),
    ]
    for keys, shown in places:
        data = yaml.safe_load((ROOT / "ladder.yaml").read_text())
        data.setdefault("sync", {"mailchimp": {}, "action_network": {}})
        node = data
        for key in keys:
            node = node[key]
        node["typo"] = SECRET
        with pytest.raises(LadderConfigError, match=f"^ladder.yaml: {shown}: unknown key; "):
            parse(data)
    assert parse(shipped).rungs[0].name == "hq"


def test_a_ladder_file_names_itself_and_never_quotes_its_lines(tmp_path):
    path = tmp_path / "ladder.yaml"
    path.write_text(
        f"namespace: 'gs:'\nrungs:\n  - name: hq\n    where: '{SECRET}'\n    reasn: x\n"
    )
    with pytest.raises(LadderConfigError) as raised:
        load(path)
    assert str(raised.value).startswith(f"{path}: rungs.hq.reasn: unknown key; allowed keys")
    path.write_text(f"namespace: 'gs:'\nrungs: [{{name: hq, where: '{SECRET}'}}\n")
    with pytest.raises(LadderConfigError, match=r"not valid YAML \(line 3, column 1: ") as raised:
        load(path)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"probabilistic:\n  treshold: '{SECRET}'\n",
            "identity.yaml: probabilistic.treshold: unknown key; allowed keys: enabled, "
            "link_threshold, review_threshold, min_records, train_records, seed",
        ),
        (
            f"review:\n  decision_file: '{SECRET}'\n",
            "identity.yaml: review.decision_file: unknown key; allowed keys: decisions_file, "
            "review_file",
        ),
        (
            f"placeholder:\n  emails: ['{SECRET}']\n",
            "identity.yaml: placeholder: unknown key; allowed keys: source_priority, "
            "placeholders, probabilistic, review",
        ),
        (
            f"placeholders:\n  emails: '{SECRET}'\n",
            "identity.yaml: placeholders.emails: must be a list, each text",
        ),
        (
            f"source_priority: [mailchimp, '{SECRET}']\n",
            "identity.yaml: source_priority[2]: must be one of action_network, mailchimp, forms",
        ),
        (
            "probabilistic:\n  link_threshold: 1.5\n",
            "identity.yaml: probabilistic.link_threshold: must be a number between 0 and 1",
        ),
        (
            "probabilistic:\n  min_records: many\n",
            "identity.yaml: probabilistic.min_records: must be a whole number of at least 0",
        ),
    ],
)
def test_identity_mistakes_name_the_path_and_what_is_allowed(tmp_path, text, message):
    path = tmp_path / "identity.yaml"
    path.write_text(text)
    with pytest.raises(IdentityConfigError) as raised:
        load_identity_config(path)
    shown = str(raised.value).replace(str(path), "identity.yaml")
    assert shown.startswith(message), shown
    assert SECRET not in shown


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("column_map: {}\n", "forms.yaml: column_map: unknown key; allowed keys: column_maps"),
        (
            f"column_maps:\n  'signups_*.csv': {{emial: '{SECRET}'}}\n",
            "forms.yaml: column_maps['signups_*.csv'].emial: unknown field; allowed fields: ",
        ),
        (
            f"column_maps:\n  'signups.csv': {{email: ['{SECRET}']}}\n",
            "forms.yaml: column_maps['signups.csv'].email: must be text",
        ),
    ],
)
def test_forms_mistakes_name_the_path_and_what_is_allowed(tmp_path, text, message):
    path = tmp_path / "forms.yaml"
    path.write_text(text)
    with pytest.raises(FormsConfigError) as raised:
        load_column_maps(path)
    shown = str(raised.value).replace(str(path), "forms.yaml")
    assert shown.startswith(message), shown
    assert SECRET not in shown


def test_the_shipped_files_load():
    assert load(ROOT / "ladder.yaml").sync.max_people == 25000
    assert load_identity_config(ROOT / "identity.yaml").probabilistic.seed == 42
