//! The stderr of an interactive job without srun's own exit reports.
//!
//! When a task exits non-zero, `srun` adds `srun: error: <node>: task 0:
//! Exited with exit code 4` to the job's stderr, even with `--quiet`. The
//! exit code already reaches the caller typed (through the job's status), so
//! the line would only make a job's stderr differ between Slurm and every
//! other scheduler. Exactly that line is dropped; everything else passes
//! through unchanged and without waiting for a newline unless a line could
//! still become such a report.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

/// How every srun diagnostic starts.
const PREFIX: &[u8] = b"srun: error: ";

/// Longest line kept back to be checked; srun's report is far shorter.
const MAX_REPORT: usize = 512;

/// Whether `line` (with its newline) is srun's report of a task's exit code:
/// `srun: error: <node>: task <ids>: Exited with exit code <n>`.
pub(crate) fn is_exit_report(line: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(line) else { return false };
    let Some(rest) = text.strip_suffix('\n').and_then(|t| t.strip_prefix("srun: error: ")) else {
        return false;
    };
    let Some((node, rest)) = rest.split_once(": ") else { return false };
    let Some((tasks, rest)) = rest.split_once(": ") else { return false };
    let Some(code) = rest.strip_prefix("Exited with exit code ") else { return false };
    let ids = tasks.strip_prefix("tasks ").or_else(|| tasks.strip_prefix("task "));
    !node.is_empty()
        && !node.contains(char::is_whitespace)
        && ids.is_some_and(|ids| {
            !ids.is_empty() && ids.bytes().all(|b| b.is_ascii_digit() || b"-,[]".contains(&b))
        })
        && !code.is_empty()
        && code.bytes().all(|b| b.is_ascii_digit())
}

/// Copy `from` to `to`, leaving out srun's exit reports. Ends at the end of
/// `from` or when `to` is closed.
pub(crate) async fn forward<R, W>(mut from: R, mut to: W) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // Bytes of the current line kept back while they may still be a report.
    let mut held: Vec<u8> = Vec::new();
    // Whether the current line was already (partly) passed on.
    let mut passed = false;
    loop {
        let chunk = from.fill_buf().await?;
        if chunk.is_empty() {
            to.write_all(&held).await?;
            return to.shutdown().await;
        }
        let (piece, ends_line) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..=i], true),
            None => (chunk, false),
        };
        let used = piece.len();
        if passed {
            to.write_all(piece).await?;
        } else {
            held.extend_from_slice(piece);
            let n = held.len().min(PREFIX.len());
            let candidate = held[..n] == PREFIX[..n] && held.len() <= MAX_REPORT;
            if ends_line {
                if !is_exit_report(&held) {
                    to.write_all(&held).await?;
                }
                held.clear();
            } else if !candidate {
                to.write_all(&held).await?;
                held.clear();
                passed = true;
            }
        }
        from.consume(used);
        if ends_line {
            passed = false;
            to.flush().await?;
        } else if passed {
            to.flush().await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exit_report_is_recognised() {
        assert!(is_exit_report(b"srun: error: vm: task 0: Exited with exit code 4\n"));
        assert!(is_exit_report(b"srun: error: n-1: tasks 0-3,7: Exited with exit code 1\n"));
        assert!(!is_exit_report(b"srun: error: vm: task 0: Exited with exit code 4"));
        assert!(!is_exit_report(b"srun: error: vm: task 0: Killed\n"));
        assert!(!is_exit_report(b"srun: error: Unable to allocate resources\n"));
        assert!(!is_exit_report(b"my srun: error: vm: task 0: Exited with exit code 4\n"));
        assert!(!is_exit_report(b"srun: error: vm: task x: Exited with exit code 4\n"));
        assert!(!is_exit_report(b"srun: error: vm: task 0: Exited with exit code 4x\n"));
    }

    async fn filtered(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut reader = tokio_test_reader(input, chunk);
        let (mut out_r, out_w) = tokio::io::duplex(64);
        let copy = tokio::spawn(async move { forward(&mut reader, out_w).await });
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut out_r, &mut out).await.unwrap();
        copy.await.unwrap().unwrap();
        out
    }

    /// A reader handing out `input` in pieces of `chunk` bytes.
    fn tokio_test_reader(input: &[u8], chunk: usize) -> tokio::io::BufReader<Chunked> {
        tokio::io::BufReader::with_capacity(chunk, Chunked(input.to_vec()))
    }

    struct Chunked(Vec<u8>);

    impl tokio::io::AsyncRead for Chunked {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            let n = buf.remaining().min(self.0.len());
            let rest = self.0.split_off(n);
            buf.put_slice(&self.0);
            self.0 = rest;
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn reports_go_everything_else_stays_byte_for_byte() {
        let input: &[u8] = b"bye\nsrun: error: vm: task 0: Exited with exit code 4\n\
            srun: error: vm: task 0: Killed\nno newline at the end \xff";
        let want: &[u8] = b"bye\nsrun: error: vm: task 0: Killed\nno newline at the end \xff";
        for chunk in [1, 2, 5, 13, 64, 4096] {
            assert_eq!(filtered(input, chunk).await, want, "chunk {chunk}");
        }
    }

    #[tokio::test]
    async fn long_lines_that_look_like_reports_pass() {
        let mut line = b"srun: error: ".to_vec();
        line.extend(std::iter::repeat_n(b'x', 2 * MAX_REPORT));
        line.push(b'\n');
        assert_eq!(filtered(&line, 7).await, line);
    }

    #[tokio::test]
    async fn a_prompt_without_newline_is_not_held_back() {
        // The reader never ends: the prompt must arrive anyway.
        let (mut w, r) = tokio::io::duplex(64);
        let (mut out_r, out_w) = tokio::io::duplex(64);
        tokio::spawn(forward(tokio::io::BufReader::new(r), out_w));
        w.write_all(b"Password: ").await.unwrap();
        let mut got = [0u8; 10];
        tokio::io::AsyncReadExt::read_exact(&mut out_r, &mut got).await.unwrap();
        assert_eq!(&got, b"Password: ");
    }
}
