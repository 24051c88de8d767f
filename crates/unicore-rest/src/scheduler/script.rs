//! The UNICORE job a portable [`JobDescription`] becomes. UNICORE runs
//! `Executable` as a line of a shell script, so the program, its arguments,
//! the working directory and the redirections are quoted with hpc-exec's one
//! quoting function; the environment travels as JSON, unquoted.

use hpc_core::{Error, JobDescription, Result};
use hpc_exec::quote::quote_str;
use serde_json::{Map, Value, json};

/// The JSON job description for `job`.
pub(crate) fn description(job: &JobDescription) -> Result<Value> {
    job.validate()?;
    if job.array.is_some() {
        return Err(Error::unsupported("unicore", "job arrays"));
    }
    if !job.scheduler_arguments.is_empty() {
        return Err(Error::unsupported("unicore", "scheduler arguments"));
    }
    let mut line = String::new();
    if let Some(dir) = &job.working_directory {
        line.push_str(&format!("cd {} && ", quote_str(dir.as_str())));
    }
    line.push_str("exec ");
    line.push_str(&quote_str(&job.executable));
    for a in &job.arguments {
        line.push(' ');
        line.push_str(&quote_str(a));
    }
    if let Some(i) = &job.stdin {
        line.push_str(&format!(" <{}", quote_str(i.as_str())));
    }
    if let Some(o) = &job.stdout {
        line.push_str(&format!(" >{}", quote_str(o.as_str())));
    }
    match &job.stderr {
        // One file for both streams: share the descriptor, or one would overwrite the other.
        Some(e) if job.stdout.as_ref() == Some(e) => line.push_str(" 2>&1"),
        Some(e) => line.push_str(&format!(" 2>{}", quote_str(e.as_str()))),
        None => {}
    }
    let mut d = Map::new();
    d.insert("Executable".into(), json!(line));
    if !job.environment.is_empty() {
        d.insert("Environment".into(), json!(job.environment));
    }
    if let Some(n) = &job.name {
        d.insert("Name".into(), json!(n));
    }
    let mut r = Map::new();
    let mut set = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            r.insert(k.to_owned(), v);
        }
    };
    set("Queue", job.queue.as_ref().map(|q| json!(q)));
    set("Runtime", job.max_runtime.map(|t| json!(t.as_secs().to_string())));
    set("Nodes", job.nodes.map(|n| json!(n)));
    set("TotalCPUs", job.processes.map(|n| json!(n)));
    set("CPUsPerNode", job.processes_per_node.map(|n| json!(n)));
    set("GPUsPerNode", job.gpus_per_node.map(|n| json!(n)));
    set("Memory", job.memory_mb.map(|m| json!(format!("{m}M"))));
    set("Reservation", job.reservation.as_ref().map(|v| json!(v)));
    set("QoS", job.qos.as_ref().map(|v| json!(v)));
    set("NodeConstraints", job.constraints.as_ref().map(|v| json!(v)));
    set("Exclusive", job.exclusive.then(|| json!("true")));
    if !r.is_empty() {
        d.insert("Resources".into(), Value::Object(r));
    }
    if let Some(a) = &job.account {
        d.insert("Project".into(), json!(a));
    }
    Ok(Value::Object(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_is_quoted_and_resources_mapped() {
        let job = JobDescription::new("/bin/echo")
            .args(["it's", "a b", "$HOME"])
            .working_directory("/tmp/with space")
            .stdout("out put.txt")
            .env("MSG", "x \"y\" 'z'")
            .queue("batch")
            .max_runtime(std::time::Duration::from_secs(600))
            .name("n|$");
        let d = description(&job).unwrap();
        let line = d["Executable"].as_str().unwrap();
        assert_eq!(
            line,
            r#"cd '/tmp/with space' && exec /bin/echo 'it'\''s' 'a b' '$HOME' >'out put.txt'"#
        );
        assert_eq!(d["Environment"]["MSG"], "x \"y\" 'z'");
        assert_eq!(d["Resources"]["Queue"], "batch");
        assert_eq!(d["Resources"]["Runtime"], "600");
        assert_eq!(d["Name"], "n|$");
        let e = description(&JobDescription::new("x").array("1-3".parse().unwrap())).unwrap_err();
        assert_eq!(e.kind(), hpc_core::ErrorKind::Unsupported);
        assert!(description(&JobDescription::new("")).is_err());
        let both = description(&JobDescription::new("x").stdout("o").stderr("o")).unwrap();
        assert_eq!(both["Executable"], "exec x >o 2>&1");
    }
}
