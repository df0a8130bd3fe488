"""The dashboard in a real browser: headless Chromium driven by playwright.

One server (uvicorn on 127.0.0.1, in a thread) over one seeded store and one browser
for the module. Each page must render with no console error and no script error,
its charts must hold data, and a screenshot of it is kept in `test-artifacts/`.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelward.server.tokens import ADMIN, READER, TokenRepository
from modelward.store.workspace import close_workspaces, open_workspace
from tests.server.dashboard.seed import IMG_XSS, seed_loop, seed_traffic

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.timeout(240)


def _chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run should have installed it")
        pytest.skip("chromium not found (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed (the dev extra has it)")
    return CHROMIUM


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A seeded store served on 127.0.0.1; yields its URL, tokens and ids."""
    import uvicorn

    from modelward.server.app import create_app

    _chromium()
    home = tmp_path_factory.mktemp("dashboard") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELWARD_HOME", str(home))
        for name in ("MODELWARD_DB", "MODELWARD_ARTIFACTS", "MODELWARD_URI", "MODELWARD_TOKEN"):
            patch.delenv(name, raising=False)
        workspace = open_workspace()
        ids = seed_loop()
        import modelward as mw

        with mw.start_run(experiment="clf", name=IMG_XSS) as run:
            run.log_metric("loss", 1.0)
            run.set_tag("html", IMG_XSS)
        ids["xss_run"] = run.id
        seed_traffic(workspace.db)
        ids["pipeline_run"] = _seed_pipeline_run(workspace.db, ids)
        tokens = TokenRepository(workspace.db)
        secrets = {role: tokens.create(f"browser-{role}", role)[1] for role in (READER, ADMIN)}
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(
            create_app(workspace), host="127.0.0.1", port=port, log_level="warning"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "the dashboard server did not start"
        try:
            yield {"url": f"http://127.0.0.1:{port}", "secrets": secrets, "ids": ids}
        finally:
            server.should_exit = True
            thread.join(timeout=15)
            close_workspaces()


@pytest.fixture(scope="module")
def browser(site: dict[str, Any]) -> Iterator[Any]:
    """One headless Chromium for the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=_chromium(), args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page whose console errors, script errors and dialogs are collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

        def dismiss(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", dismiss)


def signed_in(browser: Any, site: dict[str, Any], role: str = READER) -> Watched:
    context = browser.new_context()
    watched = Watched(context.new_page())
    watched.page.on(
        "response",
        lambda r: watched.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page = watched.page
    page.goto(site["url"] + "/runs")
    assert page.url.startswith(site["url"] + "/login?next=")  # sent to sign in first
    page.fill("input[name=token]", site["secrets"][role])
    page.click("button[type=submit]")
    page.wait_for_url(site["url"] + "/runs")
    return watched


def _pages(site: dict[str, Any]) -> dict[str, str]:
    ids = site["ids"]
    return {
        "runs": "/runs",
        "run": f"/runs/{ids['run']}",
        "compare": f"/compare?ids={ids['run']}&ids={ids['xss_run']}",
        "datasets": "/datasets",
        "dataset": "/datasets/raw",
        "dataset-version": "/datasets/raw/1",
        "dataset-diff": "/datasets/diff?a=raw@1&b=raw@2",
        "models": "/models",
        "model": "/models/clf",
        "monitoring": "/monitoring",
        "model-monitoring": "/monitoring/clf",
        "pipelines": "/pipelines",
        "pipeline-run": f"/pipelines/{ids['pipeline_run']}",
    }


def _seed_pipeline_run(db: Any, ids: dict[str, str]) -> str:
    """A refused pipeline run started by an alert, with markup in what a user wrote."""
    import hashlib

    from modelward.pipelines.history import SqlPipelineHistory
    from modelward.pipelines.run_records import StepRecord

    history = SqlPipelineHistory(db)
    key = hashlib.sha256(b"step").hexdigest()
    run = history.start(
        pipeline="retrain", path="/p/retrain.yaml", spec_digest=key,
        trigger=f"alert:clf/{IMG_XSS} (alert 1)", started_by="browser",
    )  # fmt: skip
    history.record_step(run.id, StepRecord("data", key, "cached", {"dataset": ids["prep"]}, 0.1))
    history.record_step(run.id, StepRecord("train", key, "ran", {"best": ids["run"]}, 2.0))
    history.record_step(
        run.id, StepRecord("promote", key, "refused", {"alias": "production"}, 0.3, IMG_XSS)
    )
    history.finish(run.id, "refused", IMG_XSS)
    return run.id


def test_every_page_renders_without_errors_and_its_charts_hold_data(
    browser: Any, site: dict[str, Any]
) -> None:
    watched = signed_in(browser, site)
    page = watched.page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    charted = {"run", "compare", "dataset-version", "model-monitoring"}
    for name, path in _pages(site).items():
        response = page.goto(site["url"] + path)
        assert response is not None and response.status == 200, (name, path)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        if name in charted:
            drawn = page.eval_on_selector_all(
                "svg.chart",
                "els => els.map(e => e.querySelectorAll('polyline, rect.bar, rect').length)",
            )
            assert drawn and max(drawn) > 1, (name, drawn)
        for link in ("Runs", "Datasets", "Models", "Monitoring", "Pipelines"):  # linked from all
            assert page.locator(f"header nav a:text-is('{link}')").count() == 1
    assert watched.errors == [], watched.errors
    assert watched.dialogs == []


def test_markup_in_names_is_shown_not_run(browser: Any, site: dict[str, Any]) -> None:
    watched = signed_in(browser, site)
    page = watched.page
    page.goto(site["url"] + f"/runs/{site['ids']['xss_run']}")
    assert IMG_XSS in page.inner_text("h1")  # shown as text
    assert page.locator("main img").count() == 0
    page.goto(site["url"] + "/runs")
    assert watched.dialogs == [] and page.locator("main img").count() == 0


def test_a_cross_site_style_post_without_the_csrf_secret_is_refused(
    browser: Any, site: dict[str, Any]
) -> None:
    watched = signed_in(browser, site, ADMIN)
    page = watched.page
    status = page.evaluate(
        """async () => (await fetch('/models/clf/aliases/production', {method: 'POST',
            headers: {'content-type': 'application/x-www-form-urlencoded'},
            body: 'version=1'})).status"""
    )
    assert status == 403


def test_logout_ends_the_session(browser: Any, site: dict[str, Any]) -> None:
    watched = signed_in(browser, site)
    page = watched.page
    page.click("header form.who button")
    page.wait_for_url(site["url"] + "/login")
    page.goto(site["url"] + "/runs")
    assert "/login?next=" in page.url
    cookies = page.context.cookies()
    assert all(c["name"] != "mw_session" for c in cookies)
    login_cookies = [c for c in cookies if c["name"] == "mw_login_csrf"]
    assert all(c["httpOnly"] and c["sameSite"] == "Strict" for c in login_cookies)
