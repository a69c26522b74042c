//! Stateful services (those with `volumeClaimTemplates`, run as one StatefulSet per zone), the pure core: where
//! each stateful replica stays (data has gravity), which copy a replica recreated in another zone is restored from,
//! what its loss cost in data, and whether its volumes survive the loss of a server.
//!
//! - **Gravity.** A stateful replica stays in the zone that holds its volume. It moves only when that zone is lost
//!   or no longer eligible (a drained zone, a changed `spec.zones`); never to spread back or rebalance. A replica
//!   that moves is restored; a first placement (a new service, a scale-up) never is.
//! - **Only data no survivor holds is restored.** Replicas a surviving zone still runs (ActiveActive, a warm
//!   standby) keep the data by the application's own replication: a zone loss restores only the shortfall.
//! - **Restore.** From the newest good copy stored provably outside the lost zone (in another zone, or in another
//!   region when the location names only a region; a copy of unknown place is not), captured no later than the
//!   loss. None: start empty only when the class allows it, else do not start
//!   (`NoCopyToRestore`): an empty installation that looks healthy is worse than one that is down.
//! - **Data lost** = the loss time − the restored copy's capture time: the RPO actually achieved.
//! - **Server loss.** A volume outlives its server only on network-attached storage; a local or host-path volume
//!   dies with it, and Node RPO 0 is then not feasible. And the replica comes back on another server only once its
//!   old pod is fenced off: see [`node_recovery`].

use jiff::Timestamp;

use crate::placement::Placement;

pub mod nodes;
mod outcome;
pub mod set;
#[cfg(test)]
mod tests;

pub use nodes::{NodeLoss, NodeRecovery, Storage, StorageClass, Survival, node_recovery, storage, survival};
pub use outcome::{Diverged, Volumes};

/// Replicas a zone held, as status records them, and whether that zone is usable now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub zone: String,
    pub replicas: i32,
    pub eligible: bool,
    /// The zone's volumes were given up: its replicas were recreated elsewhere from a copy, so what they hold has
    /// diverged. It gets no replica until a person decides (see [`crate::api::Recovery`]).
    pub forfeited: bool,
}

/// Replicas recreated in `zone` because `from_zone`, which held their volumes, is no longer usable: their new
/// volumes are restored from a copy before they start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    pub zone: String,
    pub from_zone: String,
    /// The first new ordinal in `zone`'s StatefulSet, and how many.
    pub first_ordinal: i32,
    pub replicas: i32,
}

/// Gravity: adjusts `placement` (what the mode alone would place) so that no zone holding volumes loses replicas
/// unless the declared replicas shrink, a forfeited zone gets none, and says which new replicas hold data no
/// surviving replica has (moved from a zone no longer usable: restored) as opposed to replicas a scale-up or the
/// mode's spare adds (first placements: empty, or filled by the application's own replication).
///
/// - A first placement (nothing recorded) is the mode's placement, with no move.
/// - Each eligible zone keeps at least what it holds, grown to what the mode wants; when the zones together hold
///   more than the mode places (the declared replicas shrank), the mode's placement is taken (StatefulSets shrink
///   from their highest ordinals; the claims are kept).
/// - Moves = the declared replicas − the replicas surviving zones held, at most what the unusable zones held,
///   assigned to the zones that grow, in placement order.
pub fn hold(placement: &mut Placement, declared: i32, held: &[Held]) -> Vec<Move> {
    let recorded = |zone: &str| held.iter().find(|h| h.zone == zone && h.eligible && !h.forfeited).map(|h| h.replicas);
    let was: Vec<i32> = placement.targets.iter().map(|t| recorded(&t.zone).unwrap_or(0)).collect();
    if held.iter().all(|h| h.replicas == 0 && !h.forfeited) {
        return Vec::new();
    }
    let total_held: i32 = was.iter().sum();
    let mode_total = placement.total();
    let shrinking = total_held > mode_total;
    for (t, w) in placement.targets.iter_mut().zip(&was) {
        let forfeited = held.iter().any(|h| h.zone == t.zone && h.forfeited);
        t.replicas = match () {
            _ if forfeited => 0,
            _ if shrinking => t.replicas,
            _ => t.replicas.max(*w),
        };
    }
    trim_growth(placement, &was, mode_total.max(total_held));
    refill_forfeited(placement, held, &was, mode_total);
    let mut to_move = (declared - total_held).max(0);
    let mut sources: Vec<(String, i32)> = held
        .iter()
        .filter(|h| !h.eligible && !h.forfeited && h.replicas > 0)
        .map(|h| (h.zone.clone(), h.replicas))
        .collect();
    let mut moves = Vec::new();
    for (t, w) in placement.targets.iter().zip(&was) {
        let mut growth = (t.replicas - w).max(0);
        let mut next = *w;
        while growth > 0 && to_move > 0 {
            let Some(source) = sources.iter_mut().find(|(_, n)| *n > 0) else { break };
            let n = growth.min(to_move).min(source.1);
            moves.push(Move { zone: t.zone.clone(), from_zone: source.0.clone(), first_ordinal: next, replicas: n });
            (growth, to_move, source.1, next) = (growth - n, to_move - n, source.1 - n, next + n);
        }
    }
    moves
}

