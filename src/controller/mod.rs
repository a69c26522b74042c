//! The imperative shell: observe the cluster, call [`crate::plan`], apply with server-side apply, prune,
//! write status only when it changed, and record Events.

pub mod admin;
mod backups;
mod cache;
mod detect;
pub mod drift;
mod events;
mod reconcile;
mod run;

pub use backups::mark_orphans;
pub use cache::{CachedCronJob, CachedDeployment, CachedJob, CachedPod, Caches, TEMPLATE_DIGEST, WRITE_GRACE};
pub use detect::{Detector, NODE_LEASE_NAMESPACE};
pub(crate) use reconcile::delete_exactly;
pub use reconcile::{Context, Error, error_policy, reconcile};
pub use run::{Election, Settings, install_builtin_classes, run};
