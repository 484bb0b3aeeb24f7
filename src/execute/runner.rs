//! The runner: turns an action type and a target into an argv from config, and runs it.
//!
//! Owns: the `[executor.commands]` templates and their placeholders (`{node}`, `{service}`
//! only, and only for names that exist in config), the name rules that keep a name from
//! Redis or an LLM from ever becoming an option, a path or a new argument, and running one
//! argv safely: no shell, a clean environment, stdin closed, its own process group, a
//! timeout (or cancellation) that kills the whole group, and bounded output (the last
//! `tail_bytes` of stdout and stderr, however much the command prints).
//!
//! Does not own: which proposals run, approvals, the at-most-once guarantee or the audit
//! table (the executor around it); it answers a [`RunOutcome`] and keeps no state.

use crate::config::Config;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

/// Longest node or service name a template accepts.
pub const MAX_NAME_LEN: usize = 100;

/// Default for [`RunOptions::timeout`]: the default of `[executor] timeout`.
pub const DEFAULT_TIMEOUT: Duration = crate::config::DEFAULT_EXECUTOR_TIMEOUT;

/// Default for [`RunOptions::tail_bytes`]: enough for an error message and its context.
pub const DEFAULT_TAIL_BYTES: usize = 8 * 1024;

/// Default for [`RunOptions::env_keep`]: what a command needs to find programs and speak
/// the user's locale; never tokens or keys.
pub const DEFAULT_ENV_KEEP: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "TZ"];

/// After the command is over, how long its pipes may stay open (held by a process that
/// left the group) before the output is taken as it is.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// The names that exist in config: every provider's node, and every (node, service) pair.
/// A template placeholder only ever receives one of these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    nodes: BTreeSet<String>,
    services: BTreeSet<(String, String)>,
}

impl Known {
    /// The nodes and (node, service) pairs of `config.providers` (disabled ones included:
    /// they still exist).
    pub fn from_config(config: &Config) -> Self {
        Self::from_pairs(
            config
                .providers
                .iter()
                .map(|p| (p.node.clone(), p.service.clone())),
        )
    }

    /// From (node, service) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut known = Self::default();
        for (node, service) in pairs {
            known.nodes.insert(node.clone());
            known.services.insert((node, service));
        }
        known
    }

    pub fn has_node(&self, node: &str) -> bool {
        self.nodes.contains(node)
    }

    pub fn has_service(&self, node: &str, service: &str) -> bool {
        self.services
            .contains(&(node.to_owned(), service.to_owned()))
    }
}

/// What is wrong with a template (a config mistake, not an attacker).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateProblem {
    #[error("the template is empty")]
    Empty,
    #[error("the program (first element) must not contain a placeholder")]
    PlaceholderInProgram,
    #[error("unknown placeholder {{{0}}}; only {{node}} and {{service}} exist")]
    UnknownPlaceholder(String),
    #[error("argument {0:?} has a brace that is not part of {{node}} or {{service}}")]
    StrayBrace(String),
}

/// Why an action was not turned into an argv. Nothing was run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no command is configured for action type {kind:?} ([executor.commands])")]
    NoTemplate { kind: String },
    #[error("node {} does not exist in config", shown(.0))]
    UnknownNode(String),
    #[error("service {} on node {} does not exist in config", shown(.service), shown(.node))]
    UnknownService { node: String, service: String },
    #[error(
        "{field} {} is not a safe name (1 to {MAX_NAME_LEN} of A-Z a-z 0-9 . _ -, \
         not starting with '-' or '.')",
        shown(.value)
    )]
    BadName { field: &'static str, value: String },
    #[error("the command for action type {kind:?} is invalid: {problem}")]
    BadTemplate {
        kind: String,
        problem: TemplateProblem,
    },
}

impl Refusal {
    /// Stable machine-readable code (API errors, audit rows).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NoTemplate { .. } => "no_template",
            Refusal::UnknownNode(_) => "unknown_node",
            Refusal::UnknownService { .. } => "unknown_service",
            Refusal::BadName { .. } => "bad_name",
            Refusal::BadTemplate { .. } => "bad_template",
        }
    }
}

