//! Session processors: what is done with one session file.
//!
//! Owns: the built-in `usage` processor (records, malformed lines and tokens by model and
//! day, read as a stream with bounded memory), the `command` processor (an argv from config
//! with `{file}` replaced by the file's absolute path, run by [`runner::run`]: no shell, a
//! clean environment, a timeout that kills the process group), and the [`ProcessFile`] seam
//! for processors written in Rust.
//!
//! Neither built-in processor follows a symbolic link below the root, even one swapped in
//! after the file was indexed: `usage` opens the file with `O_NOFOLLOW` and checks its user
//! directory around the open ([`index::open_no_follow`]); `command` checks the file and its
//! directory right before starting the program (which opens the path itself, so a swap in
//! between remains possible: see [`process_command`]). Such a file is that file's error,
//! "<path> is a symbolic link: not followed", and the run goes on.
//!
//! [`index::open_no_follow`]: super::index::open_no_follow
//! Does not own: which files are due, when runs happen, the per-file state or the lock (the
//! scheduler), nor the index of files (the watcher and index).
//!
//! # Usage: what counts
//! - A *record* is a line that is valid JSON (blank lines are skipped). A *malformed* line is
//!   invalid JSON, not UTF-8, or longer than [`MAX_LINE`]. Bytes after the last newline are
//!   a *partial tail*: the writer is mid-append, so they are neither counted nor malformed
//!   now, and will be counted when the file is processed again.
//! - Tokens are read from Claude Code lines (`message.model`, `message.usage.input_tokens`,
//!   `output_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`), and from a
//!   top-level `usage` with `model` (OpenAI's `prompt_tokens` / `completion_tokens` are
//!   input / output). A usage without a model counts under `unknown`.
//! - Claude Code writes one line per content block of a reply, each repeating the reply's
//!   usage: lines with the same `message.id` (and `requestId`) count once. The ids of the
//!   last [`DEDUP_WINDOW`] replies are remembered, which bounds memory; the repeats are
//!   adjacent in practice.
//! - The day of a record's tokens is the UTC date of its `timestamp` (RFC 3339, or epoch
//!   seconds or milliseconds) when it has one, else of the file's mtime: a long session
//!   spreads over the days it was used.
//! - A file's result replaces the previous one (`Store::replace_session_usage`), so totals
//!   never count a file twice.

use super::index::{self, NoFollow};
pub use super::records::{FileUsage, Tokens};
use crate::config::{SessionProcessorConfig, SESSION_FILE_PLACEHOLDER};
use crate::execute::runner::{self, RunError, RunOptions};
use crate::store::{Store, StoreError};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Longest line the usage processor parses; a longer one is malformed (and never held in
/// memory whole).
pub const MAX_LINE: usize = 1 << 20;

/// How many recent reply ids the usage processor remembers to skip repeated usage.
pub const DEDUP_WINDOW: usize = 4_096;

/// How much of a failed command's stderr goes into the error (and the state row).
pub const ERROR_TAIL_CHARS: usize = 1_000;

/// The model name for usage that does not say which model it was.
pub const UNKNOWN_MODEL: &str = "unknown";

/// One session file handed to a processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFile {
    /// Relative to the root, `/`-separated: `<user>/<name>.jsonl` (the key everywhere).
    pub path: String,
    /// Where it is: the root joined with `path`, absolute.
    pub abs_path: PathBuf,
    pub username: String,
    pub mtime: DateTime<Utc>,
    /// The index's content hash when processing started (`None`: not hashed yet).
    pub file_hash: Option<String>,
}

/// What a processor may use besides the file.
#[derive(Clone)]
pub struct ProcessContext {
    pub store: Store,
    /// Shutdown: a command is killed, and the run stops before the next file.
    pub cancel: CancellationToken,
    pub now: DateTime<Utc>,
}

/// A file processed successfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Processed {
    /// `items_extracted` of the state row.
    pub items: u64,
}

