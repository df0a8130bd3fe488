"""`mw data ...` as a user runs it: exit codes, --json, one-line errors, nothing half-written.

The commands run in-process through the real entry point (`mw_in_process`:
click's CliRunner around `modelward.cli.main.main`, error boundary included);
one test drives a real `mw` process end to end.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import Result, mw, mw_in_process


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    pd.DataFrame(
        {"age": [17, 25, 31, 40], "income": [0.0, 30.5, None, 61.0], "city": ["a", "b", "a", "c"]}
    ).to_csv(path, index=False)
    return path


def _assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _store_is_empty(home: Path) -> None:
    result = mw_in_process("data", "list", "--json", home=home)
    assert result.code == 0 and result.json() == []
    blobs = home / "blobs"
    assert not blobs.exists() or [p for p in blobs.rglob("*") if not p.is_dir()] == []


def test_add_show_list_export_diff(tmp_path: Path, csv_file: Path) -> None:
    home = tmp_path / "home"
    added = mw_in_process("data", "add", csv_file, "--name", "people", "--json", home=home)
    assert added.code == 0, added.stderr
    assert added.json()["ref"] == "people@1" and added.json()["created"] is True
    again = mw_in_process("data", "add", csv_file, "--name", "people", "--json", home=home)
    assert again.json()["created"] is False and again.json()["ref"] == "people@1"

    shown = mw_in_process("data", "show", "people@1", "--json", home=home)
    columns = {c["name"]: c for c in shown.json()["profile"]["columns"]}
    assert columns["income"]["missing"] == 1
    assert columns["age"]["numeric"]["mean"] == pytest.approx(28.25)
    human = mw_in_process("data", "show", "people", home=home)
    assert human.code == 0 and "people@1" in human.stdout and "income" in human.stdout

    listed = mw_in_process("data", "list", "--json", home=home).json()
    assert [(d["name"], d["latest"], d["versions"]) for d in listed] == [("people", 1, 1)]

    out = tmp_path / "out.parquet"
    exported = mw_in_process("data", "export", "people@1", out, "--json", home=home)
    assert exported.code == 0 and pd.read_parquet(out)["age"].tolist() == [17, 25, 31, 40]

    changed = tmp_path / "people2.csv"
    pd.read_csv(csv_file).assign(age=lambda f: f["age"] + 10).to_csv(changed, index=False)
    assert mw_in_process("data", "add", changed, "--name", "people", home=home).code == 0
    diff = mw_in_process("data", "diff", "people@1", "people@2", "--json", home=home).json()
    age = next(c for c in diff["columns"] if c["name"] == "age")
    assert age["stats"]["mean"]["delta"] == pytest.approx(10.0)
    assert mw_in_process("data", "diff", "people@1", "people@2", home=home).code == 0


def test_transform_from_the_cli(tmp_path: Path, csv_file: Path) -> None:
    home = tmp_path / "home"
    mw_in_process("data", "add", csv_file, "--name", "people", home=home)
    spec = tmp_path / "prep.yaml"
    spec.write_text(
        "steps:\n  - fill_missing: {columns: [income], strategy: median}\n"
        '  - filter: "age >= 18"\n  - one_hot: {columns: [city]}\n'
    )
    result = mw_in_process(
        "data", "transform", "people@1", "--spec", spec, "--name", "prep", "--json", home=home
    )
    assert result.code == 0, result.stderr
    assert result.json()["n_rows"] == 3 and result.json()["parent"] == "people@1"
    shown = mw_in_process("data", "show", "prep@1", "--json", home=home).json()
    assert shown["lineage"] == ["people@1"]
    human = mw_in_process("data", "show", "prep@1", home=home).stdout
    assert "prep@1 <- people@1" in human


@pytest.mark.parametrize(
    ("setup", "args", "fragments"),
    [
        (None, ["data", "add", "missing.csv", "--name", "x"], ["no such file", "missing.csv"]),
        ("empty.csv", ["data", "add", "empty.csv", "--name", "x"], ["empty"]),
        ("header.csv", ["data", "add", "header.csv", "--name", "x"], ["no data rows"]),
        ("bad.csv", ["data", "add", "bad.csv", "--name", "x"], ["cannot read", "csv"]),
        ("data.xlsx", ["data", "add", "data.xlsx", "--name", "x"], ["unknown file format"]),
        ("good.csv", ["data", "add", "good.csv", "--name", "../evil"], ["illegal dataset name"]),
        ("good.csv", ["data", "add", "good.csv"], ["--name"]),
        (None, ["data", "show", "nobody@1"], ["unknown dataset 'nobody'"]),
        (None, ["data", "show", "x@@1"], ["alias"]),
        (None, ["data", "bogus"], ["No such command"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, setup: str | None, args: list[str], fragments: list[str]
) -> None:
    home = tmp_path / "home"
    contents = {
        "empty.csv": "",
        "header.csv": "a,b\n",
        "bad.csv": 'a,b\n1,2\n3,4,5,6\n"unterminated\n',
        "data.xlsx": "not really excel",
        "good.csv": "a,b\n1,2\n",
    }
    if setup:
        (tmp_path / setup).write_text(contents[setup])
    result = mw_in_process(*args, home=home, cwd=tmp_path)
    _assert_one_line_error(result, *fragments)
    _store_is_empty(home)


def test_errors_with_json_also_print_a_json_error(tmp_path: Path) -> None:
    result = mw_in_process("data", "show", "nobody", "--json", home=tmp_path / "home")
    assert result.code == 2
    assert result.json()["error"]["type"] == "NotFound"


def test_bad_transform_specs(tmp_path: Path, csv_file: Path) -> None:
    home = tmp_path / "home"
    mw_in_process("data", "add", csv_file, "--name", "people", home=home)
    cases = {
        "steps:\n  - normalize: {columns: [nope], method: zscore}\n": "nope",
        "steps:\n  - explode: {columns: [age]}\n": "explode",
        'steps:\n  - filter: "age >>= 3"\n': "filter",
        "steps: [\n": "YAML",
    }
    for text, fragment in cases.items():
        spec = tmp_path / "spec.yaml"
        spec.write_text(text)
        result = mw_in_process(
            "data", "transform", "people", "--spec", spec, "--name", "out", home=home
        )
        _assert_one_line_error(result, fragment)
    missing = mw_in_process(
        "data", "transform", "people", "--spec", tmp_path / "none.yaml", "--name", "o", home=home
    )
    _assert_one_line_error(missing, "no such spec file")
    assert [d["name"] for d in mw_in_process("data", "list", "--json", home=home).json()] == [
        "people"
    ]


def test_export_to_an_unknown_format_or_missing_folder(tmp_path: Path, csv_file: Path) -> None:
    home = tmp_path / "home"
    mw_in_process("data", "add", csv_file, "--name", "people", home=home)
    _assert_one_line_error(
        mw_in_process("data", "export", "people", tmp_path / "x.xml", home=home),
        "unknown file format",
    )
    _assert_one_line_error(
        mw_in_process("data", "export", "people", tmp_path / "no" / "x.csv", home=home),
        "does not exist",
    )


def test_end_to_end_in_a_real_process(tmp_path: Path, csv_file: Path) -> None:
    """The installed entry point in its own process: output, exit codes, one-line errors."""
    home = tmp_path / "home"
    added = mw("data", "add", csv_file, "--name", "people", "--json", home=home)
    assert added.code == 0, added.stderr
    assert added.json()["ref"] == "people@1" and added.json()["n_rows"] == 4
    human = mw("data", "show", "people@1", home=home)
    assert human.code == 0 and "people@1" in human.stdout and "income" in human.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text('a,b\n1,2\n3,4,5,6\n"unterminated\n')
    _assert_one_line_error(mw("data", "add", bad, "--name", "bad", home=home), "cannot read")
    listed = mw("data", "list", "--json", home=home).json()
    assert [d["name"] for d in listed] == ["people"]
    assert len([p for p in (home / "blobs").rglob("*") if p.is_file()]) == 1
