//! A Torque stand-in (qsub/qstat/qdel printing real Torque formats) (issue #4).