/// Why one file was not processed. Recorded as that file's `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file, or a directory on its way below the root, is a symbolic link (`link` is
    /// that path, relative to the root).
    #[error("{link} is a symbolic link: not followed")]
    SymbolicLink { link: String },
    #[error("cannot store the result: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{}", failed_text(*.exit_code, *.signal, .stderr_tail))]
    Command {
        exit_code: Option<i32>,
        signal: Option<i32>,
        stderr_tail: String,
    },
    #[error("timed out after {} (the process group was killed){}", humantime::format_duration(*.after), stderr_suffix(.stderr_tail))]
    TimedOut {
        after: Duration,
        stderr_tail: String,
    },
    #[error("cancelled (shutting down)")]
    Cancelled,
    /// From a [`ProcessFile`] implementation.
    #[error("{0}")]
    Failed(String),
}

impl ProcessError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ProcessError::Read { .. } => "read_failed",
            ProcessError::SymbolicLink { .. } => "symbolic_link",
            ProcessError::Store(_) => "store_failed",
            ProcessError::Run(e) => e.code(),
            ProcessError::Command { .. } => "command_failed",
            ProcessError::TimedOut { .. } => "timeout",
            ProcessError::Cancelled => "cancelled",
            ProcessError::Failed(_) => "failed",
        }
    }
}

fn failed_text(exit_code: Option<i32>, signal: Option<i32>, stderr_tail: &str) -> String {
    let how = match (exit_code, signal) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => "ended without an exit status".to_owned(),
    };
    format!("{how}{}", stderr_suffix(stderr_tail))
}

fn stderr_suffix(stderr_tail: &str) -> String {
    let tail = stderr_tail.trim();
    if tail.is_empty() {
        return String::new();
    }
    let skip = tail.chars().count().saturating_sub(ERROR_TAIL_CHARS);
    let cut: String = tail.chars().skip(skip).collect();
    format!(": {}{cut}", if skip > 0 { "…" } else { "" })
}

/// A processor written in Rust (the seam for processors beyond `usage` and `command`, and
/// for tests' fakes).
pub trait ProcessFile: Send + Sync + 'static {
    /// Shown as the processor's kind.
    fn kind(&self) -> &str;
    fn process<'a>(
        &'a self,
        file: &'a SessionFile,
        ctx: &'a ProcessContext,
    ) -> BoxFuture<'a, Result<Processed, ProcessError>>;
}

/// What a processor does with a file.
#[derive(Clone)]
pub enum Processor {
    /// Built in: records, malformed lines, tokens by model and day.
    Usage,
    /// An argv whose only placeholder is `{file}`; exit 0 = processed; stdout
    /// `{"items": N}` (whole, or its last line) = items extracted.
    Command {
        argv: Vec<String>,
        timeout: Duration,
    },
    Custom(Arc<dyn ProcessFile>),
}

impl fmt::Debug for Processor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Processor::Usage => write!(f, "Usage"),
            Processor::Command { argv, timeout } => f
                .debug_struct("Command")
                .field("argv", argv)
                .field("timeout", timeout)
                .finish(),
            Processor::Custom(p) => write!(f, "Custom({})", p.kind()),
        }
    }
}

/// A `[[sessions.processors]]` entry that cannot become a processor (the config check
/// refuses these first; this is the same check for callers that skip it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorConfigError {
    #[error("processor {name:?}: {kind:?} is not one of usage, command")]
    UnknownKind { name: String, kind: String },
    #[error("processor {name:?}: command {problem}")]
    BadCommand { name: String, problem: String },
}

impl Processor {
    pub fn from_config(c: &SessionProcessorConfig) -> Result<Processor, ProcessorConfigError> {
        match c.kind.as_str() {
            "usage" => Ok(Processor::Usage),
            "command" => {
                let argv = c.command.clone().unwrap_or_default();
                if let Some(problem) = crate::config::session_command_problem(&argv) {
                    return Err(ProcessorConfigError::BadCommand {
                        name: c.name.clone(),
                        problem,
                    });
                }
                Ok(Processor::Command {
                    argv,
                    timeout: c.timeout(),
                })
            }
            other => Err(ProcessorConfigError::UnknownKind {
                name: c.name.clone(),
                kind: other.to_owned(),
            }),
        }
    }

