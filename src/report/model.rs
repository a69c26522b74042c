//! What a report says of each service, as plain serializable values (the JSON output is this model).

use jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;

use crate::api::{ContinuityClass, RecoveryPoint, ResilientService, RestoreRequest, Scope};

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub month: String,
    pub generated_at: String,
    pub services: Vec<ServiceReport>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceReport {
    pub namespace: String,
    pub name: String,
    pub class: String,
    /// The class's mode, or nothing when the class does not exist.
    pub mode: Option<String>,
    pub promise: Promise,
    pub verdicts: Vec<Verdict>,
    /// The verdicts counted: met only when `True`; `Unknown` is not verified, never met.
    pub objectives_now: ObjectivesNow,
    pub availability: Option<MonthAvailability>,
    pub incidents: Vec<IncidentReport>,
    pub backups: Option<BackupReport>,
    pub restores: Vec<RestoreReport>,
    /// Continuity drills of the month, with their verdicts.
    pub drills: Vec<DrillReport>,
    /// Site failovers declared in the month (on Karmada's control plane), with their RTO and data lost.
    pub site_failovers: Vec<super::sites::SiteFailoverReport>,
    /// Window of the month covered (to now in the current month), RFC 3339.
    pub from: String,
    pub to: String,
}

#[derive(Serialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Promise {
    pub replicas: i32,
    pub objectives: Vec<PromisedObjective>,
    pub availability_target: Option<String>,
    pub residency: Vec<String>,
    pub backup_tiers: Vec<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PromisedObjective {
    pub scope: String,
    pub rto_seconds: i64,
    pub rpo_seconds: Option<i64>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub scope: String,
    pub objective: String,
    pub target: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// The verdicts now, counted as an auditor reads them: a promise is met only when its verdict is `True`.
#[derive(Serialize, Debug, Clone, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ObjectivesNow {
    pub met: usize,
    pub not_met: usize,
    /// `Unknown` verdicts: nothing proves them either way.
    pub not_verified: usize,
    /// Every verdict `True` (and at least one).
    pub all_met: bool,
    /// The reasons of the verdicts not verified, each once.
    pub not_verified_reasons: Vec<String>,
}

impl ObjectivesNow {
    pub fn of(verdicts: &[Verdict]) -> ObjectivesNow {
        let count = |s: &str| verdicts.iter().filter(|v| v.status == s).count();
        let mut reasons: Vec<String> = Vec::new();
        for v in verdicts.iter().filter(|v| v.status != "True" && v.status != "False") {
            if !reasons.contains(&v.reason) {
                reasons.push(v.reason.clone());
            }
        }
        let met = count("True");
        ObjectivesNow {
            met,
            not_met: count("False"),
            not_verified: verdicts.len() - met - count("False"),
            all_met: !verdicts.is_empty() && met == verdicts.len(),
            not_verified_reasons: reasons,
        }
    }
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MonthAvailability {
    pub observed_seconds: i64,
    pub degraded_seconds: i64,
    pub down_seconds: i64,
    pub unobserved_seconds: i64,
    /// Percentage with three decimals, as the status records it.
    pub availability: Option<String>,
    pub target: Option<String>,
    pub error_budget_remaining_seconds: Option<i64>,
    /// Whether the target held: unknown while nothing was observed or no target is declared.
    pub met: Option<bool>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IncidentReport {
    pub scope: String,
    pub subject: String,
    pub began: String,
    pub recovered: Option<String>,
    pub rto_seconds: Option<i64>,
    pub target_rto_seconds: Option<i64>,
    pub within_rto: Option<bool>,
    pub lowest_ready: i32,
    pub replicas: i32,
    /// Per data source that failed over: the data lost, where it is known.
    pub data_lost: Vec<DataLost>,
    /// Offsets from the window's start, for the timeline.
    #[serde(skip)]
    pub span: (i64, i64),
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataLost {
    pub source: String,
    pub rpo_seconds: Option<i64>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    /// The tightest RPO above 0 the class declares.
    pub rpo_seconds: Option<i64>,
    /// Good copies held now, per tier.
    pub points_by_tier: std::collections::BTreeMap<String, usize>,
    /// Capture times of the good copies held that bear on the month (the last before it, and those in it).
    pub captures: Vec<String>,
    /// The newest copy's worst age over the part of the month the copies held cover, and from when they cover it.
    pub worst_age_seconds: Option<i64>,
    pub covered_from: Option<String>,
    /// Offsets of the captures from the window's start, for the chart.
    #[serde(skip)]
    pub capture_offsets: Vec<i64>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DrillReport {
    pub name: String,
    pub scenario: String,
    pub zone: Option<String>,
    /// SiteRestore: the site the service was brought up at.
    pub site: Option<String>,
    /// `Running`, `Passed`, `Failed`, `Aborted`; `Pending` before it starts.
    pub phase: String,
    pub started: Option<String>,
    pub rto_seconds: Option<i64>,
    pub lowest_ready: Option<i32>,
    pub message: Option<String>,
}

/// A drill as the report states it, when it ran in the month `w` covers.
pub(super) fn drill(d: &crate::api::ContinuityDrill, w: &Window<'_>) -> Option<DrillReport> {
    let s = d.status.as_ref();
    let started = s.and_then(|s| s.started_at.as_ref()).map(secs);
    if started.is_some_and(|t| !w.contains(t)) {
        return None;
    }
    Some(DrillReport {
        name: d.name_any(),
        scenario: d.spec.scenario.as_str().into(),
        zone: s.and_then(|s| s.zone.clone()),
        site: s.and_then(|s| s.site.clone()),
        phase: s.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into()),
        started: started.map(|t| t.to_string()),
        rto_seconds: s.and_then(|s| s.rto_seconds),
        lowest_ready: s.and_then(|s| s.lowest_ready),
        message: s.and_then(|s| s.message.clone()),
    })
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    pub name: String,
    pub phase: Option<String>,
    pub point: Option<String>,
    pub captured_at: Option<String>,
    pub started: Option<String>,
    pub duration_seconds: Option<i64>,
    pub message: Option<String>,
}

/// The part of the month a report covers: from its start to its end, or to now in the current month.
pub struct Window<'a> {
    pub start: Timestamp,
    pub end: Timestamp,
    pub month: &'a str,
}

impl Window<'_> {
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }

