"""The pipeline pages: the history of runs, and one run's steps linked to what they made."""

from __future__ import annotations

import hashlib
import re

import pytest

from modelward.pipelines.history import SqlPipelineHistory
from modelward.pipelines.run_records import PipelineRun, StepRecord
from tests.server.dashboard.seed import IMG_XSS, XSS
from tests.server.dashboard.test_data_and_model_pages import loop  # noqa: F401
from tests.server.dashboard.test_pages import sign_in
from tests.server.support import TeamServer


def key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def pipelines(team: TeamServer, loop: dict[str, str]) -> dict[str, PipelineRun]:  # noqa: F811
    """A refused run started by an alert (hostile names everywhere) and a cached rerun."""
    history = SqlPipelineHistory(team.workspace.db)
    refused = history.start(
        pipeline=f"churn{XSS}", path=f"{IMG_XSS}.yaml", spec_digest=key("spec"),
        trigger=f"alert:clf/{XSS}", started_by=IMG_XSS,
    )  # fmt: skip
    steps = [
        StepRecord("data", key("d"), "ran", {"dataset": loop["prep"]}, 0.5),
        StepRecord(
            "train", key("t"), "ran", {"runs": [loop["run"], "f" * 32], "best": loop["run"]}, 61
        ),
        StepRecord("register", key("r"), "ran", {"model": "clf@2"}, 0.3),
        StepRecord(
            "promote",
            key("p"),
            "refused",
            {"alias": "production", "from": 1, "to": 2, "checks": [{"f1": XSS}]},
            0.1,
            error=f"gate: {XSS}",
        ),
    ]
    for step in steps:
        history.record_step(refused.id, step)
    refused = history.finish(refused.id, "refused", f"refused: {IMG_XSS}")
    rerun = history.start(
        pipeline="churn", path="pipeline.yaml", spec_digest=key("spec"), trigger="manual",
        started_by="ada",
    )  # fmt: skip
    for step in steps[:3]:
        history.record_step(rerun.id, StepRecord(step.name, step.key, "cached", step.outputs, 0))
    return {"refused": refused, "rerun": history.finish(rerun.id, "succeeded")}


def test_the_listing_shows_every_run_newest_first_with_its_counts(
    team: TeamServer, pipelines: dict[str, PipelineRun]
) -> None:
    page = sign_in(team).get("/pipelines")
    assert page.status_code == 200
    html = page.text
    refused, rerun = pipelines["refused"], pipelines["rerun"]
    assert html.index(f'href="/pipelines/{rerun.id}"') < html.index(
        f'href="/pipelines/{refused.id}"'
    )
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    rerun_row = next(row for row in rows if rerun.id in row)
    assert "succeeded" in rerun_row and "manual" in rerun_row and "ada" in rerun_row
    numbers = re.findall(r'<td class="num">([^<]*)</td>', rerun_row)
    assert numbers[1:] == ["0", "3"]  # ran 0, cached 3
    refused_row = next(row for row in rows if refused.id in row)
    assert re.findall(r'<td class="num">([^<]*)</td>', refused_row)[1:] == ["3", "0"]
    assert "refused" in refused_row
    assert 'href="/pipelines"' in html and 'class="current">Pipelines' in html  # the nav link


def test_the_listing_filters_by_pipeline(
    team: TeamServer, pipelines: dict[str, PipelineRun]
) -> None:
    html = sign_in(team).get("/pipelines", params={"pipeline": "churn"}).text
    assert pipelines["rerun"].id in html and pipelines["refused"].id not in html
    assert sign_in(team).get("/pipelines", params={"limit": "0"}).status_code == 400


def test_a_run_page_links_each_output_to_its_page(
    team: TeamServer,
    pipelines: dict[str, PipelineRun],
    loop: dict[str, str],  # noqa: F811
) -> None:
    browser = sign_in(team)
    refused = pipelines["refused"]
    html = browser.get(f"/pipelines/{refused.id}").text
    name, version = loop["prep"].split("@")
    links = [
        f"/datasets/{name}/{version}",
        f"/runs/{loop['run']}",
        "/models/clf",
    ]
    for link in links:
        assert f'href="{link}"' in html
        assert browser.get(link).status_code == 200, link
    assert f'href="/runs/{"f" * 32}"' in html  # a candidate's run
    for step in refused.steps:
        assert f'<code title="{step.key}">{step.key[:12]}</code>' in html
    assert "61.00 s" in html and "1 min 1 s" not in html  # a step's seconds; the run's total
    assert "production" in html and "refused" in html


def test_everything_a_user_wrote_is_escaped(
    team: TeamServer, pipelines: dict[str, PipelineRun]
) -> None:
    browser = sign_in(team)
    for path in ("/pipelines", f"/pipelines/{pipelines['refused'].id}"):
        html = browser.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;alert(" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    html = browser.get(f"/pipelines/{pipelines['refused'].id}").text
    assert "gate: &lt;script&gt;" in html and "refused: &lt;img" in html  # the errors
    assert "alert:clf/&lt;script&gt;" in html  # the trigger


def test_an_unknown_run_is_a_404_page(team: TeamServer) -> None:
    browser = sign_in(team)
    for run_id in ("0" * 32, "not-a-run", "%3Cscript%3E"):
        page = browser.get(f"/pipelines/{run_id}")
        assert page.status_code == 404, run_id
        assert "<script>" not in page.text


def test_a_signed_out_browser_is_sent_to_sign_in(team: TeamServer) -> None:
    page = team.http(None).get("/pipelines", follow_redirects=False)
    assert page.status_code in (302, 303, 307) and "/login" in page.headers["location"]
