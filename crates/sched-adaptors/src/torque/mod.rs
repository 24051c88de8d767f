//! The `torque` scheduler adaptor (issue #4).
