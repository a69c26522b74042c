//! The end-to-end harness: a real control plane (the kit at `../shared/control-plane`, or any cluster a
//! kubeconfig names), continuo installed as a user installs it, the real `continuo run` under the chart's
//! ServiceAccount, and what a user sees read back through `kubectl`.
//!
//! - `CONTINUO_E2E_KUBECONFIG`: run against that cluster (kind included) instead of the kit. Zone cuts, the API
//!   server restart and the audit log need the kit; without it those steps fail with the reason.
//! - Ignored by default (skipped, never passed); run explicitly, a control plane that cannot be had fails the
//!   scenario with the reason. CI also sets `CONTINUO_REQUIRE_CONTROL_PLANE=1` and fails when the kit is missing.

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use serde_json::Value;

/// The operator's ServiceAccount, as `deploy/continuo.yaml` (the chart rendered) creates it.
pub const OPERATOR_NS: &str = "continuo-system";
pub const SERVICE_ACCOUNT: &str = "system:serviceaccount:continuo-system:continuo";

pub struct ControlPlane {
    pub kubeconfig: PathBuf,
    /// The kit's folder and state directory, when the kit runs it.
    pub kit: Option<(PathBuf, PathBuf)>,
    kubectl: PathBuf,
    /// The operator's kubeconfig: the kit's audited user, impersonating the chart's ServiceAccount, so that RBAC is
    /// the chart's and every request is in the audit log.
    operator_kubeconfig: PathBuf,
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The control plane, started once per test process (the kit's `up.sh` is idempotent), with continuo installed.
pub fn control_plane() -> &'static ControlPlane {
    static CP: OnceLock<ControlPlane> = OnceLock::new();
    CP.get_or_init(|| {
        let cp = start().unwrap_or_else(|why| panic!("end-to-end NOT RUN: {why}"));
        install(&cp);
        cp
    })
}

fn start() -> Result<ControlPlane, String> {
    let out_dir = root().join("target/e2e");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    if let Some(kc) = std::env::var_os("CONTINUO_E2E_KUBECONFIG") {
        let kubeconfig = PathBuf::from(kc);
        let operator_kubeconfig = out_dir.join("kubeconfig-operator");
        let text = std::fs::read_to_string(&kubeconfig).map_err(|e| format!("{}: {e}", kubeconfig.display()))?;
        std::fs::write(&operator_kubeconfig, impersonating(&text)).map_err(|e| e.to_string())?;
        return Ok(ControlPlane { kubeconfig, kit: None, kubectl: "kubectl".into(), operator_kubeconfig });
    }
    let kit = root().join("../shared/control-plane");
    if !kit.join("up.sh").exists() {
        return Err(format!(
            "no control plane: neither the kit at {} nor CONTINUO_E2E_KUBECONFIG (see README, Testing)",
            kit.display()
        ));
    }
    let line = up(&kit)?;
    let kubeconfig = PathBuf::from(line.trim_start_matches("export KUBECONFIG="));
    let state = kubeconfig.parent().ok_or("no state directory")?.to_path_buf();
    let text = std::fs::read_to_string(state.join("kubeconfig-operator")).map_err(|e| e.to_string())?;
    let operator_kubeconfig = out_dir.join("kubeconfig-operator");
    std::fs::write(&operator_kubeconfig, impersonating(&text)).map_err(|e| e.to_string())?;
    Ok(ControlPlane { kubectl: state.join("bin/kubectl"), kubeconfig, kit: Some((kit, state)), operator_kubeconfig })
}

/// Runs the kit's `up.sh` (idempotent: it keeps what runs and starts what is missing) until it succeeds, four
/// tries at most, and gives its last line (`export KUBECONFIG=…`). A retry is not a workaround for our code: the
/// kit can report a component it just started as exited before the process has become it (seen on CI).
fn up(kit: &Path) -> Result<String, String> {
    let mut last = String::new();
    for attempt in 1..=4 {
        let out = Command::new(kit.join("up.sh")).stderr(Stdio::inherit()).output().map_err(|e| e.to_string())?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        last = format!("the kit's up.sh failed ({}) {attempt} times", out.status);
        std::thread::sleep(Duration::from_secs(5));
    }
    Err(last)
}

/// The same kubeconfig, its user impersonating the operator's ServiceAccount (and its groups).
fn impersonating(kubeconfig: &str) -> String {
    let mut out = String::new();
    for line in kubeconfig.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim_start().starts_with("user:") && !line.contains('{') && out.contains("users:") {
            let indent = " ".repeat(line.len() - line.trim_start().len() + 2);
            out.push_str(&format!("{indent}as: {SERVICE_ACCOUNT}\n"));
            out.push_str(&format!(
                "{indent}as-groups: [system:serviceaccounts, system:serviceaccounts:{OPERATOR_NS}, system:authenticated]\n"
            ));
        }
    }
    out
}

