//! A service arriving at a recovery site after its site was lost, as the member cluster's continuo sees it: the
//! site it left, when that site was lost, and the regions it covered, carried on the service by Karmada (the
//! `OverridePolicy` continuo writes on Karmada's control plane annotates the service at the site it moves to).
//!
//! The member then starts a stateful service from the newest good copy stored outside the lost site (never empty
//! while such a copy exists), and since the catalog of copies was lost with the site, it first rebuilds it from
//! the storage itself: the agent's `list` action, whose report names the copies the location holds.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The annotation, on a ResilientService at a recovery site, that says it arrived there after a site loss.
pub const ARRIVAL_ANNOTATION: &str = "continuo.dev/site-arrival";

/// The agent action that lists the copies a location holds.
pub const LIST_ACTION: &str = "list";

/// Why and when a service arrived at this site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arrival {
    /// The site it left.
    pub from: String,
    /// When that site was lost (Karmada's not-Ready transition of its clusters; a declaration's instant when the
    /// site was not seen lost): the writes after it are lost, and the data lost is counted up to it.
    pub lost_at: Timestamp,
    /// The regions the lost site's clusters are in: a copy stored in one of them is taken to be lost with it.
    #[serde(default)]
    pub regions: Vec<String>,
    /// A planned move (see [`super::handover`]): the last copy the site left made once its writes had stopped,
    /// restored exactly, wherever it is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<String>,
    /// A planned move: when it was declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_at: Option<Timestamp>,
}

impl Arrival {
    /// The arrival the service's annotation records; `Err` when the annotation is not one.
    pub fn of(svc: &crate::api::ResilientService) -> Result<Option<Arrival>, String> {
        let expected = "{\"from\": site, \"lostAt\": RFC 3339 time, \"regions\": [region, …]}";
        super::annotated(svc, ARRIVAL_ANNOTATION, "a site arrival", expected)
    }

    /// The annotation's value.
    pub fn annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The name of the agent Job that lists the copies for this arrival (one per arrival).
    pub fn list_job(&self, service: &str) -> String {
        super::run_name(service, "-list", &format!("{}@{}", self.from, self.lost_at.as_second()))
    }

    /// Whether a copy stored in `region` is known to have survived the lost site (the restore's own rule).
    pub fn outside(&self, region: Option<&str>) -> Option<bool> {
        crate::stateful::outside_regions(&self.regions, region)
    }

    /// On Karmada's control plane: the arrival the serving site's copy of the service carries. Kept while the
    /// service stays where it moved (`kept`); after a move off site `from`, it was lost when Karmada last saw its
    /// clusters Ready, or, for a site not seen lost (a declared disaster), at `otherwise` (the declaration); none
    /// while it serves at the site it always served from.
    pub fn after_move(
        sites: &crate::api::Sites,
        clusters: &[super::Cluster],
        from: Option<&str>,
        serving: &str,
        kept: Option<Arrival>,
        otherwise: Timestamp,
    ) -> Option<Arrival> {
        let from = from.filter(|f| *f != serving)?;
        if let Some(k) = kept.filter(|k| k.from == from) {
            return Some(k);
        }
        let site = sites.site(from)?;
        let lost_at = match super::health(site, clusters) {
            super::Health::Lost { since } => since.min(otherwise),
            _ => otherwise,
        };
        let mut regions: Vec<String> = super::members(site, clusters).iter().filter_map(|c| c.region.clone()).collect();
        regions.sort();
        regions.dedup();
        Some(Arrival { from: from.to_string(), lost_at, regions, copy: None, declared_at: None })
    }
}

impl From<&crate::api::SiteArrival> for Arrival {
    fn from(a: &crate::api::SiteArrival) -> Arrival {
        Arrival {
            from: a.from.clone(),
            lost_at: a.lost_at.0,
            regions: a.regions.clone(),
            copy: a.copy.clone(),
            declared_at: a.declared_at.as_ref().map(|t| t.0),
        }
    }
}

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

impl From<&Arrival> for crate::api::SiteArrival {
    fn from(a: &Arrival) -> crate::api::SiteArrival {
        let at = Timestamp::from_second(a.lost_at.as_second()).unwrap_or(a.lost_at);
        crate::api::SiteArrival {
            from: a.from.clone(),
            lost_at: Time(at),
            regions: a.regions.clone(),
            copy: a.copy.clone(),
            declared_at: a.declared_at.map(|t| Time(Timestamp::from_second(t.as_second()).unwrap_or(t))),
        }
    }
}

/// What the agent's `list` run says, as the plan reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listing {
    /// No run for this arrival yet: one is to be started.
    NotStarted,
    Running,
    /// The run failed, or its report is unreadable: why.
    Failed(String),
    /// The copies the location holds, newest first.
    Listed(Vec<Listed>),
}

