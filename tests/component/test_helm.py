"""The Helm chart ``deploy/helm/dancu-bus``: it lints, renders, and every rendered manifest validates offline.

Core kinds are checked with the ``kubernetes-validate`` package's schemas of Kubernetes 1.31 (the oldest
version the chart's kubeVersion admits), strictly (no unknown field); PodMonitor, ScaledObject and
TriggerAuthentication against their vendored CRDs (``tests/crd_schemas.py``). The rendered settings are
read back by the settings tree itself, so a DANCU_* name or value the services would refuse fails here.
helm comes from ``deploy/helm/install-helm.sh``; without it these tests skip locally and fail under
``CI=true``.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel

from dancu_bus.access import AUDIT, RESOLVER
from dancu_bus.settings import Settings
from tests.crd_schemas import CHART_CRDS, crd_errors

pytestmark = pytest.mark.helm

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "dancu-bus"
KUBERNETES = "1.31.0"
SERVICES = ("audit", "portal", "resolver", "sms")
# A file setting each service may take from a Secret (read as its owner's only, or public).
SECRET_FILES = {
    "audit": "DANCU_AUDIT__SIGNING_KEY_FILE",
    "portal": "DANCU_PORTAL__ANSWER_KEYS",
    "resolver": "DANCU_DEAD_LETTERS__OPERATOR_KEY",
    "sms": "DANCU_SDK__ANSWER_KEYS",
}
# Every service on, each autoscaled and given a secret file: the largest rendering the values allow.
EVERY_SERVICE = [
    arg
    for name, setting in SECRET_FILES.items()
    for arg in (
        "--set",
        f"services.{name}.enabled=true",
        "--set",
        f"services.{name}.autoscaling.enabled=true",
        "--set-json",
        f'services.{name}.secretFiles=[{{"env": "{setting}", "secretName": "{name}-file", "key": "k.pem"}}]',
    )
]
RENDERINGS = {"default": [], "every-service": EVERY_SERVICE}

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def helm() -> str:
    """The helm binary: DANCU_HELM, helm on the PATH, or where install-helm.sh puts it."""
    gopath = Path(os.environ.get("GOPATH", Path.home() / "go"))
    for candidate in (os.environ.get("DANCU_HELM"), shutil.which("helm"), gopath / "bin" / "helm"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    reason = "helm is not installed: deploy/helm/install-helm.sh builds it"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the chart must be checked)", pytrace=False)
    pytest.skip(reason)


def _helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=60, check=False)


def _render(helm: str, args: Sequence[str]) -> list[Manifest]:
    done = _helm(
        helm, "template", "dancu", str(CHART), "--namespace", "dancu", "--kube-version", KUBERNETES, *args
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module", params=sorted(RENDERINGS))
def rendered(request: pytest.FixtureRequest, helm: str) -> list[Manifest]:
    """The manifests of one rendering (default values, or every service on)."""
    return _render(helm, RENDERINGS[request.param])


def _of_kind(manifests: Sequence[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _manifest_errors(manifest: Manifest) -> list[str]:
    """Why ``manifest`` would not be accepted: its CRD's schema, or Kubernetes' own."""
    if (manifest.get("apiVersion"), manifest.get("kind")) in CHART_CRDS:
        return list(crd_errors(manifest))
    try:
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in exc.absolute_path) or '(resource)'}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [exc.message]
    return []


def _container(deployment: Manifest) -> Manifest:
    """The Deployment's one container (itself, not a copy)."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _plain_env(container: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def _is_setting(name: str) -> bool:
    """Whether ``DANCU_A__B`` names a field of the settings tree (pydantic ignores one that does not)."""
    model: Any = Settings
    for part in name.removeprefix("DANCU_").lower().split("__"):
        field = (
            model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        )
        if field is None:
            return False
        model = field.annotation
    return True


