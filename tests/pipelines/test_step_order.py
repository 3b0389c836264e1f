"""The Dagster asset graph runs the SQL steps in their declared order (transforms/steps.py):
every asset that runs steps exists, an asset that reads what another's steps write is
downstream of it, and an asset upstream of another runs its steps first."""

from __future__ import annotations

import dagster as dg

from transforms import steps

PLACEHOLDERS = {
    "ACTION_NETWORK_API_KEY": "placeholder",
    "MAILCHIMP_API_KEY": "placeholder-us6",
    "MAILCHIMP_LIST_ID": "placeholder",
}
# Operations outside the asset graph (`make forget` is its own job).
NOT_ASSETS = {"forget"}


def asset_graph(monkeypatch):
    for name, value in PLACEHOLDERS.items():
        monkeypatch.setenv(name, value)
    from pipelines.definitions import build_definitions

    return build_definitions().resolve_asset_graph()


def ancestors(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    found: set[dg.AssetKey] = set()
    todo = list(graph.get(key).parent_keys)
    while todo:
        parent = todo.pop()
        if parent not in found:
            found.add(parent)
            todo.extend(graph.get(parent).parent_keys)
    return found


def test_the_asset_graph_runs_the_steps_in_their_declared_order(monkeypatch):
    graph = asset_graph(monkeypatch)
    keys = graph.get_all_asset_keys()
    groups = [g for g in steps.group_steps() if g not in NOT_ASSETS]
    # A group names an asset; a multi-asset's group stands for every key its op makes.
    op_keys = {}
    for group in groups:
        key = dg.AssetKey(group)
        assert key in keys, f"steps.py names asset {group}, which the definitions lack"
        op_keys[group] = set(graph.get(key).assets_def.keys)
    upstream = {g: set().union(*(ancestors(graph, k) for k in op_keys[g])) for g in groups}
    position = {s.name: i for i, s in enumerate(steps.STEPS)}

    checked = 0
    for step in steps.STEPS:
        if step.group in NOT_ASSETS:
            continue
        for name in step.reads:
            writer = steps.writer_of(name, step.name)
            if writer is None or writer.group == step.group:
                continue
            checked += 1
            assert op_keys[writer.group] & upstream[step.group], (
                f"step {step.name} (asset {step.group}) reads {name}, which step "
                f"{writer.name} (asset {writer.group}) writes, but {writer.group} is not "
                f"upstream of {step.group} in the asset graph"
            )
    assert checked > 10

    for earlier in groups:
        for later in groups:
            if earlier != later and op_keys[earlier] & upstream[later]:
                last = max(position[n] for n in steps.group_steps()[earlier])
                first = min(position[n] for n in steps.group_steps()[later])
                assert last < first, f"{earlier} is upstream of {later} but its steps run after"
