//! hpckit's UNICORE client (`unicore-rest`) against the UNICORE test server: the
//! scenarios PyUNICORE runs in `unicore_pyunicore.rs`, and what only a typed
//! client can show (errors, sessions, TLS, secrets). Needs
//! `cargo xtask services up unicore`.

mod unicore_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use hpc_core::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use unicore_rest::{
    Backoff, Client, ForwardTarget, Forwarder, JobDescription, JobInput, JobState, Page, Registry,
    Storage, TransferState, Transport, UserPreferences, WorkflowService, WorkflowState, credential,
};
use unicore_support::unicore;

async fn site() -> (unicore_support::Unicore, Client) {
    let u = unicore();
    let c = Client::connect(&u.transport(), &u.url).await.expect("connect");
    (u, c)
}

#[tokio::test]
async fn connects_with_password_token_or_anonymously() {
    let u = unicore();
    let c = Client::connect(&u.transport(), &u.url).await.unwrap();
    assert_eq!(c.role(), Some("user"));
    assert_eq!(c.server_version().unwrap(), [10, 1, 0]);
    let by_token = Transport::builder()
        .credential(credential::bearer(u.token.as_str()))
        .add_ca_file(&u.ca)
        .build()
        .unwrap();
    assert_eq!(Client::connect(&by_token, &u.url).await.unwrap().role(), Some("user"));
    let anon = Transport::builder().add_ca_file(&u.ca).build().unwrap();
    let c = Client::connect(&anon, &u.url).await.unwrap();
    assert_eq!(c.role(), Some("anonymous"));
    // An anonymous caller may read the site, not list jobs.
    let e = c.jobs(&Page::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");

    let wrong = Transport::builder()
        .credential(credential::username_password(&u.user, "not-the-password"))
        .add_ca_file(&u.ca)
        .build()
        .unwrap();
    let e = Client::connect(&wrong, &u.url).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("credentials were not accepted"), "the server's words: {e}");

    let issued = Client::connect(&u.transport(), &u.url)
        .await
        .unwrap()
        .issue_token(unicore_rest::TokenRequest::with_lifetime(60))
        .await
        .unwrap();
    let t = Transport::builder()
        .credential(credential::bearer(issued))
        .add_ca_file(&u.ca)
        .build()
        .unwrap();
    assert_eq!(Client::connect(&t, &u.url).await.unwrap().role(), Some("user"));
}

#[tokio::test]
async fn tls_is_verified_unless_the_insecure_switch_is_named() {
    let u = unicore();
    let plain = Transport::builder()
        .credential(credential::username_password(&u.user, u.password.as_str()))
        .build()
        .unwrap();
    let e = Client::connect(&plain, &u.url).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "an unknown CA must be refused: {e}");
    let insecure = Transport::builder()
        .credential(credential::username_password(&u.user, u.password.as_str()))
        .insecure_accept_any_certificate()
        .build()
        .unwrap();
    assert_eq!(Client::connect(&insecure, &u.url).await.unwrap().role(), Some("user"));
    // A name the certificate does not carry (it names `localhost` only) is
    // refused too, even with the right CA; the address itself answers.
    let by_ip = u.url.replace("localhost", "127.0.0.1");
    assert_eq!(Client::connect(&insecure, &by_ip).await.unwrap().role(), Some("user"));
    let e = Client::connect(&u.transport(), &by_ip).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(e.to_string().contains("certificate"), "a certificate error: {e}");
}