/// Installs continuo as a user does: the CRDs server-side (`continuo crds`), the chart's plain manifests
/// (namespace, ServiceAccount, RBAC; not the operator's Deployment, which runs here as a process), the built-in
/// classes.
fn install(cp: &ControlPlane) {
    let crds = Command::new(env!("CARGO_BIN_EXE_continuo")).arg("crds").output().expect("continuo crds");
    assert!(crds.status.success());
    cp.apply(&String::from_utf8_lossy(&crds.stdout));
    let manifests = std::fs::read_to_string(root().join("deploy/continuo.yaml")).unwrap();
    let kept: Vec<&str> = manifests
        .split("\n---")
        .filter(|d| !d.contains("\nkind: Deployment") && !d.contains("\nkind: CustomResourceDefinition"))
        .collect();
    cp.apply(&kept.join("\n---"));
    cp.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd",
        "-l",
        "app.kubernetes.io/part-of=continuo",
    ])
    .or_else(|_| cp.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"]))
    .expect("the CRDs are established");
    cp.apply(&std::fs::read_to_string(root().join("deploy/classes.yaml")).unwrap());
}

impl ControlPlane {
    pub fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        self.kubectl_in(args, None)
    }

    pub fn kubectl_in(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut cmd = Command::new(&self.kubectl);
        cmd.env("KUBECONFIG", &self.kubeconfig).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().map_err(|e| format!("kubectl: {e}"))?;
        if let Some(text) = stdin {
            child.stdin.take().unwrap().write_all(text.as_bytes()).map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    /// `kubectl apply --server-side` of YAML documents, as a user applies them.
    pub fn apply(&self, yaml: &str) {
        let args = ["apply", "--server-side", "--force-conflicts", "--field-manager=e2e-user", "-f", "-"];
        self.kubectl_in(&args, Some(yaml)).unwrap_or_else(|e| panic!("{e}"));
    }

    /// The object as JSON, if it exists.
    pub fn get(&self, ns: &str, kind: &str, name: &str) -> Option<Value> {
        let out = self.kubectl(&["get", "-n", ns, kind, name, "-o", "json", "--ignore-not-found"]).ok()?;
        serde_json::from_str(&out).ok()
    }

    /// The objects of a kind in a namespace (`-l` selector optional).
    pub fn list(&self, ns: &str, kind: &str, selector: &str) -> Vec<Value> {
        let mut args = vec!["get", "-n", ns, kind, "-o", "json"];
        if !selector.is_empty() {
            args.extend(["-l", selector]);
        }
        let out = self.kubectl(&args).unwrap_or_else(|e| panic!("{e}"));
        let list: Value = serde_json::from_str(&out).unwrap();
        list["items"].as_array().cloned().unwrap_or_default()
    }

    fn kit(&self, what: &str) -> &(PathBuf, PathBuf) {
        self.kit.as_ref().unwrap_or_else(|| panic!("{what} needs the kit's control plane, not CONTINUO_E2E_KUBECONFIG"))
    }

    /// `zone.sh down|up <zone>`: the zone's kubelets stop (or resume) within a second.
    pub fn zone(&self, action: &str, zone: &str) {
        let (kit, _) = self.kit("a zone cut");
        let ok = Command::new(kit.join("zone.sh")).args([action, zone]).status().expect("zone.sh");
        assert!(ok.success(), "zone.sh {action} {zone}");
    }

    /// The audit log's requests of the operator's ServiceAccount that the API server refused (403).
    pub fn forbidden_requests(&self) -> Vec<String> {
        self.forbidden_requests_of(OPERATOR_NS, "continuo", 0)
    }

    /// A kubeconfig whose user impersonates ServiceAccount `name` of namespace `ns` (RBAC is then that account's,
    /// and the audit log names it), written beside the operator's.
    pub fn kubeconfig_of(&self, ns: &str, name: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.operator_kubeconfig).expect("the operator's kubeconfig");
        let text = text
            .replace(SERVICE_ACCOUNT, &format!("system:serviceaccount:{ns}:{name}"))
            .replace(&format!("system:serviceaccounts:{OPERATOR_NS},"), &format!("system:serviceaccounts:{ns},"));
        let path = self.operator_kubeconfig.with_file_name(format!("kubeconfig-{ns}-{name}"));
        std::fs::write(&path, text).expect("a kubeconfig");
        path
    }

    /// How many lines the audit log holds now: what a scenario's own requests come after.
    pub fn audit_lines(&self) -> usize {
        let (_, state) = self.kit("the audit log");
        std::fs::read_to_string(state.join("logs/audit.log")).unwrap_or_default().lines().count()
    }

    /// The requests of ServiceAccount `name` of `ns` the API server refused (403), from the audit log's lines after
    /// the first `after`.
    pub fn forbidden_requests_of(&self, ns: &str, name: &str, after: usize) -> Vec<String> {
        let (_, state) = self.kit("the audit log");
        let user = format!("system:serviceaccount:{ns}:{name}");
        let log = std::fs::read_to_string(state.join("logs/audit.log")).unwrap_or_default();
        log.lines()
            .skip(after)
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["impersonatedUser"]["username"] == user.as_str() && e["responseStatus"]["code"] == 403)
            .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
            .collect()
    }

    /// How many requests of the operator's ServiceAccount the audit log holds.
    pub fn operator_requests(&self) -> usize {
        let (_, state) = self.kit("the audit log");
        let log = std::fs::read_to_string(state.join("logs/audit.log")).unwrap_or_default();
        log.lines().filter(|l| l.contains(SERVICE_ACCOUNT) && l.contains("\"ResponseComplete\"")).count()
    }

    /// Kills the API server (as a crash would) and has the kit start it again.
    pub fn restart_api_server(&self) {
        let (kit, state) = self.kit("an API server restart");
        let pid = std::fs::read_to_string(state.join("run/kube-apiserver.pid")).expect("the API server's pid");
        let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        std::thread::sleep(Duration::from_secs(1));
        up(kit).unwrap_or_else(|why| panic!("after the restart: {why}"));
    }
}

