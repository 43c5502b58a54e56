"""Gates on dotted names and on metrics with members (candidates, groups)."""

import math

import pytest

from infocli.errors import InfoCliError
from infocli.gates import apply_gates, parse_gate
from infocli.report.documents import _gate_dicts

KNOWN = ["accuracy", "kl_divergence.p99", "kl_divergence.p99.9", "delta.cross_entropy", "groups.accuracy"]


@pytest.mark.parametrize("name", KNOWN[1:])
def test_dotted_names_parse(name):
    gate = parse_gate(f"{name} > 0.5", KNOWN)
    assert (gate.metric, gate.op, gate.threshold) == (name, ">", 0.5)


def test_an_unknown_dotted_name_is_refused():
    with pytest.raises(InfoCliError, match="unknown metric 'kl_divergence.p42'"):
        parse_gate("kl_divergence.p42 > 1", KNOWN)


@pytest.mark.parametrize(
    ("expr", "worst", "failing"),
    [
        ("groups.accuracy < 0.8", 0.7, ("b",)),
        ("groups.accuracy <= 0.9", 0.7, ("a", "b")),
        ("groups.accuracy > 0.92", 0.95, ("c",)),
        ("groups.accuracy >= 0.99", 0.95, ()),
    ],
)
def test_a_gate_with_members_fails_when_any_member_fails(expr, worst, failing):
    [result] = apply_gates([parse_gate(expr, KNOWN)], {"groups.accuracy": {"a": 0.9, "b": 0.7, "c": 0.95}})
    assert result.value == worst
    assert result.failing == failing
    assert result.failed == bool(failing)
    assert _gate_dicts([result])[0]["failing"] == list(failing)


def test_a_nan_member_fails_and_makes_the_value_nan():
    [result] = apply_gates(
        [parse_gate("groups.accuracy < 0.5", KNOWN)], {"groups.accuracy": {"a": 0.9, "b": math.nan}}
    )
    assert result.failed and result.failing == ("b",) and math.isnan(result.value)


def test_a_plain_gate_has_no_members_in_its_json():
    [result] = apply_gates([parse_gate("accuracy < 0.5", KNOWN)], {"accuracy": 0.4})
    assert result.failed and result.failing is None
    assert "failing" not in _gate_dicts([result])[0]
