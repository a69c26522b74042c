//! Whether a stateful replica's volumes outlive its server, and how long Kubernetes takes to bring it back on
//! another one.

/// Whether a StorageClass's volumes outlive the loss of the server they are attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Survival {
    /// Network-attached: the volume re-attaches to another server in the zone.
    Survives,
    /// Local to the server: lost with it. The sentence says why.
    LostWithTheServer(String),
}

/// How a stateful replica comes back after the loss of its server, by Kubernetes' own mechanics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLoss {
    /// `--fence-lost-nodes`: the node is tainted `node.kubernetes.io/out-of-service` this long after its lease went
    /// silent; `None` when fencing is off (the default).
    pub fence_after_seconds: Option<i64>,
    /// Attaching the volume to the new server and mounting it.
    pub attach_seconds: i64,
    /// The pod's own start-up, probes included.
    pub startup_seconds: i64,
}

/// The recovery time of a stateful replica whose server is lost, or why it has none without a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeRecovery {
    Bounded { seconds: i64, how: String },
    NeedsAPerson(String),
}

/// A StatefulSet pod on a server that stops answering is evicted, but stays Terminating until its kubelet confirms
/// (never, for a dead server) or someone force-deletes it; the StatefulSet creates no replacement meanwhile, and a
/// ReadWriteOnce volume cannot attach elsewhere. Only the out-of-service taint (Kubernetes' non-graceful node
/// shutdown) force-deletes the pod and detaches the volume at once. So: bounded with fencing, not without.
pub fn node_recovery(m: &NodeLoss) -> NodeRecovery {
    let Some(fence) = m.fence_after_seconds else {
        return NodeRecovery::NeedsAPerson(
            "a StatefulSet pod on a lost server stays Terminating until its kubelet answers or someone force-deletes it, \
             and its ReadWriteOnce volume cannot attach elsewhere meanwhile; --fence-lost-nodes taints such a server \
             out-of-service so that both happen at once"
                .into(),
        );
    };
    let seconds = fence + m.attach_seconds + m.startup_seconds;
    NodeRecovery::Bounded {
        seconds,
        how: format!(
            "fenced {fence}s after its lease went silent + {}s to attach the volume elsewhere + {}s start-up = {seconds}s",
            m.attach_seconds, m.startup_seconds
        ),
    }
}

/// Provisioners whose volumes live on the server's own disks.
const LOCAL_PROVISIONERS: [&str; 6] = [
    "kubernetes.io/no-provisioner",
    "kubernetes.io/host-path",
    "rancher.io/local-path",
    "openebs.io/local",
    "topolvm.io",
    "local.csi.openebs.io",
];

/// Judges a StorageClass by its provisioner.
pub fn survival(class: &str, provisioner: &str) -> Survival {
    let local = LOCAL_PROVISIONERS.contains(&provisioner) || provisioner.contains("hostpath");
    if local {
        Survival::LostWithTheServer(format!(
            "StorageClass {class} ({provisioner}) keeps volumes on the server's own disks: a lost server loses them"
        ))
    } else {
        Survival::Survives
    }
}

/// A StorageClass, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageClass {
    pub name: String,
    pub provisioner: String,
    pub default: bool,
}

impl StorageClass {
    /// The facts continuo reads of a StorageClass: its provisioner, and whether it is the cluster's default.
    pub fn observe(c: &k8s_openapi::api::storage::v1::StorageClass) -> StorageClass {
        let default =
            c.metadata.annotations.as_ref().and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"));
        StorageClass {
            name: c.metadata.name.clone().unwrap_or_default(),
            provisioner: c.provisioner.clone(),
            default: default.is_some_and(|v| v == "true"),
        }
    }
}

/// Seconds to attach a zonal network volume to another server and mount it, as the timing model counts it.
pub const ATTACH_SECONDS: i64 = 30;
/// The attach/detach controller's force-detach wait (`maxWaitForUnmountDuration`) for a volume still attached to
/// a server that stopped answering.
pub const FORCE_DETACH_SECONDS: i64 = 360;

