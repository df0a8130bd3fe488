"""Validated names match as a whole: a trailing newline (what `$` lets through) is refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modelward.errors import InvalidInput
from modelward.refs import Ref, validate_alias, validate_name
from modelward.store.artifacts import check_digest
from modelward.tracking.entities import validate_key

TRAILING = ["\n", "\r\n", "\x00", " ", "\t"]


@pytest.mark.parametrize("tail", TRAILING)
def test_names_aliases_keys_and_digests_refuse_a_trailing_character(tail: str) -> None:
    with pytest.raises(InvalidInput, match="illegal"):
        validate_name("churn" + tail, "dataset name")
    with pytest.raises(InvalidInput, match="illegal alias"):
        validate_alias("production" + tail)
    with pytest.raises(InvalidInput):
        Ref.parse("churn" + tail + "@production")
    with pytest.raises(InvalidInput, match="illegal param name"):
        validate_key("optimizer" + tail, "param")
    with pytest.raises(InvalidInput, match="sha256"):
        check_digest("a" * 64 + tail)


def test_the_legal_forms_still_pass() -> None:
    assert validate_name("churn-clf.v2_x") == "churn-clf.v2_x"
    assert validate_alias("production") == "production"
    assert Ref.parse("churn@3") == Ref("churn", version=3)
    assert Ref.parse("churn@production") == Ref("churn", alias="production")
    assert validate_key("val loss/epoch", "metric") == "val loss/epoch"
    assert check_digest("0" * 64) == "0" * 64


def test_a_version_is_ascii_digits() -> None:
    with pytest.raises(InvalidInput, match="illegal alias"):
        Ref.parse("churn@\u0661")  # ARABIC-INDIC DIGIT ONE: isdigit() is true


def test_newline_names_are_refused_where_users_give_them(home: Path, tmp_path: Path) -> None:
    import modelward as mw

    source = tmp_path / "d.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(source, index=False)
    with pytest.raises(InvalidInput, match="illegal dataset name"):
        mw.data.add(source, name="churn\n")
    with pytest.raises(InvalidInput, match="illegal experiment name"):
        mw.start_run(experiment="churn\n")
    assert mw.data.list() == []