#[tokio::test]
async fn runs_a_job_with_an_input_file_and_streams_its_output() {
    let (_u, c) = site().await;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    std::fs::write(&input, "line from the input file\n").unwrap();
    let desc = JobDescription::executable("cat").args(["input.txt"]).tag("rust-itest");
    let job = c.new_job(&desc.to_json(), &[JobInput::file(&input)], true).await.unwrap();
    let props = job
        .wait(JobState::Successful, Some(Duration::from_secs(120)), Backoff::default())
        .await
        .unwrap();
    assert_eq!((props.status, props.exit_code), (JobState::Successful, Some(0)));
    let out: Vec<u8> =
        job.stdout().await.unwrap().map(|c| c.unwrap()).collect::<Vec<_>>().await.concat();
    assert_eq!(out, b"line from the input file\n");
    let names: Vec<String> = job
        .working_dir()
        .await
        .unwrap()
        .list("/")
        .await
        .unwrap()
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    assert!(
        names.contains(&"input.txt".to_owned()) && names.contains(&"stdout".to_owned()),
        "{names:?}"
    );

    let failing = c
        .new_job(&JobDescription::executable("sh -c 'echo oops >&2; exit 3'").to_json(), &[], true)
        .await
        .unwrap();
    let props = failing.wait_done(Some(Duration::from_secs(120))).await.unwrap();
    assert_eq!((props.status, props.exit_code), (JobState::Failed, Some(3)));
    let err: Vec<u8> =
        failing.stderr().await.unwrap().map(|c| c.unwrap()).collect::<Vec<_>>().await.concat();
    assert_eq!(err, b"oops\n");

    // A held job waits for start; abort ends it; restart runs it again.
    let mut desc = JobDescription::executable("echo again");
    desc.have_client_stage_in = Some("true".into());
    let held = c.new_job(&desc.to_json(), &[], false).await.unwrap();
    assert_eq!(held.status().await.unwrap(), JobState::Ready);
    held.start().await.unwrap();
    held.wait_done(Some(Duration::from_secs(60))).await.unwrap();
    held.restart().await.unwrap();
    assert_eq!(
        held.wait_done(Some(Duration::from_secs(60))).await.unwrap().status,
        JobState::Successful
    );
    let sleeper =
        c.new_job(&JobDescription::executable("sleep 60").to_json(), &[], true).await.unwrap();
    sleeper.abort().await.unwrap();
    assert_eq!(
        sleeper.wait_done(Some(Duration::from_secs(60))).await.unwrap().status,
        JobState::Failed
    );
    sleeper.delete().await.unwrap();
    assert!(sleeper.properties().await.unwrap_err().is_not_found());

    let e = c.new_job(&serde_json::json!({"Arguments": ["x"]}), &[], true).await.unwrap_err();
    assert!(matches!(e, hpc_core::Error::Remote { status: Some(400), .. }), "{e:?}");
    assert!(e.to_string().contains("neither an Executable nor an ApplicationName"), "{e}");
}

#[tokio::test]
async fn pages_and_tags_list_jobs() {
    let (_u, c) = site().await;
    let tag = format!("page-{}", std::process::id());
    for i in 0..5 {
        c.new_job(&JobDescription::executable(format!("echo {i}")).tag(&tag).to_json(), &[], true)
            .await
            .unwrap();
    }
    let first = c.jobs(&Page::new(0, 2).tag(&tag)).await.unwrap();
    let second = c.jobs(&Page::new(2, 2).tag(&tag)).await.unwrap();
    assert_eq!((first.len(), second.len()), (2, 2));
    assert_ne!(first[0].url(), second[0].url());
    assert_eq!(c.all_jobs(&[tag]).await.unwrap().len(), 5);
}

