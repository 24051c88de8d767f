//! Interactive jobs: the client's stdin messages go to the job, the job's output
//! comes back as messages, and a client that goes away gets its job cancelled, so
//! no process outlives the call.

use std::sync::Arc;

use futures::Stream;
use hpckit::core::Scheduler;
use hpckit::core::scheduler::{BoxRead, InteractiveJob};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{Status, Streaming};

use crate::proto;

type Message = Result<proto::SubmitInteractiveJobResponse, Status>;

/// Connects a started interactive job to the call's two streams and returns the
/// response stream: first the job id alone (as Xenon does), then output chunks.
pub(crate) fn run(
    scheduler: Arc<dyn Scheduler>,
    job: InteractiveJob,
    first_stdin: Vec<u8>,
    input: Streaming<proto::SubmitInteractiveJobRequest>,
) -> impl Stream<Item = Message> + Send {
    let InteractiveJob { id, stdin, stdout, stderr } = job;
    let (tx, rx) = mpsc::channel::<Message>(16);
    let first = proto::SubmitInteractiveJobResponse {
        job: Some(proto::Job { id: id.to_string() }),
        ..Default::default()
    };
    // Cannot fail: the channel is new and has room.
    let _ = tx.try_send(Ok(first));
    let gone = CancellationToken::new();
    tokio::spawn(feed_stdin(stdin, first_stdin, input, gone.clone()));
    let out = tokio::spawn(pump(tx.clone(), id.to_string(), Output::Out, stdout, gone.clone()));
    let err = tokio::spawn(pump(tx.clone(), id.to_string(), Output::Err, stderr, gone.clone()));
    tokio::spawn(async move {
        let finished = async {
            let _ = out.await;
            let _ = err.await;
        };
        tokio::select! {
            () = finished => {}
            () = gone.cancelled() => {}
            // The response stream was dropped: the client hung up, even if the job is silent.
            () = tx.closed() => gone.cancel(),
        }
        // Dropping the last sender ends the response stream.
        drop(tx);
        if gone.is_cancelled() {
            tracing::info!(job = %id, "client left an interactive job; cancelling it");
            if let Err(e) = scheduler.cancel(&id).await {
                tracing::warn!(job = %id, error = %e, "cancelling an abandoned interactive job failed");
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Which output a pump forwards.
#[derive(Debug, Clone, Copy)]
enum Output {
    Out,
    Err,
}

/// Writes the stdin bytes of every request message to the job; EOF when the client
/// half-closes, and `gone` when the call breaks.
async fn feed_stdin(
    mut stdin: hpckit::core::scheduler::BoxWrite,
    first: Vec<u8>,
    mut input: Streaming<proto::SubmitInteractiveJobRequest>,
    gone: CancellationToken,
) {
    let mut ok = first.is_empty() || stdin.write_all(&first).await.is_ok();
    while ok {
        match input.message().await {
            Ok(Some(m)) => ok = m.stdin.is_empty() || stdin.write_all(&m.stdin).await.is_ok(),
            Ok(None) => break,
            Err(_) => {
                gone.cancel();
                break;
            }
        }
    }
    let _ = stdin.shutdown().await;
}

/// Forwards one output of the job until it ends or the client is gone.
async fn pump(
    tx: mpsc::Sender<Message>,
    id: String,
    which: Output,
    mut from: BoxRead,
    gone: CancellationToken,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            n = from.read(&mut buf) => n,
            () = gone.cancelled() => return,
        };
        let chunk = match n {
            Ok(0) | Err(_) => return,
            Ok(n) => buf[..n].to_vec(),
        };
        let (stdout, stderr) = match which {
            Output::Out => (chunk, Vec::new()),
            Output::Err => (Vec::new(), chunk),
        };
        let msg = proto::SubmitInteractiveJobResponse {
            job: Some(proto::Job { id: id.clone() }),
            stdout,
            stderr,
        };
        if tx.send(Ok(msg)).await.is_err() {
            gone.cancel();
            return;
        }
    }
}