def _settings_from(env: Mapping[str, str], private: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a container with ``env`` would build; its private files are made under ``private``."""
    assert [name for name in env if not _is_setting(name)] == []
    for name in [n for n in os.environ if n.startswith("DANCU_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if value.startswith("/run/dancu/private/"):
            local = private / Path(value).name
            local.write_text("secret\n", encoding="utf-8")
            local.chmod(0o600)
            value = str(local)
        monkeypatch.setenv(name, value)
    return Settings()


def test_chart_lints_strictly(helm: str) -> None:
    """``helm lint --strict`` passes with the default values and with every service on."""
    for args in RENDERINGS.values():
        done = _helm(helm, "lint", "--strict", str(CHART), *args)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_rendered_manifest_validates(rendered: list[Manifest]) -> None:
    """Each manifest of ``helm template`` validates against Kubernetes 1.31's schema or its kind's CRD."""
    problems = {f"{m['kind']} {m['metadata']['name']}": _manifest_errors(m) for m in rendered}
    assert {k: v for k, v in problems.items() if v} == {}
    kinds = {m["kind"] for m in rendered}
    assert {"Deployment", "PodDisruptionBudget", "PodMonitor", "ScaledObject"} <= kinds


def test_services_toggle(helm: str) -> None:
    """The default runs the resolver and the audit; each service's ``enabled`` adds or removes its objects."""
    default = _render(helm, [])
    assert {
        d["metadata"]["labels"]["app.kubernetes.io/component"] for d in default if d["kind"] == "Deployment"
    } == {
        "audit",
        "resolver",
    }
    every = _render(helm, EVERY_SERVICE)
    for kind in ("Deployment", "PodDisruptionBudget", "ScaledObject", "TriggerAuthentication"):
        assert set(_of_kind(every, kind)) == {f"dancu-dancu-bus-{name}" for name in SERVICES}, kind
    none = _render(helm, [arg for name in SERVICES for arg in ("--set", f"services.{name}.enabled=false")])
    assert {m["kind"] for m in none} == {"ServiceAccount"}


def test_containers_are_probed_and_sized(rendered: list[Manifest]) -> None:
    """Each service is probed on /healthz (alive) and /readyz (ready) on its metrics port, with requests."""
    for deployment in _of_kind(rendered, "Deployment").values():
        container = _container(deployment)
        (port,) = container["ports"]
        assert port["name"] == "metrics"
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])


def test_rendered_settings_are_what_the_services_read(
    rendered: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each container's DANCU_* environment builds the settings tree: Strimzi's login, the pod's port."""
    for name, deployment in _of_kind(rendered, "Deployment").items():
        container = _container(deployment)
        env = _plain_env(container)
        # What comes from a Secret at run time (the store's DSN) is a setting too.
        secrets = {e["name"]: "from-a-secret" for e in container["env"] if "valueFrom" in e}
        private = tmp_path / name
        private.mkdir()
        settings = _settings_from(env | secrets, private, monkeypatch)
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        section = getattr(settings, component)
        assert section.metrics_port == container["ports"][0]["containerPort"]
        assert settings.metrics_host == "0.0.0.0"
        assert settings.kafka.security_protocol == "SASL_SSL"
        assert settings.kafka.password is not None and settings.kafka.ssl_ca is not None
        # Every private file a setting names is one the init container copies there before the start.
        (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
        copied = {line.split()[-1] for line in init["command"][-1].splitlines() if line.startswith("cp ")}
        assert {v for v in env.values() if v.startswith("/run/dancu/private/")} == copied
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        # The login is the KafkaUser whose Secret Strimzi writes, and the CA is the cluster's.
        assert volumes["kafka-user"]["secret"]["secretName"] == settings.kafka.username
        assert volumes["kafka-ca"]["secret"] == {
            "secretName": "dancu-cluster-ca-cert",
            "items": [{"key": "ca.crt", "path": "ca.crt"}],
        }


def test_values_match_the_settings_defaults_and_principals() -> None:
    """values.yaml's groups and ports are the settings' defaults; the services log in as topics.yaml's."""
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))["services"]
    defaults = Settings.model_construct()
    for name in SERVICES:
        section = getattr(defaults, name)
        assert (values[name]["groupId"], values[name]["metricsPort"]) == (
            section.group_id,
            section.metrics_port,
        )
        assert values[name]["settingsSection"] == name.upper()
    assert (values["resolver"]["kafkaUser"], values["audit"]["kafkaUser"]) == (RESOLVER, AUDIT)
    assert (values["sms"]["kafkaUser"], values["portal"]["kafkaUser"]) == (
        defaults.sms.agency,
        defaults.portal.agency,
    )