#[tokio::test]
async fn files_upload_list_read_ranges_and_fail_typed() {
    let (_u, c) = site().await;
    let home = c.storage("HOME");
    let base = format!("rust-files-{}", std::process::id());
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<hpc_core::Result<bytes::Bytes>> =
        data.chunks(7000).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    home.upload(
        &format!("{base}/dir/data.bin"),
        futures::stream::iter(chunks).boxed(),
        Some(data.len() as u64),
    )
    .await
    .unwrap();
    let st = home.stat(&format!("{base}/dir/data.bin")).await.unwrap();
    assert_eq!((st.is_dir, st.size), (false, 100_000));
    let listed = home.list(&format!("{base}/dir")).await.unwrap();
    assert_eq!(
        listed.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
        [format!("/{base}/dir/data.bin")]
    );
    let part: Vec<u8> = home
        .read(&format!("{base}/dir/data.bin"), 99_990, Some(5))
        .await
        .unwrap()
        .map(|c| c.unwrap())
        .collect::<Vec<_>>()
        .await
        .concat();
    assert_eq!(part, &data[99_990..99_995]);
    let local = tempfile::tempdir().unwrap();
    let target = local.path().join("down.bin");
    assert_eq!(home.download(&format!("{base}/dir/data.bin"), &target).await.unwrap(), 100_000);
    assert_eq!(std::fs::read(&target).unwrap(), data);

    home.mkdir(&format!("{base}/made/deep")).await.unwrap();
    home.copy(&format!("{base}/dir/data.bin"), &format!("{base}/made/copy.bin")).await.unwrap();
    home.rename(&format!("{base}/made/copy.bin"), &format!("{base}/made/deep/moved.bin"))
        .await
        .unwrap();
    home.chmod(&format!("{base}/made/deep/moved.bin"), "640").await.unwrap();
    assert_eq!(
        home.stat(&format!("{base}/made/deep/moved.bin")).await.unwrap().permissions.as_deref(),
        Some("rw-r-----")
    );
    assert!(home.chmod("x", "rwz").await.is_err());

    let e = home.stat(&format!("{base}/missing.txt")).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("missing.txt"), "{e}");
    let e = match home.read(&format!("{base}/dir/data.bin"), 200_000, None).await {
        Ok(_) => panic!("a range past the end must fail"),
        Err(e) => e,
    };
    assert!(matches!(e, hpc_core::Error::Remote { status: Some(416), .. }), "{e:?}");
    let e = match home.read(&format!("{base}/dir"), 0, None).await {
        Ok(_) => panic!("a directory is no data"),
        Err(e) => e,
    };
    assert!(matches!(e, hpc_core::Error::Remote { status: Some(406), .. }), "{e:?}");
    let e = home.stat("../outside").await.unwrap_err();
    assert!(matches!(e, hpc_core::Error::Remote { status: Some(400), .. }), "{e:?}");

    home.rm(&base).await.unwrap();
    assert!(home.stat(&base).await.unwrap_err().is_not_found());
}

#[tokio::test]
async fn a_broken_upload_leaves_no_file_that_looks_complete() {
    let (_u, c) = site().await;
    let home = c.storage("HOME");
    let name = format!("broken-{}.bin", std::process::id());
    home.put_bytes(&name, "the good version").await.unwrap();
    let chunks: Vec<hpc_core::Result<bytes::Bytes>> = vec![
        Ok(bytes::Bytes::from(vec![1u8; 64 * 1024])),
        Err(hpc_core::Error::connection_lost("source", std::io::Error::other("the source broke"))),
    ];
    let e =
        home.upload(&name, futures::stream::iter(chunks).boxed(), Some(1 << 20)).await.unwrap_err();
    assert!(e.to_string().contains("the source broke"), "{e}");
    // Give the server a moment to see the connection end; the old file must stay.
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let listed = home.list("/").await.unwrap();
        if !listed.iter().any(|f| f.name().starts_with(&format!(".{name}.upload"))) {
            break;
        }
    }
    assert_eq!(&home.read_all(&name).await.unwrap()[..], b"the good version");
    home.rm(&name).await.unwrap();
}

#[tokio::test]
async fn transfers_between_storages() {
    let (_u, c) = site().await;
    let home = c.storage("HOME");
    let work = c.storage("WORK");
    let name = format!("xfer-{}.txt", std::process::id());
    home.put_bytes(&name, "server to server\n").await.unwrap();
    let tr = home
        .send_file(&name, &format!("{}/files/{name}", work.url()), None, &BTreeMap::new())
        .await
        .unwrap();
    let p = tr
        .wait(TransferState::Done, Some(Duration::from_secs(60)), Backoff::default(), |_| {})
        .await
        .unwrap();
    assert_eq!((p.status, p.transferred_bytes), (TransferState::Done, 17));
    assert_eq!(&work.read_all(&name).await.unwrap()[..], b"server to server\n");
    let back = home
        .receive_file(
            &format!("{}/files/{name}", work.url()),
            &format!("{name}.back"),
            None,
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        back.wait(TransferState::Done, None, Backoff::default(), |_| {}).await.unwrap().status,
        TransferState::Done
    );
    assert!(c.transfers(&Page::default()).await.unwrap().iter().any(|t| t.url() == back.url()));
    let e = home
        .send_file(&name, "https://elsewhere.invalid/x", None, &BTreeMap::new())
        .await
        .unwrap_err();
    assert!(matches!(e, hpc_core::Error::Remote { status: Some(400), .. }), "{e:?}");
}

