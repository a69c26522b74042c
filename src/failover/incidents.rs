//! Every incident measured: when a service's Ready capacity (counting only healthy zones) drops below its
//! declared replicas, or a zone it uses is lost, an incident opens; it closes when capacity is back. The
//! measured RTO runs from the best evidence of when the failure began (the last lease renewal seen from the
//! zone) to the reconcile that saw capacity back — or is 0 when capacity never dropped (the promise held).
//!
//! Pure: the previous history and what is observed now give the next history and what to announce.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::{Incident, Scope, Span};

/// How many incidents the status keeps, newest first.
pub const HISTORY: usize = 10;

/// A lost zone the service uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostZone {
    pub zone: String,
    pub began: Timestamp,
    pub detected: Timestamp,
}

/// What one reconcile observes.
#[derive(Clone, Debug)]
pub struct Observation<'a> {
    /// The declared replicas.
    pub replicas: i32,
    /// Replicas Ready in healthy zones.
    pub ready: i32,
    /// Zones the service uses that are lost now.
    pub lost: &'a [LostZone],
    /// Zones below their desired Ready replicas (the subject of a node-scope incident).
    pub lagging: &'a [String],
    /// Best evidence of when a node-scope drop began: the last renewal seen from a node of a lagging zone that went
    /// silent while the service was whole. Without it, the drop is dated when it is seen.
    pub node_began: Option<Timestamp>,
    /// Whether the last status showed the service at capacity, for the spec it still has: a drop from there is an
    /// incident; a new service, or one scaled up, still rolling out, is not.
    pub was_whole: bool,
    /// The class's RTO per scope.
    pub rto: &'a [(Scope, Span)],
    pub now: Timestamp,
}

/// What happened to the incidents in this step, for Events and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Started(Incident),
    Ended(Incident),
}