    pub fn seconds(&self) -> i64 {
        (self.end.as_second() - self.start.as_second()).max(0)
    }
}

fn secs(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> Timestamp {
    t.0
}

/// One service's part of the report.
pub(super) fn service(
    svc: &ResilientService,
    class: Option<&ContinuityClass>,
    mine: &[&RecoveryPoint],
    restores: &[&RestoreRequest],
    w: &Window<'_>,
) -> ServiceReport {
    let status = svc.status.as_ref();
    let (ns, name) = (svc.namespace().unwrap_or_default(), svc.name_any());
    let verdicts = status.map_or_else(Vec::new, |s| {
        s.objectives
            .iter()
            .map(|o| Verdict {
                scope: o.scope.as_str().into(),
                objective: o.objective.clone(),
                target: o.target.to_string(),
                status: o.status.clone(),
                reason: o.reason.clone(),
                message: o.message.clone(),
            })
            .collect()
    });
    let incidents = status.map_or_else(Vec::new, |s| {
        s.incidents
            .iter()
            .filter(|i| overlaps(w, secs(&i.began), i.recovered.as_ref().map(secs)))
            .map(|i| incident(i, w))
            .collect()
    });
    ServiceReport {
        promise: promise(svc, class),
        mode: class.map(|c| format!("{:?}", c.spec.mode)),
        class: svc.spec.class_name.clone(),
        objectives_now: ObjectivesNow::of(&verdicts),
        verdicts,
        availability: status.and_then(|s| s.availability.as_ref()).and_then(|a| availability(a, class, w)),
        incidents,
        backups: svc.spec.backup.as_ref().map(|_| backups(mine, class, w)),
        restores: restores
            .iter()
            .filter(|r| r.status.as_ref().and_then(|s| s.start_time.as_ref()).is_none_or(|t| w.contains(secs(t))))
            .map(|r| restore(r))
            .collect(),
        drills: Vec::new(),
        site_failovers: Vec::new(),
        from: w.start.to_string(),
        to: w.end.to_string(),
        namespace: ns,
        name,
    }
}

fn overlaps(w: &Window<'_>, began: Timestamp, ended: Option<Timestamp>) -> bool {
    began < w.end && ended.is_none_or(|e| e >= w.start)
}

fn promise(svc: &ResilientService, class: Option<&ContinuityClass>) -> Promise {
    let Some(c) = class else { return Promise { replicas: svc.spec.replicas, ..Promise::default() } };
    Promise {
        replicas: svc.spec.replicas,
        objectives: c
            .spec
            .objectives
            .iter()
            .map(|o| PromisedObjective {
                scope: o.scope.as_str().into(),
                rto_seconds: o.rto.as_secs() as i64,
                rpo_seconds: o.rpo.map(|r| r.as_secs() as i64),
            })
            .collect(),
        availability_target: c.spec.availability.as_ref().map(|a| format!("{} %", a.target)),
        residency: c.spec.residency.as_ref().map(|r| r.regions.clone()).unwrap_or_default(),
        backup_tiers: c
            .spec
            .backup
            .as_ref()
            .map(|b| b.tiers.iter().map(|t| format!("{} at {}", t.name, t.schedule)).collect())
            .unwrap_or_default(),
    }
}

/// The month's availability up to the window's end (the month's end, or the instant the report is made as of): the
/// figures checkpointed in status plus the time since the checkpoint, in the state it records.
fn availability(
    a: &crate::api::AvailabilityStatus,
    class: Option<&ContinuityClass>,
    w: &Window<'_>,
) -> Option<MonthAvailability> {
    let declared = class.and_then(|c| c.spec.availability.clone());
    let target = declared.unwrap_or_else(|| crate::api::AvailabilityTarget {
        target: a.target.clone().unwrap_or_default(),
        min_zones: 2,
        time_zone: "UTC".into(),
    });
    let tz = jiff::tz::TimeZone::get(&target.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let (current, previous) = crate::availability::months_as_of(a, &target, &tz, w.end);
    let m = [Some(current), previous].into_iter().flatten().find(|m| m.month == w.month)?;
    let met = match (m.availability.as_deref(), a.target.as_deref()) {
        (Some(got), Some(want)) if m.observed_seconds > 0 => {
            got.parse::<f64>().ok().zip(want.parse::<f64>().ok()).map(|(g, w)| g >= w)
        }
        _ => None,
    };
    Some(MonthAvailability {
        observed_seconds: m.observed_seconds,
        degraded_seconds: m.degraded_seconds,
        down_seconds: m.down_seconds,
        unobserved_seconds: m.unobserved_seconds,
        availability: m.availability,
        target: a.target.clone(),
        error_budget_remaining_seconds: m.error_budget_remaining_seconds,
        met,
    })
}

pub(super) fn incident(i: &crate::api::Incident, w: &Window<'_>) -> IncidentReport {
    let (began, recovered) = (secs(&i.began), i.recovered.as_ref().map(secs));
    let offset = |t: Timestamp| (t.as_second() - w.start.as_second()).clamp(0, w.seconds());
    IncidentReport {
        scope: i.scope.as_str().into(),
        subject: i.subject.clone(),
        began: began.to_string(),
        recovered: recovered.map(|t| t.to_string()),
        rto_seconds: i.rto_seconds,
        target_rto_seconds: i.target_rto.map(|t| t.as_secs() as i64),
        within_rto: i.within_rto,
        lowest_ready: i.lowest_ready,
        replicas: i.replicas,
        data_lost: i
            .data
            .iter()
            .map(|d| DataLost { source: d.name.clone(), rpo_seconds: d.rpo_seconds })
            // A stateful service recovered in another zone: what its restored copy lost.
            .chain(
                i.restored_point.as_ref().map(|p| DataLost {
                    source: format!("volumes restored from {p}"),
                    rpo_seconds: i.data_loss_seconds,
                }),
            )
            .collect(),
        span: (offset(began), offset(recovered.unwrap_or(w.end))),
    }
}

fn backups(points: &[&RecoveryPoint], class: Option<&ContinuityClass>, w: &Window<'_>) -> BackupReport {
    // A good copy is one the catalog made `Available`, as restores and verdicts count them.
    let good: Vec<(Timestamp, &RecoveryPoint)> =
        points.iter().filter_map(|p| Some((p.available_since()?, *p))).collect();
    let mut points_by_tier = std::collections::BTreeMap::new();
    for (_, p) in &good {
        for t in if p.spec.tiers.is_empty() { vec!["on-demand".to_string()] } else { p.spec.tiers.clone() } {
            *points_by_tier.entry(t).or_insert(0) += 1;
        }
    }
    let mut times: Vec<Timestamp> = good.iter().map(|(t, _)| *t).filter(|t| *t < w.end).collect();
    times.sort();
    // The last capture before the month counts (it is the newest copy when the month begins); older ones do not.
    let before = times.iter().rposition(|t| *t < w.start);
    let relevant: Vec<Timestamp> = times[before.unwrap_or(0)..].to_vec();
    let covered_from = relevant.first().map(|t| (*t).max(w.start));
    // The newest copy is oldest just before the next one is captured, and at the window's end.
    let worst_age_seconds = relevant.last().map(|last| {
        let gaps = relevant.windows(2).map(|p| p[1].as_second() - p[0].as_second());
        gaps.chain([w.end.as_second() - last.as_second()]).max().unwrap_or(0)
    });
    let rpo_seconds = class.and_then(|c| {
        c.spec.objectives.iter().filter_map(|o| o.rpo).map(|r| r.as_secs() as i64).filter(|r| *r > 0).min()
    });
    BackupReport {
        rpo_seconds,
        points_by_tier,
        captures: relevant.iter().map(Timestamp::to_string).collect(),
        worst_age_seconds,
        covered_from: covered_from.map(|t| t.to_string()),
        capture_offsets: relevant.iter().map(|t| t.as_second() - w.start.as_second()).collect(),
    }
}

fn restore(r: &RestoreRequest) -> RestoreReport {
    let s = r.status.as_ref();
    let started = s.and_then(|s| s.start_time.as_ref()).map(secs);
    let done = s.and_then(|s| s.completion_time.as_ref()).map(secs);
    RestoreReport {
        name: r.name_any(),
        phase: s.and_then(|s| s.phase.clone()),
        point: s.and_then(|s| s.point.clone()),
        captured_at: s.and_then(|s| s.captured_at.as_ref()).map(|t| secs(t).to_string()),
        started: started.map(|t| t.to_string()),
        duration_seconds: started.zip(done).map(|(a, b)| b.as_second() - a.as_second()),
        message: s.and_then(|s| s.message.clone()),
    }
}

impl ServiceReport {
    /// The declared RTO of `scope`, in seconds.
    pub fn rto(&self, scope: Scope) -> Option<i64> {
        self.promise.objectives.iter().find(|o| o.scope == scope.as_str()).map(|o| o.rto_seconds)
    }
}
