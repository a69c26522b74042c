//! `continuo`: the operator, its CRDs, and an offline planner.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use continuo::{
    api::Span,
    cli::{
        self,
        plan::{Output, Topology},
    },
    controller::{self, Election, Settings},
    objectives::Timing,
    plan::Config,
    topology::{Keys, REGION_LABEL, ZONE_LABEL},
};

#[derive(Parser)]
#[command(name = "continuo", version, about = "Keeps services within their RTO/RPO promises across zones")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct ModelArgs {
    /// Node label that names a node's zone.
    #[arg(long, env = "CONTINUO_ZONE_LABEL", default_value = ZONE_LABEL)]
    zone_label: String,
    /// Node label that names a node's region (for residency).
    #[arg(long, env = "CONTINUO_REGION_LABEL", default_value = REGION_LABEL)]
    region_label: String,
    /// How long the cluster takes to mark a lost node NotReady (kube-controller-manager --node-monitor-grace-period).
    #[arg(long, env = "CONTINUO_NODE_MONITOR_GRACE", default_value = "50s")]
    node_monitor_grace: Span,
    /// Scheduling, image pull and container start of a new pod, before its probes.
    #[arg(long, env = "CONTINUO_STARTUP_OVERHEAD", default_value = "10s")]
    startup_overhead: Span,
    /// A zone is lost once the leases of all its serving nodes have not been seen renewed for this long (20s to
    /// 5m: two renewal periods of kubelets renewing every 10s, so that a silence counts only once renewals from
    /// other zones were seen after it).
    #[arg(long, env = "CONTINUO_NODE_LEASE_TIMEOUT", default_value = "20s", value_parser = lease_timeout)]
    node_lease_timeout: Span,
    /// Off by default. When set, a node whose lease has been silent this long, in a zone judged lost, is tainted
    /// `node.kubernetes.io/out-of-service` (Kubernetes' non-graceful node shutdown): its stateful pods are deleted
    /// and their volumes detached at once, so that they start elsewhere in the zone. Only safe when a silent node
    /// is really down: a node that is only cut off keeps writing to a volume now attached elsewhere (30s to 1h).
    #[arg(long, env = "CONTINUO_FENCE_LOST_NODES", value_parser = fence_after)]
    fence_lost_nodes: Option<Span>,
    /// The image of continuo's reference backup agent (`continuo agent` and restic, built from Dockerfile.agent):
    /// run for a service whose spec.backup names no agent of its own.
    #[arg(long, env = "CONTINUO_AGENT_IMAGE")]
    agent_image: Option<String>,
    /// Karmada's `--cluster-monitor-grace-period`: how long a silent member cluster stays Ready (Region scope).
    #[arg(long, env = "CONTINUO_KARMADA_CLUSTER_GRACE", default_value = "40s")]
    karmada_cluster_grace: Span,
    /// Automatic site failover: how long a site's clusters must have been not Ready before continuo moves the
    /// service to the next site (a blip of the link to Karmada must not move a service).
    #[arg(long, env = "CONTINUO_SITE_FAILOVER_HOLD", default_value = "2m")]
    site_failover_hold: Span,
    /// From a placement change to the service applied at the new site: Karmada's scheduling and propagation and
    /// the member's reconcile.
    #[arg(long, env = "CONTINUO_SITE_PROPAGATION", default_value = "15s")]
    site_propagation: Span,
}

