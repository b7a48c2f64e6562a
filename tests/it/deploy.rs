//! The deployment files of `deploy/` agree with one another and with the binary: each
//! configuration passes `paravent check`; the Kubernetes probes, ports and mounts, the
//! container's EXPOSE, VOLUME and HEALTHCHECK, and the systemd unit name the addresses,
//! paths and files their configuration uses; the stop grace periods outlast `serve`'s;
//! and `paravent healthcheck`, the container's health check, asks a real `serve`.
//!
//! Schemas, hadolint and `systemd-analyze verify` are scripts/check_deploy.py's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use crate::support::serve::Served;
use crate::support::{Scratch, paravent};

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(deploy(rel)).unwrap_or_else(|e| panic!("deploy/{rel}: {e}"))
}

fn toml_config(rel: &str) -> toml::Table {
    read(rel)
        .parse()
        .unwrap_or_else(|e| panic!("deploy/{rel}: {e}"))
}

/// `[section] key` of a configuration, as a string.
fn key<'a>(cfg: &'a toml::Table, section: &str, key: &str) -> &'a str {
    cfg.get(section)
        .and_then(|s| s.get(key))
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("[{section}] {key} is set"))
}

fn port_of(addr: &str) -> u16 {
    addr.parse::<SocketAddr>()
        .unwrap_or_else(|e| panic!("{addr}: {e}"))
        .port()
}

/// The directory of `[audit] path`.
fn audit_dir(cfg: &toml::Table) -> String {
    let path = key(cfg, "audit", "path");
    assert!(path.contains("{instance}"), "one file per instance: {path}");
    Path::new(path)
        .parent()
        .expect("the audit path has a directory")
        .to_str()
        .unwrap()
        .to_owned()
}

fn yaml_docs(rel: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("deploy/{rel}: {e}"))
}

fn s(y: &Yaml) -> &str {
    y.as_str().unwrap_or_else(|| panic!("a string, not {y:?}"))
}

fn n(y: &Yaml) -> i64 {
    y.as_i64()
        .unwrap_or_else(|| panic!("an integer, not {y:?}"))
}

