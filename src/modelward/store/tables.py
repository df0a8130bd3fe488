"""The metadata schema, in SQLAlchemy Core. Migrations in `migrations/` create it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JsonType = JSON().with_variant(JSONB(), "postgresql")

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("format", String(16), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("n_rows", BigInteger, nullable=False),
    Column("n_columns", Integer, nullable=False),
    Column("schema", JsonType, nullable=False),
    Column("profile", JsonType, nullable=False),
    Column("source", JsonType, nullable=False),
    Column("parent_id", Integer, ForeignKey("dataset_versions.id"), nullable=True),
    Column("spec_digest", String(64), nullable=True),
    Column("transform", JsonType, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("description", Text, nullable=True),
    UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_number"),
    UniqueConstraint("dataset_id", "digest", name="uq_dataset_versions_digest"),
)

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id"), nullable=False, index=True),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", DateTime(timezone=True), nullable=False),
    Column("end_time", DateTime(timezone=True), nullable=True),
    Column("user", String(128), nullable=False),
    Column("git_commit", String(64), nullable=True),
    Column("git_dirty", Boolean, nullable=True),
    Column("source", Text, nullable=True),
    Column("environment", JsonType, nullable=False),
    Column("seed", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    # the runs page: newest first, without sorting every run
    Index("ix_runs_start_time", "start_time", "id"),
)

run_params = Table(
    "run_params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

run_metrics = Table(
    "run_metrics",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    # covers a series read (step and value in index order): a chart of a 100,000-step
    # series reads the index alone, not a table row per point
    Index("ix_run_metrics_series", "run_id", "key", "step", "value"),
)

run_latest_metrics = Table(
    "run_latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Float, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index("ix_run_latest_metrics_key_value", "key", "value"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("role", String(32), primary_key=True),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
)

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=True, index=True),
    Column("model_ref", String(200), nullable=False),
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id"), nullable=False),
    Column("target", String(250), nullable=False),
    Column("task", String(32), nullable=False),
    Column("n_rows", BigInteger, nullable=False),
    Column("metrics", JsonType, nullable=False),
    Column("plots", JsonType, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("format", String(16), nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("class_name", String(256), nullable=False),
    Column("task", String(32), nullable=False),
    Column("signature", JsonType, nullable=False),
    Column("transform", JsonType, nullable=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id"), nullable=True),
    Column("metrics", JsonType, nullable=False),
    Column("description", Text, nullable=True),
    Column("tags", JsonType, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    UniqueConstraint("model_id", "version", name="uq_model_versions_number"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", Integer, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version_id", Integer, ForeignKey("model_versions.id"), nullable=False),
)

alias_audit = Table(
    "alias_audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("model_id", Integer, ForeignKey("registered_models.id"), nullable=False, index=True),
    Column("alias", String(64), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("gate", Text, nullable=True),  # the gate the move passed, with its results
)

prediction_log = Table(
    "prediction_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("request_id", String(128), nullable=False, index=True),
    Column("model_name", String(128), nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("status", Integer, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("n_rows", Integer, nullable=False),
    Column("inputs", JsonType, nullable=True),
    Column("outputs", JsonType, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_prediction_log_model_time", "model_name", "created_ms"),
)

prediction_feedback = Table(
    "prediction_feedback",
    metadata,
    Column("request_id", String(128), primary_key=True),
    Column("label", JsonType, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rule", String(128), nullable=False),
    Column("metric", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("model_name", String(128), nullable=True),
    Column("message", Text, nullable=False),
    Column("details", JsonType, nullable=False),
    Column("webhook_status", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # the id a remote monitor gave the alert: resent, it is stored once
    Column("client_id", String(64), nullable=True, index=True, unique=True),
)

alert_states = Table(
    "alert_states",
    metadata,
    Column("model_name", String(128), primary_key=True),
    Column("rule", String(128), primary_key=True),
    Column("rule_digest", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("since", Float, nullable=True),
    Column("fired_at", Float, nullable=True),
    Column("value", Float, nullable=True),
    Column("zscore", Float, nullable=True),
    Column("evaluated_at", Float, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

drift_references = Table(
    "drift_references",
    metadata,
    Column("dataset_version_id", Integer, ForeignKey("dataset_versions.id"), primary_key=True),
    Column("columns_digest", String(64), primary_key=True),
    Column("artifact_digest", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# API tokens of the team server: only a hash of each secret is kept
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# ids of the batches clients logged to a run: a batch resent after a lost answer
# (the team server's logging is retried) is recognised and stored once
run_batches = Table(
    "run_batches",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id"), primary_key=True),
    Column("batch_id", String(64), primary_key=True),
)

# prediction-log batches a remote serving process sent, by the id it gave each
prediction_batches = Table(
    "prediction_batches",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("n_records", Integer, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

# dashboard sessions: a browser that pasted a token once (only a hash of the cookie kept)
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("token_id", Integer, ForeignKey("api_tokens.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# one-time sign-in links (`mw demo` prints one): a hash of the code, used once, short-lived
dashboard_login_codes = Table(
    "dashboard_login_codes",
    metadata,
    Column("code_sha256", String(64), primary_key=True),
    Column("token_id", Integer, ForeignKey("api_tokens.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# a run of a pipeline file: who started it and why (by hand, or which alert), how it
# ended; `host` and `pid` tell a run whose process died from one still going
pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("pipeline", String(128), nullable=False),
    Column("path", Text, nullable=False),
    Column("spec_digest", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("trigger", String(500), nullable=False),
    Column("started_by", String(128), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("error", Text, nullable=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=True),
    Index("ix_pipeline_runs_started_at", "started_at", "id"),
    Index("ix_pipeline_runs_pipeline_started_at", "pipeline", "started_at"),
)

# the steps a pipeline run recorded, in order; (name, key) finds a step's cached outputs
pipeline_steps = Table(
    "pipeline_steps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(32), ForeignKey("pipeline_runs.id"), nullable=False),
    Column("name", String(32), nullable=False),
    Column("key", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("outputs", JsonType, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("error", Text, nullable=True),
    UniqueConstraint("run_id", "name", name="uq_pipeline_steps_run_step"),
    Index("ix_pipeline_steps_name_key", "name", "key", "id"),
)

# Which process runs the monitor of a model: a lease renewed every round, so replicas on
# several machines over one database elect one monitor (a file lock holds on one host only)
monitor_leases = Table(
    "monitor_leases",
    metadata,
    Column("model_name", String(128), primary_key=True),
    Column("holder", String(200), nullable=False),  # "host:pid"
    Column("host", String(128), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("parent_pid", Integer, nullable=False),
    Column("acquired_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)