/// A value for an error message: quoted and escaped, and cut short, since it may come from
/// an LLM or the network.
fn shown(value: &str) -> String {
    const MAX: usize = 120;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// Whether an action type runs a command at all: `notify` and `ignore` do not (the caller
/// records them without calling [`build_argv`]).
pub fn needs_command(kind: &str) -> bool {
    !matches!(kind, "notify" | "ignore")
}

/// Whether `name` may fill a placeholder: 1 to [`MAX_NAME_LEN`] of `[A-Za-z0-9._-]`, not
/// starting with `-` (an option) or `.` (`.`, `..`, hidden files).
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The argv for action type `kind` on `node`/`service`: the template from `templates` with
/// `{node}` and `{service}` substituted inside the arguments that contain them. Never adds,
/// removes or splits an argument. Pure.
///
/// Checks, in order: both names are safe ([`Refusal::BadName`]), the node and the
/// (node, service) pair exist in config, a template exists and is valid.
pub fn build_argv(
    kind: &str,
    node: &str,
    service: &str,
    templates: &BTreeMap<String, Vec<String>>,
    known: &Known,
) -> Result<Vec<String>, Refusal> {
    for (field, value) in [("node", node), ("service", service)] {
        if !is_safe_name(value) {
            return Err(Refusal::BadName {
                field,
                value: value.to_owned(),
            });
        }
    }
    if !known.has_node(node) {
        return Err(Refusal::UnknownNode(node.to_owned()));
    }
    if !known.has_service(node, service) {
        return Err(Refusal::UnknownService {
            node: node.to_owned(),
            service: service.to_owned(),
        });
    }
    let template = templates.get(kind).ok_or_else(|| Refusal::NoTemplate {
        kind: kind.to_owned(),
    })?;
    let bad = |problem| Refusal::BadTemplate {
        kind: kind.to_owned(),
        problem,
    };
    if template.is_empty() {
        return Err(bad(TemplateProblem::Empty));
    }
    let mut argv = Vec::with_capacity(template.len());
    for (i, arg) in template.iter().enumerate() {
        let out = substitute(arg, node, service).map_err(bad)?;
        if i == 0 && out != *arg {
            return Err(bad(TemplateProblem::PlaceholderInProgram));
        }
        argv.push(out);
    }
    Ok(argv)
}

/// One argument with its placeholders filled. Every brace must belong to `{node}` or
/// `{service}`: there is no escape syntax, so a typo (`{servce}`) is refused rather than
/// passed on literally.
fn substitute(arg: &str, node: &str, service: &str) -> Result<String, TemplateProblem> {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(open) = rest.find(['{', '}']) {
        out.push_str(&rest[..open]);
        if rest[open..].starts_with('}') {
            return Err(TemplateProblem::StrayBrace(arg.to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| TemplateProblem::StrayBrace(arg.to_owned()))?;
        let name = &after[..close];
        if name.contains('{') {
            return Err(TemplateProblem::StrayBrace(arg.to_owned()));
        }
        match name {
            "node" => out.push_str(node),
            "service" => out.push_str(service),
            other => return Err(TemplateProblem::UnknownPlaceholder(other.to_owned())),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Which of a command's output streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

/// Receives the command's output as it is read, chunk by chunk (for live progress). It is
/// called on the reading task: it must be quick and must not block.
#[derive(Clone)]
pub struct OutputSink(std::sync::Arc<OutputFn>);

type OutputFn = dyn Fn(OutputStream, &[u8]) + Send + Sync;

impl OutputSink {
    pub fn new(f: impl Fn(OutputStream, &[u8]) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(f))
    }
}

impl fmt::Debug for OutputSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OutputSink")
    }
}

/// Told the pid of the command right after it started; the command leads its own process
/// group, so this is also its pgid. Called on the running task: quick, never blocking.
#[derive(Clone)]
pub struct SpawnHook(std::sync::Arc<dyn Fn(u32) + Send + Sync>);

impl SpawnHook {
    pub fn new(f: impl Fn(u32) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(f))
    }
}

impl fmt::Debug for SpawnHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpawnHook")
    }
}

/// How to run one command.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// From spawn; then the whole process group is killed.
    pub timeout: Duration,
    /// How much of the end of stdout, and of stderr, is kept.
    pub tail_bytes: usize,
    /// Environment variables passed through (when set); everything else is dropped.
    pub env_keep: Vec<String>,
    /// Sees the output while the command runs; the outcome has the tails either way.
    pub on_output: Option<OutputSink>,
    /// Learns the command's pid (= pgid) as soon as it runs, e.g. to record it.
    pub on_spawn: Option<SpawnHook>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            tail_bytes: DEFAULT_TAIL_BYTES,
            env_keep: DEFAULT_ENV_KEEP.iter().map(|k| (*k).to_owned()).collect(),
            on_output: None,
            on_spawn: None,
        }
    }
}

/// What a command did. `exit_code` is set when it exited, `signal` when a signal ended it
/// (our SIGKILL on timeout or cancellation, or another).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunOutcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// Stopped because the caller cancelled (shutdown), not because of the timeout.
    pub cancelled: bool,
    pub duration_ms: u64,
    pub stdout_tail: String,
    pub stderr_tail: String,
    /// Some output was dropped: stdout or stderr was longer than `tail_bytes`.
    pub truncated: bool,
    pub pid: Option<u32>,
}

