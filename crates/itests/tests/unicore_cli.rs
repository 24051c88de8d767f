//! `hpckit unicore` against the UNICORE test server, configured the way
//! PyUNICORE's CLI is (`-c FILE` with `$VAR` substitution). Needs
//! `cargo xtask services up unicore`.

#[path = "support/hpckit.rs"]
mod cli;
mod unicore_support;

use hpc_exec::{Executor, LocalExecutor};
use unicore_support::unicore;

async fn hpckit(home: &std::path::Path, args: &[&str]) -> hpc_exec::Output {
    let u = unicore();
    let props = home.join("properties");
    // The password comes from the environment, as `$VAR` in the file.
    std::fs::write(
        &props,
        format!("username={}\npassword=$UC_TEST_PASSWORD\nregistry={}\n", u.user, u.registry),
    )
    .unwrap();
    let cmd = cli::command(["unicore", "-c"])
        .arg(&props)
        .arg("--ca")
        .arg(&u.ca)
        .args(args)
        .env("UC_TEST_PASSWORD", &u.password)
        .env("HOME", home)
        .current_dir(home);
    LocalExecutor::new().run(&cmd).await.expect("running hpckit")
}

#[tokio::test]
async fn exec_prints_output_and_keeps_the_exit_code() {
    let home = tempfile::tempdir().unwrap();
    let out = hpckit(home.path(), &["exec", "echo", "hello-hpckit"]).await;
    assert!(out.status.success(), "{}", out.stderr_text());
    assert_eq!(out.stdout_text(), "hello-hpckit\n");
    let out = hpckit(home.path(), &["exec", "sh -c 'exit 4'"]).await;
    assert_eq!(out.status.code, Some(4), "{}", out.stderr_text());
}

#[tokio::test]
async fn cp_ls_cat_and_server_to_server() {
    let u = unicore();
    let home = tempfile::tempdir().unwrap();
    let local = home.path().join("up.txt");
    std::fs::write(&local, "uploaded by hpckit\n").unwrap();
    let dir = format!("{}/storages/HOME/files/hpckit-cli-{}/", u.url, std::process::id());
    let out = hpckit(home.path(), &["cp", local.to_str().unwrap(), &dir]).await;
    assert!(out.status.success(), "upload: {}", out.stderr_text());
    let out = hpckit(home.path(), &["--json", "ls", &dir]).await;
    assert!(out.status.success(), "ls: {}", out.stderr_text());
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["size"], 19, "{listed}");
    let out = hpckit(home.path(), &["cat", &format!("{dir}up.txt")]).await;
    assert_eq!(out.stdout_text(), "uploaded by hpckit\n");
    let work = format!("{}/storages/WORK/files/hpckit-cli-{}.txt", u.url, std::process::id());
    let out = hpckit(home.path(), &["cp", &format!("{dir}*.txt"), &work]).await;
    assert!(out.status.success(), "server to server: {}", out.stderr_text());
    let back = home.path().join("back.txt");
    let out = hpckit(home.path(), &["cp", &work, back.to_str().unwrap()]).await;
    assert!(out.status.success(), "download: {}", out.stderr_text());
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "uploaded by hpckit\n");
    let out = hpckit(home.path(), &["cat", &format!("{dir}missing.txt")]).await;
    assert_eq!(out.status.code, Some(66), "not found: {}", out.stderr_text());
    assert!(out.stderr_text().starts_with("hpckit: error:"), "{}", out.stderr_text());
}

