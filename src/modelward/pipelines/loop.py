"""The closed loop: an alert rule that says `then: {pipeline: FILE}` starts that pipeline
when it fires.

The monitor of the served model calls `PipelineLauncher.fire`; the pipeline runs as
its own `mw pipeline run` process (off the request path, and its training never
competes with the server's threads), one at a time per model, and not again within
the rule's cool-down of the last run that rule started (read from the pipeline
history, so a restarted server keeps it). What the pipeline promotes reaches every
`mw serve` following the alias through its poll; the alias move's audit reason
names the alert.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelward.errors import InvalidInput
from modelward.monitoring.rules import AlertConfig, AlertRule
from modelward.store.workspace import Workspace

log = logging.getLogger("modelward.pipelines")


def check_reactions(config: AlertConfig, served_ref: str) -> None:
    """Check every `then` pipeline of the rules before serving starts: it parses, and it
    registers the model being served (else the loop could never close)."""
    from modelward.pipelines.spec import load_pipeline
    from modelward.refs import Ref

    served = Ref.parse(served_ref)
    for rule in config.rules:
        if rule.then is None:
            continue
        where = f"alert rule {rule.name!r}: then.pipeline"
        try:
            spec = load_pipeline(rule.then.pipeline)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc.message}") from None
        if spec.register != served.name:
            registers = f"registers {spec.register!r}" if spec.register else "registers no model"
            raise InvalidInput(
                f"{where} {rule.then.pipeline.name} {registers}, but this server serves "
                f"{served.name!r}: the pipeline must register the served model"
            )
        if spec.promote is None or spec.promote.alias != served.alias:
            log.warning(
                "alert rule %r starts pipeline %s, which does not move %s: what it trains "
                "will not be served here until someone moves the alias",
                rule.name,
                rule.then.pipeline,
                served,
            )


def trigger_text(model: str, rule: str, alert_id: int | None) -> str:
    """How a pipeline run names the alert that started it (kept in its history and in
    the audit reason of the alias move it makes)."""
    suffix = f" (alert {alert_id})" if alert_id is not None else ""
    return f"alert:{model}/{rule}{suffix}"


class PipelineLauncher:
    """Starts the pipelines of one served model's firing rules, one at a time."""

    def __init__(
        self,
        workspace: Workspace,
        model: str,
        *,
        clock: Callable[[], float] = time.time,
        command: Sequence[str] = (sys.executable, "-m", "modelward"),
    ) -> None:
        self.workspace = workspace
        self.model = model
        self.clock = clock
        self.command = tuple(command)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._started: dict[str, float] = {}  # rule -> when this process last started it
        self.last: dict[str, Any] | None = None  # the latest run's outcome, once it ended

    @property
    def running(self) -> bool:
        """Whether a pipeline this launcher started is still running."""
        return self._process is not None and self._process.poll() is None

    def fire(self, rule: AlertRule, alert_id: int | None = None) -> str:
        """Start `rule`'s pipeline unless one runs or the cool-down holds; says what it did."""
        if rule.then is None:
            return "the rule starts no pipeline"
        with self._lock:
            reason = self._why_not(rule)
            if reason is not None:
                log.warning(
                    "alert %s fired; pipeline %s not started: %s",
                    rule.name,
                    rule.then.pipeline.name,
                    reason,
                )
                return f"not started: {reason}"
            trigger = trigger_text(self.model, rule.name, alert_id)
            self._process, output = self._spawn(rule.then.pipeline, trigger)
            self._started[rule.name] = self.clock()
            process = self._process
        log.warning(
            "alert %s fired: started pipeline %s (pid %d)",
            rule.name,
            rule.then.pipeline,
            process.pid,
        )
        threading.Thread(
            target=self._reap,
            args=(process, rule.then.pipeline, output),
            daemon=True,
            name=f"modelward-pipeline-{self.model}",
        ).start()
        return f"started pid {process.pid}"

    def _why_not(self, rule: AlertRule) -> str | None:
        assert rule.then is not None
        if self.running:
            return "another pipeline of this model is still running"
        now = self.clock()
        cooldown = rule.then.cooldown_seconds
        last = self._started.get(rule.name)
        if last is not None and now - last < cooldown:
            return f"the rule started one {now - last:.0f} s ago (cool-down {cooldown:g} s)"
        from modelward.pipelines.ports import pipeline_history
        from modelward.pipelines.spec import load_pipeline

        try:
            name = load_pipeline(rule.then.pipeline).name
        except InvalidInput as exc:
            return f"the pipeline file no longer parses: {exc.message}"
        prefix = trigger_text(self.model, rule.name, None)
        for run in pipeline_history(self.workspace).runs(name, limit=50):
            if run.status == "running":
                return f"run {run.id[:8]} of pipeline {name} is still running"
            started = run.started_at.timestamp()
            if run.trigger.startswith(prefix) and now - started < cooldown:
                return (
                    f"the rule started run {run.id[:8]} {now - started:.0f} s ago "
                    f"(cool-down {cooldown:g} s)"
                )
        return None

    def _spawn(self, pipeline: Path, trigger: str) -> tuple[subprocess.Popen[bytes], Path]:
        settings = self.workspace.settings
        env = {
            **os.environ,
            "MODELWARD_HOME": str(settings.home),
            "MODELWARD_DB": settings.db_url,
            "MODELWARD_ARTIFACTS": settings.artifacts,
        }
        if settings.uri:
            env["MODELWARD_URI"] = settings.uri
        if settings.token:
            env["MODELWARD_TOKEN"] = settings.token
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server's workers' metrics, not its
        logs = settings.home / "logs" / "pipelines"
        logs.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = logs / f"{self.model}-{stamp}-{os.getpid()}.log"
        output = open(path, "ab")  # noqa: SIM115 - the child writes to it
        try:
            process = subprocess.Popen(
                [*self.command, "pipeline", "run", str(pipeline), "--json", "--trigger", trigger],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(pipeline.parent),
            )
        finally:
            output.close()  # the child has its own copy
        return process, path

    def _reap(self, process: subprocess.Popen[bytes], pipeline: Path, output: Path) -> None:
        code = process.wait()
        outcome: dict[str, Any] = {"exit_code": code, "pipeline": str(pipeline), "log": str(output)}
        with contextlib.suppress(OSError):
            text = output.read_text(encoding="utf-8", errors="replace")
            start = text.find("{")
            if start >= 0:
                try:
                    described = json.loads(text[start : text.rfind("}") + 1])
                    outcome.update(run_id=described.get("run_id"), status=described.get("status"))
                except ValueError:
                    pass
        self.last = outcome
        log.warning(
            "pipeline %s ended: %s (exit code %d)",
            pipeline.name,
            outcome.get("status", "no outcome"),
            code,
        )

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the running pipeline (tests and a stopping server); its exit code."""
        process = self._process
        if process is None:
            return None
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