impl RunOutcome {
    /// Exited by itself with code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.cancelled
    }
}

/// The command could not be run at all (nothing to kill, no outcome).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("empty command")]
    EmptyArgv,
    #[error("cannot start {}: {source}", shown(.program))]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("lost track of {}: {source}", shown(.program))]
    Wait {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    /// Stable machine-readable code (API errors, audit rows).
    pub fn code(&self) -> &'static str {
        match self {
            RunError::EmptyArgv => "empty_command",
            RunError::Spawn { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => "program_not_found",
                std::io::ErrorKind::PermissionDenied => "permission_denied",
                _ => "spawn_failed",
            },
            RunError::Wait { .. } => "wait_failed",
        }
    }
}

/// Runs `argv` (no shell: `argv[0]` is the program, looked up in the kept `PATH`) and
/// answers its outcome. On timeout or cancellation the whole process group is killed;
/// when the program exits by itself, whatever it left running in its group is killed too,
/// so nothing outlives the action. If this future is dropped, the group is killed as well.
pub async fn run(
    argv: &[String],
    opts: &RunOptions,
    cancel: &CancellationToken,
) -> Result<RunOutcome, RunError> {
    let (program, args) = argv.split_first().ok_or(RunError::EmptyArgv)?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    for key in &opts.env_keep {
        if let Some(value) = std::env::var_os(key) {
            cmd.env(key, value);
        }
    }
    let started = tokio::time::Instant::now();
    let mut child = cmd.spawn().map_err(|source| RunError::Spawn {
        program: program.clone(),
        source,
    })?;
    let pid = child.id();
    if let (Some(hook), Some(pid)) = (&opts.on_spawn, pid) {
        (hook.0)(pid);
    }
    // Declared after `child`, so dropped first: the group is killed while the leader is
    // not reaped yet, which keeps its pid (= the group id) from being reused.
    let mut group = GroupGuard(pid.and_then(|p| i32::try_from(p).ok()));

    let stop = CancellationToken::new();
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let sink = |stream| opts.on_output.as_ref().map(|s| (s, stream));
    let readers = async {
        tokio::join!(
            read_tail(stdout, opts.tail_bytes, &stop, sink(OutputStream::Stdout)),
            read_tail(stderr, opts.tail_bytes, &stop, sink(OutputStream::Stderr))
        )
    };
    tokio::pin!(readers);
    let mut exited = std::pin::pin!(leader_exited(pid));
    let deadline = tokio::time::sleep(opts.timeout);
    tokio::pin!(deadline);

    let mut tails = None;
    let mut watching = true;
    let end = loop {
        tokio::select! {
            t = &mut readers, if tails.is_none() => tails = Some(t),
            seen = &mut exited, if watching => {
                if seen {
                    break End::Exited;
                }
                // Cannot watch without reaping: fall back to waiting (and reaping).
                watching = false;
            }
            status = child.wait(), if !watching => {
                // Reaped: its pid may be reused, so the group is not signalled any more.
                group.0 = None;
                break End::Reaped(status);
            }
            () = &mut deadline => break End::TimedOut,
            () = cancel.cancelled() => break End::Cancelled,
        }
    };
    // The whole command on timeout or cancellation; what it left behind after it exited.
    group.kill();
    let (timed_out, cancelled) = (matches!(end, End::TimedOut), matches!(end, End::Cancelled));
    let status = match end {
        End::Reaped(status) => status,
        _ => child.wait().await,
    }
    .map_err(|source| RunError::Wait {
        program: program.clone(),
        source,
    })?;
    let (out, err) = match tails {
        Some(t) => t,
        None => match tokio::time::timeout(PIPE_GRACE, &mut readers).await {
            Ok(t) => t,
            Err(_) => {
                // A process outside the group still holds a pipe: keep what was read.
                stop.cancel();
                readers.await
            }
        },
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(RunOutcome {
        exit_code: status.code(),
        signal: status.signal(),
        timed_out,
        cancelled,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        truncated: out.truncated() || err.truncated(),
        stdout_tail: out.into_string(),
        stderr_tail: err.into_string(),
        pid,
    })
}

enum End {
    /// The leader exited and is a zombie (not reaped yet).
    Exited,
    /// The leader exited and was reaped (fallback when it could not be watched).
    Reaped(std::io::Result<std::process::ExitStatus>),
    TimedOut,
    Cancelled,
}

/// Resolves `true` once the process `pid` has exited, without reaping it (`waitid` with
/// `WNOWAIT`), so its group can still be signalled safely; `false` when it cannot tell.
async fn leader_exited(pid: Option<u32>) -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    use nix::unistd::Pid;
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return false;
    };
    let waited = tokio::task::spawn_blocking(move || loop {
        match waitid(
            Id::Pid(Pid::from_raw(pid)),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => return other.is_ok(),
        }
    });
    waited.await.unwrap_or(false)
}

