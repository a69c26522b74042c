//! What the stateful stages concluded for one service, and the conditions that say it.

use jiff::Timestamp;

use crate::api::Recovery;

/// What the gravity stage decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Volumes {
    /// Replicas recreated from a copy (or empty, as the class allows), this reconcile's and earlier ones still in
    /// effect, for status.
    pub recoveries: Vec<Recovery>,
    /// Moves that were not carried out: no copy to restore from. Nothing was started for them.
    pub refused: Vec<String>,
    /// Claims in a zone whose replicas were recreated elsewhere, now that the zone is back: `(claim, zone,
    /// diverged at)`.
    pub diverged: Vec<(String, String, Timestamp)>,
}

impl Volumes {
    /// `DataRestored` and `DataDiverged`, as (type, status, reason, message).
    pub fn conditions(&self) -> Vec<(&'static str, &'static str, &'static str, String)> {
        use crate::api::conditions::{DATA_DIVERGED, DATA_RESTORED};
        let restoring: Vec<&Recovery> = self.recoveries.iter().filter(|r| r.ready_at.is_none()).collect();
        let restored = match (self.refused.is_empty(), restoring.first(), self.recoveries.last()) {
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
            let claims: Vec<String> =
                self.diverged.iter().map(|(c, z, at)| format!("{c} (in {z}, diverged at {at})")).collect();
            let into: Vec<String> =
                self.recoveries.iter().map(|r| format!("{}'s replicas in {}", r.from_zone, r.zone)).collect();
            (
                DATA_DIVERGED,
                "True",
                "VolumesDiverged",
                format!(
                    "{} hold data written before their zone was lost, newer than the copy restored into {}; continuo \
                     keeps them and never overwrites or deletes them: restore from them with a RestoreRequest, or \
                     delete them",
                    claims.join(", "),
                    into.join(", ")
                ),
            )
        };
        vec![restored, diverged]
    }
}

/// One recovery in words, with its numbers.
fn describe(r: &Recovery) -> String {
    let what =
        format!("{} replica(s) of {} recreated in {} (lost at {})", r.replicas, r.from_zone, r.zone, r.lost_at.0);
    match (&r.point, &r.captured_at, r.data_loss_seconds) {
        (Some(p), Some(c), Some(loss)) => {
            let verdict = match r.within_rpo {
                Some(true) => ", within the Zone RPO",
                Some(false) => ", beyond the Zone RPO",
                None => "",
            };
            format!("{what} from copy {p} captured at {}: {loss}s of data lost{verdict}", c.0)
        }
        _ => format!("{what} on empty volumes, as the class allows: its data was not restored"),
    }
}
