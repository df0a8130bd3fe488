"""The dashboard in-process: sign-in, sessions, CSRF, the run pages, escaping."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

import modelward as mw
from modelward.errors import Unauthorized
from modelward.server.dashboard.rendering import CONTENT_SECURITY_POLICY
from modelward.server.dashboard.sessions import SessionRepository
from modelward.server.tokens import TokenRepository
from modelward.tracking.repository import RunRepository
from tests.server.dashboard.seed import XSS
from tests.server.support import ADMIN, READER, TeamServer


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(team: TeamServer, role: str = READER) -> TestClient:
    """A browser that pasted the token of `role` at /login."""
    browser = team.http(None)
    form = browser.get("/login")
    assert form.status_code == 200
    response = browser.post(
        "/login",
        data={"csrf": _csrf(form.text), "token": team.secrets[role], "next": "/runs"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/runs"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "mw_session=" in cookie
    return browser


@pytest.fixture
def logged(team: TeamServer) -> list[str]:
    """Three runs on the server's store, one with a hostile name and a long series."""
    ids = []
    for index, (name, lr) in enumerate([("first", 0.1), (XSS, 0.01), ("third", 0.01)]):
        with mw.start_run(experiment="exp" if index < 2 else "other", name=name) as run:
            run.log_params({"lr": lr, "optimizer": "adam" if index else "sgd"})
            for step in range(500 if index == 1 else 5):
                run.log_metric("loss", 1.0 / (step + 1) + index, step=step)
            run.log_metric("f1", 0.5 + 0.1 * index)
            run.set_tag("note", XSS)
            ids.append(run.id)
    return ids


def test_a_signed_out_browser_is_sent_to_sign_in_and_back(team: TeamServer) -> None:
    browser = team.http(None)
    response = browser.get("/runs?filter=metrics.f1%20%3E%200", follow_redirects=False)
    assert response.status_code == 303
    assert (
        response.headers["location"] == "/login?next=%2Fruns%3Ffilter%3Dmetrics.f1%2520%253E%25200"
    )
    form = browser.get(response.headers["location"])
    assert 'name="next" value="/runs?filter=metrics.f1%20%3E%200"' in form.text