    pub fn kind(&self) -> &str {
        match self {
            Processor::Usage => "usage",
            Processor::Command { .. } => "command",
            Processor::Custom(p) => p.kind(),
        }
    }

    /// Processes one file. Panics are the caller's to catch (the scheduler does, per file).
    pub async fn process(
        &self,
        file: &SessionFile,
        ctx: &ProcessContext,
    ) -> Result<Processed, ProcessError> {
        match self {
            Processor::Usage => process_usage(file, ctx).await,
            Processor::Command { argv, timeout } => {
                process_command(argv, *timeout, file, ctx).await
            }
            Processor::Custom(p) => p.process(file, ctx).await,
        }
    }
}

// ---------------------------------------------------------------------------------------
// command
// ---------------------------------------------------------------------------------------

/// The argv for one file: every `{file}` replaced by its absolute path; nothing added,
/// removed or split. Pure.
pub fn command_argv(template: &[String], abs_path: &str) -> Vec<String> {
    template
        .iter()
        .map(|a| a.replace(SESSION_FILE_PLACEHOLDER, abs_path))
        .collect()
}

/// `items` from a command's stdout: the whole output, or else its last non-empty line, as
/// a JSON object with a non-negative integer `items`. Anything else is 0 (a command need
/// not report items).
pub fn items_from_stdout(stdout: &str) -> u64 {
    let items = |s: &str| {
        serde_json::from_str::<Value>(s.trim())
            .ok()
            .and_then(|v| v.get("items").and_then(Value::as_u64))
    };
    items(stdout)
        .or_else(|| {
            stdout
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .and_then(items)
        })
        .unwrap_or(0)
}

/// The error for a [`NoFollow`] about `file`.
fn no_follow_error(file: &SessionFile, e: NoFollow) -> ProcessError {
    match e {
        NoFollow::Link { up } => ProcessError::SymbolicLink {
            link: Path::new(&file.path)
                .ancestors()
                .nth(up)
                .unwrap_or(Path::new(&file.path))
                .display()
                .to_string(),
        },
        NoFollow::Io(source) => ProcessError::Read {
            path: file.path.clone(),
            source,
        },
    }
}

/// How many components of `file`'s path are below the root (2 for `<user>/<name>.jsonl`).
fn below_root(file: &SessionFile) -> usize {
    Path::new(&file.path).components().count()
}

/// Runs the command on `file`. The program gets a path, not an open file, so the check
/// that nothing on it below the root is a symbolic link is made right before the start:
/// a link swapped in between that check and the program's own open (microseconds, by
/// someone who can write in the session root) is not caught here. The program should
/// open what it is given with `O_NOFOLLOW` if that matters to it.
async fn process_command(
    template: &[String],
    timeout: Duration,
    file: &SessionFile,
    ctx: &ProcessContext,
) -> Result<Processed, ProcessError> {
    let abs = file.abs_path.to_str().ok_or_else(|| ProcessError::Read {
        path: file.path.clone(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the absolute path is not UTF-8",
        ),
    })?;
    let argv = command_argv(template, abs);
    let (path, below) = (file.abs_path.clone(), below_root(file));
    match tokio::task::spawn_blocking(move || index::no_link_below_root(&path, below)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(no_follow_error(file, e)),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => return Err(ProcessError::Cancelled),
    }
    let opts = RunOptions {
        timeout,
        ..RunOptions::default()
    };
    let out = runner::run(&argv, &opts, &ctx.cancel).await?;
    if out.cancelled {
        return Err(ProcessError::Cancelled);
    }
    if out.timed_out {
        return Err(ProcessError::TimedOut {
            after: timeout,
            stderr_tail: out.stderr_tail,
        });
    }
    if !out.success() {
        return Err(ProcessError::Command {
            exit_code: out.exit_code,
            signal: out.signal,
            stderr_tail: out.stderr_tail,
        });
    }
    Ok(Processed {
        items: items_from_stdout(&out.stdout_tail),
    })
}