/// Growing every zone to what the mode wants while keeping what each holds can exceed the mode's total (the mode
/// put its uneven share elsewhere than where the volumes are): the growth goes, first from zones holding no
/// volume, last zones first, until the total is back to `total`.
fn trim_growth(placement: &mut Placement, was: &[i32], total: i32) {
    let mut excess = placement.total() - total;
    let mut order: Vec<usize> = (0..placement.targets.len()).collect();
    order.sort_by_key(|k| (was[*k] > 0, std::cmp::Reverse(*k)));
    for k in order {
        let t = &mut placement.targets[k];
        let cut = (t.replicas - was[k]).max(0).min(excess.max(0));
        t.replicas -= cut;
        excess -= cut;
    }
}

/// What a forfeited zone would have run goes to the zones that hold volumes already, least loaded first, so that
/// the total stays what the mode places.
fn refill_forfeited(placement: &mut Placement, held: &[Held], was: &[i32], mode_total: i32) {
    let missing = (mode_total - placement.total()).max(0);
    let open = |t: &crate::placement::ZoneTarget| !held.iter().any(|h| h.zone == t.zone && h.forfeited);
    for _ in 0..missing {
        let pick = (0..placement.targets.len())
            .filter(|k| open(&placement.targets[*k]))
            .min_by_key(|k| (was[*k] == 0, placement.targets[*k].replicas));
        match pick {
            Some(k) => placement.targets[k].replicas += 1,
            None => break,
        }
    }
}

/// A copy as the catalog records it.
#[derive(Clone, Debug)]
pub struct Copy<'a> {
    pub name: &'a str,
    pub captured: Timestamp,
    /// Where the copy is stored, if the catalog knows: a zone, or only a region.
    pub zone: Option<&'a str>,
    pub region: Option<&'a str>,
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

/// Where a replica was lost: the zone (or, for a whole site, the site's name), its region, and when.
#[derive(Clone, Copy, Debug)]
pub struct Loss<'a> {
    pub zone: &'a str,
    pub region: Option<&'a str>,
    pub at: Timestamp,
    /// A whole site was lost, with the regions its clusters are in: a copy survives it only when stored in another
    /// region (a copy's zone says nothing of which site holds it).
    pub site_regions: Option<&'a [String]>,
}

/// Whether a copy stored in `region` survived the loss of a site whose clusters are in `lost` regions: only when
/// both are known and differ (a copy's zone says nothing of which site holds it).
pub fn outside_regions(lost: &[String], region: Option<&str>) -> Option<bool> {
    match region {
        Some(r) if !lost.is_empty() => Some(!lost.iter().any(|l| l == r)),
        _ => None,
    }
}

impl Copy<'_> {
    /// Whether the copy is provably stored outside the lost zone: in another zone, or in another region.
    fn outside(&self, loss: &Loss<'_>) -> Option<bool> {
        if let Some(regions) = loss.site_regions {
            return outside_regions(regions, self.region);
        }
        match (self.zone, self.region, loss.region) {
            (Some(z), _, _) => Some(z != loss.zone),
            (None, Some(r), Some(lost)) => Some(r != lost),
            _ => None,
        }
    }
}

/// The copy to restore a replica lost in `loss` from.
pub fn start_from(copies: &[Copy<'_>], loss: &Loss<'_>, empty_allowed: bool) -> Start {
    let (lost_zone, lost_at) = (loss.zone, loss.at);
    let outside = |c: &&Copy<'_>| c.good && c.captured <= lost_at && c.outside(loss) == Some(true);
    if let Some(c) = copies.iter().filter(outside).max_by_key(|c| c.captured) {
        return Start::Restore { point: c.name.to_string(), captured: c.captured };
    }
    if empty_allowed {
        return Start::Empty;
    }
    let good = copies.iter().filter(|c| c.good && c.captured <= lost_at).count();
    let unknown = copies.iter().filter(|c| c.good && c.captured <= lost_at && c.outside(loss).is_none()).count();
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

/// A claim of the service, as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub name: String,
    /// The zone label the claim template gave it.
    pub zone: Option<String>,
    /// Already labelled as diverged.
    pub marked: bool,
}

/// What the stateful stage observes: the service's claims and the cluster's StorageClasses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Observed<'a> {
    pub claims: &'a [Claim],
    /// `None` when not observed (offline without a cluster): the storage verdict is then `Unknown`.
    pub storage_classes: Option<&'a [StorageClass]>,
}

/// Label continuo puts on a claim whose zone's replicas were recreated elsewhere from a copy: when (Unix seconds)
/// its data diverged from the service's.
pub const DIVERGED_LABEL: &str = "continuo.dev/diverged-at";