/// The container file's instructions, continuation lines joined: (INSTRUCTION, rest).
fn containerfile() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("Containerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                let (ins, rest) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((ins.to_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

/// The exec form `["a", "b"]` that ends an instruction.
fn exec_form(rest: &str) -> Vec<String> {
    let start = rest.find('[').expect("exec form");
    serde_json::from_str(&rest[start..]).unwrap_or_else(|e| panic!("{rest}: {e}"))
}

/// `Key=value` lines of the systemd unit (a key may repeat).
fn unit_values(key: &str) -> Vec<String> {
    read("systemd/paravent.service")
        .lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_container_and_kubernetes_configurations_pass_paravent_check() {
    for rel in ["container/paravent.toml", "kubernetes/paravent.toml"] {
        let run = paravent(&["check", "--config", Scratch::arg(&deploy(rel))], b"");
        run.assert_code(0);
        assert!(run.stdout.starts_with("ok: "), "{rel}: {}", run.stdout);
    }
}

#[test]
fn the_systemd_configuration_passes_paravent_check_with_its_tls_files_in_place() {
    // Its certificate and key are the admin's (/etc/paravent/tls/): a generated pair
    // beside a copy of it stands in.
    let dir = Scratch::new("deploy-systemd");
    let config = dir.write("paravent.toml", read("systemd/paravent.toml"));
    let cert = rcgen::generate_simple_self_signed(vec!["paravent.example.com".to_owned()])
        .expect("a self-signed certificate");
    dir.write("tls/paravent.crt", cert.cert.pem());
    dir.write("tls/paravent.key", cert.signing_key.serialize_pem());
    let run = paravent(&["check", "--config", Scratch::arg(&config)], b"");
    run.assert_code(0);
    // Without them, check names both files: the configuration really uses TLS.
    let bare = Scratch::new("deploy-systemd-bare");
    let config = bare.write("paravent.toml", read("systemd/paravent.toml"));
    let run = paravent(&["check", "--config", Scratch::arg(&config)], b"");
    run.assert_code(1);
    assert!(run.stderr.contains("tls/paravent.crt"), "{}", run.stderr);
}

#[test]
fn the_kubernetes_probes_ports_and_mounts_match_the_configuration() {
    let cfg = toml_config("kubernetes/paravent.toml");
    let docs = yaml_docs("kubernetes/statefulset.yaml");
    let sts = &docs[0];
    assert_eq!(s(&sts["kind"]), "StatefulSet");
    let pod = &sts["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let port = |name: &str| -> i64 {
        let found = c["ports"]
            .as_vec()
            .expect("container ports")
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("a container port named {name}"));
        n(&found["containerPort"])
    };
    assert_eq!(
        port("proxy"),
        i64::from(port_of(key(&cfg, "server", "listen")))
    );
    assert_eq!(
        port("admin"),
        i64::from(port_of(key(&cfg, "server", "admin_listen")))
    );
    // The probes reach the admin listener from the kubelet: not on loopback.
    let admin: SocketAddr = key(&cfg, "server", "admin_listen").parse().unwrap();
    assert!(admin.ip().is_unspecified(), "admin_listen {admin}");
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        let get = &c[probe]["httpGet"];
        assert_eq!(s(&get["path"]), path, "{probe}");
        assert_eq!(s(&get["port"]), "admin", "{probe}");
    }
    // The config file the container is started with is the ConfigMap's.
    let args: Vec<&str> = c["args"].as_vec().unwrap().iter().map(s).collect();
    assert_eq!(args, ["serve", "--config", "/etc/paravent/paravent.toml"]);
    let mount = |volume: &str| -> String {
        let m = c["volumeMounts"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|m| m["name"].as_str() == Some(volume))
            .unwrap_or_else(|| panic!("a volume mount {volume}"));
        // subPath mounts never see a ConfigMap update: no reload in place.
        assert!(m["subPath"].is_badvalue(), "{volume} mounted with subPath");
        s(&m["mountPath"]).to_owned()
    };
    assert_eq!(mount("config"), "/etc/paravent");
    let kustomization = &yaml_docs("kubernetes/kustomization.yaml")[0];
    let generator = &kustomization["configMapGenerator"][0];
    let volumes = pod["volumes"].as_vec().unwrap();
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("a volume {name}"))
    };
    assert_eq!(
        s(&volume("config")["configMap"]["name"]),
        s(&generator["name"])
    );
    assert_eq!(
        generator["options"]["disableNameSuffixHash"].as_bool(),
        Some(true),
        "an updated ConfigMap keeps its name, so that the pods reload it in place"
    );
    let files: Vec<&str> = generator["files"].as_vec().unwrap().iter().map(s).collect();
    assert!(files.contains(&"paravent.toml"));
    // Every file the configuration names is in the ConfigMap beside it.
    for rule_file in cfg["detect"]["rules"].as_array().unwrap() {
        assert!(
            files.contains(&rule_file.as_str().unwrap()),
            "{rule_file} is in the ConfigMap"
        );
    }
    // The audit trail on the per-pod volume, the secret file from the Secret's mount.
    assert_eq!(mount("audit"), audit_dir(&cfg));
    let claim = &sts["spec"]["volumeClaimTemplates"][0];
    assert_eq!(s(&claim["metadata"]["name"]), "audit");
    let secret_file = key(&cfg, "pseudonyms", "secret_file");
    let item = &volume("secret")["secret"]["items"][0];
    assert_eq!(
        secret_file,
        format!("{}/{}", mount("secret"), s(&item["path"]))
    );
    assert_eq!(s(&item["key"]), "secret");
    // The pod's name is the instance id: a stable chain per pod.
    let hostname = c["env"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some("HOSTNAME"))
        .expect("HOSTNAME is set");
    assert_eq!(
        s(&hostname["valueFrom"]["fieldRef"]["fieldPath"]),
        "metadata.name"
    );
    // A stop outlasts the preStop pause plus serve's own grace for streams in flight.
    let pre_stop = n(&c["lifecycle"]["preStop"]["sleep"]["seconds"]);
    let grace = n(&pod["terminationGracePeriodSeconds"]);
    let serve_grace = i64::try_from(paravent::server::SHUTDOWN_GRACE_SECS).unwrap();
    assert!(
        grace > pre_stop + serve_grace,
        "terminationGracePeriodSeconds {grace} > preStop {pre_stop} + {serve_grace}"
    );
    assert!(n(&sts["spec"]["replicas"]) >= 2, "several replicas");
    // Non-root, read-only, no escalation.
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
}

