"""Every rule's own positive and negative examples, through the real pipeline."""
import pytest

from hostmedic.engine.rulepack import load_pack
from hostmedic.engine.ruletest import run_examples

PACK = load_pack()
CASES = [(r.id, pol, ex["name"]) for r in PACK.rules for pol in ("positive", "negative")
         for ex in r.data["examples"][pol]]


def test_builtin_pack_is_clean():
    assert PACK.problems == []
    assert len(PACK.rules) >= 4


@pytest.mark.parametrize("rule_id", sorted({r.id for r in PACK.rules}))
def test_each_rule_has_three_positive_and_three_negative_examples(rule_id):
    examples = PACK.get(rule_id).data["examples"]
    assert len(examples["positive"]) >= 3
    assert len(examples["negative"]) >= 3


@pytest.fixture(scope="module")
def results():
    return run_examples(PACK)


@pytest.mark.parametrize("rule_id,polarity,name", CASES)
def test_example(results, rule_id, polarity, name):
    results = [r for r in results if (r.rule, r.polarity, r.name) == (rule_id, polarity, name)]
    assert len(results) == 1
    result = results[0]
    assert result.passed, f"{rule_id} {polarity} example {name!r} fired {result.fired}"
