#![doc = include_str!("../README.md")]
//!
//! Architecture invariant: this crate spawns no process itself; every command
//! goes through an `hpc_exec::Executor`, so each adaptor works on this host and
//! over SSH alike.
#![deny(missing_docs)]

pub mod at;
pub mod batch;
#[doc(hidden)]
pub mod fuzzing;
pub mod local;
pub mod sge;
pub mod slurm;
pub mod ssh;
pub mod torque;

use hpc_core::SchedulerCapabilities;

/// Every adaptor's capabilities, by scheme, in the order of the table in
/// `docs/schedulers.md` (`cargo xtask codegen` writes it). One line per adaptor.
pub fn all_capabilities() -> Vec<(&'static str, SchedulerCapabilities)> {
    vec![
        ("local", local::capabilities()),
        ("nohup", ssh::capabilities(false)),
        ("ssh", ssh::capabilities(true)),
        ("sge", sge::capabilities()),
        ("torque", torque::capabilities()),
        ("slurm", slurm::capabilities()),
        ("at", at::capabilities()),
    ]
}

#[cfg(test)]
mod tests {
    use hpc_core::Location;

    use crate::batch::BatchConfig;

    #[test]
    fn every_batch_adaptor_takes_the_ssh_parameters_over_ssh_only() {
        let loc = |s: &str| s.parse::<Location>().unwrap();
        type Apply = fn(&Location) -> hpc_core::Result<()>;
        let adaptors: [(&str, Apply); 4] = [
            ("slurm", |l| crate::slurm::SlurmConfig::default().apply_location(l)),
            ("sge", |l| crate::sge::SgeConfig::default().apply_location(l)),
            ("torque", |l| crate::torque::TorqueConfig::default().apply_location(l)),
            ("at", |l| crate::at::AtConfig::default().apply_location(l)),
        ];
        for (scheme, apply) in adaptors {
            let query = "known_hosts=/k&host_key=strict&connect_timeout=5&max_sessions=4";
            apply(&loc(&format!("{scheme}+ssh://u@h:2222?{query}")))
                .unwrap_or_else(|e| panic!("{scheme}: {e}"));
            assert!(apply(&loc(&format!("{scheme}://?known_hosts=/k"))).is_err(), "{scheme}");
        }
    }

    /// The defaults of every batch configuration survive TOML unchanged.
    #[test]
    fn every_batch_config_round_trips_through_toml() {
        fn round_trip<C: BatchConfig>() {
            let c = C::default();
            let text = toml::to_string(&c).unwrap();
            assert_eq!(C::from_toml(&text).unwrap(), c, "{}", C::ADAPTOR);
        }
        round_trip::<crate::slurm::SlurmConfig>();
        round_trip::<crate::sge::SgeConfig>();
        round_trip::<crate::torque::TorqueConfig>();
        round_trip::<crate::at::AtConfig>();
    }
}