def test_sign_in_needs_the_forms_own_csrf_secret_and_a_valid_token(team: TeamServer) -> None:
    browser = team.http(None)
    form = browser.get("/login")
    forged = browser.post("/login", data={"csrf": "guess", "token": team.secrets[ADMIN]})
    assert forged.status_code == 403
    assert "mw_session" not in forged.headers.get("set-cookie", "")
    wrong = browser.post("/login", data={"csrf": _csrf(form.text), "token": "mw_wrong"})
    assert wrong.status_code == 401
    assert "not valid" in wrong.text
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        form = browser.get("/login")
        response = browser.post(
            "/login",
            data={"csrf": _csrf(form.text), "token": team.secrets[READER], "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/runs", target  # never an open redirect


def test_pages_carry_a_csp_that_forbids_inline_script(team: TeamServer, logged: list[str]) -> None:
    browser = sign_in(team)
    for url in ("/runs", f"/runs/{logged[0]}", f"/compare?ids={logged[0]}&ids={logged[1]}"):
        response = browser.get(url)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert "<script>" not in response.text  # only <script src=...> from this site
        assert response.headers["x-frame-options"] == "DENY"


def test_everything_a_user_wrote_is_escaped(team: TeamServer, logged: list[str]) -> None:
    browser = sign_in(team)
    for url in ("/runs", f"/runs/{logged[1]}", f"/compare?ids={logged[0]}&ids={logged[1]}"):
        page = browser.get(url).text
        assert "<script>alert" not in page, url
        assert "&lt;script&gt;alert(" in page, url


def test_the_runs_table_searches_sorts_and_pages(team: TeamServer, logged: list[str]) -> None:
    browser = sign_in(team)
    page = browser.get("/runs", params={"filter": "params.optimizer = 'adam'"}).text
    assert f"/runs/{logged[1]}" in page and f"/runs/{logged[2]}" in page
    assert f"/runs/{logged[0]}" not in page
    ordered = browser.get("/runs", params={"order": "-metrics.f1"}).text
    positions = [ordered.index(f'/runs/{run_id}"') for run_id in reversed(logged)]
    assert positions == sorted(positions)  # f1 0.7, 0.6, 0.5
    first = browser.get("/runs", params={"size": 2, "order": "metrics.f1"}).text
    second = browser.get("/runs", params={"size": 2, "order": "metrics.f1", "page": 2}).text
    assert f'/runs/{logged[0]}"' in first and f'/runs/{logged[2]}"' in second
    assert "next &rarr;" in first and "next &rarr;" not in second
    chosen = browser.get("/runs", params={"columns": "params.lr,metrics.loss"}).text
    assert ">params.lr</a>" in chosen and ">metrics.loss</a>" in chosen


def test_a_filter_that_does_not_parse_says_where_and_keeps_the_table(
    team: TeamServer, logged: list[str]
) -> None:
    browser = sign_in(team)
    response = browser.get("/runs", params={"filter": "metrics.f1 >> 0.5"})
    assert response.status_code == 200
    assert 'class="error"' in response.text and "position" in response.text
    for run_id in logged:
        assert f'/runs/{run_id}"' in response.text


def test_a_runs_page_draws_its_metric_series(team: TeamServer, logged: list[str]) -> None:
    page = sign_in(team).get(f"/runs/{logged[1]}").text
    charts = re.findall(r'<svg [^>]*data-series="(\d+)" data-points="(\d+)"', page)
    assert ("1", "500") in charts  # loss: 500 points, under the 2,000 limit: all drawn
    assert "lr" in page and "0.01" in page


def test_compare_marks_the_params_that_differ(team: TeamServer, logged: list[str]) -> None:
    page = sign_in(team).get(f"/compare?ids={logged[1]}&ids={logged[2]}").text
    assert re.search(r'<tr class="differs"><th>lr</th>', page) is None  # 0.01 both
    page = sign_in(team).get(f"/compare?ids={logged[0]}&ids={logged[1]}").text
    assert re.search(r'<tr class="differs"><th>lr</th>', page)
    assert re.search(r'data-series="2"', page)  # the loss curves overlaid
    assert sign_in(team).get(f"/compare?ids={logged[0]}").status_code == 400


def test_unknown_things_are_404_pages(team: TeamServer) -> None:
    response = sign_in(team).get("/runs/0000000000000000")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "unknown run" in response.text and "Traceback" not in response.text


def test_logout_needs_the_csrf_secret_and_ends_the_session(team: TeamServer) -> None:
    browser = sign_in(team)
    page = browser.get("/runs").text
    assert browser.post("/logout", data={"next": "/"}).status_code == 403
    assert browser.post("/logout", data={"csrf": "forged"}).status_code == 403
    response = browser.post("/logout", data={"csrf": _csrf(page)}, follow_redirects=False)
    assert response.status_code == 303
    assert browser.get("/runs", follow_redirects=False).status_code == 303


def test_a_stale_or_forged_session_and_a_revoked_token_are_refused(team: TeamServer) -> None:
    browser = sign_in(team)
    stolen = browser.cookies.get("mw_session")
    forged = team.http(None)
    forged.cookies.set("mw_session", "x" * 43)
    assert forged.get("/runs", follow_redirects=False).status_code == 303
    TokenRepository(team.workspace.db).revoke(READER)
    replay = team.http(None)
    replay.cookies.set("mw_session", str(stolen))
    assert replay.get("/runs", follow_redirects=False).status_code == 303


def test_a_long_series_is_drawn_from_at_most_2000_points_keeping_its_extremes(
    team: TeamServer,
) -> None:
    with mw.start_run(experiment="long", name="long") as run:
        for step in range(6000):
            value = 10.0 if step == 4321 else (-3.0 if step == 17 else 1.0 / (step + 1))
            run.log_metric("loss", value, step=step)
    steps, values = RunRepository(team.workspace.db).metric_series(run.id, "loss", max_points=2000)
    assert len(steps) <= 2000
    assert (min(values), max(values)) == (-3.0, 10.0)  # the spike and the dip survive
    page = sign_in(team).get(f"/runs/{run.id}").text
    points = re.search(r'data-series="1" data-points="(\d+)"', page)
    assert points is not None and int(points.group(1)) <= 2000
    assert "min -3, max 10" in page


def _sessions(team: TeamServer) -> SessionRepository:
    return SessionRepository(team.workspace.db, TokenRepository(team.workspace.db))


def test_a_one_time_link_signs_in_once_after_one_click(team: TeamServer) -> None:
    code = _sessions(team).issue_login_code(ADMIN)
    browser = team.http(None)
    page = browser.get(f"/login/once/{code}")
    assert page.status_code == 200 and f"Sign in as {ADMIN}" in page.text
    # the page itself signs nobody in (a link preview or a prefetch spends nothing)
    assert browser.get("/runs", follow_redirects=False).status_code == 303
    forged = browser.post(f"/login/once/{code}", data={"csrf": "guess"})
    assert forged.status_code == 403 and "mw_session" not in forged.headers.get("set-cookie", "")
    response = browser.post(
        f"/login/once/{code}", data={"csrf": _csrf(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "HttpOnly" in response.headers["set-cookie"]
    assert browser.get("/runs").status_code == 200
    assert f"{ADMIN}" in browser.get("/runs").text and "/logout" in browser.get("/runs").text

    # spent: a second browser with the same link gets the sign-in form and no session
    other = team.http(None)
    again = other.get(f"/login/once/{code}")
    assert again.status_code == 401 and "used already or has expired" in again.text
    form = other.get("/login")
    replay = other.post(f"/login/once/{code}", data={"csrf": _csrf(form.text)})
    assert replay.status_code == 401 and "mw_session" not in replay.headers.get("set-cookie", "")
    assert other.get("/runs", follow_redirects=False).status_code == 303


def test_a_one_time_link_dies_with_its_token_and_its_clock(team: TeamServer) -> None:
    sessions = _sessions(team)
    expired = sessions.issue_login_code(ADMIN, minutes=0)
    revoked = sessions.issue_login_code(READER)
    TokenRepository(team.workspace.db).revoke(READER)
    browser = team.http(None)
    assert "used already or has expired" in browser.get(f"/login/once/{expired}").text
    assert "no longer works" in browser.get(f"/login/once/{revoked}").text
    assert browser.get(f"/login/once/{'x' * 43}").status_code == 401
    with pytest.raises(Unauthorized, match="no live token"):
        sessions.issue_login_code(READER)