#[test]
fn the_kubernetes_services_and_policies_name_ports_the_pods_have() {
    let sts = &yaml_docs("kubernetes/statefulset.yaml")[0];
    let pod_labels = &sts["spec"]["template"]["metadata"]["labels"];
    let names: Vec<&str> = sts["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|p| s(&p["name"]))
        .collect();
    let selects_the_pods = |selector: &Yaml| {
        let map = selector.as_hash().expect("a selector");
        assert!(!map.is_empty());
        for (k, v) in map {
            assert_eq!(&pod_labels[s(k)], v, "selector {k:?}");
        }
    };
    for svc in yaml_docs("kubernetes/service.yaml") {
        selects_the_pods(&svc["spec"]["selector"]);
        for p in svc["spec"]["ports"].as_vec().unwrap() {
            assert!(names.contains(&s(&p["targetPort"])), "{p:?}");
        }
    }
    assert_eq!(
        s(&sts["spec"]["serviceName"]),
        "paravent-admin",
        "the headless Service governs the StatefulSet"
    );
    let pdb = &yaml_docs("kubernetes/poddisruptionbudget.yaml")[0];
    selects_the_pods(&pdb["spec"]["selector"]["matchLabels"]);
    let np = &yaml_docs("kubernetes/networkpolicy.yaml")[0];
    selects_the_pods(&np["spec"]["podSelector"]["matchLabels"]);
    for rule in np["spec"]["ingress"].as_vec().unwrap() {
        for p in rule["ports"].as_vec().unwrap() {
            assert!(names.contains(&s(&p["port"])), "{p:?}");
        }
    }
    // Egress: DNS and HTTPS, nothing else.
    let mut egress_ports: Vec<i64> = np["spec"]["egress"]
        .as_vec()
        .unwrap()
        .iter()
        .flat_map(|r| r["ports"].as_vec().unwrap().iter().map(|p| n(&p["port"])))
        .collect();
    egress_ports.sort_unstable();
    egress_ports.dedup();
    assert_eq!(egress_ports, [53, 443]);
}

#[test]
fn the_container_file_exposes_checks_and_keeps_what_its_configuration_uses() {
    let cfg = toml_config("container/paravent.toml");
    let file = containerfile();
    let last = |ins: &str| -> &str {
        &file
            .iter()
            .rfind(|(i, _)| i == ins)
            .unwrap_or_else(|| panic!("a {ins} instruction"))
            .1
    };
    // Where the image's configuration lands, and that every command uses that file.
    let copied = file
        .iter()
        .find_map(|(i, rest)| {
            (i == "COPY")
                .then(|| rest.strip_prefix("deploy/container/paravent.toml "))
                .flatten()
        })
        .expect("the container configuration is copied into the image")
        .trim()
        .to_owned();
    let mut exposed: Vec<u16> = last("EXPOSE")
        .split_whitespace()
        .map(|p| p.trim_end_matches("/tcp").parse().unwrap())
        .collect();
    exposed.sort_unstable();
    let mut configured = vec![
        port_of(key(&cfg, "server", "listen")),
        port_of(key(&cfg, "server", "admin_listen")),
    ];
    configured.sort_unstable();
    assert_eq!(exposed, configured);
    let health = exec_form(last("HEALTHCHECK"));
    assert!(
        last("HEALTHCHECK").contains("CMD ["),
        "exec form: no shell in the image"
    );
    let entrypoint = exec_form(last("ENTRYPOINT"));
    assert_eq!(
        health[0], entrypoint[0],
        "the health check runs paravent itself"
    );
    assert_eq!(health[1..], ["healthcheck", "--config", copied.as_str()]);
    assert_eq!(
        exec_form(last("CMD")),
        ["serve", "--config", copied.as_str()]
    );
    assert_eq!(exec_form(last("VOLUME")), [audit_dir(&cfg)]);
    let user = last("USER");
    assert!(!user.starts_with('0') && user != "root", "USER {user}");
    // The audit directory is the user's in the image (a new volume takes its owner).
    let audit = audit_dir(&cfg);
    assert!(
        file.iter().any(|(i, rest)| i == "COPY"
            && rest.contains(&format!("--chown={user} "))
            && rest
                .split_whitespace()
                .last()
                .is_some_and(|dest| Path::new(&audit).starts_with(dest))),
        "a COPY --chown={user} creates {audit}"
    );
    let admin: SocketAddr = key(&cfg, "server", "admin_listen").parse().unwrap();
    assert!(
        admin.ip().is_unspecified() || admin.ip().is_loopback(),
        "the health check inside the container reaches {admin}"
    );
}

#[test]
fn the_systemd_unit_runs_the_configuration_it_ships_with() {
    let cfg = toml_config("systemd/paravent.toml");
    let exec = unit_values("ExecStart");
    assert_eq!(
        exec,
        ["/usr/local/bin/paravent serve --config /etc/paravent/paravent.toml"]
    );
    assert_eq!(unit_values("ExecReload"), ["/bin/kill -HUP $MAINPID"]);
    assert_eq!(unit_values("ReadWritePaths"), [audit_dir(&cfg)]);
    assert_eq!(unit_values("ProtectSystem"), ["strict"]);
    assert_eq!(unit_values("NoNewPrivileges"), ["yes"]);
    assert_eq!(unit_values("User"), ["paravent"]);
    let stop: u64 = unit_values("TimeoutStopSec")[0].parse().unwrap();
    assert!(
        stop > paravent::server::SHUTDOWN_GRACE_SECS,
        "TimeoutStopSec {stop}"
    );
    // The secret comes from the credential the unit loads.
    let credential = &unit_values("LoadCredential")[0];
    let (name, _) = credential.split_once(':').unwrap();
    assert_eq!(
        key(&cfg, "pseudonyms", "secret_file"),
        format!("/run/credentials/paravent.service/{name}")
    );
    // The sysusers file creates the unit's user; tmpfiles its writable directory.
    assert!(read("systemd/paravent.sysusers").contains("\nu paravent "));
    let tmpfiles = read("systemd/paravent.tmpfiles");
    assert!(
        tmpfiles.lines().any(
            |l| l.split_whitespace().nth(1) == Some(audit_dir(&cfg).as_str())
                && l.contains(" paravent paravent")
        ),
        "{tmpfiles}"
    );
}

#[test]
fn paravent_healthcheck_asks_a_running_serve_and_fails_once_it_is_gone() {
    let dir = Scratch::new("deploy-healthcheck");
    // The container's configuration, on loopback and a scratch audit directory.
    let text = read("container/paravent.toml").replace(
        "/var/lib/paravent/audit/",
        &format!("{}/audit/", dir.path().display()),
    );
    let config = dir.write("paravent.toml", text);
    let served = Served::start(
        &config,
        &[],
        &[("PARAVENT_SECRET", "deploy-test-secret-0123456789")],
    );
    let admin = served.admin.to_string();
    for extra in [&[][..], &["--ready"][..]] {
        let mut args = vec!["healthcheck", "--admin-listen", admin.as_str()];
        args.extend_from_slice(extra);
        let run = paravent(&args, b"");
        run.assert_code(0);
        assert!(run.stdout.contains("answered 200"), "{}", run.stdout);
    }
    // Through a configuration's admin_listen, as the HEALTHCHECK does.
    let asking = dir.write(
        "asking.toml",
        format!("[server]\nadmin_listen = \"{admin}\"\n"),
    );
    paravent(&["healthcheck", "--config", Scratch::arg(&asking)], b"").assert_code(0);
    // An answer other than 200 is unhealthy: the proxy listener has no /readyz (404).
    let proxy = served.proxy.to_string();
    let run = paravent(
        &["healthcheck", "--admin-listen", proxy.as_str(), "--ready"],
        b"",
    );
    run.assert_code(1);
    assert!(run.stderr.contains("404"), "{}", run.stderr);
    served.stop();
    let run = paravent(&["healthcheck", "--config", Scratch::arg(&asking)], b"");
    run.assert_code(1);
    assert!(run.stderr.contains(&admin), "{}", run.stderr);
    // No admin listener configured: unhealthy, and says why.
    let none = dir.write("none.toml", "[server]\nlisten = \"127.0.0.1:8080\"\n");
    let run = paravent(&["healthcheck", "--config", Scratch::arg(&none)], b"");
    run.assert_code(1);
    assert!(run.stderr.contains("admin_listen"), "{}", run.stderr);
}
