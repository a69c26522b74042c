//! Leadership: whether this replica may write. With leader election, a `coordination.k8s.io` Lease held through
//! `kube-lease-manager`; without, always. Followers keep their caches warm and write nothing.

use std::time::Duration;

use futures::{Stream, StreamExt, future::ready, stream};
use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client, ResourceExt, api::PostParams};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{error, info};

use crate::{api::ContinuityClass, metrics::Metrics, workload::FIELD_MANAGER};

/// Leader election on a `coordination.k8s.io` Lease.
pub struct Election {
    pub lease: String,
    pub namespace: String,
    /// A follower takes over at most this long after the leader dies (at once when it stops gracefully).
    pub duration: Duration,
}

/// Whether this replica may write, and the task that keeps the lease (none without election).
pub(super) struct Leadership {
    pub rx: watch::Receiver<bool>,
    pub lease_task: Option<JoinHandle<kube_lease_manager::Result<LeaseManager>>>,
    /// Without election: the sender that keeps `rx` true for the life of the process.
    _always: Option<watch::Sender<bool>>,
}

impl Leadership {
    /// The lease task, and what keeps leadership true without election; this replica's own receiver is dropped,
    /// so that once every task holding one has stopped, the lease manager releases the lease.
    pub fn into_lease(
        self,
    ) -> (Option<JoinHandle<kube_lease_manager::Result<LeaseManager>>>, Option<watch::Sender<bool>>) {
        (self.lease_task, self._always)
    }
}

/// Takes part in the election, or writes always when there is none.
pub(super) async fn elect(
    client: &Client,
    election: Option<&Election>,
    instance: Option<&String>,
) -> Result<Leadership, String> {
    let Some(e) = election else {
        let (tx, rx) = watch::channel(true);
        return Ok(Leadership { rx, lease_task: None, _always: Some(tx) });
    };
    let mut builder = LeaseManagerBuilder::new(client.clone(), &e.lease)
        .with_namespace(&e.namespace)
        .with_duration(e.duration.as_secs().max(2))
        .with_grace((e.duration.as_secs() / 3).max(1))
        .with_field_manager(FIELD_MANAGER);
    if let Some(id) = instance {
        builder = builder.with_identity(id);
    }
    let manager = builder.build().await.map_err(|e| format!("cannot set up leader election: {e}"))?;
    let (rx, task) = manager.watch().await;
    Ok(Leadership { rx, lease_task: Some(task), _always: None })
}

/// Follows leadership in the `continuo_leader` gauge and the log, and, when asked, creates the built-in classes
/// each time this replica becomes the leader.
pub(super) fn announce(
    mut rx: watch::Receiver<bool>,
    metrics: &Metrics,
    client: Client,
    builtin_classes: bool,
) -> JoinHandle<()> {
    let gauge = metrics.leader.clone();
    tokio::spawn(async move {
        loop {
            let is_leader = *rx.borrow_and_update();
            gauge.set(i64::from(is_leader));
            info!(leader = is_leader, "leadership");
            if is_leader && builtin_classes {
                match install_builtin_classes(&client).await {
                    Ok(n) => info!(created = n, "built-in ContinuityClasses in place"),
                    Err(e) => error!(error = %e, "could not create the built-in ContinuityClasses"),
                }
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
    })
}

/// Fires whenever this replica becomes the leader (not at start).
pub(super) fn became_leader(rx: watch::Receiver<bool>) -> impl Stream<Item = ()> + Send + 'static {
    stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let now = *rx.borrow_and_update();
        Some((now, rx))
    })
    .filter_map(|is_leader| ready(is_leader.then_some(())))
}

/// Fires once now and whenever this replica becomes the leader.
pub(super) fn now_and_when_leader(rx: watch::Receiver<bool>) -> impl Stream<Item = ()> + Send + 'static {
    stream::once(ready(())).chain(became_leader(rx))
}

/// The previous holder's last renewal of the leader lease, when there is one.
pub(super) async fn previous_renewal(client: &Client, e: &Election) -> Option<jiff::Timestamp> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &e.namespace);
    match api.get_opt(&e.lease).await {
        Ok(lease) => lease?.spec?.renew_time.map(|t| t.0),
        Err(err) => {
            error!(error = %err, "could not read the leader lease; time before this start counts as not observed");
            None
        }
    }
}

/// Creates each built-in ContinuityClass that does not exist; an existing one, edited or not, is left alone.
/// Returns how many were created.
pub async fn install_builtin_classes(client: &Client) -> Result<usize, String> {
    let api = Api::<ContinuityClass>::all(client.clone());
    let params = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..PostParams::default() };
    let mut created = 0;
    for class in crate::api::builtin_classes()? {
        match api.create(&params, &class).await {
            Ok(_) => created += 1,
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(format!("ContinuityClass {}: {e}", class.name_any())),
        }
    }
    Ok(created)
}