#[tokio::test]
async fn registry_lists_sites_and_connects_by_name() {
    let u = unicore();
    let r = Registry::connect(&u.transport(), &u.registry).await.unwrap();
    assert_eq!(r.site_urls().get("DEMO-SITE"), Some(&u.url));
    assert_eq!(r.workflow_service_urls().get("WORKFLOW"), Some(&u.workflows));
    assert_eq!(r.site(Some("DEMO-SITE")).await.unwrap().url(), u.url);
    let e = r.site(Some("NOWHERE")).await.unwrap_err();
    assert!(e.is_not_found() && e.to_string().contains("DEMO-SITE"), "{e}");
}

#[tokio::test]
async fn forwards_a_port_to_an_echo_server() {
    let (_u, c) = site().await;
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = echo.accept().await.unwrap();
            tokio::spawn(async move {
                // The service speaks first: these bytes come right behind the 101.
                s.write_all(b"WELCOME\n").await.unwrap();
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let job =
        c.new_job(&JobDescription::executable("sleep 60").to_json(), &[], true).await.unwrap();
    job.wait(JobState::Running, Some(Duration::from_secs(60)), Backoff::default()).await.unwrap();
    let fwd = Forwarder::for_job(&job, &ForwardTarget::Port { port: echo_port, host: None }, None)
        .await
        .unwrap();
    let local = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = local.local_addr().unwrap();
    tokio::spawn(async move { fwd.serve(local, false).await });
    for round in 0..2 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut hello = [0u8; 8];
        s.read_exact(&mut hello).await.unwrap();
        assert_eq!(&hello, b"WELCOME\n", "round {round}");
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 256) as u8).collect();
        let (mut r, mut w) = s.into_split();
        let writer = tokio::spawn(async move {
            w.write_all(&payload).await.unwrap();
            w.shutdown().await.unwrap();
            payload
        });
        let mut back = Vec::new();
        r.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, writer.await.unwrap(), "round {round}: every byte comes back");
    }
    let e = match Forwarder::for_job(&job, &ForwardTarget::Port { port: 1, host: None }, None)
        .await
        .unwrap()
        .connect()
        .await
    {
        Ok(_) => panic!("port 1 is closed"),
        Err(e) => e,
    };
    assert!(matches!(e, hpc_core::Error::Remote { status: Some(500), .. }), "{e:?}");
    job.abort().await.unwrap();
}

#[tokio::test]
async fn allocations_run_jobs_inside() {
    let (_u, c) = site().await;
    let alloc =
        c.new_allocation(&serde_json::json!({"Resources": {"Runtime": "120"}})).await.unwrap();
    let props = alloc.wait_until_available(Some(Duration::from_secs(60))).await.unwrap();
    assert_eq!(props.job_type.as_deref(), Some("ALLOCATE"));
    let inner = alloc
        .new_job(&JobDescription::executable("echo $UC_ALLOCATION_ID").to_json(), &[], true)
        .await
        .unwrap();
    let p = inner.wait_done(Some(Duration::from_secs(60))).await.unwrap();
    assert_eq!(p.status, JobState::Successful);
    let out = inner.working_dir().await.unwrap().read_all("stdout").await.unwrap();
    assert_eq!(String::from_utf8_lossy(&out).trim(), props.batch_system_id.unwrap());
    alloc.job().abort().await.unwrap();
}

