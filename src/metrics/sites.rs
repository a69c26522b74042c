//! The site controller's metrics (`continuo sites`, on Karmada's control plane): where each service with sites
//! serves, read from its `status.site` at scrape time, and the declared failovers and site drills that ended, by
//! result.

use std::fmt;

use kube::{ResourceExt, runtime::reflector::Store};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric},
    metrics::{MetricType, counter::Counter, family::Family, gauge::ConstGauge},
    registry::Registry,
};

use crate::api::ResilientService;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// The site controller's own metrics.
#[derive(Debug, Default)]
pub struct SiteMetrics {
    failovers: Family<ResultLabels, Counter>,
    drills: Family<ResultLabels, Counter>,
}

/// The families, as scraped: name, type and help (the metrics reference lists them).
pub const SITE_FAMILIES: [(&str, &str, &str); 3] = [
    (
        "continuo_site_serving",
        "gauge",
        "1 for the site each service with sites serves from, with why (Primary, Declared, Automatic)",
    ),
    (
        "continuo_site_failovers_total",
        "counter",
        "Declared site failovers that ended, by result (completed, past_rto, refused)",
    ),
    ("continuo_site_drills_total", "counter", "SiteRestore drills that ended, by result (passed, failed, aborted)"),
];

impl SiteMetrics {
    /// Registers these metrics, and the collector reading `services`, in a new registry.
    pub fn registry(self: &std::sync::Arc<Self>, services: Store<ResilientService>) -> Registry {
        let mut r = Registry::default();
        r.register("continuo_site_failovers", "Declared site failovers that ended, by result", self.failovers.clone());
        r.register("continuo_site_drills", "SiteRestore drills that ended, by result", self.drills.clone());
        r.register_collector(Box::new(SiteCollector { store: services }));
        r
    }

    /// A SiteRestore drill ended: `passed`, `failed` or `aborted`.
    pub fn drill_ended(&self, result: &'static str) {
        self.drills.get_or_create(&ResultLabels { result }).inc();
    }

    /// A declared failover ended: `completed`, `past_rto` or `refused`.
    pub fn failover_ended(&self, result: &'static str) {
        self.failovers.get_or_create(&ResultLabels { result }).inc();
    }
}

struct SiteCollector {
    store: Store<ResilientService>,
}

impl fmt::Debug for SiteCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SiteCollector")
    }
}

impl Collector for SiteCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let services = self.store.state();
        let serving: Vec<_> = services
            .iter()
            .filter_map(|s| Some((s.namespace()?, s.name_any(), s.status.as_ref()?.site.as_ref()?.clone())))
            .collect();
        if serving.is_empty() {
            return Ok(());
        }
        let (name, _, help) = SITE_FAMILIES[0];
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (ns, svc, site) in &serving {
            let labels = [
                ("namespace", ns.as_str()),
                ("service", svc.as_str()),
                ("site", site.serving.as_str()),
                ("reason", site.reason.as_str()),
            ];
            ConstGauge::new(1).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