def test_scaling_and_disruption_target_the_deployments(rendered: list[Manifest]) -> None:
    """Each ScaledObject scales its Deployment on its group's lag; PDBs and the PodMonitor select its pods."""
    deployments = _of_kind(rendered, "Deployment")
    pods = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}
    auths = _of_kind(rendered, "TriggerAuthentication")
    for scaled in _of_kind(rendered, "ScaledObject").values():
        target = scaled["spec"]["scaleTargetRef"]["name"]
        container = _container(deployments[target])
        assert "replicas" not in deployments[target]["spec"]  # KEDA's HPA owns it
        (trigger,) = scaled["spec"]["triggers"]
        env = _plain_env(container)
        assert trigger["metadata"]["consumerGroup"] in env.values()
        assert trigger["metadata"]["bootstrapServers"] == env["DANCU_KAFKA__BOOTSTRAP_SERVERS"]
        auth = auths[trigger["authenticationRef"]["name"]]["spec"]
        assert [(e["name"], e["containerName"]) for e in auth["env"]] == [
            ("DANCU_KAFKA__USERNAME", container["name"])
        ]
    for name, budget in _of_kind(rendered, "PodDisruptionBudget").items():
        assert budget["spec"]["selector"]["matchLabels"].items() <= pods[name].items()
    (monitor,) = _of_kind(rendered, "PodMonitor").values()
    selector = monitor["spec"]["selector"]
    (components,) = selector["matchExpressions"]
    for labels in pods.values():
        assert selector["matchLabels"].items() <= labels.items()
        assert labels["app.kubernetes.io/component"] in components["values"]
    (relabel,) = monitor["spec"]["podMetricsEndpoints"][0]["relabelings"]
    jobs = {
        j["job_name"]
        for j in yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())["scrape_configs"]
    }
    # The job names the rules and dashboards select on: one for each service the chart can run.
    services = ("resolver", "audit", "sms", "portal")
    assert {relabel["replacement"].replace("$1", c) for c in services} == jobs


def _unknown_probe_field(m: Manifest) -> None:
    _container(m)["livenessProbes"] = {}


def _port_by_name(m: Manifest) -> None:
    _container(m)["ports"][0]["containerPort"] = "metrics"


def _budget_as_list(m: Manifest) -> None:
    m["spec"]["maxUnavailable"] = [1]


def _interval_in_words(m: Manifest) -> None:
    m["spec"]["podMetricsEndpoints"][0]["interval"] = "30 seconds"


def _no_scale_target(m: Manifest) -> None:
    del m["spec"]["scaleTargetRef"]


def _secret_without_key(m: Manifest) -> None:
    del m["spec"]["secretTargetRef"][0]["key"]


def _name_not_dns(m: Manifest) -> None:
    m["metadata"]["name"] = "Resolver_1"


@pytest.mark.parametrize(
    ("kind", "breakage", "named"),
    [
        ("Deployment", _unknown_probe_field, "livenessProbes"),
        ("Deployment", _port_by_name, "containerPort"),
        ("PodDisruptionBudget", _budget_as_list, "spec.maxUnavailable"),
        ("PodMonitor", _interval_in_words, "interval"),
        ("ScaledObject", _no_scale_target, "scaleTargetRef"),
        ("TriggerAuthentication", _secret_without_key, "'key' is a required"),
        ("ScaledObject", _name_not_dns, "metadata.name"),
    ],
)
def test_a_broken_manifest_is_rejected(
    helm: str, kind: str, breakage: Callable[[Manifest], None], named: str
) -> None:
    """The validation is not vacuous: a rendered manifest broken in one field fails it, naming the field."""
    manifest = copy.deepcopy(next(iter(_of_kind(_render(helm, []), kind).values())))
    assert _manifest_errors(manifest) == []
    breakage(manifest)
    errors = _manifest_errors(manifest)
    assert errors and all(named in error for error in errors), errors


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--set", "services.resolver.metricsPort=70000"], "metricsPort"),
        (["--set", "services.mailer.enabled=true"], "mailer"),
        (["--set", "settings.LOG_LEVEL=DEBUG"], "LOG_LEVEL"),
        (["--set", "settings.DANCU_KAFKA__USERNAME=admin"], "DANCU_KAFKA__USERNAME is set by the chart"),
        (
            ["--set", "services.audit.env.DANCU_AUDIT__GROUP_ID=other"],
            "DANCU_AUDIT__GROUP_ID is set by the chart",
        ),
    ],
)
def test_wrong_values_are_refused(helm: str, args: list[str], reason: str) -> None:
    """values.schema.json and the chart refuse a bad value, or one overriding what the chart derives."""
    done = _helm(helm, "template", "dancu", str(CHART), *args)
    assert done.returncode != 0, f"helm rendered {args}"
    assert reason in done.stderr