#[tokio::test]
async fn workflows_hold_resume_and_register_files() {
    let u = unicore();
    let wfs = WorkflowService::connect(&u.transport(), &u.workflows).await.unwrap();
    let wf = wfs
        .submit(&serde_json::json!({
            "name": "rust-itest",
            "activities": [
                {"id": "first", "type": "JOB", "job": {"Executable": "echo one"}},
                {"id": "hold", "type": "HOLD"},
                {"id": "second", "type": "JOB", "job": {"Executable": "echo two"}},
            ],
            "transitions": [{"from": "first", "to": "hold"}, {"from": "hold", "to": "second"}],
        }))
        .await
        .unwrap();
    assert_eq!(
        wf.wait(WorkflowState::Held, Some(Duration::from_secs(60)), Backoff::default())
            .await
            .unwrap(),
        WorkflowState::Held
    );
    wf.resume(&BTreeMap::from([("COUNT".to_owned(), "2".to_owned())])).await.unwrap();
    assert_eq!(
        wf.wait(WorkflowState::Successful, Some(Duration::from_secs(60)), Backoff::default())
            .await
            .unwrap(),
        WorkflowState::Successful
    );
    assert_eq!(wf.jobs(&Page::default()).await.unwrap().len(), 2);
    let (storage, path) = wf.locate("wf:second/stdout").await.unwrap();
    assert_eq!(&storage.read_all(&path).await.unwrap()[..], b"two\n");
    let e = wfs.submit(&serde_json::json!({"activities": [{"type": "JOB"}]})).await.unwrap_err();
    assert!(e.to_string().contains("[1] activity 1 has no id"), "{e}");
}

#[tokio::test]
async fn sessions_are_reused_and_a_432_is_answered_once() {
    let u = unicore();
    let t = u.transport();
    let c = Client::connect(&t, &u.url).await.unwrap();
    c.jobs(&Page::new(0, 1)).await.unwrap();
    let before = t.requests_sent();
    // Make the server forget every session: the next call gets 432 and is sent again.
    let admin = Transport::builder().add_ca_file(&u.ca).security_sessions(false).build().unwrap();
    admin
        .post(
            &u.url.replace("/DEMO-SITE/rest/core", "/_testserver/expire-sessions"),
            &serde_json::json!({}),
        )
        .await
        .unwrap();
    c.jobs(&Page::new(0, 1)).await.unwrap();
    assert_eq!(t.requests_sent() - before, 2, "one 432 and one resend");
    c.jobs(&Page::new(0, 1)).await.unwrap();
    assert_eq!(t.requests_sent() - before, 3, "the new session is used");
}