/// What the objectives judge a stateful service's server loss on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storage {
    /// Per claim template: its StorageClass's verdict; `None` when the StorageClasses were not observed.
    pub survival: Option<Vec<Survival>>,
    /// Classes named by claims that do not exist (the default one, when a claim names none and there is none).
    pub missing: Vec<String>,
    pub node_loss: NodeLoss,
}

/// Judges each claim template's StorageClass.
pub fn storage(claims: &[crate::api::ClaimTemplate], classes: Option<&[StorageClass]>, loss: NodeLoss) -> Storage {
    let Some(classes) = classes else { return Storage { survival: None, missing: vec![], node_loss: loss } };
    let survival =
        claims.iter().filter_map(|c| class_of(c, classes).ok()).map(|s| self::survival(&s.name, &s.provisioner));
    Storage { survival: Some(survival.collect()), missing: missing_classes(claims, classes), node_loss: loss }
}

/// The StorageClasses claims name that do not exist (the default one, when a claim names none and there is none).
pub fn missing_classes(claims: &[crate::api::ClaimTemplate], classes: &[StorageClass]) -> Vec<String> {
    claims.iter().filter_map(|c| class_of(c, classes).err()).collect()
}

/// The class a claim gets: the one it names, else the default one; or the name of the one missing.
fn class_of<'a>(c: &crate::api::ClaimTemplate, classes: &'a [StorageClass]) -> Result<&'a StorageClass, String> {
    let found = match &c.spec.storage_class_name {
        Some(name) => classes.iter().find(|s| &s.name == name),
        None => classes.iter().find(|s| s.default),
    };
    found.ok_or_else(|| c.spec.storage_class_name.clone().unwrap_or_else(|| "(the default class)".into()))
}

impl Storage {
    /// Why each volume that dies with its server does; `None` when the StorageClasses were not observed.
    fn lost(&self) -> Option<Vec<&str>> {
        let survival = self.survival.as_ref()?;
        Some(
            survival
                .iter()
                .filter_map(|s| match s {
                    Survival::LostWithTheServer(why) => Some(why.as_str()),
                    Survival::Survives => None,
                })
                .collect(),
        )
    }

    /// What a lost server does to the volumes, in words, from the same verdict as the Node RPO (one source).
    pub fn server_loss(&self) -> String {
        let Some(lost) = self.lost() else {
            return "whether the volume survives depends on its StorageClass, which is not among the documents given"
                .into();
        };
        if lost.is_empty() {
            "the volume survives on network storage".into()
        } else {
            format!("the volume is lost with it ({}); the replica restarts from the last copy", lost.join("; "))
        }
    }

    /// The Node RPO: nothing is lost when every volume outlives its server; otherwise the data back to the last
    /// copy is (the backups' verdict then holds, RPO 0 never).
    pub fn node_rpo(&self, rpo_seconds: u64) -> Option<(bool, &'static str, String)> {
        let lost = self.lost()?;
        if lost.is_empty() {
            return Some((
                true,
                "NetworkVolumes",
                "every volume is on network-attached zonal storage: it outlives its server and is attached to another \
                 one, nothing written is lost"
                    .into(),
            ));
        }
        (rpo_seconds == 0).then(|| (false, "LocalVolumes", format!("{}: RPO 0 cannot hold", lost.join("; "))))
    }

    /// The Node RTO of a replica that must be brought back on another server (no spare capacity covers it), by
    /// Kubernetes' mechanics for a StatefulSet pod and its ReadWriteOnce volume.
    pub fn node_rto(&self, rto_seconds: u64) -> (bool, &'static str, String) {
        match node_recovery(&self.node_loss) {
            NodeRecovery::Bounded { seconds, how } => {
                let ok = seconds as u64 <= rto_seconds;
                (ok, if ok { "FencedInTime" } else { "FencingTooSlow" }, how)
            }
            NodeRecovery::NeedsAPerson(why) => (
                false,
                "NeedsAPerson",
                format!(
                    "{why}; without it the volume is force-detached only after {FORCE_DETACH_SECONDS}s, and the pod is \
                     never replaced"
                ),
            ),
        }
    }
}
