//! The blast radius gauges: per zone, over every service in the cache, what losing it now would cost.

use std::{fmt, sync::Arc};

use prometheus_client::{
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, gauge::ConstGauge},
};

use crate::api::ResilientService;

/// Per zone, over every service: what losing it now would cost (see [`crate::spread::blast_radius`]).
pub const BLAST_RADIUS: [(&str, &str); 2] = [
    (
        "continuo_zone_blast_radius_services",
        "Services that would drop below their declared replicas if the zone were lost now",
    ),
    (
        "continuo_zone_blast_radius_replicas",
        "Replicas that would have to start in other zones if the zone were lost now",
    ),
];

pub(super) fn encode_blast_radius(
    encoder: &mut DescriptorEncoder,
    services: &[Arc<ResilientService>],
) -> Result<(), fmt::Error> {
    let blast = crate::spread::blast_radius(
        services.iter().filter_map(|s| Some((s.spec.replicas, s.status.as_ref()?.zones.as_slice()))),
    );
    if blast.is_empty() {
        return Ok(());
    }
    for (i, (name, help)) in BLAST_RADIUS.iter().enumerate() {
        let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (zone, e) in &blast {
            let value = if i == 0 { i64::from(e.services) } else { e.replicas };
            ConstGauge::new(value).encode(metric.encode_family(&[("zone", *zone)])?)?;
        }
    }
    Ok(())
}