#[tokio::test]
async fn preferences_select_a_login_or_are_refused() {
    let u = unicore();
    let t = Transport::builder()
        .credential(credential::username_password(&u.user, u.password.as_str()))
        .add_ca_file(&u.ca)
        .preferences(UserPreferences::default().uid("nobody").group("hpc"))
        .build()
        .unwrap();
    let c = Client::connect(&t, &u.url).await.unwrap();
    assert_eq!(c.access_info().unwrap()["xlogin"]["UID"], "nobody");
    assert_eq!(c.access_info().unwrap()["xlogin"]["group"], "hpc");
    let bad = Transport::builder()
        .credential(credential::username_password(&u.user, u.password.as_str()))
        .add_ca_file(&u.ca)
        .preferences(UserPreferences::default().uid("root"))
        .build()
        .unwrap();
    let e = Client::connect(&bad, &u.url).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("uid \"root\" is not available"), "{e}");
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_logs_errors_or_debug_output() {
    let u = unicore();
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut shown = String::new();
    let t = u.transport();
    let c = Client::connect(&t, &u.url).await.unwrap();
    let token = c.issue_token(Default::default()).await.unwrap();
    let by_token = Transport::builder()
        .credential(credential::bearer(token.clone()))
        .add_ca_file(&u.ca)
        .build()
        .unwrap();
    let c2 = Client::connect(&by_token, &u.url).await.unwrap();
    let job = c2
        .new_job(&JobDescription::executable("echo secret-free").to_json(), &[], true)
        .await
        .unwrap();
    job.wait_done(Some(Duration::from_secs(60))).await.unwrap();
    let home = c2.storage("HOME");
    let _ = home.stat("does-not-exist").await.map_err(|e| shown.push_str(&format!("{e} {e:?}\n")));
    let wrong = Transport::builder()
        .credential(credential::username_password(&u.user, format!("{}-wrong", u.password)))
        .add_ca_file(&u.ca)
        .build()
        .unwrap();
    let _ =
        Client::connect(&wrong, &u.url).await.map_err(|e| shown.push_str(&format!("{e} {e:?}\n")));
    let oidc = credential::oidc_token(
        u.token.as_str(),
        None,
        Arc::new(|| Box::pin(async { Err("the identity provider is down".to_owned()) })),
    );
    let _ = Transport::builder()
        .credential(oidc.clone())
        .add_ca_file(&u.ca)
        .build()
        .map(|t| shown.push_str(&format!("{t:?}")));
    shown.push_str(&format!("{t:?} {by_token:?} {c:?} {c2:?} {job:?} {home:?} {oidc:?} {token:?}"));
    let storage = Storage::new(&by_token, &format!("{}/storages/HOME", u.url));
    shown.push_str(&format!("{storage:?}"));
    // A key-signed login with an encrypted key: neither the passphrase nor the
    // key shows, and the signed tokens stay out of the logs (checked below by
    // the JWT header every one of them starts with).
    let locked = u.keys.join("id_ed25519_locked");
    let signer = credential::JwtSigner::from_key_file(
        &u.user,
        &locked,
        Some(&hpc_auth::Secret::new(u.key_passphrase.clone())),
    )
    .unwrap();
    shown.push_str(&format!("{signer:?}"));
    let by_key = Transport::builder()
        .credential(credential::jwt_from_key(signer))
        .add_ca_file(&u.ca)
        .build()
        .unwrap();
    let c3 = Client::connect(&by_key, &u.url).await.unwrap();
    shown.push_str(&format!("{by_key:?} {c3:?}"));
    let stranger =
        credential::JwtSigner::from_key_file(&u.user, &u.keys.join("id_stranger"), None).unwrap();
    let _ = Client::connect(&key_transport(&u, stranger), &u.url)
        .await
        .map_err(|e| shown.push_str(&format!("{e} {e:?}\n")));
    let key_text = std::fs::read_to_string(&locked).unwrap();
    let key_body = key_text.lines().nth(1).unwrap().to_owned();

    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("http"), "trace logs were captured: {logs}");
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{s}", u.user))
    };
    for (what, secret) in [
        ("password", u.password.clone()),
        ("password in Basic", b64(&u.password)),
        ("token", u.token.clone()),
        ("issued token", token.expose().to_owned()),
        ("key passphrase", u.key_passphrase.clone()),
        ("private key", key_body),
        // base64url of `{"alg":"EdDSA","typ":"JWT"}`, the start of every signed token.
        ("key-signed token", "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9".to_owned()),
    ] {
        assert!(!logs.contains(&secret), "{what} in the logs");
        assert!(!shown.contains(&secret), "{what} in errors or Debug output: {shown}");
    }
}

#[tokio::test]
async fn an_oidc_token_is_refreshed_once_then_the_error_is_clear() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let u = unicore();
    let calls = Arc::new(AtomicUsize::new(0));
    let (c2, good) = (calls.clone(), u.token.clone());
    let hook: credential::RefreshHook = Arc::new(move || {
        c2.fetch_add(1, Ordering::SeqCst);
        let t = good.clone();
        Box::pin(async move { Ok((hpc_auth::Secret::new(t), Some(Duration::from_secs(3600)))) })
    });
    let t = Transport::builder()
        .credential(credential::oidc_token("an-expired-token", None, hook))
        .add_ca_file(&u.ca)
        .build()
        .unwrap();
    assert_eq!(Client::connect(&t, &u.url).await.unwrap().role(), Some("user"));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one refresh after the refusal");

    let bad_calls = Arc::new(AtomicUsize::new(0));
    let c3 = bad_calls.clone();
    let hook: credential::RefreshHook = Arc::new(move || {
        c3.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok((hpc_auth::Secret::new("still-wrong"), None)) })
    });
    let t = Transport::builder()
        .credential(credential::oidc_token("an-expired-token", None, hook))
        .add_ca_file(&u.ca)
        .build()
        .unwrap();
    let e = Client::connect(&t, &u.url).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert_eq!(bad_calls.load(Ordering::SeqCst), 1, "no refresh loop");

    let failing: credential::RefreshHook =
        Arc::new(|| Box::pin(async { Err("identity provider unreachable".to_owned()) }));
    let t = Transport::builder()
        .credential(credential::oidc_token("an-expired-token", None, failing))
        .add_ca_file(&u.ca)
        .build()
        .unwrap();
    let e = Client::connect(&t, &u.url).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(e.to_string().contains("identity provider unreachable"), "{e}");
}

