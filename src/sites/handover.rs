//! A planned move of a stateful service off a healthy site (a declared failback, or any declared move while the
//! site it serves from is still up): the data is brought along, not left behind. continuo on Karmada's control
//! plane holds the placement where it is and annotates the serving site's copy (`continuo.dev/site-handover`); that
//! site's continuo stops every replica, makes one last copy of the stopped volumes and reports it in its status;
//! Karmada reflects the status back, and only then does the placement move, with an arrival that names that very
//! copy, so the new site restores exactly the last writes: no data lost. A site lost meanwhile ends the wait: the
//! move goes on as after a loss.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Cluster, Health, Serving, arrival::Arrival, health, members};
use crate::api::{RecoveryPoint, SiteHandover, Sites};

/// The annotation, on the serving site's copy of a service, that asks it to stop its writes and make its last copy
/// for a move to another site.
pub const HANDOVER_ANNOTATION: &str = "continuo.dev/site-handover";

/// A handover asked of a site: for the move to `to` declared at `declared_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handover {
    pub to: String,
    pub declared_at: Timestamp,
}

impl Handover {
    /// The handover the service's annotation asks for; `Err` when the annotation is not one.
    pub fn of(svc: &crate::api::ResilientService) -> Result<Option<Handover>, String> {
        let expected = "{\"to\": site, \"declaredAt\": RFC 3339 time}";
        super::annotated(svc, HANDOVER_ANNOTATION, "a site handover", expected)
    }

    pub fn annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The name of the backup run that makes the last copy (one per handover): also its recovery point's name.
    pub fn run(&self, service: &str) -> String {
        super::run_name(service, "-handover", &format!("{}@{}", self.to, self.declared_at.as_second()))
    }

    fn same(&self, to: &str, declared_at: Timestamp) -> bool {
        self.to == to && self.declared_at.as_second() == declared_at.as_second()
    }
}

/// The last copy a site made for a handover, as it reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastCopy {
    pub id: String,
    pub captured_at: Timestamp,
}

/// On Karmada's control plane: the handover a move needs before it is carried out. A declared move of a stateful
/// service off a site that is healthy (Karmada reports one of its clusters Ready) waits for that site's last copy;
/// a move off a lost site, an automatic one, or a stateless service's does not.
pub fn needed(
    sites: &Sites,
    clusters: &[Cluster],
    stateful: bool,
    from: Option<&str>,
    (serving, why): (&str, &Serving),
) -> Option<Handover> {
    let (Serving::Declared { at, .. }, Some(from), true) = (why, from, stateful) else { return None };
    let site = sites.site(from).filter(|_| from != serving)?;
    (health(site, clusters) == Health::Healthy).then(|| Handover { to: serving.to_string(), declared_at: *at })
}

/// What a cluster of site `from` reports of handover `h`, from the binding's aggregated status (Karmada reflects
/// each member's `status.handover`).
pub fn report(
    binding: Option<&Value>,
    from: &crate::api::Site,
    clusters: &[Cluster],
    h: &Handover,
) -> Option<SiteHandover> {
    let names: Vec<&str> = members(from, clusters).iter().map(|c| c.name.as_str()).collect();
    let items = binding?["status"]["aggregatedStatus"].as_array()?;
    items.iter().filter(|i| i["clusterName"].as_str().is_some_and(|n| names.contains(&n))).find_map(|i| {
        let r: SiteHandover = serde_json::from_value(i["status"]["handover"].clone()).ok()?;
        h.same(&r.to, r.declared_at.0).then_some(r)
    })
}

/// The last copy a report names, once made.
fn last_copy(r: &SiteHandover) -> Option<LastCopy> {
    (r.phase == COPY_MADE).then_some(())?;
    Some(LastCopy { id: r.copy_id.clone()?, captured_at: r.captured_at.as_ref()?.0 })
}

/// Where a declared move stands on Karmada's control plane.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// No handover: the move (if any) is carried out at once.
    Direct,
    /// The service stays at site `at`, asked to hand over; `message` says where that stands.
    Hold { at: String, handover: Handover, message: String },
    /// The last copy is made: the service moves, arriving with it.
    Move(Arrival),
}

