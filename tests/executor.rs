//! The runner against real processes: exit codes, output tails, timeouts that kill the
//! whole process group, a clean environment, and arguments that are never interpreted.
//!
//! `/bin/sh` appears only as the command under test (scripts written to temp files); the
//! runner itself never starts a shell.

mod common;

use common::wait::eventually;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use steward::config::Config;
use steward::execute::runner::{self, Known, RunError, RunOptions, RunOutcome};
use tokio_util::sync::CancellationToken;

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// An executable `/bin/sh` script in `dir`.
fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs `argv`. A script just written may be "Text file busy" for a moment: another test
/// thread's fork can hold its write descriptor until that child execs, so the start is
/// tried again briefly then (and only then).
async fn run(argv: &[String], opts: &RunOptions) -> RunOutcome {
    let mut tries = 0;
    loop {
        match runner::run(argv, opts, &CancellationToken::new()).await {
            Err(RunError::Spawn { source, .. })
                if source.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other.expect("the command starts"),
        }
    }
}

/// Gone, or a zombie nobody reaps (PID 1 in a container may not): either way not running.
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => matches!(
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next()),
            Some(Some('Z' | 'X'))
        ),
    }
}

/// SIGKILL is delivered asynchronously: a killed process gets a moment to die.
async fn dies(pid: u32, what: &str) {
    eventually(what, Duration::from_secs(5), || async { is_dead(pid) }).await;
}

fn read_pid(file: &PathBuf) -> u32 {
    std::fs::read_to_string(file)
        .expect("the script wrote its child's pid")
        .trim()
        .parse()
        .expect("a pid")
}

#[tokio::test]
async fn exit_codes_and_output_tails_are_captured() {
    let opts = RunOptions::default();
    let ok = run(&argv(&["/bin/true"]), &opts).await;
    assert_eq!((ok.exit_code, ok.signal), (Some(0), None));
    assert!(ok.success());
    assert!(!ok.timed_out && !ok.cancelled && !ok.truncated);
    assert!(ok.pid.is_some());

    let bad = run(&argv(&["/bin/false"]), &opts).await;
    assert_eq!(bad.exit_code, Some(1));
    assert!(!bad.success());

    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        "both.sh",
        "echo to-stdout\necho to-stderr >&2\nexit 3",
    );
    let out = run(&argv(&[&s]), &opts).await;
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.stdout_tail, "to-stdout\n");
    assert_eq!(out.stderr_tail, "to-stderr\n");
    assert!(!out.truncated);

    let s = script(dir.path(), "signal.sh", "kill -TERM $$");
    let out = run(&argv(&[&s]), &opts).await;
    assert_eq!((out.exit_code, out.signal), (None, Some(15)));
}

#[tokio::test]
async fn ten_megabytes_of_output_keep_only_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        "loud.sh",
        "head -c 10485760 /dev/zero | tr '\\0' x\nprintf THE-END\nhead -c 3000000 /dev/zero >&2",
    );
    let opts = RunOptions::default();
    let out = run(&argv(&[&s]), &opts).await;
    assert_eq!(out.exit_code, Some(0));
    assert!(out.truncated);
    assert_eq!(out.stdout_tail.len(), opts.tail_bytes);
    assert!(out.stdout_tail.ends_with("xxxTHE-END"));
    assert_eq!(out.stderr_tail.len(), opts.tail_bytes);
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let s = script(
        dir.path(),
        "hang.sh",
        "sleep 1000 &\necho $! > \"$1\"\necho started\nsleep 1000",
    );
    let opts = RunOptions {
        timeout: Duration::from_secs(2),
        ..RunOptions::default()
    };
    let out = run(&argv(&[&s, pid_file.to_str().unwrap()]), &opts).await;
    assert!(out.timed_out);
    assert!(!out.cancelled && !out.success());
    assert_eq!((out.exit_code, out.signal), (None, Some(9)));
    assert_eq!(out.stdout_tail, "started\n");
    let child = read_pid(&pid_file);
    dies(child, &format!("the background child {child} to die")).await;
    dies(out.pid.unwrap(), "the script to die").await;
}

#[tokio::test]
async fn cancellation_kills_the_group_too() {
    let cancel = CancellationToken::new();
    cancel.cancel();
    let out = runner::run(
        &argv(&["/bin/sleep", "1000"]),
        &RunOptions::default(),
        &cancel,
    )
    .await
    .unwrap();
    assert!(out.cancelled);
    assert!(!out.timed_out && !out.success());
    assert_eq!(out.signal, Some(9));
}

#[tokio::test]
async fn what_a_finished_command_leaves_running_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    // The background child holds stdout open: the run must not wait for it.
    let s = script(
        dir.path(),
        "leave.sh",
        "sleep 1000 &\necho $! > \"$1\"\necho done",
    );
    let opts = RunOptions {
        timeout: Duration::from_secs(120),
        ..RunOptions::default()
    };
    let out = run(&argv(&[&s, pid_file.to_str().unwrap()]), &opts).await;
    assert!(!out.timed_out);
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.stdout_tail, "done\n");
    let child = read_pid(&pid_file);
    dies(child, &format!("the leftover child {child} to die")).await;
}

