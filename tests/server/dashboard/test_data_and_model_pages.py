"""Dataset and model pages: profile charts, diff, lineage, versions, audit, rollback."""

from __future__ import annotations

import re

import pytest

import modelward as mw
from tests.server.dashboard.seed import seed_loop, seed_traffic
from tests.server.dashboard.test_pages import _csrf, sign_in
from tests.server.support import ADMIN, READER, WRITER, TeamServer


@pytest.fixture
def loop(team: TeamServer) -> dict[str, str]:
    """raw@1 -> prep@1 (a transform) -> a run -> clf@1 and clf@2, `production` on @2."""
    return seed_loop()


def test_a_versions_page_shows_a_chart_per_column_and_its_lineage(
    team: TeamServer, loop: dict[str, str]
) -> None:
    browser = sign_in(team)
    page = browser.get("/datasets/raw/1").text
    assert len(re.findall(r'data-bars="\d+"', page)) >= 2  # a histogram of x, top values of city
    assert re.search(r'data-bars="20"', page)  # x: the profile's 20 bins
    lineage = re.search(
        r'<svg [^>]*class="chart lineage"[^>]*data-nodes="(\d+)" data-edges="(\d+)"', page
    )
    assert lineage is not None
    # raw@1 -> prep@1 -> two runs -> clf@1, clf@2
    assert (int(lineage.group(1)), int(lineage.group(2))) == (6, 5)
    assert 'href="/models/clf"' in page and f'href="/runs/{loop["run"]}"' in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "predictions" not in page  # nothing served yet


def test_the_lineage_ends_in_the_predictions_a_served_version_made(
    team: TeamServer, loop: dict[str, str]
) -> None:
    seed_traffic(team.workspace.db)  # 120 requests answered by clf@2, none by clf@1
    page = sign_in(team).get("/datasets/raw/1").text
    lineage = re.search(
        r'<svg [^>]*class="chart lineage"[^>]*data-nodes="(\d+)" data-edges="(\d+)"', page
    )
    assert lineage is not None
    assert (int(lineage.group(1)), int(lineage.group(2))) == (7, 6)  # + clf@2 -> predictions
    assert "120 predictions" in page and 'href="/monitoring/clf"' in page


def test_the_diff_of_two_versions_shows_what_changed(
    team: TeamServer, loop: dict[str, str]
) -> None:
    browser = sign_in(team)
    listing = browser.get("/datasets/raw").text
    assert 'action="/datasets/diff"' in listing
    page = browser.get("/datasets/diff", params={"a": "raw@1", "b": "raw@2"}).text
    assert re.search(r'<tr class="differs"><td>x</td><td>std</td>', page)
    assert browser.get("/datasets/diff", params={"a": "raw@1"}).status_code == 400
    assert browser.get("/datasets/nope").status_code == 404
    assert browser.get("/datasets/raw/9").status_code == 404
    assert browser.get("/datasets").text.count('href="/datasets/') >= 2


def test_a_models_page_lists_versions_aliases_and_the_audit_log(
    team: TeamServer, loop: dict[str, str]
) -> None:
    page = sign_in(team).get("/models/clf").text
    assert "@1" in page and "@2" in page and "production" in page
    assert "&lt;script&gt;" in page and "<script>alert" not in page  # the reason, escaped
    assert 'action="/models/clf/aliases/production"' not in page  # a reader sees no controls
    assert sign_in(team).get("/models").text.count('href="/models/clf"') == 1


def test_an_admin_rolls_an_alias_back_and_the_audit_names_the_token(
    team: TeamServer, loop: dict[str, str]
) -> None:
    admin = sign_in(team, ADMIN)
    page = admin.get("/models/clf").text
    assert 'action="/models/clf/aliases/production"' in page
    form = {"csrf": _csrf(page), "version": "1", "reason": "bad week"}
    assert (
        admin.post("/models/clf/aliases/production", data={**form, "csrf": "x"}).status_code == 403
    )
    moved = admin.post("/models/clf/aliases/production", data=form, follow_redirects=False)
    assert moved.status_code == 303
    assert mw.models.get("clf@production").version == 1
    latest = mw.models.audit("clf")[0]
    assert (latest.actor, latest.from_version, latest.to_version, latest.reason) == (
        "admin",
        2,
        1,
        "bad week",
    )
    # the gate holds on the dashboard too: clf@2's f1 (0.51) is below production's (0.6)
    refused = admin.post(
        "/models/clf/aliases/production",
        data={**form, "version": "2", "require": "f1 >= production.f1"},
    )
    assert refused.status_code == 409 and "refused" in refused.text
    assert mw.models.get("clf@production").version == 1
    # a move through a gate that holds shows the gate and what it compared in the audit
    passed = admin.post(
        "/models/clf/aliases/production",
        data={**form, "version": "2", "require": "f1 >= 0.5", "reason": "gated"},
        follow_redirects=False,
    )
    assert passed.status_code == 303
    audit = admin.get("/models/clf").text
    assert re.search(r"<td>gated</td><td>f1 &gt;= 0.5: 0.51 vs 0.5 \(passes\)</td>", audit), audit


def test_a_reader_and_a_writer_cannot_roll_back(team: TeamServer, loop: dict[str, str]) -> None:
    for role in (READER, WRITER):
        browser = sign_in(team, role)
        csrf = _csrf(browser.get("/models/clf").text)
        response = browser.post(
            "/models/clf/aliases/production", data={"csrf": csrf, "version": "1"}
        )
        assert response.status_code == 403, role
    assert mw.models.get("clf@production").version == 2