impl Stage {
    /// While held at the site handing over: where that stands, in words.
    pub fn holding(&self) -> Option<&str> {
        match self {
            Stage::Hold { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// The stage of the move to `serving` (why: `why`) from the site the service served from (`from`), with what the
/// members report (`binding`).
pub fn stage(
    sites: &Sites,
    clusters: &[Cluster],
    stateful: bool,
    from: Option<&str>,
    (serving, why): (&str, &Serving),
    binding: Option<&Value>,
) -> Stage {
    let (Some(h), Some(from)) = (needed(sites, clusters, stateful, from, (serving, why)), from) else {
        return Stage::Direct;
    };
    let Some(site) = sites.site(from) else { return Stage::Direct };
    let reported = report(binding, site, clusters, &h);
    if let Some(copy) = reported.as_ref().and_then(last_copy) {
        return Stage::Move(arrival(from, &h, &copy));
    }
    let message = match reported {
        Some(r) => format!("serving from {from} until it hands over to {}: {}", h.to, r.message),
        None => format!(
            "serving from {from} until it hands over to {}: its writes are being stopped there and its last copy \
             made, so that {} starts with every write",
            h.to, h.to
        ),
    };
    Stage::Hold { at: from.to_string(), handover: h, message }
}

/// The arrival at the new site after a handover: from the site left, at the last copy's capture (its writes had
/// stopped before it), that copy named.
pub fn arrival(from: &str, h: &Handover, copy: &LastCopy) -> Arrival {
    Arrival {
        from: from.to_string(),
        lost_at: copy.captured_at,
        regions: Vec::new(),
        copy: Some(copy.id.clone()),
        declared_at: Some(h.declared_at),
    }
}

/// The handover the site a planned arrival left keeps being asked for until Karmada removes the service there, so
/// that it never starts writing again in between.
pub fn kept_for(arrival: &Arrival, serving: &str) -> Option<(String, Handover)> {
    let declared_at = arrival.declared_at.filter(|_| arrival.copy.is_some())?;
    Some((arrival.from.clone(), Handover { to: serving.to_string(), declared_at }))
}

pub const STOPPING: &str = "Stopping";
pub const COPYING: &str = "Copying";
pub const COPY_MADE: &str = "CopyMade";
pub const FAILED: &str = "Failed";

/// Where a one-off agent run stands, as the member's shell observes its Job (the last copy before a handover; the
/// listing of an arrival, read further from its report).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    NotStarted,
    Running,
    Failed(String),
    Succeeded,
}

/// In the member: what the handover asks now. `running`: the replicas still running here; `set`: the StatefulSet
/// whose first replica's volumes are copied (the one backups copy); `point`: the run's point, once catalogued.
pub struct Member<'a> {
    pub handover: &'a Handover,
    pub service: &'a str,
    pub running: i32,
    pub set: Option<&'a str>,
    pub run: &'a RunState,
    pub point: Option<&'a RecoveryPoint>,
}

/// The member's handover status, and the last copy's run to start (its name and the StatefulSet it copies) while
/// the copy is to be made.
pub fn member(m: &Member<'_>) -> (SiteHandover, Option<(String, String)>) {
    let h = m.handover;
    let run = h.run(m.service);
    let mut status = SiteHandover {
        to: h.to.clone(),
        declared_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(h.declared_at),
        phase: STOPPING.into(),
        point: None,
        copy_id: None,
        captured_at: None,
        message: String::new(),
    };
    if m.running > 0 {
        status.message = format!(
            "moving to site {}: stopping every replica here before the last copy ({} still running)",
            h.to, m.running
        );
        return (status, None);
    }
    let made = m.point.and_then(|p| Some((p, p.status.as_ref()?.id.clone()?, p.status.as_ref()?.captured_at.clone()?)));
    if let Some((p, id, captured)) = made.filter(|(p, ..)| p.available_since().is_some()) {
        status.message = format!(
            "moving to site {}: writes stopped here, last copy {} (id {id}) captured at {}: the next site restores it",
            h.to,
            p.metadata.name.as_deref().unwrap_or_default(),
            captured.0
        );
        (status.phase, status.point, status.copy_id, status.captured_at) =
            (COPY_MADE.into(), p.metadata.name.clone(), Some(id), Some(captured));
        return (status, None);
    }
    match (m.run, m.set) {
        (RunState::Failed(why), _) => {
            status.phase = FAILED.into();
            status.message = format!(
                "moving to site {}: the last copy failed ({why}); the service stays stopped here and does not move: \
                 delete Job {run} to try again, or delete the SiteFailover to serve here again",
                h.to
            );
            (status, None)
        }
        (_, None) => {
            status.phase = FAILED.into();
            status.message = format!("moving to site {}: no volume of the service here to make the last copy of", h.to);
            (status, None)
        }
        (_, Some(set)) => {
            status.phase = COPYING.into();
            status.message = format!(
                "moving to site {}: writes stopped here; the last copy (run {run}) of {set}'s volumes is being made",
                h.to
            );
            (status, Some((run, set.to_string())))
        }
    }
}
