"""Deployment files against the code and against the tools that read them.

- deploy/prometheus: `promtool check config`, `check rules` and `test rules` (alert unit tests).
- docker-compose.yml against the compose-spec JSON schema (vendored by check-jsonschema) and
  deploy/k8s against the Kubernetes JSON schemas (shipped by kubernetes-validate), offline.
- Images, ports and RELSCORE_* environment in docker-compose.yml, deploy/k8s, the Dockerfile,
  Prometheus and Grafana provisioning agree with streams/settings.py and each other.
- Every metric the Grafana dashboard and the alert rules use is defined by the code, and
  (integration) is exposed by a real worker's /metrics after the scripted population.
- (integration) Debian's real Prometheus scrapes a running worker with the shipped alert
  rules loaded, and every dashboard query is valid PromQL that returns data.

Debian's `prometheus` package provides promtool and prometheus; when missing it is installed
with apt-get (as root), otherwise the tests fail and say how to install it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import kubernetes_validate
import pytest
import yaml
from faust.sensors.prometheus import FaustMetrics
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from scorers.config import load_config
from streams.cli import build_parser
from streams.laptop.scenario import scripted_population
from streams.laptop.stack import KAFKA_VERSION
from streams.laptop.worker_process import WorkerProcess
from streams.notify import metrics as notify_metrics
from streams.notify.routes import load_routes
from streams.runtime import metrics
from streams.settings import ENV_PREFIX, Settings
from streams.tools.topic_reader import wait_caught_up
from tests.support.stack_fixtures import EventProducer, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROM_DIR = DEPLOY / "prometheus"
GRAFANA_DIR = DEPLOY / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "relscore.json"
K8S_DIR = DEPLOY / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

# The prefix streams/runtime/app.py gives Faust's Prometheus sensor metrics.
FAUST_PREFIX = "relscore_faust"
# Series Prometheus makes itself for every target (not on the worker's /metrics).
PROMETHEUS_SYNTHETIC = {"up"}
# Dashboard metrics that only get samples once such an event happens (none does in the
# scripted population); before that the worker declares them (HELP/TYPE) without samples.
DECLARED_UNTIL_USED = {"relscore_dlq_messages_total", "relscore_redis_errors_total"}
SETTINGS_ENV = set(Settings.variables())

StartWorker = Callable[..., WorkerProcess]


# --------------------------------------------------------------------------- helpers


class PrometheusTools(NamedTuple):
    promtool: str
    prometheus: str


def _debian_prometheus() -> PrometheusTools:
    """promtool and prometheus from Debian's package, installed when missing (as root)."""
    def found() -> PrometheusTools | None:
        promtool, server = shutil.which("promtool"), shutil.which("prometheus")
        return PrometheusTools(promtool, server) if promtool and server else None

    tools = found()
    if tools is not None:
        return tools
    if os.geteuid() != 0:
        pytest.fail(
            "promtool and prometheus are not installed and this user cannot install them: "
            "run `sudo apt-get install -y prometheus` (Debian's package) and rerun the tests"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "prometheus"]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` failed ({done.returncode}):\n"
                        f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    tools = found()
    if tools is None:
        pytest.fail("apt-get installed Debian's prometheus package, but promtool or "
                    "prometheus is still not on PATH")
    return tools


@pytest.fixture(scope="session")
def prometheus_tools() -> PrometheusTools:
    return _debian_prometheus()


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def binary_quantity(text: str) -> int:
    """Bytes in a Kubernetes quantity with a binary suffix (``512Mi``, ``1Gi``)."""
    number, suffix = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", text).groups()  # type: ignore[union-attr]
    return int(number) * 1024 ** {"Ki": 1, "Mi": 2, "Gi": 3}[suffix]


def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE)
    assert isinstance(data, dict)
    return data


def env_mapping(environment: Any, *, interpolate: bool = True) -> dict[str, str]:
    """A compose `environment:` (mapping or KEY=VALUE list) as strings, as the container sees
    it when the host sets none of the variables it names (``${VAR:-default}`` is the default);
    ``interpolate=False`` keeps the text as written."""
    if environment is None:
        return {}
    if isinstance(environment, list):
        pairs = [item.split("=", 1) for item in environment]
        out = {pair[0]: pair[1] if len(pair) == 2 else "" for pair in pairs}
    else:
        out = {}
        for key, value in environment.items():
            assert not isinstance(value, bool), f"{key}: write booleans as quoted strings"
            out[key] = "" if value is None else str(value)
    if interpolate:
        out = {key: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value) for key, value in out.items()}
    return out


def compose_ports(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(published, container) pairs of a compose service's short-syntax `ports:`."""
    pairs = []
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        assert len(parts) == 2, f"use HOST:CONTAINER port syntax, got {entry!r}"
        pairs.append((int(parts[0]), int(parts[1].split("/")[0])))
    return pairs


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in sorted(K8S_DIR.glob("*.yaml")) for doc in load_yaml_all(path)]


def k8s_resource(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [doc for _, doc in k8s_documents() if doc.get("kind") == kind
             and (name is None or doc["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''} in deploy/k8s, found {len(found)}"
    return found[0]


def worker_deployment() -> dict[str, Any]:
    return k8s_resource("Deployment", "relscore-worker")


def worker_container() -> dict[str, Any]:
    containers = worker_deployment()["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def dockerfile_instructions() -> list[tuple[str, str]]:
    lines = []
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            lines.append((keyword.upper(), rest.strip()))
    return lines


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "ENV":
            for token in shlex.split(rest):
                key, sep, value = token.partition("=")
                assert sep, f"use ENV KEY=VALUE in the Dockerfile, got {token!r}"
                env[key] = value
    return env


_PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                    "unless", "bool", "offset", "inf", "nan"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and labels left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery selectors
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group()
        if text[match.end():].lstrip().startswith("(") or word.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def dashboard_panels() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # panels inside collapsed rows
    return panels


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query on the dashboard."""
    return [(panel["title"], target["expr"])
            for panel in dashboard_panels() for target in panel.get("targets", [])]


def dashboard_metric_names() -> set[str]:
    return {name for _, expr in dashboard_queries() for name in promql_metric_names(expr)}


def alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(PROM_DIR / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"]]


def exposed_names(families: Iterable[Metric]) -> tuple[set[str], set[str]]:
    """(declared, sampled): series names a registry or /metrics page declares (from the family
    name and type, as prometheus_client writes them) and those that have samples."""
    suffixes = {
        "counter": ("_total",),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("", "_sum", "_count"),
        "info": ("_info",),
        "stateset": ("",),
        "unknown": ("",),
    }
    declared: set[str] = set()
    sampled: set[str] = set()
    for family in families:
        declared.update(family.name + suffix for suffix in suffixes[family.type])
        sampled.update(sample.name for sample in family.samples)
    return declared, sampled


def code_metric_names() -> set[str]:
    """Every series name relscore can expose: streams/runtime/metrics.py plus Faust's sensors,
    and relscore notify's streams/notify/metrics.py."""
    faust_registry = CollectorRegistry()
    FaustMetrics.create(faust_registry, FAUST_PREFIX)
    names: set[str] = set()
    for registry in (metrics.REGISTRY, faust_registry, notify_metrics.REGISTRY):
        declared, sampled = exposed_names(registry.collect())
        names |= declared | sampled
    return names


def poll(what: str, check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.25,
         detail: Callable[[], Any] | None = None) -> Any:
    """Call ``check`` until it returns something truthy; fail naming ``what`` (and ``detail()``)
    after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what}: not reached after {timeout:.0f} s "
                f"(last: {detail() if detail else last!r})")


def http_get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body


def run_scripted_population(settings: Settings, start_worker: StartWorker,
                            produce: EventProducer) -> WorkerProcess:
    worker = start_worker(settings)
    for phase in scripted_population():
        produce.events(phase)
        wait_caught_up(settings)
    return worker


# --------------------------------------------------------------------------- (a) promtool


def test_promtool_check_config_accepts_prometheus_yml_and_finds_the_rules(
    prometheus_tools: PrometheusTools,
) -> None:
    done = subprocess.run([prometheus_tools.promtool, "check", "config", "prometheus.yml"],
                          cwd=PROM_DIR, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "SUCCESS: 1 rule files found" in output, output
    assert "prometheus.yml is valid prometheus config file syntax" in output, output
    assert load_yaml(PROM_DIR / "prometheus.yml")["rule_files"] == ["alerts.yml"]


def test_promtool_check_rules_accepts_every_alert_rule(prometheus_tools: PrometheusTools) -> None:
    done = subprocess.run([prometheus_tools.promtool, "check", "rules", "alerts.yml"],
                          cwd=PROM_DIR, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert f"SUCCESS: {len(alert_rules())} rules found" in output, output


def test_alert_rules_have_runbook_annotations_and_cover_the_failure_modes() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert {"RelscoreWorkerDown", "RelscoreWorkersAbsent", "RelscoreDLQGrowing",
            "RelscoreConsumerLagHigh", "RelscoreRedisProjectorFailing",
            "RelscoreRedisPendingGrowing"} <= set(rules)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"].strip(), name
        assert len(rule["annotations"]["description"]) > 150, f"{name}: say what to do"
        assert rule.get("for"), f"{name}: a single bad scrape must not page anyone"
    assert "relscore_dlq_messages_total" in rules["RelscoreDLQGrowing"]["expr"]
    assert rules["RelscoreDLQGrowing"]["for"] == "10m"
    lag = rules["RelscoreConsumerLagHigh"]["expr"]
    assert f"{FAUST_PREFIX}_topic_partition_end_offset" in lag
    assert f"{FAUST_PREFIX}_topic_partition_offset_commited" in lag
    assert "relscore_redis_errors_total" in rules["RelscoreRedisProjectorFailing"]["expr"]
    assert "relscore_redis_pending_customers" in rules["RelscoreRedisPendingGrowing"]["expr"]
    assert 'up{job="relscore"}' in rules["RelscoreWorkerDown"]["expr"]
    assert 'outcome="dead_lettered"' in rules["RelscoreNotificationsDeadLettered"]["expr"]
    assert "relscore_notify_pending_alerts" in rules["RelscoreNotifyBacklog"]["expr"]


def test_promtool_rule_unit_tests_pass_and_every_alert_is_shown_firing(
    prometheus_tools: PrometheusTools,
) -> None:
    done = subprocess.run([prometheus_tools.promtool, "test", "rules", "alerts_test.yml"],
                          cwd=PROM_DIR, capture_output=True, text=True, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "SUCCESS" in output and "FAILED" not in output, output

    unit_tests = load_yaml(PROM_DIR / "alerts_test.yml")
    assert unit_tests["rule_files"] == ["alerts.yml"]
    fired = {case["alertname"] for test in unit_tests["tests"]
             for case in test["alert_rule_test"] if case.get("exp_alerts")}
    quiet = {case["alertname"] for test in unit_tests["tests"]
             for case in test["alert_rule_test"] if not case.get("exp_alerts")}
    every_alert = {rule["alert"] for rule in alert_rules()}
    assert fired == every_alert, f"alerts never shown firing: {every_alert - fired}"
    assert {"RelscoreDLQGrowing", "RelscoreRedisProjectorFailing",
            "RelscoreRedisPendingGrowing"} <= quiet, "show the alerts quiet before `for:` passes"


def test_promtool_rule_unit_tests_catch_a_broken_rule(
    prometheus_tools: PrometheusTools, tmp_path: Path
) -> None:
    """The unit tests are not vacuous: the same tests fail on a rule with a wrong metric name."""
    shutil.copy(PROM_DIR / "alerts_test.yml", tmp_path / "alerts_test.yml")
    text = (PROM_DIR / "alerts.yml").read_text(encoding="utf-8")
    assert "rate(relscore_redis_errors_total[" in text
    (tmp_path / "alerts.yml").write_text(
        text.replace("rate(relscore_redis_errors_total[", "rate(relscore_redis_error_total["),
        encoding="utf-8")
    done = subprocess.run([prometheus_tools.promtool, "test", "rules", "alerts_test.yml"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "RelscoreRedisProjectorFailing" in done.stdout + done.stderr


# --------------------------------------------------------------------------- (b) schemas


def test_docker_compose_matches_the_compose_spec_schema(tmp_path: Path) -> None:
    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--builtin-schema",
             "vendor.compose-spec", str(path)],
            capture_output=True, text=True, check=False,
        )

    done = check(COMPOSE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validation done" in done.stdout

    # The validator is really applied: a misspelt key in the worker service is refused.
    broken = compose()
    broken["services"]["worker"]["enviroment"] = broken["services"]["worker"].pop("environment")
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    refused = check(tmp_path / "docker-compose.yml")
    assert refused.returncode != 0
    assert "enviroment" in refused.stdout + refused.stderr


def kubernetes_versions() -> list[str]:
    """Every Kubernetes minor version whose schemas kubernetes-validate ships."""
    return sorted({kubernetes_validate.utils.major_minor(v)
                   for v in kubernetes_validate.utils.all_versions()},
                  key=lambda v: tuple(int(p) for p in v.split(".")))


def test_k8s_manifests_match_the_kubernetes_schemas() -> None:
    versions = kubernetes_versions()
    assert len(versions) >= 3, versions
    kinds = []
    for path, doc in k8s_documents():
        if doc["kind"] == "Kustomization":
            continue
        kinds.append(doc["kind"])
        assert "namespace" not in doc["metadata"], f"{path.name}: keep manifests namespace-agnostic"
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{path.name} ({doc['kind']}) against Kubernetes {version}: "
                            f"{exc.message} at {list(exc.path)}")
    assert sorted(kinds) == ["ConfigMap", "ConfigMap", "Deployment", "Deployment", "Deployment",
                            "PodDisruptionBudget", "Secret", "Service"]

    # Strict validation refuses an unknown field and a wrong type.
    deployment = worker_deployment()
    for steps, key, value in ((("readinessProbe", "httpGet"), "pth", "/healthz"),
                              (("ports", 0), "containerPort", "6066")):
        broken = copy.deepcopy(deployment)
        node = broken["spec"]["template"]["spec"]["containers"][0]
        for step in steps:
            node = node[step]
        node[key] = value
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, versions[-1], strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = load_yaml(K8S_DIR / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert "namespace" not in kustomization
    manifests = {path.name for path in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests - {"secret.example.yaml"}


# --------------------------------------------------------------------------- (c) agreement


def test_every_relscore_variable_is_a_settings_field_and_from_env_accepts_the_values() -> None:
    sources: dict[str, dict[str, str]] = {}
    for name, service in compose()["services"].items():
        env = env_mapping(service.get("environment"))
        if any(key.startswith(ENV_PREFIX) for key in env):
            sources[f"docker-compose.yml:{name}"] = env
    sources["Dockerfile"] = dockerfile_env()
    sources["deploy/k8s"] = k8s_worker_env()
    assert "docker-compose.yml:worker" in sources

    for where, env in sources.items():
        relscore = {key: value for key, value in env.items() if key.startswith(ENV_PREFIX)}
        assert relscore, where
        unknown = set(relscore) - SETTINGS_ENV
        assert not unknown, f"{where}: not Settings fields: {sorted(unknown)}"
        settings = Settings.from_env(relscore).to_env()
        for key, value in relscore.items():  # an empty value is an unset one
            assert settings.get(key, "") == value, f"{where}: {key}={value!r}"

    secret_keys = set(k8s_resource("Secret")["stringData"]) - set(k8s_notify_routes_env())
    assert secret_keys <= SETTINGS_ENV, ("Secret keys must be Settings variables or variables "
                                         f"the notify routes name: {secret_keys}")


def k8s_worker_env() -> dict[str, str]:
    """The worker container's environment, with secret and downward-API values filled in from
    secret.example.yaml and a sample pod IP."""
    secret = k8s_resource("Secret")
    env: dict[str, str] = {}
    for item in worker_container()["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        source = item["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"], item["name"]
            env[item["name"]] = secret["stringData"][ref["key"]]
        elif "fieldRef" in source:
            assert source["fieldRef"]["fieldPath"] == "status.podIP", item["name"]
            env[item["name"]] = "10.1.2.3"
        else:
            pytest.fail(f"unexpected valueFrom for {item['name']}: {source}")
    return env


def test_compose_worker_ports_and_addresses_agree_with_settings() -> None:
    services = compose()["services"]
    worker = services["worker"]
    settings = Settings.from_env(env_mapping(worker["environment"]))

    # The published port reaches the worker's web server.
    assert (settings.web.port, settings.web.port) in compose_ports(worker)
    assert settings.web.host == "0.0.0.0", "the web server must listen beyond the container"

    # The image: built from the repository's Dockerfile, its entry point runs `relscore worker`.
    assert worker["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    assert build_parser().parse_args(worker["command"]).command == "worker"

    # Kafka and Redis addresses point at the compose services' container ports.
    kafka_env = env_mapping(services["kafka"]["environment"])
    assert f"PLAINTEXT://{settings.kafka.bootstrap}" in kafka_env[
        "KAFKA_ADVERTISED_LISTENERS"].split(",")
    kafka_host, kafka_port = settings.kafka.bootstrap.split(":")
    assert kafka_host == "kafka" and f":{kafka_port}" in kafka_env["KAFKA_LISTENERS"]
    redis = urllib.parse.urlsplit(settings.redis.url)
    assert redis.hostname == "redis"
    assert redis.port in [container for _, container in compose_ports(services["redis"])]
    assert services["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}", (
        "compose runs the Kafka version `relscore stack` runs")

    # The data directory is the worker's volume.
    mounts = [str(volume).split(":") for volume in worker["volumes"]]
    assert settings.worker.data_dir in [mount[1] for mount in mounts]


def test_compose_published_ports_match_the_settings_defaults_for_host_clients() -> None:
    """`relscore produce`, `tail` and the tests on the host use the Settings defaults
    (localhost:19092, redis://localhost:16379/0): compose must publish Kafka and Redis there,
    and Kafka must advertise a listener that a host client can reach at that address."""
    defaults = Settings()
    services = compose()["services"]
    kafka_host_port = int(defaults.kafka.bootstrap.rsplit(":", 1)[1])
    redis_host_port = urllib.parse.urlsplit(defaults.redis.url).port
    assert kafka_host_port in [published for published, _ in compose_ports(services["kafka"])]
    assert redis_host_port in [published for published, _ in compose_ports(services["redis"])]
    kafka_env = env_mapping(services["kafka"]["environment"])
    advertised = dict(listener.split("://", 1)
                      for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    host_listeners = [name for name, address in advertised.items()
                      if address == f"localhost:{kafka_host_port}"]
    assert host_listeners, (
        f"Kafka advertises {kafka_env['KAFKA_ADVERTISED_LISTENERS']}: a client bootstrapping "
        f"from the host at {defaults.kafka.bootstrap} is told to reconnect to an address it "
        f"cannot resolve; add a listener advertised as localhost:{kafka_host_port}"
    )
    listeners = dict(listener.split("://", 1)
                     for listener in kafka_env["KAFKA_LISTENERS"].split(","))
    container_port = int(listeners[host_listeners[0]].rsplit(":", 1)[1])
    assert (kafka_host_port, container_port) in compose_ports(services["kafka"]), (
        f"publish the {host_listeners[0]} listener's port {container_port} as {kafka_host_port}")


def test_dockerfile_exposes_the_web_port_and_runs_the_worker() -> None:
    instructions = dockerfile_instructions()
    env = Settings.from_env(dockerfile_env())
    exposed = [int(port.split("/")[0]) for keyword, rest in instructions if keyword == "EXPOSE"
               for port in rest.split()]
    assert exposed == [env.web.port]
    compose_worker = Settings.from_env(env_mapping(compose()["services"]["worker"]["environment"]))
    k8s_worker = Settings.from_env(k8s_worker_env())
    assert compose_worker.web.port == k8s_worker.web.port == env.web.port

    entrypoint = json.loads(dict(instructions)["ENTRYPOINT"])
    cmd = json.loads(dict(instructions)["CMD"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["relscore"] and scripts["relscore"] == "streams.cli.main:main"
    assert build_parser().parse_args(cmd).command == "worker"


def test_the_image_installs_the_built_wheel_and_no_source_tree() -> None:
    """The final stage gets the wheel from the build stage and the compiled scorers from the
    mypyc stage, and nothing else: what runs in production is what `pip install relscore`
    gives plus `make compiled`'s build, without tests or bench."""
    instructions = dockerfile_instructions()
    stages = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    assert len(stages) == 3, "a wheel-building stage, a mypyc stage, then the image"
    build = instructions[stages[0]:stages[1]]
    compiled = instructions[stages[1]:stages[2]]
    image = instructions[stages[2]:]
    assert any(k == "RUN" and "pip wheel" in rest for k, rest in build)
    assert [rest for k, rest in compiled if k == "COPY"] == ["scorers ./scorers"]
    assert any(k == "RUN" and rest.startswith("mypyc scorers") for k, rest in compiled)
    # The compiler is the one the dev tools pin (make compiled uses that one).
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    mypy_pin = next(d for d in pins["optional-dependencies"]["dev"] if d.startswith("mypy"))
    assert any(k == "RUN" and f'"{mypy_pin}"' in rest for k, rest in compiled), mypy_pin
    copies = [rest for keyword, rest in image if keyword in ("COPY", "ADD")]
    assert copies and all(rest.startswith("--from=") for rest in copies), copies
    assert any(k == "RUN" and "pip install" in rest and ".whl" in rest for k, rest in image)
    compiled_copy = next(rest for rest in copies if rest.startswith("--from=compiled"))
    assert dockerfile_env()["PYTHONPATH"] == compiled_copy.split()[-1]
    copied = " ".join(rest for keyword, rest in instructions if keyword == "COPY")
    assert "tests" not in copied and "bench" not in copied


def test_dockerfile_gives_the_worker_user_its_data_dir() -> None:
    """Faust creates RELSCORE_DATA_DIR/v1/tables at start even with the memory store. The image
    runs as a non-root USER and compose mounts a fresh named volume at the data directory,
    which Docker creates root-owned unless the image already has the directory with its owner."""
    instructions = dockerfile_instructions()
    data_dir = dockerfile_env()["RELSCORE_DATA_DIR"]
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    user = users[-1].split(":")[0]
    user_index = instructions.index(("USER", users[-1]))
    prepared = [rest for keyword, rest in instructions[:user_index]
                if keyword == "RUN" and data_dir in rest.split() and f"chown {user}" in rest]
    assert prepared, (
        f"the image runs as USER {user} but never creates {data_dir} owned by it: add "
        f"`RUN mkdir -p {data_dir} && chown {user}:{user} {data_dir}` before USER, or the "
        f"worker in docker-compose.yml cannot write its named volume")


def test_prometheus_scrapes_the_worker_web_port() -> None:
    config = load_yaml(PROM_DIR / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    job = jobs["relscore"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [target for static in job["static_configs"] for target in static["targets"]]
    services = compose()["services"]
    worker = Settings.from_env(env_mapping(services["worker"]["environment"]))
    projector = Settings.from_env(env_mapping(services["projector"]["environment"]))
    assert targets == [f"worker:{worker.web.port}", f"projector:{projector.web.port + 1}"]
    assert services["projector"]["command"] == ["project"]
    assert worker.worker.projector == "off", "compose runs the projector apart: the worker must not"
    # Compose mounts this directory where the config file is read from.
    command = services["prometheus"]["command"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in command
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]


def test_k8s_projector_runs_apart_from_the_workers_on_the_metrics_port_it_serves() -> None:
    worker_env = {e["name"]: e.get("value") for e in worker_container()["env"]}
    assert worker_env["RELSCORE_PROJECTOR"] == "off"
    deployment = k8s_resource("Deployment", "relscore-projector")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["project"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    settings = Settings.from_env({k: v for k, v in env.items() if v is not None})
    port = settings.web.port + 1  # `relscore project --metrics-port` default
    assert [p["containerPort"] for p in container["ports"]] == [port]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert env["RELSCORE_KAFKA_BOOTSTRAP"] == worker_env["RELSCORE_KAFKA_BOOTSTRAP"]


def test_k8s_worker_ports_probes_and_config_agree_with_settings() -> None:
    deployment = worker_deployment()
    pod = deployment["spec"]["template"]
    container = worker_container()
    settings = Settings.from_env(k8s_worker_env())

    assert deployment["spec"]["replicas"] == 2
    assert container["image"] == "relscore:latest"
    assert "command" not in container, "keep the image's ENTRYPOINT (relscore)"
    assert build_parser().parse_args(container["args"]).command == "worker"

    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": settings.web.port}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz", probe
        assert ports.get(get["port"], get["port"]) == settings.web.port, probe

    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == settings.web.port
    assert annotations["prometheus.io/path"] == "/metrics"
    assert container["resources"]["requests"] and container["resources"]["limits"]

    # Service and PodDisruptionBudget select the worker pods and reach the web port.
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = k8s_resource("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    [service_port] = service["spec"]["ports"]
    assert service_port["port"] == settings.web.port
    assert ports.get(service_port["targetPort"], service_port["targetPort"]) == settings.web.port
    pdb = k8s_resource("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"].get("maxUnavailable", 0) == 1 or pdb["spec"].get("minAvailable") == 1

    # RocksDB on a scratch volume: a pod rebuilds from the changelog, so a Deployment is enough.
    assert settings.worker.table_store == "rocksdb://"
    assert settings.worker.rocksdb_memory_mib * settings.topics.partitions * 1024**2 < (
        binary_quantity(container["resources"]["limits"]["memory"]))
    # The data directory is a writable volume (the root file system is read-only).
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert settings.worker.data_dir in mounts
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes[mounts[settings.worker.data_dir]]


def test_k8s_scoring_config_is_mounted_where_config_path_points_and_loads(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env(k8s_worker_env())
    assert settings.worker.config_path is not None
    config_dir, file_name = settings.worker.config_path.rsplit("/", 1)
    container = worker_container()
    volumes = {v["name"]: v for v in worker_deployment()["spec"]["template"]["spec"]["volumes"]}
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == config_dir]
    config_map = k8s_resource("ConfigMap", "relscore-scoring")
    source = volumes[mount["name"]]["configMap"]
    assert source["name"] == config_map["metadata"]["name"]
    [item] = [i for i in source["items"] if i["path"] == file_name]
    toml = tmp_path / file_name
    toml.write_text(config_map["data"][item["key"]], encoding="utf-8")
    cfg = load_config(toml)  # refuses a bad key or value with ConfigError
    assert cfg.alerts.threshold == 60.0


def test_grafana_provisioning_agrees_with_compose_and_the_dashboard() -> None:
    services = compose()["services"]
    grafana_volumes = [str(v).removesuffix(":ro").split(":") for v in
                       services["grafana"]["volumes"]]
    mounts = {target: ROOT / source for source, target in grafana_volumes}
    assert mounts["/etc/grafana/provisioning"] == GRAFANA_DIR / "provisioning"
    assert mounts["/var/lib/grafana/dashboards"] == GRAFANA_DIR / "dashboards"

    [datasource] = load_yaml(GRAFANA_DIR / "provisioning/datasources/prometheus.yml")[
        "datasources"]
    prometheus_port = next(container for _, container in compose_ports(services["prometheus"]))
    assert datasource["url"] == f"http://prometheus:{prometheus_port}"
    assert datasource["type"] == "prometheus" and datasource["uid"] == "prometheus"

    [provider] = load_yaml(GRAFANA_DIR / "provisioning/dashboards/relscore.yml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"

    # Every panel queries the provisioned datasource; ids and query refIds are unique; the
    # grid holds the panels without overlap.
    panels = dashboard_panels()
    assert len({panel["id"] for panel in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        area = {(pos["x"] + dx, pos["y"] + dy) for dx in range(pos["w"]) for dy in range(pos["h"])}
        assert not cells & area, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_promql_metric_name_extraction() -> None:
    assert promql_metric_names(
        'histogram_quantile(0.99, sum by (le) (rate(relscore_x_bucket{job="a", le!="+Inf"}'
        '[$__rate_interval])))') == {"relscore_x_bucket"}
    assert promql_metric_names(
        "sum by (topic) (a_end - on (job, instance, topic) group_left b_commited) > 1e3"
    ) == {"a_end", "b_commited"}
    assert promql_metric_names('sum(up{job="relscore"}) offset 5m * 3600') == {"up"}


def test_dashboard_has_the_panels_and_uses_only_metrics_the_code_defines() -> None:
    used = dashboard_metric_names()
    assert {
        "relscore_score_bucket", "relscore_customers", "relscore_alerts_total",
        "relscore_events_total", "relscore_event_time_lag_seconds_bucket",
        f"{FAUST_PREFIX}_topic_partition_end_offset",
        f"{FAUST_PREFIX}_topic_partition_offset_commited",
        "relscore_dlq_messages_total", "relscore_event_processing_seconds_bucket",
        "relscore_redis_errors_total", "relscore_redis_pending_customers",
    } <= used
    unknown = used - code_metric_names() - PROMETHEUS_SYNTHETIC
    assert not unknown, f"dashboard metrics defined nowhere in the code: {sorted(unknown)}"

    in_alerts = {name for rule in alert_rules() for name in promql_metric_names(rule["expr"])}
    unknown = in_alerts - code_metric_names() - PROMETHEUS_SYNTHETIC
    assert not unknown, f"alert metrics defined nowhere in the code: {sorted(unknown)}"


# --------------------------------------------------------------------------- (d) live worker


@pytest.mark.integration
def test_every_dashboard_metric_is_on_a_running_workers_metrics_page(
    settings: Settings, start_worker: StartWorker, produce: EventProducer
) -> None:
    worker = run_scripted_population(settings, start_worker, produce)

    def families() -> list[Metric]:
        return list(text_string_to_metric_families(
            http_get(worker.url + "/metrics").decode("utf-8")))

    declared, sampled = exposed_names(families())
    wanted = dashboard_metric_names() - PROMETHEUS_SYNTHETIC
    missing = sorted(wanted - declared - sampled)
    assert not missing, f"dashboard metrics missing from the worker's /metrics: {missing}"
    unsampled = sorted(wanted - sampled - DECLARED_UNTIL_USED)
    assert not unsampled, (
        f"dashboard metrics without samples after the scripted population: {unsampled}")

    # The consumer-lag panel's arithmetic: once the group has committed everything, end
    # offset minus committed offset is zero on every partition the worker consumes.
    def lag_by_partition() -> dict[tuple[str, str], float] | None:
        gauges: dict[str, dict[tuple[str, str], float]] = {
            f"{FAUST_PREFIX}_topic_partition_end_offset": {},
            f"{FAUST_PREFIX}_topic_partition_offset_commited": {},
        }
        for family in families():
            for sample in family.samples if family.name in gauges else []:
                partition = (sample.labels["topic"], sample.labels["partition"])
                gauges[family.name][partition] = sample.value
        end, committed = gauges.values()
        lag = {tp: end[tp] - committed[tp] for tp in end.keys() & committed.keys()}
        seen["lag"] = lag
        return lag if lag and not any(lag.values()) else None

    seen: dict[str, Any] = {}

    lag = poll("consumer lag from the Faust gauges drops to 0", lag_by_partition, timeout=30,
               detail=lambda: seen)
    assert {topic for topic, _ in lag} >= set(settings.topics.inputs)


# --------------------------------------------------------------------------- (e) Prometheus


@pytest.fixture
def start_prometheus(prometheus_tools: PrometheusTools,
                     tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], str]]:
    """Start Debian's prometheus with a given config on a free port; stopped at teardown."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(config: dict[str, Any]) -> str:
        port = free_port()
        config_file = tmp_path / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        log_path = tmp_path / "prometheus.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [prometheus_tools.prometheus, f"--config.file={config_file}",
                 f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited with {process.returncode}:\n"
                            f"{log_path.read_text(errors='replace')[-3000:]}")
            try:
                return http_get(url + "/-/ready", timeout=1) is not None
            except (urllib.error.URLError, OSError):
                return False

        poll("prometheus answers /-/ready", ready, timeout=60)
        return url

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def prom_api(url: str, path: str, **params: str) -> Any:
    query = urllib.parse.urlencode(params)
    try:
        body = http_get(f"{url}/api/v1/{path}" + (f"?{query}" if query else ""))
    except urllib.error.HTTPError as exc:
        body = exc.read()
    return json.loads(body)


@pytest.mark.integration
def test_real_prometheus_scrapes_a_running_worker_and_the_dashboard_queries_return_data(
    settings: Settings, start_worker: StartWorker, produce: EventProducer,
    start_prometheus: Callable[[dict[str, Any]], str],
) -> None:
    worker = run_scripted_population(settings, start_worker, produce)
    url = start_prometheus({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROM_DIR / "alerts.yml")],
        "scrape_configs": [{
            "job_name": "relscore",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [f"127.0.0.1:{settings.web.port}"]}],
        }],
    })

    def events_series() -> list[dict[str, Any]]:
        answer = prom_api(url, "query", query="relscore_events_total")
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    series = poll("Prometheus has relscore_events_total series", events_series, timeout=60)
    assert all(s["metric"]["__name__"].startswith("relscore_") for s in series)
    scored = sum(float(s["value"][1]) for s in series if s["metric"]["outcome"] == "scored")
    assert scored == sum(len(phase) for phase in scripted_population())

    up = prom_api(url, "query", query='up{job="relscore"}')["data"]["result"]
    assert [(s["metric"]["instance"], s["value"][1]) for s in up] == [
        (f"127.0.0.1:{settings.web.port}", "1")]
    names = prom_api(url, "label/__name__/values")["data"]
    assert len([n for n in names if n.startswith("relscore_")]) >= 10, names

    # The shipped alert rules load and evaluate without error, and on a healthy worker they
    # settle inactive (RelscoreWorkersAbsent may be pending at the evaluation before the first
    # scrape; it must clear).
    rule_states: dict[str, tuple[str, str]] = {}

    def rules_healthy_and_quiet() -> bool:
        groups = prom_api(url, "rules")["data"]["groups"]
        rule_states.clear()
        rule_states.update({rule["name"]: (rule["health"], rule["state"])
                            for group in groups for rule in group["rules"]})
        return bool(rule_states) and all(
            state == ("ok", "inactive") for state in rule_states.values())

    poll("every alert rule evaluated (health ok) and inactive", rules_healthy_and_quiet,
         timeout=60, detail=lambda: rule_states)
    assert set(rule_states) == {rule["alert"] for rule in alert_rules()}

    # Every dashboard query is valid PromQL and, once a few scrapes are in, returns data
    # (Grafana's $__rate_interval and $__range become fixed windows here).
    def substitute(expr: str) -> str:
        return expr.replace("$__rate_interval", "1m").replace("$__range", "5m")

    def empty_queries() -> list[str]:
        empty = []
        for title, expr in dashboard_queries():
            answer = prom_api(url, "query", query=substitute(expr))
            assert answer["status"] == "success", f"{title}: {expr}: {answer}"
            if not answer["data"]["result"] and not (
                    promql_metric_names(expr) & DECLARED_UNTIL_USED):
                empty.append(f"{title}: {expr}")
        return empty

    empty: list[str] = []

    def every_query_has_data() -> bool:
        empty[:] = empty_queries()
        return not empty

    poll("every dashboard query returns data", every_query_has_data, timeout=60,
         detail=lambda: empty)
    assert worker.process is not None and worker.process.poll() is None


# --------------------------------------------------------------------------- relscore notify


def k8s_container_env(deployment: str) -> dict[str, str]:
    """A Deployment's container environment, secrets filled in from secret.example.yaml."""
    secret = k8s_resource("Secret")
    (container,) = k8s_resource("Deployment", deployment)["spec"]["template"]["spec"][
        "containers"]
    env: dict[str, str] = {}
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"], item["name"]
            env[item["name"]] = secret["stringData"][ref["key"]]
    return env


def k8s_notify_routes_env() -> list[str]:
    """The environment variables the k8s routes file names for its secrets."""
    routes = tomllib.loads(k8s_resource("ConfigMap", "relscore-notify-routes")["data"][
        "routes.toml"])
    return [value for table in routes["destinations"].values()
            for key, value in table.items() if key.endswith("_env")]


def test_compose_notify_loads_the_example_routes_with_the_secrets_it_passes() -> None:
    services = compose()["services"]
    notify = services["notify"]
    assert build_parser().parse_args(notify["command"]).command == "notify"
    env = env_mapping(notify["environment"])
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})
    # The routes file is the repository's example, mounted where RELSCORE_NOTIFY_ROUTES says.
    [mount] = [str(volume).split(":") for volume in notify["volumes"]]
    host_dir, container_dir = mount[0], mount[1]
    routes_file = Path(str(settings.notify.routes_file))
    assert routes_file.parent == Path(container_dir)
    local = (ROOT / host_dir / routes_file.name).resolve()
    assert local == ROOT / "deploy" / "notify" / "routes.example.toml"
    # Every secret the routes name is passed from the host, and refused when unset.
    named = {value for table in tomllib.loads(local.read_text())["destinations"].values()
             for key, value in table.items() if key.endswith("_env")}
    assert named and named <= set(env), f"compose does not pass {named - set(env)}"
    written = env_mapping(notify["environment"], interpolate=False)
    assert all(written[name] == "${" + name + ":-}" for name in named)
    assert notify["profiles"] == ["notify"], "it needs secrets: run it only when asked"
    routing = load_routes(local, {name: "https://hooks.example.com/x" for name in named})
    assert set(routing.destinations) == {"cs-team", "cs-slack", "owner-mail", "owner-digest"}
    assert (settings.notify.port, settings.notify.port) in compose_ports(notify)
    assert settings.notify.page_url == "http://localhost:6066"
    jobs = {job["job_name"]: job for job in load_yaml(PROM_DIR / "prometheus.yml")[
        "scrape_configs"]}
    assert jobs["relscore-notify"]["static_configs"][0]["targets"] == [
        f"notify:{settings.notify.port}"]


def test_k8s_notify_mounts_routes_that_load_and_probes_its_own_port() -> None:
    deployment = k8s_resource("Deployment", "relscore-notify")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["notify"] and deployment["spec"]["replicas"] == 1
    env = k8s_container_env("relscore-notify")
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith(ENV_PREFIX)})
    [mount] = container["volumeMounts"]
    [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == mount["name"]]
    config_map = k8s_resource("ConfigMap", volume["configMap"]["name"])
    routes_file = Path(str(settings.notify.routes_file))
    assert routes_file.parent == Path(mount["mountPath"])
    text = config_map["data"][routes_file.name]
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"relscore-k8s-routes-{os.getpid()}.toml"
    path.write_text(text)
    try:
        routing = load_routes(path, env)  # every secret it names is in the container's env
    finally:
        path.unlink()
    assert routing.destinations and routing.fallback
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": settings.notify.port}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(settings.notify.port)
    assert env["RELSCORE_KAFKA_BOOTSTRAP"] == k8s_worker_env()["RELSCORE_KAFKA_BOOTSTRAP"]
