//! Entry point for the FTP listing fuzz target of `crates/hpc-fuzz`; not
//! part of the stable interface.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hpc_core::Path;

use super::parse::{mdtm, mode_bits, parse_list_line, parse_mlsd_line};

/// Every line of `text` as a `LIST` and as an `MLSD` line. An entry that
/// becomes attributes must name a direct child of the listed directory.
pub fn listing(text: &str) {
    let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let dir = Path::new("/home/user").expect("a valid path");
    for line in text.lines() {
        for parsed in [parse_list_line(line, now), parse_mlsd_line(line)] {
            if let Ok(Some(entry)) = parsed
                && let Ok(attrs) = entry.into_attributes(&dir)
            {
                assert_eq!(attrs.path.parent().as_ref(), Some(&dir), "{line:?} escapes {dir}");
            }
        }
        let _ = mode_bits(line);
        let _ = mdtm(line).map(|t| t.duration_since(SystemTime::UNIX_EPOCH));
    }
}
