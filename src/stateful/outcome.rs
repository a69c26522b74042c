//! What the stateful stages concluded for one service, and the conditions that say it.

use jiff::Timestamp;

use crate::api::Recovery;

/// What the gravity stage decided.
#[derive(Clone, Debug, Default)]
pub struct Volumes {
    /// Replicas recreated from a copy (or empty, as the class allows), this reconcile's and earlier ones still in
    /// effect, for status.
    pub recoveries: Vec<Recovery>,
    /// Moves that were not carried out: no copy to restore from. Nothing was started for them.
    pub refused: Vec<String>,
    /// Claims in a zone whose replicas were recreated elsewhere, now that the zone is back.
    pub diverged: Vec<Diverged>,
    /// A service arriving after a site loss that cannot start yet, why (a reason, and words): its copies are being
    /// listed (`ListingCopies`), or volumes of an earlier stint at this site would be bound (`StaleVolumesPresent`).
    /// Nothing started.
    pub waiting: Option<(&'static str, String)>,
    /// Copies the storage holds that the catalog lacks (listed after a site loss): to be catalogued.
    pub imports: Vec<crate::api::RecoveryPoint>,
    /// The agent run (its Job's name) that lists the storage's copies, when one is to run.
    pub list_run: Option<String>,
    /// A planned move off this site (see `sites::handover`): where it stands, for status. Every replica is stopped.
    pub handover: Option<crate::api::SiteHandover>,
    /// The run that makes the last copy before such a move, when one is to run: its Job's name, and the
    /// StatefulSet whose stopped volumes it copies.
    pub handover_run: Option<(String, String)>,
}

/// A claim whose data diverged from the service's, and the claim that now serves in its place: the two volumes a
/// person chooses between.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diverged {
    pub claim: String,
    pub zone: String,
    /// When its zone was lost (or left): what it holds after that is in no copy.
    pub at: Timestamp,
    /// The claim of the replica recreated in its place, and that replica's zone.
    pub serving: Option<String>,
    pub serving_zone: String,
    /// The copy the serving claim was restored from (`None`: started empty).
    pub point: Option<String>,
}

impl Diverged {
    /// Both volumes in words: which holds what.
    pub fn describe(&self) -> String {
        let Diverged { claim, zone, at, serving, serving_zone, point } = self;
        let serving =
            serving.as_deref().map_or(format!("its replica in {serving_zone}"), |s| format!("{s} in {serving_zone}"));
        let from = point.as_deref().map_or("started empty".to_string(), |p| format!("restored from copy {p}"));
        format!("{claim} in {zone} (writes until {at}) diverged from {serving} ({from}), which serves now")
    }
}

impl Volumes {
    /// `DataRestored` and `DataDiverged`, as (type, status, reason, message).
    pub fn conditions(&self) -> Vec<(&'static str, &'static str, &'static str, String)> {
        use crate::api::conditions::{DATA_DIVERGED, DATA_RESTORED};
        let restoring: Vec<&Recovery> = self.recoveries.iter().filter(|r| r.ready_at.is_none()).collect();
        let restored = match (self.refused.is_empty(), restoring.first(), self.recoveries.last()) {
            _ if let Some((reason, message)) = &self.waiting => (DATA_RESTORED, "False", *reason, message.clone()),
            (false, ..) => (DATA_RESTORED, "False", "NoCopyToRestore", self.refused.join("; ")),
            (true, Some(r), _) => (DATA_RESTORED, "False", "Restoring", format!("{}: not Ready yet", describe(r))),
            (true, None, Some(r)) => (DATA_RESTORED, "True", "Restored", describe(r)),
            (true, None, None) => (
                DATA_RESTORED,
                "True",
                "OnTheirVolumes",
                "every replica runs in the zone that holds its volumes".into(),
            ),
        };
        let diverged = if self.diverged.is_empty() {
            (DATA_DIVERGED, "False", "NoDivergence", "no volume holds data the service does not".into())
        } else {
            let pairs: Vec<String> = self.diverged.iter().map(Diverged::describe).collect();
            (
                DATA_DIVERGED,
                "True",
                "VolumesDiverged",
                format!(
                    "{}; the old volumes hold writes newer than the copy: continuo keeps them and never overwrites or \
                     deletes them: restore from them with a RestoreRequest, or delete them",
                    pairs.join("; ")
                ),
            )
        };
        vec![restored, diverged]
    }
}

/// One recovery in words, with its numbers.
fn describe(r: &Recovery) -> String {
    let (lost, scope) = match &r.from_site {
        Some(site) => (format!("site {site}"), "Region"),
        None => (r.from_zone.clone(), "Zone"),
    };
    let what = format!("{} replica(s) of {lost} recreated in {} (lost at {})", r.replicas, r.zone, r.lost_at.0);
    match (&r.point, &r.captured_at, r.data_loss_seconds) {
        (Some(p), Some(c), Some(loss)) => {
            let verdict = match r.within_rpo {
                Some(true) => format!(", within the {scope} RPO"),
                Some(false) => format!(", beyond the {scope} RPO"),
                None => String::new(),
            };
            format!("{what} from copy {p} captured at {}: {loss}s of data lost{verdict}", c.0)
        }
        _ => format!("{what} on empty volumes, as the class allows: its data was not restored"),
    }
}
