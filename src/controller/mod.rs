//! The imperative shell: observe the cluster, call [`crate::plan`], apply with server-side apply, prune,
//! write status only when it changed, and record Events.

pub mod admin;
mod api_health;
mod apply;
mod backups;
mod cache;
mod cached;
mod context;
mod data_layers;
mod detect;
pub mod drift;
mod drills;
mod events;
mod fence;
mod leader;
mod packed;
mod publish;
mod reconcile;
mod reflect;
mod reported;
mod restore_drill;
mod run;
mod site_context;
mod site_drills;
pub mod sites;
mod volumes;
mod watches;
mod writes;
mod zone_watch;

pub(crate) use apply::delete_exactly;
pub use backups::mark_orphans;
pub use cache::VolumeCaches;
pub use cache::{
    CachedCronJob, CachedDeployment, CachedJob, CachedPod, Caches, Packed, TEMPLATE_DIGEST, WRITE_GRACE,
    keep_applied_service_fields,
};
pub use context::{Context, Error};
pub use data_layers::{DataCaches, LayerCache};
pub use detect::{Detector, NODE_LEASE_NAMESPACE};
pub use fence::step as fence_lost_nodes;
pub use leader::{Election, install_builtin_classes};
pub use reconcile::{error_policy, reconcile};
pub use run::{Settings, run};
pub use volumes::{keep_claim_metadata, keep_read_fields as keep_stateful_set_read_fields};