#[tokio::test]
async fn jobs_are_listed_waited_for_and_cancelled() {
    let u = unicore();
    let home = tempfile::tempdir().unwrap();
    let job_file = home.path().join("job.json");
    std::fs::write(&job_file, r#"{"Executable": "sleep 30"}"#).unwrap();
    let out = hpckit(
        home.path(),
        &["run", "-a", "-S", &u.url, job_file.to_str().unwrap(), "-T", "cli-cancel"],
    )
    .await;
    assert!(out.status.success(), "{}", out.stderr_text());
    let url = out.stdout_text().trim().to_owned();
    assert!(url.starts_with(&format!("{}/jobs/", u.url)), "{url}");
    let out = hpckit(home.path(), &["--json", "list-jobs", "-T", "cli-cancel"]).await;
    assert!(out.stdout_text().contains(&url), "{}", out.stdout_text());
    let out = hpckit(home.path(), &["cancel-job", &url]).await;
    assert!(out.status.success(), "{}", out.stderr_text());
    let out =
        hpckit(home.path(), &["--json", "job-status", "-w", "SUCCESSFUL", "-t", "60", &url]).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["status"], "FAILED", "{v}");

    std::fs::write(&job_file, r#"{"Executable": "echo ran-by-run"}"#).unwrap();
    let out =
        hpckit(home.path(), &["--json", "run", "-S", &u.url, job_file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", out.stderr_text());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v[0]["id"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(home.path().join(id).join("stdout")).unwrap(),
        "ran-by-run\n"
    );
}

#[tokio::test]
async fn wrong_password_is_one_clear_line() {
    let u = unicore();
    let home = tempfile::tempdir().unwrap();
    let props = home.path().join("bad");
    std::fs::write(&props, format!("username={}\npassword=wrong\n", u.user)).unwrap();
    let out = hpckit(home.path(), &["info", "-c", props.to_str().unwrap(), &u.url]).await;
    assert_eq!(out.status.code, Some(77), "{}", out.stderr_text());
    let err = out.stderr_text();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("credentials were not accepted"), "{err}");
}

#[tokio::test]
async fn sshkey_configurations_sign_in_with_a_key() {
    let u = unicore();
    let home = tempfile::tempdir().unwrap();
    for (name, passphrase) in [("id_rsa", ""), ("id_ecdsa", ""), ("id_ed25519_locked", "yes")] {
        let props = home.path().join(format!("{name}.properties"));
        let password = if passphrase.is_empty() {
            String::new()
        } else {
            format!("password={}\n", u.key_passphrase)
        };
        let identity = u.keys.join(name);
        std::fs::write(
            &props,
            format!(
                "authentication-method=SSHKEY\nusername={}\nidentity={}\n{password}",
                u.user,
                identity.display()
            ),
        )
        .unwrap();
        let out =
            hpckit(home.path(), &["--json", "info", "-c", props.to_str().unwrap(), &u.url]).await;
        assert!(out.status.success(), "{name}: {}", out.stderr_text());
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(info[0]["client"]["authenticationMethod"], "SSHKEY", "{name}: {info}");
        assert_eq!(info[0]["client"]["xlogin"]["UID"], u.user.as_str(), "{name}: {info}");
    }
    let props = home.path().join("stranger.properties");
    let stranger = u.keys.join("id_stranger");
    std::fs::write(
        &props,
        format!(
            "authentication-method=SSHKEY\nusername={}\nidentity={}\n",
            u.user,
            stranger.display()
        ),
    )
    .unwrap();
    let out = hpckit(home.path(), &["info", "-c", props.to_str().unwrap(), &u.url]).await;
    assert_eq!(out.status.code, Some(77), "{}", out.stderr_text());
    assert!(out.stderr_text().contains("key-signed token refused"), "{}", out.stderr_text());
}

#[tokio::test]
async fn hpckit_job_and_fs_take_unicore_urls() {
    let u = unicore();
    let home = tempfile::tempdir().unwrap();
    let port = u.env.var("HPCKIT_UNICORE_PORT");
    let ca = u.ca.display().to_string();
    let site = format!("unicore://{}@localhost:{port}/DEMO-SITE?ca={ca}", u.user);
    let run = |args: Vec<String>| {
        let password = u.password.clone();
        async move {
            let cmd = cli::command(&args).env("UC_TEST_PASSWORD", &password);
            LocalExecutor::new().run(&cmd).await.expect("running hpckit")
        }
    };
    let out_file = home.path().join("job.out");
    let out = run(vec![
        "job".into(),
        "submit".into(),
        "--password-env".into(),
        "UC_TEST_PASSWORD".into(),
        "--stdout".into(),
        out_file.display().to_string(),
        site.clone(),
        "--".into(),
        "echo".into(),
        "via hpckit job".into(),
    ])
    .await;
    assert!(out.status.success(), "{}", out.stderr_text());
    let id = out.stdout_text().trim().to_owned();
    let out = run(vec![
        "job".into(),
        "wait".into(),
        "--password-env".into(),
        "UC_TEST_PASSWORD".into(),
        site,
        id,
    ])
    .await;
    assert!(out.status.success(), "{}", out.stderr_text());
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "via hpckit job\n");

    let dir = format!(
        "unicore://{}@localhost:{port}/DEMO-SITE/storages/HOME/hpckit-fs-{}",
        u.user,
        std::process::id()
    );
    let out = run(vec![
        "fs".into(),
        "mkdir".into(),
        "--password-env".into(),
        "UC_TEST_PASSWORD".into(),
        format!("{dir}?ca={ca}"),
    ])
    .await;
    assert!(out.status.success(), "fs mkdir: {}", out.stderr_text());
    let out = run(vec![
        "fs".into(),
        "cp".into(),
        "--password-env".into(),
        "UC_TEST_PASSWORD".into(),
        out_file.display().to_string(),
        format!("{dir}/copied.txt?ca={ca}"),
    ])
    .await;
    assert!(out.status.success(), "fs cp: {}", out.stderr_text());
    let out = run(vec![
        "fs".into(),
        "cat".into(),
        "--password-env".into(),
        "UC_TEST_PASSWORD".into(),
        format!("{dir}/copied.txt?ca={ca}"),
    ])
    .await;
    assert_eq!(out.stdout_text(), "via hpckit job\n", "{}", out.stderr_text());
}
