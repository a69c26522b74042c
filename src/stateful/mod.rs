//! Stateful services, the pure core (not wired to a workload kind yet): where each stateful replica stays (data
//! has gravity), which copy a replica recreated in another zone is restored from, what its loss cost in data, and
//! whether its volumes survive the loss of a server.
//!
//! - **Gravity.** A stateful replica stays in the zone that holds its volume. It moves only when that zone is lost
//!   or no longer eligible (a drained zone, a changed `spec.zones`); never to spread back or rebalance. A replica
//!   that moves is restored; a first placement (a new service, a scale-up) never is.
//! - **Restore.** From the newest good copy stored provably outside the lost zone (a copy whose zone is unknown is
//!   not), captured no later than the loss. None: start empty only when the class allows it, else do not start
//!   (`NoCopyToRestore`): an empty installation that looks healthy is worse than one that is down.
//! - **Data lost** = the loss time − the restored copy's capture time: the RPO actually achieved.
//! - **Server loss.** A volume outlives its server only on network-attached storage; a local or host-path volume
//!   dies with it, and Node RPO 0 is then not feasible. And the replica comes back on another server only once its
//!   old pod is fenced off: see [`node_recovery`].

use jiff::Timestamp;

#[cfg(test)]
mod tests;

/// A stateful replica's place: its zone, and whether its volume there must first be restored from a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seat {
    pub ordinal: usize,
    pub zone: String,
    /// The replica was moved from a zone it lost: its new volume is restored before the application starts.
    pub restore_from_zone: Option<String>,
}

/// Where each of `replicas` stateful replicas runs now. `recorded` is each ordinal's zone as status records it;
/// `eligible` the zones usable now, in the spread's order (the first is where a new or moved replica goes first,
/// the next ones take further replicas evenly).
pub fn seats(replicas: usize, recorded: &[(usize, String)], eligible: &[String]) -> Vec<Seat> {
    let mut out: Vec<Seat> = Vec::with_capacity(replicas);
    let load = |out: &[Seat], z: &String| out.iter().filter(|s| &s.zone == z).count();
    // Replicas whose volume's zone is still eligible stay there.
    for ordinal in 0..replicas {
        if let Some((_, z)) = recorded.iter().find(|(o, z)| *o == ordinal && eligible.contains(z)) {
            out.push(Seat { ordinal, zone: z.clone(), restore_from_zone: None });
        }
    }
    // The others: moved from a lost zone (restored), or placed for the first time (empty); on the least loaded
    // eligible zone, first in the spread's order on a tie.
    for ordinal in 0..replicas {
        if out.iter().any(|s| s.ordinal == ordinal) {
            continue;
        }
        let Some(zone) = eligible.iter().min_by_key(|z| load(&out, z)).cloned() else { break };
        let from = recorded.iter().find(|(o, _)| *o == ordinal).map(|(_, z)| z.clone());
        out.push(Seat { ordinal, zone, restore_from_zone: from });
    }
    out.sort_by_key(|s| s.ordinal);
    out
}

/// A copy as the catalog records it.
#[derive(Clone, Debug)]
pub struct Copy<'a> {
    pub name: &'a str,
    pub captured: Timestamp,
    /// Where the copy is stored, if the catalog knows.
    pub zone: Option<&'a str>,
    /// Completed and not expired.
    pub good: bool,
}

/// What a replica recreated in another zone starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// Restore this copy into the new volume before the application starts.
    Restore { point: String, captured: Timestamp },
    /// No copy, and the class allows starting empty.
    Empty,
    /// No copy: do not start, and say why.
    Refuse { reason: &'static str, message: String },
}

/// The copy to restore a replica lost with `lost_zone` at `lost_at` from.
pub fn start_from(copies: &[Copy<'_>], lost_zone: &str, lost_at: Timestamp, empty_allowed: bool) -> Start {
    let outside = |c: &&Copy<'_>| c.good && c.captured <= lost_at && c.zone.is_some_and(|z| z != lost_zone);
    if let Some(c) = copies.iter().filter(outside).max_by_key(|c| c.captured) {
        return Start::Restore { point: c.name.to_string(), captured: c.captured };
    }
    if empty_allowed {
        return Start::Empty;
    }
    let good = copies.iter().filter(|c| c.good && c.captured <= lost_at).count();
    let unknown = copies.iter().filter(|c| c.good && c.zone.is_none()).count();
    let why = match (good, unknown) {
        (0, _) => "no good copy was captured before the loss".to_string(),
        (_, u) if u > 0 => {
            format!("{good} good copies, none known to be stored outside {lost_zone} ({u} of unknown zone)")
        }
        _ => format!("{good} good copies, all stored in {lost_zone}, lost with it"),
    };
    Start::Refuse {
        reason: "NoCopyToRestore",
        message: format!("not started: {why}; an empty installation would look healthy and hold none of its data"),
    }
}

/// What a loss cost in data, against the RPO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataLoss {
    pub seconds: i64,
    pub within_rpo: Option<bool>,
}

/// The data lost by restoring a copy captured at `captured` after a loss at `lost_at`.
pub fn data_loss(lost_at: Timestamp, captured: Timestamp, rpo_seconds: Option<i64>) -> DataLoss {
    let seconds = (lost_at.as_second() - captured.as_second()).max(0);
    DataLoss { seconds, within_rpo: rpo_seconds.map(|r| seconds <= r) }
}

/// Whether a StorageClass's volumes outlive the loss of the server they are attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Survival {
    /// Network-attached: the volume re-attaches to another server in the zone.
    Survives,
    /// Local to the server: lost with it. The sentence says why.
    LostWithTheServer(String),
}

/// How a stateful replica comes back after the loss of its server, by Kubernetes' own mechanics.
#[derive(Clone, Copy, Debug)]
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