/// Kills the process group (SIGKILL) when told to, or when dropped armed.
struct GroupGuard(Option<i32>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH (nobody left in the group) is the usual, fine answer.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `limit` bytes of a stream, and how many bytes it had in all.
pub struct Tail {
    buf: Vec<u8>,
    limit: usize,
    total: u64,
}

impl Tail {
    pub fn new(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            limit,
            total: 0,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        if data.len() >= self.limit {
            self.buf.clear();
            self.buf.extend_from_slice(&data[data.len() - self.limit..]);
        } else {
            self.buf.extend_from_slice(data);
            if self.buf.len() > self.limit {
                let excess = self.buf.len() - self.limit;
                self.buf.drain(..excess);
            }
        }
    }

    pub fn truncated(&self) -> bool {
        self.total > self.buf.len() as u64
    }

    /// Lossy UTF-8; a cut tail starts at the next character, not inside one.
    pub fn into_string(self) -> String {
        self.text()
    }

    /// The kept bytes as text (see [`Tail::into_string`]), leaving the tail as it is.
    pub fn text(&self) -> String {
        let mut start = 0;
        if self.truncated() {
            while start < self.buf.len().min(3) && (self.buf[start] & 0b1100_0000) == 0b1000_0000 {
                start += 1;
            }
        }
        String::from_utf8_lossy(&self.buf[start..]).into_owned()
    }
}

impl fmt::Debug for Tail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tail")
            .field("kept", &self.buf.len())
            .field("total", &self.total)
            .finish()
    }
}

