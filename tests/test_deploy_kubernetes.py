"""The Kubernetes manifests (deploy/kubernetes): rendered by kustomize, valid for every
Kubernetes version kubernetes-validate knows, and saying what the app needs.

No cluster runs here: ``kubectl kustomize`` renders offline and ``kubernetes-validate
--strict`` checks each object against the bundled OpenAPI schemas of a version (a
misspelled field, a wrong type or a field the version lacks fails). Without kubectl the
tests skip, except under ``CI=true``, where they fail: CI must not pass without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from fastapi.testclient import TestClient
from kubernetes_validate.utils import all_versions

from webapp.server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes"
# What each variant is made of; "gpu+queue-depth" is an overlay written in the test: the
# queue-depth component is for clusters with a metrics adapter, so no overlay in the
# repository includes it.
VARIANTS = {"base": "", "gpu": "", "gpu+queue-depth": "resources:\n  - ../gpu\n"
            "components:\n  - ../components/queue-depth\n"}
VALIDATE = Path(sys.executable).with_name("kubernetes-validate")
# Every version the installed kubernetes-validate ships schemas for: the oldest it
# supports, the current ones and the newest.
VERSIONS = sorted(set(all_versions()), key=lambda version: tuple(map(int, version.split("."))))


def kubectl_unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() in {"1", "true"}:
        pytest.fail(f"{reason}; CI is set, so the Kubernetes manifests must be rendered here.",
                    pytrace=False)
    pytest.skip(reason)


def kustomize(folder: Path) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        kubectl_unavailable("no kubectl to run `kubectl kustomize` (it renders offline)")
    result = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each variant rendered to a file of its own."""
    work = tmp_path_factory.mktemp("kubernetes")
    tree = work / "kubernetes"
    shutil.copytree(KUBERNETES, tree)
    files = {}
    for name, overlay in VARIANTS.items():
        folder = tree / name
        if overlay:
            folder.mkdir()
            (folder / "kustomization.yaml").write_text(overlay)
        files[name] = work / f"{name}.yaml"
        files[name].write_text(kustomize(folder))
    return files


def objects(path: Path) -> dict[str, dict[str, Any]]:
    """The rendered objects of ``path`` by kind (each variant has one of each)."""
    found: dict[str, dict[str, Any]] = {}
    for document in yaml.safe_load_all(path.read_text()):
        assert document["kind"] not in found, document["kind"]
        found[document["kind"]] = document
    return found


def validate(version: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VALIDATE), "--strict", "--kubernetes-version", version,
                           *map(str, files)], capture_output=True, text=True, timeout=300,
                          check=False)


def pod(path: Path) -> dict[str, Any]:
    spec: dict[str, Any] = objects(path)["Deployment"]["spec"]["template"]
    return spec


def server(path: Path) -> dict[str, Any]:
    container: dict[str, Any] = next(container for container in pod(path)["spec"]["containers"]
                                     if container["name"] == "convlens")
    return container


def test_the_versions_span_the_oldest_to_the_newest() -> None:
    assert len(VERSIONS) >= 3, VERSIONS
    print(f"\nkubernetes-validate --strict against {', '.join(VERSIONS)}")


@pytest.mark.parametrize("version", VERSIONS)
def test_every_variant_is_valid_for(version: str, rendered: dict[str, Path]) -> None:
    result = validate(version, *rendered.values())
    assert result.returncode == 0, result.stdout + result.stderr
    # One line per object and file: nothing was passed over as unknown.
    passed = [line for line in result.stdout.splitlines() if " passed for resource " in line]
    assert len(passed) == sum(len(objects(path)) for path in rendered.values()), result.stdout


