"""The NetworkPolicies of the kustomize base, read as Kubernetes enforces them: who may connect to which pod port.

The rendered overlays' policies are evaluated for connections between the pods the manifests and the charts run
(the services, the gateway, the provision Job, the collector, the NATS chart's servers, CloudNativePG's instances)
and peers outside the namespace; each expectation below is a connection the platform needs or one it must refuse.
`kubernetes-validate --strict` checks their shape with every other manifest (tests/deploy/test_deploy_files.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.catalogue.ownership import SERVICES
from shared.devstack.deploy_files import GATEWAY_METRICS_PORT, PG_CLUSTER
from tests.deploy.test_deploy_files import NAMESPACE, OVERLAYS, objects_of, pod_templates


@dataclass(frozen=True)
class Pod:
    name: str
    labels: dict[str, str]
    namespace: str = NAMESPACE
    ports: dict[str, int] = field(default_factory=dict)  # named container ports


OUTSIDE = Pod("a client outside the cluster", {}, namespace="")
MONITORING = Pod("prometheus", {"app.kubernetes.io/name": "prometheus"}, namespace="monitoring")
CNPG_OPERATOR = Pod("cnpg operator", {"app.kubernetes.io/name": "cloudnative-pg"}, namespace="cnpg-system")
# Pods the charts and operators run, with the labels they give them.
NATS = Pod("nats-0", {"app.kubernetes.io/name": "nats", "app.kubernetes.io/instance": "nats",
                      "app.kubernetes.io/component": "nats"})  # fmt: skip
POSTGRES = Pod(f"{PG_CLUSTER}-1", {"cnpg.io/cluster": PG_CLUSTER, "cnpg.io/instanceRole": "primary"})


def pods(objects: list[dict[str, Any]]) -> dict[str, Pod]:
    found = {NATS.name: NATS, POSTGRES.name: POSTGRES}
    for where, template in pod_templates(objects):
        ports = {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
        name = where.split("/", 1)[1]
        found[name] = Pod(name, template["metadata"]["labels"], ports=ports)
    return found


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels is evaluated here: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def peer_matches(peer: dict[str, Any], source: Pod) -> bool:
    assert set(peer) <= {"podSelector", "namespaceSelector"}, peer
    if "namespaceSelector" in peer:
        namespace_labels = {"kubernetes.io/metadata.name": source.namespace} if source.namespace else None
        if namespace_labels is None or not selects(peer["namespaceSelector"], namespace_labels):
            return False
    elif source.namespace != NAMESPACE:
        return False  # a podSelector alone names pods of the policy's own namespace
    return "podSelector" not in peer or selects(peer["podSelector"], source.labels)


def port_matches(rule_port: dict[str, Any], target: Pod, port: int) -> bool:
    wanted = rule_port["port"]
    return (target.ports.get(wanted) if isinstance(wanted, str) else wanted) == port


def allowed(policies: list[dict[str, Any]], source: Pod, target: Pod, port: int) -> bool:
    """Kubernetes' rule: a pod no Ingress policy selects takes anything; one that is selected takes what at least
    one rule of one selecting policy allows (a rule without `from` allows every source, without `ports` every port)."""
    selecting = [p for p in policies if selects(p["spec"]["podSelector"], target.labels)]
    if not selecting:
        return True
    for policy in selecting:
        assert "Ingress" in policy["spec"]["policyTypes"]
        for rule in policy["spec"].get("ingress", []):
            if "from" in rule and not any(peer_matches(peer, source) for peer in rule["from"]):
                continue
            if "ports" in rule and not any(port_matches(p, target, port) for p in rule["ports"]):
                continue
            return True
    return False


@pytest.fixture(scope="module", params=OVERLAYS)
def cluster(request: pytest.FixtureRequest) -> tuple[list[dict[str, Any]], dict[str, Pod]]:
    objects = objects_of(request.param)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert all(p["metadata"].get("namespace") == NAMESPACE for p in policies)
    return policies, pods(objects)


def test_every_pod_is_closed_unless_a_policy_opens_it(cluster: tuple[list[dict[str, Any]], dict[str, Pod]]) -> None:
    policies, running = cluster
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")]
    assert deny and deny[0]["spec"]["policyTypes"] == ["Ingress"], "a default deny of ingress for the namespace"
    for policy in policies:  # each policy selects pods that exist (a misspelt label would open or close nothing)
        assert any(selects(policy["spec"]["podSelector"], pod.labels) for pod in running.values()), policy
    for pod in running.values():
        assert not allowed(policies, OUTSIDE, pod, 1234), f"{pod.name} open on a port nobody uses"


def test_the_gateway_is_the_only_way_in(cluster: tuple[list[dict[str, Any]], dict[str, Pod]]) -> None:
    policies, running = cluster
    gateway = running["gateway"]
    assert allowed(policies, OUTSIDE, gateway, 8080)
    assert not allowed(policies, OUTSIDE, gateway, GATEWAY_METRICS_PORT), "metrics are not on the public front"
    assert allowed(policies, MONITORING, gateway, GATEWAY_METRICS_PORT)
    for service in SERVICES:
        pod = running[service.replace("_", "-")]
        assert allowed(policies, gateway, pod, 8000), f"the gateway must reach {service}"
        assert allowed(policies, MONITORING, pod, 8000), f"Prometheus must scrape {service}"
        assert not allowed(policies, OUTSIDE, pod, 8000), f"{service} reachable around the gateway"
        others = [running[s.replace("_", "-")] for s in SERVICES if s != service]
        assert not any(allowed(policies, other, pod, 8000) for other in others), "services never call each other"


def test_nats_and_postgresql_from_the_services(cluster: tuple[list[dict[str, Any]], dict[str, Pod]]) -> None:
    policies, running = cluster
    gateway, provision, collector = running["gateway"], running["provision"], running["otel-collector"]
    for service in SERVICES:
        pod = running[service.replace("_", "-")]
        assert allowed(policies, pod, NATS, 4222) and allowed(policies, pod, POSTGRES, 5432), service
        assert not allowed(policies, pod, NATS, 6222), "only NATS servers open routes"
        assert allowed(policies, pod, collector, 4317) and allowed(policies, pod, collector, 4318), service
    assert allowed(policies, provision, NATS, 4222), "the provision Job creates the stream"
    assert allowed(policies, NATS, NATS, 6222), "the servers' routes"
    assert allowed(policies, POSTGRES, POSTGRES, 5432), "streaming replication"
    assert allowed(policies, CNPG_OPERATOR, POSTGRES, 8000), "the operator asks each instance's manager"
    assert allowed(policies, gateway, collector, 4318), "the gateway's traces"
    for stranger in (gateway, OUTSIDE, MONITORING, collector):
        assert not allowed(policies, stranger, NATS, 4222), stranger.name
        assert not allowed(policies, stranger, POSTGRES, 5432), stranger.name
    assert not allowed(policies, provision, POSTGRES, 5432), "provisioning is NATS only"
    assert not allowed(policies, NATS, collector, 4318)