/// Polls `f` every half second until it gives a value or `limit` passes; then fails, saying what was awaited and
/// what was last seen.
pub fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if start.elapsed() > limit => {
                panic!("timed out after {limit:?} waiting for {what}; last: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// One scenario's namespace: created fresh, and on the way out (passed or failed) every zone brought back and
/// the namespace deleted.
pub struct Scenario {
    pub ns: String,
    pub cp: &'static ControlPlane,
}

impl Scenario {
    pub fn new(name: &str) -> Scenario {
        let cp = control_plane();
        let ns = format!("e2e-{name}-{}", std::process::id());
        cp.kubectl(&["create", "namespace", &ns]).unwrap_or_else(|e| panic!("{e}"));
        Scenario { ns, cp }
    }

    pub fn apply(&self, yaml: &str) {
        self.cp.apply(&yaml.replace("NAMESPACE", &self.ns));
    }

    /// The scenario's BackupLocation (cluster-wide, `<namespace>-offsite`, in region-2: off every zone here),
    /// deleted with the scenario.
    pub fn offsite(&self) -> String {
        let name = format!("{}-offsite", self.ns);
        self.cp.apply(&format!(
            "apiVersion: continuo.dev/v1alpha1\nkind: BackupLocation\nmetadata: {{name: {name}}}\nspec: {{region: region-2}}\n"
        ));
        name
    }

    /// A copy of `service` in continuo's catalog, captured `hours_ago`: a RecoveryPoint whose status is written as
    /// the catalog writes it.
    pub fn catalogued_copy(&self, service: &str, name: &str, hours_ago: i64) {
        let ns = &self.ns;
        self.apply(&format!(
            "apiVersion: continuo.dev/v1alpha1\nkind: RecoveryPoint\nmetadata: {{name: {name}, namespace: {ns}}}\n\
             spec: {{service: {service}, location: {ns}-offsite}}\n"
        ));
        let at = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(hours_ago)).to_string();
        let status = serde_json::json!({"status": {"phase": "Available", "id": format!("snap-{name}"),
            "capturedAt": at, "completedAt": at, "region": "region-2"}});
        let patch = status.to_string();
        let args = ["patch", "-n", ns, "recoverypoint", name, "--subresource=status", "--type=merge", "-p", &patch];
        self.cp.kubectl(&args).unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn get(&self, kind: &str, name: &str) -> Option<Value> {
        self.cp.get(&self.ns, kind, name)
    }

    pub fn list(&self, kind: &str, selector: &str) -> Vec<Value> {
        self.cp.list(&self.ns, kind, selector)
    }

    /// The service's status, once continuo has written one.
    pub fn status(&self, service: &str) -> Result<Value, String> {
        let svc = self.get("resilientservice", service).ok_or(format!("no service {service}"))?;
        Some(svc["status"].clone()).filter(|s| !s.is_null()).ok_or("no status yet".into())
    }

    /// The status condition `type_` of a service: (status, reason, message).
    pub fn condition(&self, service: &str, type_: &str) -> Result<(String, String, String), String> {
        let status = self.status(service)?;
        let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
        let c = conditions.iter().find(|c| c["type"] == type_).ok_or(format!("no {type_} yet"))?;
        let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        Ok((s("status"), s("reason"), s("message")))
    }

    /// The service's pods Ready now, by the zone of their node, as the API server reports them.
    pub fn ready_by_zone(&self, service: &str) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        for (zone, _) in self.ready_pods(service) {
            *out.entry(zone).or_insert(0) += 1;
        }
        out
    }

    /// The service's pods Ready now (not terminating): the zone of each one's node, and when it turned Ready (its
    /// Ready condition's transition, as the kubelet wrote it: what a poll's own lag cannot blur).
    pub fn ready_pods(&self, service: &str) -> Vec<(String, Option<jiff::Timestamp>)> {
        let nodes = self.cp.list("", "nodes", "");
        let zone_of = |node: &str| {
            nodes
                .iter()
                .find(|n| n["metadata"]["name"] == node)
                .and_then(|n| n["metadata"]["labels"]["topology.kubernetes.io/zone"].as_str())
                .unwrap_or("?")
                .to_string()
        };
        let mut out = Vec::new();
        for p in self.list("pods", &format!("continuo.dev/service={service}")) {
            let conditions = p["status"]["conditions"].as_array().cloned().unwrap_or_default();
            let ready = conditions.iter().find(|c| c["type"] == "Ready" && c["status"] == "True");
            let terminating = !p["metadata"]["deletionTimestamp"].is_null();
            if let (Some(c), false) = (ready, terminating) {
                let since = c["lastTransitionTime"].as_str().and_then(|t| t.parse().ok());
                out.push((zone_of(p["spec"]["nodeName"].as_str().unwrap_or_default()), since));
            }
        }
        out
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if let Some((kit, _)) = &self.cp.kit {
            let _ = Command::new(kit.join("zone.sh")).args(["up", "--all"]).status();
        }
        let _ = self.cp.kubectl(&["delete", "namespace", &self.ns, "--wait=false"]);
        let location = format!("{}-offsite", self.ns);
        let _ = self.cp.kubectl(&["delete", "backuplocation", &location, "--ignore-not-found", "--wait=false"]);
    }
}

/// A `continuo run` process, as a user runs it (leader election on, the chart's lease), watching one namespace;
/// stopped with SIGTERM (it releases its lease) when dropped, even when the scenario fails.
pub struct Operator {
    child: Child,
    pub name: String,
    pub admin: std::net::SocketAddr,
    pub log: PathBuf,
}

impl Operator {
    pub fn start(s: &Scenario, name: &str, extra: &[&str]) -> Operator {
        let admin = free_port();
        let log = root().join(format!("target/e2e/{}-{name}.log", s.ns));
        let file = std::fs::File::create(&log).unwrap();
        let admin_arg = admin.to_string();
        let mut args = vec![
            "run",
            "--namespace",
            &s.ns,
            "--leader-election",
            "--lease-namespace",
            OPERATOR_NS,
            "--admin-address",
            &admin_arg,
        ];
        args.extend_from_slice(extra);
        let child = Command::new(env!("CARGO_BIN_EXE_continuo"))
            .args(&args)
            .env("KUBECONFIG", &s.cp.operator_kubeconfig)
            .env("POD_NAME", name)
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("continuo run");
        Operator { child, name: name.to_string(), admin, log }
    }

    /// The lease holder now.
    pub fn holder(cp: &ControlPlane) -> Option<String> {
        let lease = cp.get(OPERATOR_NS, "lease", "continuo")?;
        lease["spec"]["holderIdentity"].as_str().map(str::to_string)
    }

    /// Waits until this operator holds the lease.
    pub fn wait_leading(&self, cp: &ControlPlane, limit: Duration) {
        eventually(limit, &format!("{} to lead", self.name), || {
            let holder = Operator::holder(cp);
            (holder.as_deref() == Some(self.name.as_str())).then_some(()).ok_or(format!("{holder:?}"))
        });
    }

    /// `GET path` on the admin port: (status line, body).
    pub fn http_get(&self, path: &str) -> Result<(String, String), String> {
        let mut stream =
            std::net::TcpStream::connect_timeout(&self.admin, Duration::from_secs(2)).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
        let mut text = String::new();
        stream.read_to_string(&mut text).map_err(|e| e.to_string())?;
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP response")?;
        Ok((head.lines().next().unwrap_or_default().to_string(), body.to_string()))
    }

    /// Kills the process outright, as a crash or a lost node would (no lease release).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- the last lines of {} ({}):", self.name, self.log.display());
            tail.iter().rev().for_each(|l| eprintln!("{l}"));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