impl ModelArgs {
    fn config(&self) -> Config {
        Config {
            keys: Keys { zone: self.zone_label.clone(), region: self.region_label.clone() },
            timing: Timing {
                node_monitor_grace: self.node_monitor_grace,
                startup_overhead: self.startup_overhead,
                lease_timeout: Some(self.node_lease_timeout),
                fence_after: self.fence_lost_nodes,
            },
            agent_image: self.agent_image.clone().filter(|i| !i.is_empty()),
            sites: continuo::sites::verdict::Timing {
                cluster_grace: self.karmada_cluster_grace,
                hold: self.site_failover_hold,
                propagation: self.site_propagation,
            },
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Html,
    Md,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator (in cluster, or with KUBECONFIG).
    Run {
        /// Watch only this namespace (default: all).
        #[arg(long, env = "CONTINUO_NAMESPACE")]
        namespace: Option<String>,
        /// Reconciles at once. Reconciles wait on the API server, not the CPU: 16 converges 1,000 new services in
        /// about 15 s where 4 takes 50 s (cargo bench --bench scale).
        #[arg(long, env = "CONTINUO_CONCURRENCY", default_value_t = 16)]
        concurrency: u16,
        /// Wait this long after the last change of a service or its children before reconciling it, so that a
        /// burst (a Deployment rolling out) costs one reconcile. 0s to 10s; it adds to failover reaction time.
        #[arg(long, env = "CONTINUO_DEBOUNCE", default_value = "500ms", value_parser = debounce)]
        debounce: Span,
        /// Elect a leader on a Lease so that several replicas can run; only the leader writes.
        #[arg(long, env = "CONTINUO_LEADER_ELECTION")]
        leader_election: bool,
        /// Name of the Lease.
        #[arg(long, env = "CONTINUO_LEASE_NAME", default_value = "continuo")]
        lease_name: String,
        /// Namespace of the Lease (in cluster: the operator's own namespace).
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
        /// How long a lease is valid without renewal: the longest a follower waits after the leader dies.
        #[arg(long, env = "CONTINUO_LEASE_DURATION", default_value = "15s")]
        lease_duration: Span,
        /// Create the built-in ContinuityClasses (deploy/classes.yaml) that do not exist yet.
        #[arg(long, env = "CONTINUO_BUILTIN_CLASSES")]
        builtin_classes: bool,
        /// Log format: text, or json for log pipelines.
        #[arg(long, env = "CONTINUO_LOG_FORMAT", value_enum, default_value = "text")]
        log_format: LogFormat,
        /// How long a lost zone must stay healthy before continuo spreads capacity back to it (0s to 1h).
        #[arg(long, env = "CONTINUO_ZONE_HOLD_DOWN", default_value = "2m", value_parser = hold_down)]
        zone_hold_down: Span,
        /// Address of the admin port (/livez, /readyz, /metrics).
        #[arg(long, env = "CONTINUO_ADMIN_ADDRESS", default_value = "0.0.0.0:8080")]
        admin_address: std::net::SocketAddr,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Run the site controller on Karmada's control plane (KUBECONFIG pointing at Karmada's API server): keeps
    /// each service whose class names sites at its serving site through Karmada's policies, carries out declared
    /// site failovers (SiteFailover) and judges the Region objectives. One replica.
    Sites {
        /// Address of the admin port (/livez, /readyz, /metrics).
        #[arg(long, env = "CONTINUO_ADMIN_ADDRESS", default_value = "0.0.0.0:8080")]
        admin_address: std::net::SocketAddr,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Print the CustomResourceDefinitions.
    Crds,
    /// The reference backup agent (restic): carries out the agent contract from its variables (CONTINUO_ACTION
    /// and the others continuo sets); the report goes to the termination message and standard output.
    Agent,
    /// Print, offline, the objects the operator would apply; zone table and objective verdicts go to stderr.
    Plan {
        /// Files with ResilientService and ContinuityClass documents.
        #[arg(short = 'f', long = "filename", required = true)]
        files: Vec<PathBuf>,
        /// Plan against these zones (three Ready nodes each).
        #[arg(long, value_delimiter = ',', conflicts_with = "nodes")]
        zones: Option<Vec<String>>,
        /// Region of the --zones nodes (default: the class's first residency region).
        #[arg(long, requires = "zones")]
        region: Option<String>,
        /// Plan against these Node objects (`kubectl get nodes -o yaml`).
        #[arg(long)]
        nodes: Option<PathBuf>,
        #[arg(short, long, value_enum, default_value = "yaml")]
        output: Format,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Write the monthly continuity report: per service the promise, the verdicts, the month's availability,
    /// incidents against their RTO, copies against the RPO, restores. Reads the cluster, or files with -f.
    Report {
        /// The month, YYYY-MM (default: the current month, UTC).
        #[arg(long)]
        month: Option<String>,
        /// Only the services of this namespace.
        #[arg(short, long)]
        namespace: Option<String>,
        #[arg(short, long, value_enum, default_value = "html")]
        output: ReportFormat,
        /// Read these files (services with their status, classes, recovery points, restore requests) instead of
        /// the cluster.
        #[arg(short = 'f', long = "filename")]
        files: Vec<PathBuf>,
        /// Make the report as of this instant (RFC 3339; default: now).
        #[arg(long)]
        at: Option<jiff::Timestamp>,
    },
}

fn report(
    month: Option<String>,
    namespace: Option<String>,
    output: ReportFormat,
    files: Vec<PathBuf>,
    at: Option<jiff::Timestamp>,
) -> Result<String, String> {
    use continuo::report::document::{Format as F, Request};
    let now = at.unwrap_or_else(jiff::Timestamp::now);
    let format = match output {
        ReportFormat::Html => F::Html,
        ReportFormat::Md => F::Markdown,
        ReportFormat::Json => F::Json,
    };
    let req =
        Request { month: month.unwrap_or_else(|| continuo::report::document::this_month(now)), namespace, format, now };
    let objects = if files.is_empty() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(cli::report::from_cluster(req.namespace.as_deref()))?
    } else {
        cli::report::from_files(&files)?
    };
    continuo::report::document::render(&objects, &req)
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Crds => {
            print!("{}", cli::crds_yaml());
            ExitCode::SUCCESS
        }
        Command::Agent => {
            let (ok, report) = continuo::agent::run(&std::env::vars().collect());
            println!("{report}");
            if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Command::Sites { admin_address, model } => sites(model.config().sites, admin_address),
        Command::Report { month, namespace, output, files, at } => match report(month, namespace, output, files, at) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Plan { files, zones, region, nodes, output, model } => {
            let topology = match (zones, nodes) {
                (Some(zones), _) => Topology::Zones { zones, region },
                (None, Some(path)) => Topology::Nodes(path),
                (None, None) => Topology::Default,
            };
            let output = match output {
                Format::Yaml => Output::Yaml,
                Format::Json => Output::Json,
            };
            match cli::plan::run(&files, &topology, output, &model.config()) {
                Ok(r) => {
                    print!("{}", r.objects);
                    eprint!("{}", r.report);
                    if r.stalled { ExitCode::from(3) } else { ExitCode::SUCCESS }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Run {
            namespace,
            concurrency,
            debounce,
            leader_election,
            lease_name,
            lease_namespace,
            lease_duration,
            builtin_classes,
            log_format,
            admin_address,
            zone_hold_down,
            model,
        } => {
            let election = leader_election.then(|| Election {
                lease: lease_name,
                namespace: lease_namespace,
                duration: lease_duration.as_duration(),
            });
            let detection =
                continuo::failover::Settings { lease_timeout: model.node_lease_timeout, hold_down: zone_hold_down };
            let settings = Settings {
                namespace,
                detection,
                config: model.config(),
                concurrency,
                debounce: debounce.as_duration(),
                instance: std::env::var("POD_NAME").ok(),
                election,
                admin: admin_address,
                builtin_classes,
            };
            run(settings, log_format)
        }
    }
}

fn sites(timing: continuo::sites::verdict::Timing, admin: std::net::SocketAddr) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let listener = continuo::controller::admin::bind(admin).await?;
        let client = kube::Client::try_default().await.map_err(|e| e.to_string())?;
        continuo::controller::sites::run(client, timing, listener).await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(settings: Settings, log_format: LogFormat) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,kube=warn".into());
    match log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).init(),
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let client =
            kube::Client::try_default().await.map_err(|e| format!("cannot configure a Kubernetes client: {e}"))?;
        controller::run(client, settings).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--debounce`: a duration from 0s to 10s; longer would delay failover more than it saves.
fn debounce(text: &str) -> Result<Span, String> {
    let span: Span = text.parse()?;
    if span.as_secs() > 10 || (span.as_secs() == 10 && span.as_duration().subsec_nanos() > 0) {
        return Err(format!("{span} is too long: at most 10s (it delays every reaction, failover included)"));
    }
    Ok(span)
}

/// Parses a duration and keeps it within `min..=max`, naming the flag's reason in the error.
fn bounded(text: &str, min: u64, max: u64, why: &str) -> Result<Span, String> {
    let span: Span = text.parse()?;
    let d = span.as_duration();
    if d < std::time::Duration::from_secs(min) || d > std::time::Duration::from_secs(max) {
        return Err(format!("{span} is out of range: {why}"));
    }
    Ok(span)
}

/// `--node-lease-timeout`: 20s to 5m.
fn lease_timeout(text: &str) -> Result<Span, String> {
    bounded(
        text,
        20,
        300,
        "from 20s (two renewal periods of kubelets renewing every 10s: a silence counts only once renewals from \
         other zones were seen 0.6 × the timeout after it, so that every kubelet stopping at once is not taken for \
         zones failing one by one) to 5m (the node \
         controller notices a lost node sooner than that)",
    )
}

/// `--zone-hold-down`: 0s to 1h.
fn fence_after(text: &str) -> Result<Span, String> {
    bounded(text, 30, 3600, "from 30s (a silence shorter than that is not proof a node is down) to 1h")
}

fn hold_down(text: &str) -> Result<Span, String> {
    bounded(text, 0, 3600, "from 0s to 1h (longer leaves a recovered zone unused)")
}