def test_strict_validation_catches_a_misspelled_field(rendered: dict[str, Path],
                                                      tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = rendered["base"].read_text()
    assert "readOnlyRootFilesystem" in text
    broken.write_text(text.replace("readOnlyRootFilesystem", "readOnlyRootFileSystem"))
    result = validate(VERSIONS[-1], broken)
    assert result.returncode != 0, result.stdout
    assert "readOnlyRootFileSystem" in result.stdout + result.stderr


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_pod_is_locked_down(variant: str, rendered: dict[str, Path]) -> None:
    spec = pod(rendered[variant])["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["automountServiceAccountToken"] is False
    for container in spec["initContainers"] + spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        assert "memory" in container["resources"]["limits"], container["name"]
    # The one writable place, /tmp, is scratch space that goes with the pod.
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in server(rendered[variant])
              ["volumeMounts"]}
    assert list(mounts) == ["/tmp"]
    assert "emptyDir" in volumes[mounts["/tmp"]]
    # The init container fills that /tmp with the image's compiled numba cache, which is
    # where the image puts it.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "NUMBA_CACHE_DIR=/tmp/convlens-numba" in dockerfile
    assert spec["initContainers"][0]["command"][-2] == "/tmp/convlens-numba"


@pytest.mark.parametrize("variant", VARIANTS)
def test_probes_ask_health_on_the_port_the_image_serves(variant: str,
                                                        rendered: dict[str, Path]) -> None:
    container = server(rendered[variant])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8000}
    assert "EXPOSE 8000" in (ROOT / "Dockerfile").read_text()
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    # Start-up compiles the numba loops when the copied cache does not fit the node's CPU:
    # up to a minute on two cores. Allow three before the kubelet restarts the pod.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 180
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    # preStop's pause and uvicorn's 5 s drain (the image's CMD) fit in the grace period.
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pause + 5 < pod(rendered[variant])["spec"]["terminationGracePeriodSeconds"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_service_budget_and_autoscaler_find_the_pods(variant: str,
                                                         rendered: dict[str, Path]) -> None:
    found = objects(rendered[variant])
    deployment = found["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert found["Service"]["spec"]["selector"] == selector
    assert found["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert found["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    autoscaler = found["HorizontalPodAutoscaler"]
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    # The budget leaves one pod serving, so there must be two to evict one of.
    assert autoscaler["spec"]["minReplicas"] > found["PodDisruptionBudget"]["spec"][
        "minAvailable"]
    metrics = {metric["type"]: metric for metric in autoscaler["spec"]["metrics"]}
    assert metrics["Resource"]["resource"]["name"] == "cpu"
    assert ("Pods" in metrics) == ("queue-depth" in variant)


@pytest.fixture(scope="module")
def metrics_page() -> Iterator[str]:
    from webapp.server.app import create_app

    with TestClient(create_app(Settings())) as client:
        response = client.get("/metrics")
        assert response.status_code == 200
        yield response.text


def test_what_the_pods_announce_is_what_the_app_serves(rendered: dict[str, Path],
                                                       metrics_page: str) -> None:
    annotations = pod(rendered["base"])["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "8000",
                           "prometheus.io/path": "/metrics"}
    autoscaler = objects(rendered["gpu+queue-depth"])["HorizontalPodAutoscaler"]
    pods = next(metric["pods"] for metric in autoscaler["spec"]["metrics"]
                if metric["type"] == "Pods")
    name = pods["metric"]["name"]
    # A gauge of that very name on /metrics, for an adapter to serve to the autoscaler.
    assert f"# TYPE {name} gauge" in metrics_page


def test_the_gpu_overlay_asks_for_a_gpu_and_refuses_the_cpu(
    rendered: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, gpu = server(rendered["base"]), server(rendered["gpu"])
    assert gpu["image"] == base["image"] + "-gpu"
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in base["resources"]["limits"]
    spec = pod(rendered["gpu"])["spec"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists",
            "effect": "NoSchedule"} in spec["tolerations"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    environment = {variable["name"]: variable["value"] for variable in gpu["env"]}
    # The value as the app's settings read it.
    monkeypatch.setenv("CONVLENS_REQUIRE_GPU", environment["CONVLENS_REQUIRE_GPU"])
    assert Settings().require_gpu is True
