"""Names and values users wrote are shown as written: never as Rich markup, never raw escapes.

A run called `[/red]` used to end a style nobody opened, and Rich refused to
print any table holding it; an ESC in a column name reached the terminal and
drove it. Every command below prints such text and must show it literally.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import Result, mw_in_process

MARKUP = ["[/red]", "[bold]x", "[link=http://evil]y[/link]", "a:smile:b"]
ESCAPE = "\x1b[31mred\x1b[0m"
SHOWN_ESCAPE = "\\x1b[31mred\\x1b[0m"


def _ok(result: Result) -> Result:
    assert result.code == 0, (result.stdout, result.stderr)
    assert "\x1b" not in result.stdout + result.stderr
    return result


def _one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("MODELWARD_HOME", str(path))
    monkeypatch.delenv("MODELWARD_DB", raising=False)
    return path


def test_runs_list_show_and_compare_show_names_and_values_literally(home: Path) -> None:
    import modelward as mw

    ids = []
    for i, name in enumerate([*MARKUP, ESCAPE]):
        with mw.start_run(experiment="odd", name=name, tags={"note": MARKUP[i % 4]}) as run:
            run.log_params({"optimizer": name, "C": i})
            run.log_metric("f1", 0.5 + i / 10)
        ids.append(run.id)

    listed = _ok(mw_in_process("runs", "list", "--experiment", "odd", home=home)).stdout
    for name in MARKUP:
        assert name in listed
    assert SHOWN_ESCAPE in listed

    shown = _ok(mw_in_process("runs", "show", ids[0], home=home)).stdout
    assert "[/red]" in shown and "optimizer" in shown
    shown = _ok(mw_in_process("runs", "show", ids[-1], home=home)).stdout
    assert shown.count(SHOWN_ESCAPE) == 2  # the name and the param value

    compared = _ok(mw_in_process("runs", "compare", *ids, home=home)).stdout
    for name in MARKUP:
        assert name in _one_line(compared) or name[:8] in compared  # wrapped in a narrow column
    assert "\\x1b" in compared


def test_data_show_list_and_diff_show_column_names_and_values_literally(
    home: Path, tmp_path: Path
) -> None:
    columns = {name: [name, "plain", name] for name in MARKUP}
    columns[ESCAPE] = [ESCAPE, "plain", "v"]
    columns["n"] = [1.0, 2.0, 3.0]
    first = tmp_path / "odd.csv"
    pd.DataFrame(columns).to_csv(first, index=False)
    _ok(mw_in_process("data", "add", first, "--name", "odd", home=home))

    shown = _ok(mw_in_process("data", "show", "odd@1", home=home)).stdout
    for name in MARKUP:
        assert f"{name} " in shown  # the column name
        assert f"{name} (2)" in shown  # the value, among the top values
    assert SHOWN_ESCAPE in shown
    assert str(first.absolute()) in _one_line(shown)
    _ok(mw_in_process("data", "list", home=home))

    second = tmp_path / "odd2.csv"
    pd.DataFrame(columns).drop(columns=["[/red]"]).assign(**{"[bold]new": [1, 2, 3]}).to_csv(
        second, index=False
    )
    _ok(mw_in_process("data", "add", second, "--name", "odd", home=home))
    diff = _ok(mw_in_process("data", "diff", "odd@1", "odd@2", home=home)).stdout
    assert "- column [/red]" in diff and "+ column [bold]new" in diff


@pytest.mark.parametrize(
    "args",
    [
        ["data", "add", f"missing{ESCAPE}.csv", "--name", "x"],  # the path, unquoted
        ["data", "add", "missing.csv", "--name", "x", f"--bogus{ESCAPE}"],
        ["data", f"bogus{ESCAPE}"],
    ],
)
def test_errors_that_echo_user_text_are_escaped(home: Path, args: list[str]) -> None:
    # color=True: click passes escapes through, as it does when stderr is a terminal.
    result = mw_in_process(*args, home=home, color=True)
    assert result.code == 2
    assert "\x1b" not in result.stderr and "\\x1b[31m" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_models_show_columns_with_markup_in_their_names(home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2))
    frame = pd.DataFrame({"[/red]": x[:, 0], ESCAPE: x[:, 1], "label": (x[:, 0] > 0).astype(int)})
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    _ok(mw_in_process("data", "add", path, "--name", "odd", home=home))
    _ok(
        mw_in_process(
            "train", "--data", "odd", "--target", "label", "--model", "logistic",
            "--register", "odd-clf", home=home,
        )
    )  # fmt: skip
    shown = _ok(mw_in_process("models", "show", "odd-clf@1", home=home)).stdout
    assert "[/red]" in shown and SHOWN_ESCAPE in shown
    _ok(mw_in_process("models", "show", "odd-clf", home=home))
    _ok(mw_in_process("models", "list", home=home))