// ---------------------------------------------------------------------------------------
// usage
// ---------------------------------------------------------------------------------------

/// Reads a session log from `reader` (streamed: one line in memory at most, capped at
/// [`MAX_LINE`]); `file_day` is the day for records without a timestamp. Blocking.
pub fn read_usage(mut reader: impl BufRead, file_day: NaiveDate) -> std::io::Result<FileUsage> {
    let mut usage = FileUsage::default();
    let mut seen = RecentIds::default();
    let mut line: Vec<u8> = Vec::new();
    // Bytes of the current line so far, and whether it outgrew MAX_LINE (then dropped).
    let mut line_len: u64 = 0;
    let mut too_long = false;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            usage.partial_tail = line_len;
            return Ok(usage);
        }
        let (chunk, ends_line) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        line_len += chunk.len() as u64;
        if !too_long {
            if line.len() + chunk.len() > MAX_LINE {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = chunk.len() + usize::from(ends_line);
        reader.consume(used);
        if ends_line {
            if too_long {
                usage.malformed += 1;
            } else {
                read_line(&line, file_day, &mut seen, &mut usage);
            }
            line.clear();
            line_len = 0;
            too_long = false;
        }
    }
}

/// Reads the session log at `path` (whose last `below` components are below the root),
/// never through a symbolic link below the root; records without a timestamp count on the
/// day of `mtime`. Blocking.
pub fn read_usage_file(
    path: &Path,
    below: usize,
    mtime: DateTime<Utc>,
) -> Result<FileUsage, NoFollow> {
    let file = index::open_no_follow(path, below)?;
    read_usage(
        BufReader::with_capacity(64 * 1024, file),
        mtime.date_naive(),
    )
    .map_err(NoFollow::Io)
}

fn read_line(line: &[u8], file_day: NaiveDate, seen: &mut RecentIds, usage: &mut FileUsage) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let Ok(text) = std::str::from_utf8(line) else {
        usage.malformed += 1;
        return;
    };
    let Ok(record) = serde_json::from_str::<Value>(text) else {
        usage.malformed += 1;
        return;
    };
    usage.records += 1;
    let Some((model, tokens, reply_id)) = tokens_of(&record) else {
        return;
    };
    if let Some(id) = reply_id {
        if !seen.insert(id) {
            return;
        }
    }
    let day = day_of(&record)
        .unwrap_or(file_day)
        .format("%Y-%m-%d")
        .to_string();
    usage.usage.entry((model, day)).or_default().add(&tokens);
}

/// The model, tokens and reply id (for repeats) of a record that carries usage.
fn tokens_of(record: &Value) -> Option<(String, Tokens, Option<String>)> {
    let message = record.get("message").filter(|m| m.is_object());
    let model_of = |v: Option<&Value>| {
        v.and_then(|v| v.get("model"))
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
    };
    let (usage, model) = match message
        .and_then(|m| m.get("usage"))
        .filter(|u| u.is_object())
    {
        // Claude Code: the reply is under `message`.
        Some(u) => (u, model_of(message).or_else(|| model_of(Some(record)))),
        None => {
            let u = record.get("usage").filter(|u| u.is_object())?;
            (u, model_of(Some(record)).or_else(|| model_of(message)))
        }
    };
    let n = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| usage.get(*k).and_then(Value::as_u64))
    };
    let input = n(&["input_tokens", "prompt_tokens"]);
    let output = n(&["output_tokens", "completion_tokens"]);
    let cache_read = n(&["cache_read_input_tokens"]);
    let cache_creation = n(&["cache_creation_input_tokens"]);
    if input.is_none() && output.is_none() && cache_read.is_none() && cache_creation.is_none() {
        return None;
    }
    let tokens = Tokens {
        input: input.unwrap_or(0),
        output: output.unwrap_or(0),
        cache_read: cache_read.unwrap_or(0),
        cache_creation: cache_creation.unwrap_or(0),
        messages: 1,
    };
    let reply_id = message
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .map(|id| {
            let request = record
                .get("requestId")
                .and_then(Value::as_str)
                .unwrap_or("");
            format!("{id}\u{0}{request}")
        });
    Some((
        model.unwrap_or_else(|| UNKNOWN_MODEL.to_owned()),
        tokens,
        reply_id,
    ))
}