/// A transport that logs in with a JWT signed by `signer`.
fn key_transport(u: &unicore_support::Unicore, signer: credential::JwtSigner) -> Transport {
    Transport::builder()
        .credential(credential::jwt_from_key(signer))
        .add_ca_file(&u.ca)
        .build()
        .unwrap()
}

#[tokio::test]
async fn signs_in_with_tokens_signed_by_rsa_ecdsa_and_ed25519_keys() {
    use credential::{JwtSigner, KeyAlgorithm};
    let u = unicore();
    let passphrase = hpc_auth::Secret::new(u.key_passphrase.clone());
    for (name, algorithm, passphrase) in [
        ("id_rsa", KeyAlgorithm::Rs256, None),
        ("id_ecdsa", KeyAlgorithm::Es256, None),
        ("id_ed25519", KeyAlgorithm::EdDsa, None),
        ("id_rsa.pem", KeyAlgorithm::Rs256, None),
        ("id_ecdsa.pem", KeyAlgorithm::Es256, None),
        ("id_ed25519_locked", KeyAlgorithm::EdDsa, Some(&passphrase)),
    ] {
        let signer = JwtSigner::from_key_file(&u.user, &u.keys.join(name), passphrase)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(signer.algorithm(), algorithm, "{name}");
        let t = key_transport(&u, signer);
        let c = Client::connect(&t, &u.url).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.role(), Some("user"), "{name}");
        let client = c.access_info().unwrap();
        assert_eq!(client["authenticationMethod"], "SSHKEY", "{name}: {client}");
        assert_eq!(client["xlogin"]["UID"], u.user.as_str(), "{name}");
        // A user's resource, not only the site's properties.
        c.jobs(&Page::default()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    // create_credential with a key, as PyUNICORE's: the password is the passphrase.
    let locked = u.keys.join("id_ed25519_locked");
    let cred = credential::create_credential(Some(&u.user), Some(passphrase), None, Some(&locked))
        .unwrap();
    let t = Transport::builder().credential(cred).add_ca_file(&u.ca).build().unwrap();
    assert_eq!(Client::connect(&t, &u.url).await.unwrap().role(), Some("user"));
    let e = JwtSigner::from_key_file(&u.user, &locked, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

#[tokio::test]
async fn refuses_tokens_of_an_unknown_key_expired_or_issued_by_another() {
    use credential::JwtSigner;
    let u = unicore();
    let refused = |what: &str, e: hpc_core::Error, why: &str| {
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{what}: {e}");
        assert!(e.to_string().contains(why), "{what}: the server's reason {why:?} in {e}");
    };
    let stranger = JwtSigner::from_key_file(&u.user, &u.keys.join("id_stranger"), None).unwrap();
    let e = Client::connect(&key_transport(&u, stranger), &u.url).await.unwrap_err();
    refused("an unregistered key", e, "no EdDSA signature");

    // Each token runs out as it is made: the one re-signed after the refusal too.
    let key = u.keys.join("id_ed25519");
    let expired =
        JwtSigner::from_key_file(&u.user, &key, None).unwrap().with_lifetime(Duration::ZERO);
    let e = Client::connect(&key_transport(&u, expired), &u.url).await.unwrap_err();
    refused("an expired token", e, "expired");

    let other = JwtSigner::from_key_file(&u.user, &key, None).unwrap().with_issuer("someone-else");
    let e = Client::connect(&key_transport(&u, other), &u.url).await.unwrap_err();
    refused("another issuer", e, "'iss' differs");

    // demouser's key does not sign for another user.
    let root = JwtSigner::from_key_file("root", &key, None).unwrap();
    let e = Client::connect(&key_transport(&u, root), &u.url).await.unwrap_err();
    refused("another subject", e, "is no user");
}