#[tokio::test]
async fn the_environment_is_clean_but_for_the_kept_variables() {
    std::env::set_var("STEWARD_TEST_SECRET", "hunter2");
    std::env::set_var("STEWARD_TEST_KEPT", "kept-value");
    let out = run(&argv(&["/usr/bin/env"]), &RunOptions::default()).await;
    assert_eq!(out.exit_code, Some(0));
    assert!(
        out.stdout_tail.lines().any(|l| l.starts_with("PATH=")),
        "{}",
        out.stdout_tail
    );
    assert!(!out.stdout_tail.contains("STEWARD_TEST_SECRET"));
    assert!(!out.stdout_tail.contains("hunter2"));
    assert!(!out.stdout_tail.contains("STEWARD_TEST_KEPT"));

    let mut opts = RunOptions::default();
    opts.env_keep.push("STEWARD_TEST_KEPT".into());
    let out = run(&argv(&["/usr/bin/env"]), &opts).await;
    assert!(out
        .stdout_tail
        .lines()
        .any(|l| l == "STEWARD_TEST_KEPT=kept-value"));
    assert!(!out.stdout_tail.contains("hunter2"));
}

#[tokio::test]
async fn a_missing_program_is_an_error_not_a_panic() {
    let cancel = CancellationToken::new();
    let err = runner::run(
        &argv(&["/nonexistent/steward-no-such-program", "x"]),
        &RunOptions::default(),
        &cancel,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RunError::Spawn { .. }), "{err:?}");
    assert_eq!(err.code(), "program_not_found");
    assert!(err.to_string().contains("steward-no-such-program"), "{err}");

    let err = runner::run(&[], &RunOptions::default(), &cancel)
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::EmptyArgv));
}

#[tokio::test]
async fn shell_syntax_in_arguments_is_passed_literally() {
    let out = run(
        &argv(&[
            "/bin/echo",
            "; rm -rf /",
            "$(reboot)",
            "`id`",
            "a b",
            "*",
            "|",
            "&&",
        ]),
        &RunOptions::default(),
    )
    .await;
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.stdout_tail, "; rm -rf / $(reboot) `id` a b * | &&\n");
}

#[tokio::test]
async fn a_template_from_config_runs_with_names_from_config() {
    let text = r#"
[[providers]]
id = "web"
kind = "tcp"
address = "127.0.0.1:1"
node = "piha"
service = "nginx"

[executor]
[executor.commands]
container_restart = ["/bin/echo", "restart", "{service}", "on", "{node}.lan"]
"#;
    let config = Config::parse(text, None).unwrap();
    let known = Known::from_config(&config);
    let templates = &config.executor.as_ref().unwrap().commands;
    let cmd = runner::build_argv("container_restart", "piha", "nginx", templates, &known).unwrap();
    let out = run(&cmd, &RunOptions::default()).await;
    assert_eq!(out.stdout_tail, "restart nginx on piha.lan\n");

    let refused = runner::build_argv(
        "container_restart",
        "piha",
        "nginx; reboot",
        templates,
        &known,
    )
    .unwrap_err();
    assert_eq!(refused.code(), "bad_name");
}

#[tokio::test]
async fn output_is_seen_while_the_command_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    // Prints one line, then waits for the test to let it finish (a file appearing).
    let go = dir.path().join("go");
    let s = script(
        dir.path(),
        "slow.sh",
        "echo first\necho oops >&2\nwhile [ ! -e \"$1\" ]; do sleep 0.05; done\necho second",
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = RunOptions {
        on_output: Some(runner::OutputSink::new(move |stream, data| {
            // The receiver is gone once the test stopped reading: nobody wants the rest.
            let _ = tx.send((stream, String::from_utf8_lossy(data).into_owned()));
        })),
        ..RunOptions::default()
    };
    let argv = argv(&[&s, go.to_str().unwrap()]);
    let cancel = CancellationToken::new();
    let run = runner::run(&argv, &opts, &cancel);
    tokio::pin!(run);
    let mut seen = Vec::new();
    // Both streams arrive before the command can end: it waits for `go`.
    while seen.len() < 2 {
        tokio::select! {
            _ = &mut run => panic!("the command ended before it was let go"),
            got = tokio::time::timeout(Duration::from_secs(10), rx.recv()) => {
                seen.push(got.expect("output arrives while the command runs").unwrap());
            }
        }
    }
    seen.sort_by_key(|(s, _)| *s == runner::OutputStream::Stderr);
    assert_eq!(
        seen,
        vec![
            (runner::OutputStream::Stdout, "first\n".to_owned()),
            (runner::OutputStream::Stderr, "oops\n".to_owned())
        ]
    );
    std::fs::write(&go, "").unwrap();
    let out = run.await.unwrap();
    assert!(out.success());
    assert_eq!(
        out.stdout_tail, "first\nsecond\n",
        "the tail has everything too"
    );
    assert_eq!(rx.recv().await.map(|(_, t)| t).as_deref(), Some("second\n"));
}
