//! `continuo`: the operator, its CRDs, and an offline planner.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand, ValueEnum};
use continuo::{
    api::Span,
    cli::{
        self,
        plan::{Output, Topology},
    },
    controller::{self, Settings},
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
}

impl ModelArgs {
    fn config(&self) -> Config {
        Config {
            keys: Keys { zone: self.zone_label.clone(), region: self.region_label.clone() },
            timing: Timing { node_monitor_grace: self.node_monitor_grace, startup_overhead: self.startup_overhead },
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator (in cluster, or with KUBECONFIG).
    Run {
        /// Watch only this namespace (default: all).
        #[arg(long, env = "CONTINUO_NAMESPACE")]
        namespace: Option<String>,
        /// Reconciles at once.
        #[arg(long, env = "CONTINUO_CONCURRENCY", default_value_t = 4)]
        concurrency: u16,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Print the CustomResourceDefinitions.
    Crds,
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
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Crds => {
            print!("{}", cli::crds_yaml());
            ExitCode::SUCCESS
        }
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
        Command::Run { namespace, concurrency, model } => run(namespace, concurrency, model),
    }
}

fn run(namespace: Option<String>, concurrency: u16, model: ModelArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .init();
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
        let settings =
            Settings { namespace, config: model.config(), concurrency, instance: std::env::var("POD_NAME").ok() };
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
