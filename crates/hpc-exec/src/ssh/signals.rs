//! Signal names (as SSH and `kill -s` spell them) and Linux numbers.

use russh::Sig;

const TABLE: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// The number of a signal name (`TERM`, `SIGTERM`); `None` if unknown.
pub(crate) fn number(name: &str) -> Option<i32> {
    let name = name.strip_prefix("SIG").unwrap_or(name);
    TABLE.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The name of a signal number, without `SIG`.
pub(crate) fn name(number: i32) -> Option<&'static str> {
    TABLE.iter().find(|(_, v)| *v == number).map(|(n, _)| *n)
}

/// The number of an `exit-signal` a server reported (unknown names: `None`).
pub(crate) fn from_sig(sig: &Sig) -> Option<i32> {
    match sig {
        Sig::ABRT => Some(6),
        Sig::ALRM => Some(14),
        Sig::FPE => Some(8),
        Sig::HUP => Some(1),
        Sig::ILL => Some(4),
        Sig::INT => Some(2),
        Sig::KILL => Some(9),
        Sig::PIPE => Some(13),
        Sig::QUIT => Some(3),
        Sig::SEGV => Some(11),
        Sig::TERM => Some(15),
        Sig::USR1 => Some(10),
        Sig::Custom(name) => number(name),
    }
}

/// The `kill` command that sends `signal` to process group `pgid`.
pub(crate) fn kill_group_line(signal: i32, pgid: u32) -> String {
    match name(signal) {
        Some(n) => format!("kill -s {n} -- -{pgid}"),
        None => format!("kill -{signal} -- -{pgid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(from_sig(&Sig::TERM), Some(15));
        assert_eq!(from_sig(&Sig::KILL), Some(9));
        assert_eq!(from_sig(&Sig::Custom("USR2".into())), Some(12));
        assert_eq!(from_sig(&Sig::Custom("NOPE".into())), None);
        assert_eq!(number("SIGHUP"), Some(1));
        for (n, v) in TABLE {
            assert_eq!(number(n), Some(*v));
            assert_eq!(name(*v), Some(*n));
        }
        assert_eq!(kill_group_line(9, 42), "kill -s KILL -- -42");
        assert_eq!(kill_group_line(40, 42), "kill -40 -- -42");
    }
}