/// One copy the storage holds, as the agent listed it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub id: String,
    pub captured_at: Timestamp,
    #[serde(default)]
    pub tiers: Vec<String>,
}

#[derive(Deserialize)]
struct Report {
    copies: Vec<Listed>,
}

/// Reads the `list` run's report: the last JSON line of its termination message, with its `copies`.
pub fn parse_listing(message: &str) -> Result<Vec<Listed>, String> {
    let line = crate::backup::catalog::report_line(message)
        .ok_or_else(|| "the agent's list run left no JSON report ({\"copies\": […]})".to_string())?;
    let report: Report =
        serde_json::from_str(line).map_err(|e| format!("the agent's list report {line:?} is not valid: {e}"))?;
    let mut copies = report.copies;
    copies.sort_by_key(|c| std::cmp::Reverse(c.captured_at));
    Ok(copies)
}

/// The listed copies not in the catalog yet (a point whose id the listed id starts, or is started by), as recovery
/// points of `service`.
pub fn imports(
    listed: &[Listed],
    points: &[crate::api::RecoveryPoint],
    svc: &crate::api::ResilientService,
    location: &crate::api::BackupLocation,
    tiers: &[crate::backup::Tier],
) -> Vec<crate::api::RecoveryPoint> {
    let known = |id: &str| {
        points.iter().filter_map(|p| p.status.as_ref()?.id.as_deref()).any(|k| k.starts_with(id) || id.starts_with(k))
    };
    let (name, ns) = (svc.metadata.name.as_deref().unwrap_or_default(), svc.metadata.namespace.as_deref());
    listed
        .iter()
        .filter(|l| !l.id.is_empty() && !known(&l.id))
        .map(|l| {
            crate::backup::catalog::from_storage(
                &l.id,
                l.captured_at,
                &l.tiers,
                name,
                ns.unwrap_or_default(),
                location,
                tiers,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn from_milan() -> Arrival {
        Arrival {
            from: "milan".into(),
            lost_at: t("2026-12-01T10:00:00Z"),
            regions: vec!["eu-south-1".into()],
            copy: None,
            declared_at: None,
        }
    }

    #[test]
    fn an_arrival_reads_back_what_it_wrote_and_a_bad_one_is_refused_with_the_expected_shape() {
        let a = from_milan();
        let mut svc: crate::api::ResilientService = serde_json::from_value(serde_json::json!({
            "apiVersion": "continuo.dev/v1alpha1", "kind": "ResilientService",
            "metadata": {"name": "erp", "namespace": "acme", "annotations": {ARRIVAL_ANNOTATION: a.annotation()}},
            "spec": {"className": "dr-site", "replicas": 1, "template": {}}
        }))
        .unwrap();
        assert_eq!(Arrival::of(&svc), Ok(Some(a.clone())));
        assert!(a.list_job("erp").starts_with("erp-list-"));
        assert_ne!(a.list_job("erp"), Arrival { lost_at: t("2026-12-02T10:00:00Z"), ..a.clone() }.list_job("erp"));
        svc.metadata.annotations.as_mut().unwrap().insert(ARRIVAL_ANNOTATION.into(), "milan".into());
        assert!(Arrival::of(&svc).unwrap_err().contains("lostAt"));
        svc.metadata.annotations = None;
        assert_eq!(Arrival::of(&svc), Ok(None));
    }

    #[test]
    fn a_copy_survives_the_site_only_when_its_region_is_known_and_not_the_sites() {
        let a = from_milan();
        assert_eq!(a.outside(Some("eu-west-3")), Some(true));
        assert_eq!(a.outside(Some("eu-south-1")), Some(false));
        assert_eq!(a.outside(None), None);
        assert_eq!(Arrival { regions: vec![], ..a }.outside(Some("eu-west-3")), None);
    }

    #[test]
    fn a_listing_is_read_newest_first_and_a_report_without_copies_is_an_error() {
        let msg = "restic: 2 snapshots\n{\"copies\": [{\"id\": \"aa11\", \"capturedAt\": \"2026-12-01T02:00:00Z\"}, \
                   {\"id\": \"bb22\", \"capturedAt\": \"2026-12-01T07:00:00Z\", \"tiers\": [\"daily\"]}], \"listed\": 2}";
        let listed = parse_listing(msg).unwrap();
        assert_eq!(listed.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), ["bb22", "aa11"]);
        assert_eq!(listed[0].tiers, ["daily"]);
        assert!(parse_listing("{\"snapshots\": 3}").unwrap_err().contains("copies"));
        assert!(parse_listing("nothing").is_err());
    }
}
