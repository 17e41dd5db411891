"""The Grafana dashboard in deploy/grafana names only metrics the services and the gateway export, and shows every
one of them.

What the services export is `shared.metrics.metric_names()`; tests/shared/test_observability_processes.py checks
that list against the `/metrics` of real service processes. What the gateway's HAProxy exports and the dashboard
reads is `GATEWAY_METRICS`, checked against a scrape of a real gateway by tests/test_gateway_metrics.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from services.gateway.haproxy_config import GATEWAY_METRICS
from shared.metrics import metric_names

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "tiaodu-dashboard.json"
METRIC = re.compile(r"\b(?:tiaodu|haproxy)_[a-z_]+\b")
# Names inside label matchers or legends are labels, not metrics: only identifiers outside braces and quotes count.
LABELS = re.compile(r"\{[^}]*\}|\"[^\"]*\"")


def _dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return doc


def _exprs(doc: dict[str, Any]) -> list[str]:
    return [t["expr"] for panel in doc["panels"] for t in panel["targets"]]


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    doc = _dashboard()
    assert doc["uid"] and doc["title"] and isinstance(doc["schemaVersion"], int)
    ids = [panel["id"] for panel in doc["panels"]]
    assert len(ids) == len(set(ids)), ids
    for panel in doc["panels"]:
        assert panel["type"] in {"timeseries", "stat", "table"}, panel["title"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, panel["title"]
        assert panel["datasource"]["type"] == "prometheus"
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
    variables = {v["name"] for v in doc["templating"]["list"]}
    assert {"datasource", "service"} <= variables


def test_every_expression_names_metrics_the_services_export() -> None:
    exported = {*metric_names(), *GATEWAY_METRICS}
    for expr in _exprs(_dashboard()):
        named = set(METRIC.findall(LABELS.sub("", expr)))
        assert named, expr
        assert named <= exported, f"{expr} names {sorted(named - exported)}, not exported by any service"


def test_every_exported_family_is_on_the_dashboard() -> None:
    named = {m for expr in _exprs(_dashboard()) for m in METRIC.findall(LABELS.sub("", expr))}
    families = {re.sub(r"_(bucket|sum|count)$", "", name) for name in [*metric_names(), *GATEWAY_METRICS]}
    shown = {re.sub(r"_(bucket|sum|count)$", "", name) for name in named}
    assert families <= shown, f"not on the dashboard: {sorted(families - shown)}"