fn time(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

/// The next incident history, newest first, at most [`HISTORY`] long, and what changed.
pub fn step(previous: &[Incident], o: &Observation<'_>) -> (Vec<Incident>, Vec<Change>) {
    let mut history = previous.to_vec();
    let mut changes = Vec::new();
    let open = history.first().is_some_and(|i| i.recovered.is_none());
    if !open {
        // A zone loss already recorded (same zone, same beginning) is not a new incident.
        let new_loss = o.lost.iter().find(|l| {
            !history.iter().any(|i| i.scope == Scope::Zone && i.subject == l.zone && i.began == time(l.began))
        });
        let opened = match new_loss {
            Some(l) => Some(incident(Scope::Zone, l.zone.clone(), l.began, l.detected, o)),
            None if o.was_whole && o.ready < o.replicas => {
                let began = o.node_began.map_or(o.now, |b| b.min(o.now));
                Some(incident(Scope::Node, o.lagging.join(", "), began, o.now, o))
            }
            None => None,
        };
        if let Some(i) = opened {
            changes.push(Change::Started(i.clone()));
            history.insert(0, i);
        }
    }
    if let Some(current) = history.first_mut().filter(|i| i.recovered.is_none()) {
        current.lowest_ready = current.lowest_ready.min(o.ready);
        if o.ready >= o.replicas {
            let rto = if current.lowest_ready >= current.replicas {
                0
            } else {
                (o.now.as_second() - current.began.0.as_second()).max(0)
            };
            current.recovered = Some(time(o.now));
            current.rto_seconds = Some(rto);
            current.within_rto = current.target_rto.map(|t| rto as u64 <= t.as_secs());
            changes.push(Change::Ended(current.clone()));
        }
    }
    history.truncate(HISTORY);
    (history, changes)
}

fn incident(scope: Scope, subject: String, began: Timestamp, detected: Timestamp, o: &Observation<'_>) -> Incident {
    Incident {
        scope,
        subject,
        began: time(began),
        detected: time(detected),
        recovered: None,
        rto_seconds: None,
        lowest_ready: o.ready,
        replicas: o.replicas,
        target_rto: o.rto.iter().find(|(s, _)| *s == scope).map(|(_, r)| *r),
        within_rto: None,
        data: Vec::new(),
        restored_point: None,
        restored_captured_at: None,
        data_loss_seconds: None,
        within_rpo: None,
    }
}

/// One line for an Event about `i`.
pub fn describe(c: &Change) -> (bool, &'static str, String) {
    match c {
        Change::Started(i) => (
            true,
            "IncidentStarted",
            format!(
                "{} {} lost: began {} (last sign of life), detected {}, {}/{} Ready in healthy zones",
                i.scope, i.subject, i.began.0, i.detected.0, i.lowest_ready, i.replicas
            ),
        ),
        Change::Ended(i) => {
            let rto = i.rto_seconds.unwrap_or(0);
            let target = i.target_rto.map_or_else(String::new, |t| format!(" (target {t})"));
            let within = i.within_rto != Some(false);
            (
                !within,
                if within { "IncidentResolved" } else { "RecoveryExceededRTO" },
                format!(
                    "{} {}: capacity back to {}/{} after {rto}s{target}; lowest {} Ready",
                    i.scope, i.subject, i.replicas, i.replicas, i.lowest_ready
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + secs).unwrap()
    }

    const RTO: &[(Scope, Span)] = &[(Scope::Zone, Span::from_secs(60))];

    fn observe(ready: i32, lost: &[LostZone], was_whole: bool, now: i64) -> Observation<'static> {
        Observation {
            replicas: 4,
            ready,
            lost: Vec::leak(lost.to_vec()),
            lagging: Vec::leak(vec!["b".to_string()]),
            node_began: None,
            was_whole,
            rto: RTO,
            now: t(now),
        }
    }

    fn zone_c() -> LostZone {
        LostZone { zone: "c".into(), began: t(10), detected: t(31) }
    }

    #[test]
    fn a_warm_standby_zone_loss_is_timed_from_the_last_renewal_to_capacity_back() {
        // The primary zone c is lost: 1 standby Ready elsewhere; promoted, 4 Ready at 45 s.
        let (h, c) = step(&[], &observe(1, &[zone_c()], true, 31));
        assert!(matches!(&c[..], [Change::Started(_)]));
        assert_eq!((h[0].recovered.as_ref(), h[0].lowest_ready), (None, 1));
        let (h, c) = step(&h, &observe(2, &[zone_c()], true, 40));
        assert!(c.is_empty() && h[0].recovered.is_none());
        let (h, c) = step(&h, &observe(4, &[zone_c()], false, 45));
        let Change::Ended(i) = &c[0] else { panic!("{c:?}") };
        assert_eq!((i.rto_seconds, i.within_rto, i.lowest_ready), (Some(35), Some(true), 1));
        assert_eq!(h.len(), 1);
        // The zone is still lost: the same loss does not open a second incident.
        let (h2, c) = step(&h, &observe(4, &[zone_c()], true, 60));
        assert!(c.is_empty());
        assert_eq!(h2, h);
    }

    #[test]
    fn active_active_never_below_capacity_records_rto_zero() {
        let (h, c) = step(&[], &observe(4, &[zone_c()], true, 31));
        assert_eq!(c.len(), 2, "started and ended at once: {c:?}");
        assert_eq!((h[0].rto_seconds, h[0].within_rto, h[0].scope), (Some(0), Some(true), Scope::Zone));
        assert_eq!(h[0].began, time(t(10)));
    }

    #[test]
    fn a_recovery_slower_than_the_rto_says_so() {
        let (h, _) = step(&[], &observe(0, &[zone_c()], true, 31));
        let (h, c) = step(&h, &observe(4, &[], true, 100));
        let (warning, reason, message) = describe(&c[0]);
        assert!(warning);
        assert_eq!(reason, "RecoveryExceededRTO");
        assert_eq!(h[0].rto_seconds, Some(90));
        assert!(message.contains("after 90s (target 1m)"), "{message}");
    }

    #[test]
    fn a_drop_without_zone_loss_is_a_node_incident_and_a_rollout_is_not() {
        // A new service (never whole) rolling out: no incident.
        assert!(step(&[], &observe(1, &[], false, 0)).1.is_empty());
        // A service at capacity loses two pods on a node: a node-scope incident, no RTO declared for it.
        let (h, _) = step(&[], &observe(2, &[], true, 100));
        assert_eq!((h[0].scope, h[0].subject.as_str(), h[0].target_rto), (Scope::Node, "b", None));
        let (h, c) = step(&h, &observe(4, &[], false, 130));
        assert_eq!(h[0].rto_seconds, Some(30));
        assert_eq!(h[0].within_rto, None);
        assert_eq!(describe(&c[0]).1, "IncidentResolved");
    }

    #[test]
    fn a_node_incident_is_timed_from_the_silent_nodes_last_renewal() {
        // A node of zone b stopped renewing at 100 s; its pods looked Ready until the node controller withdrew
        // them, at 145 s. The RTO counts from the failure, not from when it was seen.
        let (h, _) = step(&[], &Observation { node_began: Some(t(100)), ..observe(2, &[], true, 145) });
        assert_eq!((h[0].began.clone(), h[0].detected.clone()), (time(t(100)), time(t(145))));
        let (h, _) = step(&h, &observe(4, &[], false, 160));
        assert_eq!(h[0].rto_seconds, Some(60));
    }

    #[test]
    fn the_history_is_bounded_newest_first() {
        let mut h = Vec::new();
        for k in 0..15 {
            let lost = LostZone { zone: "c".into(), began: t(k * 1000), detected: t(k * 1000 + 20) };
            h = step(&h, &observe(4, &[lost], true, k * 1000 + 20)).0;
        }
        assert_eq!(h.len(), HISTORY);
        assert_eq!(h[0].began, time(t(14_000)));
    }
}
