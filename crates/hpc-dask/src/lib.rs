#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod cluster;
mod config;
mod monitor;
mod scale;
pub mod script;
mod site;
mod startup;
#[cfg(feature = "unicore")]
mod unicore_site;

pub use cluster::{ClusterStatus, DaskCluster, JobReport, WorkerJob};
pub use config::DaskConfig;
pub use monitor::{Counts, SchedulerFile, WorkerInfo, split_address};
pub use scale::ScaleOutcome;
pub use site::{ExecSite, Site, Tunnel};
#[cfg(feature = "unicore")]
pub use unicore_site::UnicoreSite;