/// Reads `stream` to its end (or until `stop`), keeping the last `limit` bytes: memory stays
/// bounded however much the command prints.
async fn read_tail<R: AsyncRead + Unpin>(
    stream: Option<R>,
    limit: usize,
    stop: &CancellationToken,
    sink: Option<(&OutputSink, OutputStream)>,
) -> Tail {
    let mut tail = Tail::new(limit);
    let Some(mut stream) = stream else {
        return tail;
    };
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            biased;
            read = stream.read(&mut chunk) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some((sink, which)) = sink {
                        (sink.0)(which, &chunk[..n]);
                    }
                    tail.push(&chunk[..n]);
                }
            },
            () = stop.cancelled() => break,
        }
    }
    tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> BTreeMap<String, Vec<String>> {
        let t = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        BTreeMap::from([
            (
                "container_restart".to_owned(),
                t(&["docker", "restart", "{service}"]),
            ),
            (
                "redeploy".to_owned(),
                t(&["ssh", "{node}.lan", "deploy", "--", "{service}"]),
            ),
            ("odd".to_owned(), t(&["x", "{other}"])),
            ("empty_ph".to_owned(), t(&["find", ".", "-exec", "{}"])),
            ("stray".to_owned(), t(&["x", "a}b"])),
            ("unclosed".to_owned(), t(&["x", "{node"])),
            ("program_ph".to_owned(), t(&["{node}", "x"])),
            ("nothing".to_owned(), Vec::new()),
        ])
    }

    fn known() -> Known {
        Known::from_pairs([
            ("piha".to_owned(), "nginx".to_owned()),
            ("piha".to_owned(), "mosquitto".to_owned()),
            ("nas".to_owned(), "backup".to_owned()),
        ])
    }

    fn build(kind: &str, node: &str, service: &str) -> Result<Vec<String>, Refusal> {
        build_argv(kind, node, service, &templates(), &known())
    }

    #[test]
    fn placeholders_fill_whole_or_part_of_an_argument_and_never_add_one() {
        assert_eq!(
            build("container_restart", "piha", "nginx").unwrap(),
            ["docker", "restart", "nginx"]
        );
        assert_eq!(
            build("redeploy", "nas", "backup").unwrap(),
            ["ssh", "nas.lan", "deploy", "--", "backup"]
        );
    }

    #[test]
    fn names_must_exist_in_config_as_a_node_and_as_that_nodes_service() {
        assert_eq!(
            build("container_restart", "ghost", "nginx"),
            Err(Refusal::UnknownNode("ghost".into()))
        );
        // Both names exist, but not together.
        let err = build("container_restart", "nas", "nginx").unwrap_err();
        assert_eq!(
            err,
            Refusal::UnknownService {
                node: "nas".into(),
                service: "nginx".into()
            }
        );
        assert_eq!(err.code(), "unknown_service");
    }

    #[test]
    fn injection_attempts_are_bad_names_before_anything_else() {
        let long = "a".repeat(MAX_NAME_LEN + 1);
        for evil in [
            "; rm -rf /",
            "nginx; reboot",
            "$(reboot)",
            "`reboot`",
            "../etc",
            "..",
            ".hidden",
            "a b",
            "a\tb",
            "a\nb",
            "-rf",
            "--help",
            "",
            "ngînx",
            "nginx\u{0}",
            "a/b",
            "{node}",
            "*",
            long.as_str(),
        ] {
            let as_service = build("container_restart", "piha", evil).unwrap_err();
            assert_eq!(
                as_service,
                Refusal::BadName {
                    field: "service",
                    value: evil.to_owned()
                },
                "{evil:?}"
            );
            assert_eq!(as_service.code(), "bad_name");
            // Checked before existence and before the template.
            assert_eq!(
                build("no_such_kind", evil, "nginx").unwrap_err(),
                Refusal::BadName {
                    field: "node",
                    value: evil.to_owned()
                },
                "{evil:?}"
            );
        }
        let at_limit = "a".repeat(MAX_NAME_LEN);
        assert!(is_safe_name(&at_limit));
        assert!(is_safe_name("web-1.prod_2"));
    }

    #[test]
    fn unknown_placeholders_and_stray_braces_are_bad_templates() {
        let problem = |kind: &str| match build(kind, "piha", "nginx") {
            Err(Refusal::BadTemplate { problem, .. }) => problem,
            other => panic!("{kind}: {other:?}"),
        };
        assert_eq!(
            problem("odd"),
            TemplateProblem::UnknownPlaceholder("other".into())
        );
        assert_eq!(
            problem("empty_ph"),
            TemplateProblem::UnknownPlaceholder("".into())
        );
        assert_eq!(problem("stray"), TemplateProblem::StrayBrace("a}b".into()));
        assert_eq!(
            problem("unclosed"),
            TemplateProblem::StrayBrace("{node".into())
        );
        assert_eq!(problem("program_ph"), TemplateProblem::PlaceholderInProgram);
        assert_eq!(problem("nothing"), TemplateProblem::Empty);
        let err = build("odd", "piha", "nginx").unwrap_err();
        assert_eq!(err.code(), "bad_template");
        assert!(err.to_string().contains("{other}"), "{err}");
    }

    #[test]
    fn a_missing_template_is_no_template_and_notify_ignore_need_none() {
        let err = build("reboot", "piha", "nginx").unwrap_err();
        assert_eq!(
            err,
            Refusal::NoTemplate {
                kind: "reboot".into()
            }
        );
        assert_eq!(err.code(), "no_template");
        assert!(!needs_command("notify"));
        assert!(!needs_command("ignore"));
        assert!(needs_command("container_restart"));
    }

    #[test]
    fn known_comes_from_the_providers_in_config() {
        let text = "[[providers]]\nid = \"web\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\n\
                    node = \"piha\"\nservice = \"nginx\"\n";
        let config = Config::parse(text, None).unwrap();
        let known = Known::from_config(&config);
        assert!(known.has_node("piha"));
        assert!(known.has_service("piha", "nginx"));
        assert!(!known.has_service("piha", "web"));
    }

    #[test]
    fn refusal_messages_escape_and_shorten_hostile_values() {
        let err = Refusal::BadName {
            field: "node",
            value: format!("a\nb{}", "x".repeat(500)),
        };
        let msg = err.to_string();
        assert!(msg.contains("\"a\\nb"), "{msg}");
        assert!(msg.len() < 400, "{msg}");
    }

    #[test]
    fn tail_keeps_the_last_bytes_and_starts_on_a_character() {
        let mut t = Tail::new(4);
        t.push(b"ab");
        t.push(b"cd");
        assert!(!t.truncated());
        t.push(b"e");
        assert!(t.truncated());
        assert_eq!(t.buf, b"bcde");
        // "éé" is C3 A9 C3 A9: the last 3 bytes start inside the first 'é'.
        t.push("éé".as_bytes());
        assert_eq!(t.total, 9);
        assert_eq!(t.into_string(), "éé");
        let mut t = Tail::new(3);
        t.push("éé".as_bytes());
        assert_eq!(t.into_string(), "é");
        let mut t = Tail::new(0);
        t.push(b"x");
        assert!(t.truncated());
        assert_eq!(t.into_string(), "");
    }
}