/// The UTC day of a record's `timestamp`: RFC 3339, or epoch seconds / milliseconds.
fn day_of(record: &Value) -> Option<NaiveDate> {
    let ts = record.get("timestamp")?;
    let at = match ts {
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc),
        Value::Number(n) => {
            let v = n.as_f64()?;
            // Milliseconds from 2001-09 on; seconds until the year 33658.
            let ms = if v.abs() >= 1e12 { v } else { v * 1000.0 };
            Utc.timestamp_millis_opt(ms as i64).single()?
        }
        _ => return None,
    };
    Some(at.date_naive())
}

/// The last [`DEDUP_WINDOW`] reply ids.
#[derive(Default)]
struct RecentIds {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentIds {
    /// `false` when `id` was seen recently.
    fn insert(&mut self, id: String) -> bool {
        if self.set.contains(&id) {
            return false;
        }
        if self.order.len() == DEDUP_WINDOW {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(id.clone());
        self.set.insert(id);
        true
    }
}

async fn process_usage(
    file: &SessionFile,
    ctx: &ProcessContext,
) -> Result<Processed, ProcessError> {
    let (path, below, mtime) = (file.abs_path.clone(), below_root(file), file.mtime);
    let read = tokio::task::spawn_blocking(move || read_usage_file(&path, below, mtime)).await;
    let usage = match read {
        Ok(read) => read.map_err(|e| no_follow_error(file, e))?,
        // A panic while reading is this file's panic: the scheduler catches it.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => return Err(ProcessError::Cancelled),
    };
    ctx.store
        .replace_session_usage(&file.path, &file.username, &usage, ctx.now)
        .await?;
    Ok(Processed {
        items: usage.records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn read(text: &[u8]) -> FileUsage {
        read_usage(text, day("2026-05-01")).unwrap()
    }

    fn tokens(
        input: u64,
        output: u64,
        cache_read: u64,
        cache_creation: u64,
        messages: u64,
    ) -> Tokens {
        Tokens {
            input,
            output,
            cache_read,
            cache_creation,
            messages,
        }
    }

    #[test]
    fn valid_lines_are_records_and_broken_ones_are_malformed() {
        let u = read(b"{\"a\":1}\n[1,2]\n\"text\"\n{broken\n\n   \n\xff\xfe{}\n{\"b\":2}\r\n");
        assert_eq!(
            u.records, 4,
            "objects, arrays and strings are all JSON records"
        );
        assert_eq!(u.malformed, 2, "invalid JSON and invalid UTF-8");
        assert_eq!(u.partial_tail, 0);
        assert!(u.usage.is_empty(), "no usage in these records");
    }

    #[test]
    fn an_incomplete_last_line_is_a_partial_tail_not_malformed() {
        let u = read(b"{\"a\":1}\n{\"b\":");
        assert_eq!(u.records, 1);
        assert_eq!(u.malformed, 0, "the writer is mid-append");
        assert_eq!(u.partial_tail, 5);
        // Complete JSON without its newline is still not counted: the line may grow.
        let u = read(b"{\"a\":1}\n{\"b\":2}");
        assert_eq!((u.records, u.partial_tail), (1, 7));
    }

    #[test]
    fn a_line_longer_than_the_cap_is_malformed_and_the_next_line_still_counts() {
        let mut text = b"{\"s\":\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        text.extend_from_slice(b"\"}\n{\"ok\":true}\n");
        let u = read_usage(
            BufReader::with_capacity(4096, text.as_slice()),
            day("2026-05-01"),
        )
        .unwrap();
        assert_eq!(u.malformed, 1);
        assert_eq!(u.records, 1);
        // A line exactly at the cap is read.
        let mut at_cap = b"\"".to_vec();
        at_cap.extend(std::iter::repeat_n(b'y', MAX_LINE - 2));
        at_cap.extend_from_slice(b"\"\n");
        assert_eq!(read(&at_cap).records, 1);
    }

    #[test]
    fn an_overlong_unfinished_last_line_is_still_a_partial_tail() {
        let text = vec![b'x'; MAX_LINE + 1];
        let u = read(&text);
        assert_eq!((u.records, u.malformed), (0, 0));
        assert_eq!(u.partial_tail, (MAX_LINE + 1) as u64);
    }

    #[test]
    fn claude_code_usage_is_read_from_the_message() {
        let text = br#"{"type":"user","message":{"role":"user","content":"hi"},"timestamp":"2026-04-30T23:59:00Z"}
{"type":"assistant","requestId":"r1","message":{"id":"m1","model":"claude-sonnet-4-5","usage":{"input_tokens":10,"output_tokens":20,"cache_read_input_tokens":300,"cache_creation_input_tokens":40}},"timestamp":"2026-04-30T23:59:30.123Z"}
"#;
        let u = read(text);
        assert_eq!(u.records, 2);
        assert_eq!(
            u.usage[&("claude-sonnet-4-5".to_owned(), "2026-04-30".to_owned())],
            tokens(10, 20, 300, 40, 1),
            "the record's own day, not the file's"
        );
    }

    #[test]
    fn repeated_lines_of_one_claude_reply_count_once() {
        let line = |block: &str| {
            format!(
                r#"{{"type":"assistant","requestId":"r1","message":{{"id":"m1","model":"claude-opus-4","content":[{{"type":"{block}"}}],"usage":{{"input_tokens":5,"output_tokens":7}}}}}}"#
            )
        };
        let other = r#"{"type":"assistant","requestId":"r2","message":{"id":"m2","model":"claude-opus-4","usage":{"input_tokens":1,"output_tokens":1}}}"#;
        let text = format!("{}\n{}\n{other}\n", line("thinking"), line("text"));
        let u = read(text.as_bytes());
        assert_eq!(u.records, 3, "every line is a record");
        assert_eq!(
            u.by_model()["claude-opus-4"],
            tokens(6, 8, 0, 0, 2),
            "m1 once, m2 once"
        );
    }

    #[test]
    fn openai_style_and_top_level_usage_are_read() {
        let text = br#"{"model":"gpt-4o","usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150},"timestamp":1777593600}
{"model":"qwen2.5:7b","usage":{"input_tokens":3,"output_tokens":4},"timestamp":1777593600000}
{"usage":{"prompt_tokens":1}}
{"model":"gpt-4o","usage":{}}
{"model":"gpt-4o","usage":{"prompt_tokens":"many"}}
"#;
        let u = read(text);
        assert_eq!(u.records, 5);
        let by_model = u.by_model();
        assert_eq!(by_model["gpt-4o"], tokens(100, 50, 0, 0, 1), "{by_model:?}");
        assert_eq!(by_model["qwen2.5:7b"], tokens(3, 4, 0, 0, 1));
        assert_eq!(
            by_model[UNKNOWN_MODEL],
            tokens(1, 0, 0, 0, 1),
            "a usage without a model still counts"
        );
        // 1777593600 s = 2026-05-01T00:00:00Z, in seconds and in milliseconds.
        assert!(u
            .usage
            .contains_key(&("gpt-4o".to_owned(), "2026-05-01".to_owned())));
        assert!(u
            .usage
            .contains_key(&("qwen2.5:7b".to_owned(), "2026-05-01".to_owned())));
    }

    #[test]
    fn records_without_a_timestamp_count_on_the_files_day() {
        let u = read_usage(
            &br#"{"model":"m","usage":{"input_tokens":1},"timestamp":"yesterday"}
"#[..],
            day("2026-03-07"),
        )
        .unwrap();
        assert!(
            u.usage
                .contains_key(&("m".to_owned(), "2026-03-07".to_owned())),
            "{:?}",
            u.usage
        );
    }

    #[test]
    fn the_dedup_window_forgets_old_ids() {
        let mut ids = RecentIds::default();
        assert!(ids.insert("a".into()));
        assert!(!ids.insert("a".into()));
        for i in 0..DEDUP_WINDOW {
            assert!(ids.insert(format!("x{i}")));
        }
        assert!(ids.insert("a".into()), "pushed out of the window");
        assert_eq!(ids.order.len(), DEDUP_WINDOW);
        assert_eq!(ids.set.len(), DEDUP_WINDOW);
    }

    #[test]
    fn tokens_add_up_and_total() {
        let mut t = tokens(1, 2, 3, 4, 1);
        t.add(&tokens(10, 20, 30, 40, 2));
        assert_eq!(t, tokens(11, 22, 33, 44, 3));
        assert_eq!(t.total(), 110);
    }

    #[test]
    fn the_file_placeholder_is_replaced_inside_arguments_and_nothing_else_changes() {
        let template: Vec<String> = ["verify", "--in={file}", "{file}", "-x", "{file}{file}"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(
            command_argv(&template, "/data/u s/a;b.jsonl"),
            [
                "verify",
                "--in=/data/u s/a;b.jsonl",
                "/data/u s/a;b.jsonl",
                "-x",
                "/data/u s/a;b.jsonl/data/u s/a;b.jsonl"
            ],
            "one argument stays one argument, spaces and ; included"
        );
    }

    #[test]
    fn items_come_from_stdout_json_or_are_zero() {
        assert_eq!(items_from_stdout("{\"items\": 7}\n"), 7);
        assert_eq!(
            items_from_stdout("checking...\nlooks fine\n{\"items\":3}\n\n"),
            3
        );
        assert_eq!(items_from_stdout("done\n"), 0);
        assert_eq!(items_from_stdout(""), 0);
        assert_eq!(items_from_stdout("{\"items\": -1}"), 0);
        assert_eq!(items_from_stdout("{\"count\": 4}"), 0);
    }

    #[test]
    fn command_errors_carry_the_exit_and_the_end_of_stderr() {
        let e = ProcessError::Command {
            exit_code: Some(3),
            signal: None,
            stderr_tail: "  boom\n".into(),
        };
        assert_eq!(e.to_string(), "exited with code 3: boom");
        assert_eq!(e.code(), "command_failed");
        let long = format!("{}END", "x".repeat(5000));
        let e = ProcessError::Command {
            exit_code: None,
            signal: Some(9),
            stderr_tail: long,
        };
        let msg = e.to_string();
        assert!(msg.starts_with("killed by signal 9: …x"), "{msg}");
        assert!(msg.ends_with("END"));
        assert!(msg.chars().count() < ERROR_TAIL_CHARS + 40);
        let t = ProcessError::TimedOut {
            after: Duration::from_secs(300),
            stderr_tail: String::new(),
        };
        assert_eq!(
            t.to_string(),
            "timed out after 5m (the process group was killed)"
        );
    }

    #[test]
    fn processors_come_from_config() {
        let c = |kind: &str, command: Option<&[&str]>| SessionProcessorConfig {
            name: "p".into(),
            kind: kind.into(),
            command: command.map(|a| a.iter().map(|s| (*s).to_owned()).collect()),
            cadence: crate::config::DEFAULT_SESSION_CADENCE,
            enabled: None,
            timeout: Duration::from_secs(10),
        };
        assert!(matches!(
            Processor::from_config(&c("usage", None)),
            Ok(Processor::Usage)
        ));
        match Processor::from_config(&c("command", Some(&["v", "{file}"]))).unwrap() {
            Processor::Command { argv, timeout } => {
                assert_eq!(argv, ["v", "{file}"]);
                assert_eq!(timeout, Duration::from_secs(10));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Processor::from_config(&c("command", Some(&["v"]))),
            Err(ProcessorConfigError::BadCommand { .. })
        ));
        assert!(matches!(
            Processor::from_config(&c("shell", None)),
            Err(ProcessorConfigError::UnknownKind { .. })
        ));
        assert_eq!(Processor::Usage.kind(), "usage");
    }
}
