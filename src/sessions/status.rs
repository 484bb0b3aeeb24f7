//! The session pipeline's status: `ok`, `warning` or `info`, a pure function of what the
//! store knows and `now` (design.md "Session pipeline", seed 003).
//!
//! Owns: the freshness check (the newest file against the newest `processed_at` + grace,
//! grace = 2 × cadence; for a processor that never processed a file, the file that has
//! waited longest against the grace: a file younger than the grace is never stale),
//! the stuck-file check (the oldest never-processed file against the
//! stuck grace, by default 4 × grace), how several processors combine (the worst wins), and
//! the words a person reads. A `warning` makes the overall status `degraded`, an `info`
//! does not (the caller applies that).
//! Does not own: reading the store or the environment. The caller gathers a
//! [`PipelineInput`] (see `Store::pipeline_input`) and reads
//! `SESSION_PIPELINE_STUCK_FILE_GRACE_SECONDS` at the edge.

use crate::clock;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// The session pipeline's service name: in `/api/health/detailed` and its events.
pub const SERVICE: &str = "session_pipeline";

/// The severity of the pipeline's status. Never `error`: a processor may be down for
/// maintenance, which is not a hard failure (seed 003).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "lowercase")]
pub enum PipelineLevel {
    Ok,
    Info,
    Warning,
}

impl PipelineLevel {
    pub const ALL: [PipelineLevel; 3] = [
        PipelineLevel::Ok,
        PipelineLevel::Info,
        PipelineLevel::Warning,
    ];

    /// The level written as text (a stored setting); `None` for anything else.
    pub fn parse(s: &str) -> Option<PipelineLevel> {
        PipelineLevel::ALL.into_iter().find(|l| l.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PipelineLevel::Ok => "ok",
            PipelineLevel::Info => "info",
            PipelineLevel::Warning => "warning",
        }
    }
}

/// The `session_pipeline` entry of `GET /api/health/detailed`.
// `#[ts(optional)]`: ts-rs reads `skip_serializing_if` only together with `default`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct PipelineStatus {
    pub status: PipelineLevel,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub detail: Option<String>,
    /// The skipped file (relative path), with `info`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub stuck_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub stuck_file_age_seconds: Option<i64>,
    /// The processor(s) the finding is about, comma-separated; none when `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub processor: Option<String>,
}

/// An indexed file and its modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileAt {
    /// Relative to the root: `<user>/<name>.jsonl`.
    pub path: String,
    pub mtime: DateTime<Utc>,
}

/// The oldest indexed file a processor has never processed successfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unprocessed {
    pub path: String,
    pub mtime: DateTime<Utc>,
    /// Why its last attempt failed, when one did.
    pub last_error: Option<String>,
}

/// One processor's progress, as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorProgress {
    pub name: String,
    pub cadence: Duration,
    /// The newest successful `processed_at` over all its state rows, including rows of
    /// files that no longer exist (seed 003 compares against exactly that).
    pub last_processed_at: Option<DateTime<Utc>>,
    /// How many indexed files it has never processed successfully.
    pub unprocessed: u64,
    pub oldest_unprocessed: Option<Unprocessed>,
    /// It has never finished a run and its first one is still due (it runs at start;
    /// it gets one grace period for it). Not having processed anything yet is then not
    /// news: a fresh start with files on disk does not warn before the first run ends.
    pub first_run_pending: bool,
}

/// Everything the status depends on besides `now`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipelineInput {
    /// Indexed session files.
    pub files: u64,
    /// The most recently modified one.
    pub newest: Option<FileAt>,
    /// The processors expected to keep up: the enabled ones (a disabled processor only
    /// runs when asked, so its lag is not news).
    pub processors: Vec<ProcessorProgress>,
    /// `SESSION_PIPELINE_STUCK_FILE_GRACE_SECONDS`, when set: replaces 4 × grace.
    pub stuck_grace_override: Option<Duration>,
}

/// How far the newest file may be ahead of the newest processing: 2 × cadence.
pub fn grace(cadence: Duration) -> Duration {
    cadence.saturating_mul(2)
}

/// How old a never-processed file may get before it counts as skipped: the override, else
/// 4 × grace.
pub fn stuck_grace(cadence: Duration, stuck_override: Option<Duration>) -> Duration {
    stuck_override.unwrap_or_else(|| grace(cadence).saturating_mul(4))
}

/// The pipeline's status at `now`. Pure.
pub fn pipeline_status(input: &PipelineInput, now: DateTime<Utc>) -> PipelineStatus {
    let (files, newest) = match (&input.newest, input.files) {
        (Some(newest), files) if files > 0 => (files, newest),
        _ => return ok("no session files yet".to_owned()),
    };
    let findings: Vec<Finding> = input
        .processors
        .iter()
        .filter_map(|p| finding(p, newest, input.stuck_grace_override, now))
        .collect();
    let Some(worst) = findings.iter().map(|f| f.level).max() else {
        return ok(all_clear(files, &input.processors, now));
    };
    let worst_ones: Vec<&Finding> = findings.iter().filter(|f| f.level == worst).collect();
    // With several skipped files, the oldest one is the one to show.
    let shown = worst_ones
        .iter()
        .max_by_key(|f| f.stuck.as_ref().map(|(_, age)| *age))
        .expect("at least one finding at the worst level");
    let detail = worst_ones
        .iter()
        .map(|f| f.detail.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let processor = worst_ones
        .iter()
        .map(|f| f.processor.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    PipelineStatus {
        status: worst,
        detail: Some(detail),
        stuck_file: shown.stuck.as_ref().map(|(path, _)| path.clone()),
        stuck_file_age_seconds: shown.stuck.as_ref().map(|(_, age)| *age),
        processor: Some(processor),
    }
}

/// What is wrong with one processor, if anything.
struct Finding {
    level: PipelineLevel,
    processor: String,
    detail: String,
    /// The skipped file and its age in seconds (with `info`).
    stuck: Option<(String, i64)>,
}

fn finding(
    p: &ProcessorProgress,
    newest: &FileAt,
    stuck_override: Option<Duration>,
    now: DateTime<Utc>,
) -> Option<Finding> {
    let name = &p.name;
    let warning = |detail: String| Finding {
        level: PipelineLevel::Warning,
        processor: name.clone(),
        detail,
        stuck: None,
    };
    let Some(last) = p.last_processed_at else {
        if p.first_run_pending {
            return None;
        }
        // Never processed anything: as with every other finding, that is news only once a
        // file has waited longer than the grace (issue 10: the first file in an empty root
        // is 0 s old, before the processor had its chance, and must not be called stale).
        // The wait that counts is the longest one, the oldest unprocessed file's, so a
        // fresh upload never hides an old one. Seed 003's "files but the processor never
        // ran → warning" holds: its file is 2 h old, four times the default grace.
        let (path, mtime) = match &p.oldest_unprocessed {
            Some(o) => (&o.path, o.mtime),
            None => (&newest.path, newest.mtime),
        };
        let waited = clock::since(now, mtime);
        if waited <= grace(p.cadence) {
            return None;
        }
        return Some(warning(format!(
            "the {name} processor has never processed a session file; session {path} has \
             waited {} — check the {name} job",
            human(waited),
        )));
    };
    if newest.mtime > clock::add(last, grace(p.cadence)) {
        return Some(warning(format!(
            "newest session {} is {} old but the {name} processor last processed a file {} \
             ago — check the {name} job",
            newest.path,
            human(clock::since(now, newest.mtime)),
            human(clock::since(now, last)),
        )));
    }
    let oldest = p.oldest_unprocessed.as_ref()?;
    let age = clock::since(now, oldest.mtime);
    if age <= stuck_grace(p.cadence, stuck_override) {
        return None;
    }
    let why = match &oldest.last_error {
        Some(e) => format!("its last attempt failed: {e}"),
        None => "it was never attempted".to_owned(),
    };
    Some(Finding {
        level: PipelineLevel::Info,
        processor: name.clone(),
        detail: format!(
            "the {name} processor skipped session {}: {} old and still unprocessed while \
             newer files were processed ({why})",
            oldest.path,
            human(age),
        ),
        stuck: Some((
            oldest.path.clone(),
            i64::try_from(age.as_secs()).unwrap_or(i64::MAX),
        )),
    })
}

fn ok(detail: String) -> PipelineStatus {
    PipelineStatus {
        status: PipelineLevel::Ok,
        detail: Some(detail),
        stuck_file: None,
        stuck_file_age_seconds: None,
        processor: None,
    }
}

/// "3 session files, all processed", or what is still waiting (within its grace).
fn all_clear(files: u64, processors: &[ProcessorProgress], now: DateTime<Utc>) -> String {
    let files_text = match files {
        1 => "1 session file".to_owned(),
        n => format!("{n} session files"),
    };
    if processors.is_empty() {
        return format!("{files_text}, no processor configured");
    }
    let waiting: Vec<String> = processors
        .iter()
        .filter(|p| p.unprocessed > 0)
        .map(|p| {
            let first = match p.last_processed_at {
                None => " for its first processing",
                Some(_) => "",
            };
            match &p.oldest_unprocessed {
                Some(o) => format!(
                    "{}: {} waiting{first} (oldest {} old)",
                    p.name,
                    p.unprocessed,
                    human(clock::since(now, o.mtime))
                ),
                None => format!("{}: {} waiting{first}", p.name, p.unprocessed),
            }
        })
        .collect();
    if waiting.is_empty() {
        format!("{files_text}, all processed")
    } else {
        format!("{files_text}; {}", waiting.join(", "))
    }
}

/// A duration as a person says it, rounded down to its largest unit: "45 s", "5 min",
/// "2 h", "3 d".
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3_599 => format!("{} min", s / 60),
        3_600..=172_799 => format!("{} h", s / 3_600),
        _ => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const MIN: u64 = 60;
    const HOUR: u64 = 3_600;
    /// The default cadence: grace 30 min, stuck grace 2 h.
    const CADENCE: Duration = Duration::from_secs(15 * MIN);

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 8, 12, 0, 0).unwrap()
    }

    fn ago(secs: u64) -> DateTime<Utc> {
        now() - chrono::Duration::seconds(secs as i64)
    }

    fn file(path: &str, secs_ago: u64) -> FileAt {
        FileAt {
            path: path.to_owned(),
            mtime: ago(secs_ago),
        }
    }

    fn verification(last_processed_secs_ago: Option<u64>) -> ProcessorProgress {
        ProcessorProgress {
            name: "verification".to_owned(),
            cadence: CADENCE,
            last_processed_at: last_processed_secs_ago.map(ago),
            unprocessed: 0,
            oldest_unprocessed: None,
            first_run_pending: false,
        }
    }

    #[test]
    fn a_processor_on_its_first_run_is_not_yet_behind() {
        let mut p = verification(None);
        p.first_run_pending = true;
        let s = status(&input(1, file("x/old.jsonl", 2 * HOUR), vec![p.clone()]));
        assert_eq!(s.status, PipelineLevel::Ok, "{s:?}");
        p.first_run_pending = false;
        let s = status(&input(1, file("x/old.jsonl", 2 * HOUR), vec![p]));
        assert_eq!(
            s.status,
            PipelineLevel::Warning,
            "once a run ended with nothing done, it is"
        );
    }

    fn with_unprocessed(mut p: ProcessorProgress, path: &str, secs_ago: u64) -> ProcessorProgress {
        p.unprocessed += 1;
        p.oldest_unprocessed = Some(Unprocessed {
            path: path.to_owned(),
            mtime: ago(secs_ago),
            last_error: None,
        });
        p
    }

    fn input(files: u64, newest: FileAt, processors: Vec<ProcessorProgress>) -> PipelineInput {
        PipelineInput {
            files,
            newest: Some(newest),
            processors,
            stuck_grace_override: None,
        }
    }

    fn status(input: &PipelineInput) -> PipelineStatus {
        pipeline_status(input, now())
    }

    fn detail(s: &PipelineStatus) -> &str {
        s.detail.as_deref().unwrap_or_default()
    }

    // --- seed 003, TestSessionPipelineHealthCheck -------------------------------------

    #[test]
    fn no_session_files_is_ok_the_cold_start() {
        let s = status(&PipelineInput {
            processors: vec![verification(None)],
            ..Default::default()
        });
        assert_eq!(s.status, PipelineLevel::Ok, "{s:?}");
        assert_eq!(detail(&s), "no session files yet");
        assert_eq!(s.stuck_file, None);
    }

    #[test]
    fn files_recently_processed_are_ok() {
        // mtime 1 min ago, processed now (a row for another file: any row counts).
        let p = with_unprocessed(verification(Some(0)), "x/ok.jsonl", MIN);
        let s = status(&input(1, file("x/ok.jsonl", MIN), vec![p]));
        assert_eq!(s.status, PipelineLevel::Ok, "{s:?}");
        assert_eq!(
            detail(&s),
            "1 session file; verification: 1 waiting (oldest 1 min old)",
            "within its grace a waiting file is normal, and said so"
        );
        assert_eq!(s.processor, None);
    }

    #[test]
    fn an_old_file_unprocessed_since_is_a_warning_naming_the_job() {
        // mtime 2 h ago, newest processing 3 h ago: far outside the 30 min grace.
        let p = with_unprocessed(verification(Some(3 * HOUR)), "x/old.jsonl", 2 * HOUR);
        let s = status(&input(1, file("x/old.jsonl", 2 * HOUR), vec![p]));
        assert_eq!(s.status, PipelineLevel::Warning, "{s:?}");
        assert_eq!(
            detail(&s),
            "newest session x/old.jsonl is 2 h old but the verification processor last \
             processed a file 3 h ago — check the verification job"
        );
        assert!(
            detail(&s).contains("session"),
            "seed 003 looks for 'session'"
        );
        assert_eq!(s.processor.as_deref(), Some("verification"));
        assert_eq!(
            s.stuck_file, None,
            "a warning is about freshness, not one file"
        );
    }

    #[test]
    fn files_never_processed_at_all_are_a_warning() {
        let p = with_unprocessed(verification(None), "x/neverprocessed.jsonl", 2 * HOUR);
        let s = status(&input(1, file("x/neverprocessed.jsonl", 2 * HOUR), vec![p]));
        assert_eq!(s.status, PipelineLevel::Warning, "{s:?}");
        assert!(
            detail(&s).contains("never processed a session file"),
            "{}",
            detail(&s)
        );
        assert!(detail(&s).contains("x/neverprocessed.jsonl has waited 2 h"));
    }

    #[test]
    fn a_brand_new_file_never_processed_is_ok_and_said_to_be_waiting() {
        // Issue 10: the first file in an empty root, before the processor had its chance.
        for secs in [0, 5] {
            let p = with_unprocessed(verification(None), "x/fresh.jsonl", secs);
            let s = status(&input(1, file("x/fresh.jsonl", secs), vec![p]));
            assert_eq!(
                s.status,
                PipelineLevel::Ok,
                "{secs} s old is never stale: {s:?}"
            );
            assert_eq!(
                detail(&s),
                format!(
                    "1 session file; verification: 1 waiting for its first processing \
                     (oldest {secs} s old)"
                )
            );
            assert_eq!(s.processor, None);
        }
    }

    #[test]
    fn never_processed_is_a_warning_only_past_the_grace_exactly_as_staleness_is() {
        // Grace 30 min: a file waiting exactly that long is still ok, a second more warns.
        let at = |secs| {
            let p = with_unprocessed(verification(None), "x/first.jsonl", secs);
            status(&input(1, file("x/first.jsonl", secs), vec![p]))
        };
        assert_eq!(at(30 * MIN).status, PipelineLevel::Ok, "{:?}", at(30 * MIN));
        let s = at(30 * MIN + 1);
        assert_eq!(s.status, PipelineLevel::Warning, "{s:?}");
        assert_eq!(
            detail(&s),
            "the verification processor has never processed a session file; session \
             x/first.jsonl has waited 30 min — check the verification job"
        );
        // A longer cadence is a longer grace.
        let mut p = with_unprocessed(verification(None), "x/first.jsonl", HOUR);
        p.cadence = Duration::from_secs(HOUR);
        let s = status(&input(1, file("x/first.jsonl", HOUR), vec![p]));
        assert_eq!(s.status, PipelineLevel::Ok, "1 h < a 2 h grace: {s:?}");
    }

    #[test]
    fn never_processed_warns_for_a_long_waiting_file_even_when_a_fresh_one_just_came() {
        // The age that counts is the longest wait: a new upload does not hide the old one.
        let mut p = with_unprocessed(verification(None), "x/old.jsonl", 2 * HOUR);
        p.unprocessed = 2;
        let s = status(&input(2, file("x/fresh.jsonl", 0), vec![p]));
        assert_eq!(s.status, PipelineLevel::Warning, "{s:?}");
        assert!(
            detail(&s).contains("session x/old.jsonl has waited 2 h"),
            "{}",
            detail(&s)
        );
    }

    // --- seed 003, TestSessionPipelineFIFOCheck ---------------------------------------

    #[test]
    fn an_old_file_skipped_while_newer_ones_were_processed_is_info() {
        let p = with_unprocessed(verification(Some(0)), "x/stuck_old.jsonl", 5 * HOUR);
        let s = status(&input(2, file("x/fresh.jsonl", MIN), vec![p]));
        assert_eq!(s.status, PipelineLevel::Info, "{s:?}");
        assert!(detail(&s).contains("skipped"), "{}", detail(&s));
        assert_eq!(
            detail(&s),
            "the verification processor skipped session x/stuck_old.jsonl: 5 h old and still \
             unprocessed while newer files were processed (it was never attempted)"
        );
        assert_eq!(s.stuck_file.as_deref(), Some("x/stuck_old.jsonl"));
        assert_eq!(s.stuck_file_age_seconds, Some(5 * 3600));
        assert!(s.stuck_file_age_seconds.unwrap() > 4 * 3600);
    }

    #[test]
    fn an_unprocessed_file_under_the_stuck_grace_is_ok() {
        // 1 h < 2 h (4 × the 30 min grace).
        let p = with_unprocessed(verification(Some(0)), "x/recent_unprocessed.jsonl", HOUR);
        let s = status(&input(2, file("x/fresh.jsonl", MIN), vec![p]));
        assert_eq!(s.status, PipelineLevel::Ok, "{s:?}");
        assert_eq!(s.stuck_file, None);
        assert_eq!(
            detail(&s),
            "2 session files; verification: 1 waiting (oldest 1 h old)"
        );
    }

    #[test]
    fn no_unprocessed_files_is_ok_and_says_all_processed() {
        let s = status(&input(
            3,
            file("x/processed.jsonl", MIN),
            vec![verification(Some(0))],
        ));
        assert_eq!(s.status, PipelineLevel::Ok, "{s:?}");
        assert_eq!(detail(&s), "3 session files, all processed");
    }

    #[test]
    fn the_stuck_grace_override_of_60_s_makes_a_5_min_old_file_info() {
        let p = with_unprocessed(verification(Some(0)), "x/five_min_old.jsonl", 5 * MIN);
        let mut i = input(2, file("x/fresh.jsonl", 10), vec![p]);
        assert_eq!(
            status(&i).status,
            PipelineLevel::Ok,
            "5 min is nothing by default"
        );
        i.stuck_grace_override = Some(Duration::from_secs(60));
        let s = status(&i);
        assert_eq!(s.status, PipelineLevel::Info, "{s:?}");
        assert_eq!(s.stuck_file.as_deref(), Some("x/five_min_old.jsonl"));
        assert!(detail(&s).contains("5 min old"), "{}", detail(&s));
    }

    // --- boundaries and derived values -------------------------------------------------

    #[test]
    fn grace_is_twice_the_cadence_and_the_stuck_grace_four_graces() {
        assert_eq!(grace(CADENCE), Duration::from_secs(30 * MIN));
        assert_eq!(stuck_grace(CADENCE, None), Duration::from_secs(2 * HOUR));
        assert_eq!(
            stuck_grace(CADENCE, Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn newest_exactly_at_processed_plus_grace_is_ok_one_second_more_warns() {
        // Processed 40 min ago; grace 30 min; the newest file 10 min ago is exactly at it.
        let at_edge = input(
            1,
            file("x/edge.jsonl", 10 * MIN),
            vec![verification(Some(40 * MIN))],
        );
        assert_eq!(status(&at_edge).status, PipelineLevel::Ok);
        let past_edge = input(
            1,
            file("x/edge.jsonl", 10 * MIN - 1),
            vec![verification(Some(40 * MIN))],
        );
        assert_eq!(status(&past_edge).status, PipelineLevel::Warning);
    }

    #[test]
    fn a_file_exactly_at_the_stuck_grace_is_ok_one_second_older_is_info() {
        let at = |secs| {
            input(
                2,
                file("x/fresh.jsonl", MIN),
                vec![with_unprocessed(verification(Some(0)), "x/old.jsonl", secs)],
            )
        };
        assert_eq!(status(&at(2 * HOUR)).status, PipelineLevel::Ok);
        let s = status(&at(2 * HOUR + 1));
        assert_eq!(s.status, PipelineLevel::Info);
        assert_eq!(s.stuck_file_age_seconds, Some(7201));
    }

    #[test]
    fn a_longer_cadence_widens_both_graces() {
        let mut p = with_unprocessed(verification(Some(3 * HOUR)), "x/old.jsonl", 3 * HOUR);
        p.cadence = Duration::from_secs(HOUR); // grace 2 h, stuck grace 8 h
        let s = status(&input(1, file("x/new.jsonl", 2 * HOUR), vec![p]));
        assert_eq!(s.status, PipelineLevel::Ok, "{s:?}");
    }

    #[test]
    fn the_freshness_warning_wins_over_a_stuck_file_of_the_same_processor() {
        let p = with_unprocessed(verification(Some(10 * HOUR)), "x/stuck.jsonl", 9 * HOUR);
        let s = status(&input(2, file("x/new.jsonl", 5 * HOUR), vec![p]));
        assert_eq!(s.status, PipelineLevel::Warning);
        assert!(detail(&s).starts_with("newest session x/new.jsonl is 5 h old"));
    }

    #[test]
    fn the_last_error_of_a_skipped_file_is_in_the_detail() {
        let mut p = with_unprocessed(verification(Some(0)), "x/bad.jsonl", 3 * HOUR);
        p.oldest_unprocessed.as_mut().unwrap().last_error =
            Some("exited with code 1: no such table".to_owned());
        let s = status(&input(2, file("x/new.jsonl", MIN), vec![p]));
        assert_eq!(s.status, PipelineLevel::Info);
        assert!(
            detail(&s).ends_with("(its last attempt failed: exited with code 1: no such table)"),
            "{}",
            detail(&s)
        );
    }

    #[test]
    fn a_file_from_the_future_counts_as_zero_seconds_old() {
        let p = verification(Some(0));
        let mut i = input(1, file("x/skew.jsonl", 0), vec![p]);
        i.newest.as_mut().unwrap().mtime = now() + chrono::Duration::minutes(5);
        let s = status(&i);
        assert_eq!(
            s.status,
            PipelineLevel::Ok,
            "5 min ahead is within the grace"
        );
    }

    #[test]
    fn files_without_processors_are_ok_and_say_so() {
        let s = status(&input(2, file("x/a.jsonl", MIN), vec![]));
        assert_eq!(s.status, PipelineLevel::Ok);
        assert_eq!(detail(&s), "2 session files, no processor configured");
    }

    // --- several processors --------------------------------------------------------------

    fn usage(last: Option<u64>) -> ProcessorProgress {
        ProcessorProgress {
            name: "usage".to_owned(),
            ..verification(last)
        }
    }

    #[test]
    fn the_worst_processor_wins_and_is_named() {
        let stuck = with_unprocessed(verification(Some(0)), "x/stuck.jsonl", 5 * HOUR);
        let stale = usage(Some(3 * HOUR));
        let s = status(&input(2, file("x/new.jsonl", 2 * HOUR), vec![stuck, stale]));
        assert_eq!(s.status, PipelineLevel::Warning, "warning > info");
        assert_eq!(s.processor.as_deref(), Some("usage"));
        assert!(detail(&s).contains("the usage processor"), "{}", detail(&s));
        assert!(
            !detail(&s).contains("skipped"),
            "only the worst level is told"
        );
        assert_eq!(s.stuck_file, None);
    }

    #[test]
    fn info_beats_ok_across_processors() {
        let fine = usage(Some(0));
        let stuck = with_unprocessed(verification(Some(0)), "x/stuck.jsonl", 5 * HOUR);
        let s = status(&input(2, file("x/new.jsonl", MIN), vec![fine, stuck]));
        assert_eq!(s.status, PipelineLevel::Info);
        assert_eq!(s.processor.as_deref(), Some("verification"));
        assert_eq!(s.stuck_file.as_deref(), Some("x/stuck.jsonl"));
    }

    #[test]
    fn several_processors_at_the_worst_level_are_all_named() {
        let a = verification(None);
        let b = usage(Some(10 * HOUR));
        let s = status(&input(1, file("x/new.jsonl", HOUR), vec![a, b]));
        assert_eq!(s.status, PipelineLevel::Warning);
        assert_eq!(s.processor.as_deref(), Some("verification, usage"));
        let d = detail(&s);
        assert!(
            d.contains("the verification processor has never processed"),
            "{d}"
        );
        assert!(
            d.contains("; newest session x/new.jsonl is 1 h old but the usage"),
            "{d}"
        );
    }

    #[test]
    fn with_two_skipped_files_the_oldest_is_shown() {
        let a = with_unprocessed(verification(Some(0)), "x/three.jsonl", 3 * HOUR);
        let b = with_unprocessed(usage(Some(0)), "x/seven.jsonl", 7 * HOUR);
        let s = status(&input(3, file("x/new.jsonl", MIN), vec![a, b]));
        assert_eq!(s.status, PipelineLevel::Info);
        assert_eq!(s.stuck_file.as_deref(), Some("x/seven.jsonl"));
        assert_eq!(s.stuck_file_age_seconds, Some(7 * 3600));
        assert!(detail(&s).contains("x/three.jsonl"), "both are told");
    }

    // --- words and wire format -------------------------------------------------------------

    #[test]
    fn ages_read_like_a_person_says_them() {
        let h = |s| human(Duration::from_secs(s));
        assert_eq!(h(0), "0 s");
        assert_eq!(h(59), "59 s");
        assert_eq!(h(60), "1 min");
        assert_eq!(h(5 * MIN + 59), "5 min");
        assert_eq!(h(HOUR - 1), "59 min");
        assert_eq!(h(2 * HOUR), "2 h");
        assert_eq!(h(47 * HOUR + 59 * MIN), "47 h");
        assert_eq!(h(48 * HOUR), "2 d");
    }

    #[test]
    fn the_json_has_the_fields_of_the_contract_and_omits_empty_ones() {
        let ok_json = serde_json::to_value(status(&PipelineInput::default())).unwrap();
        assert_eq!(
            ok_json,
            serde_json::json!({"status": "ok", "detail": "no session files yet"})
        );
        let p = with_unprocessed(verification(Some(0)), "x/stuck_old.jsonl", 5 * HOUR);
        let info =
            serde_json::to_value(status(&input(2, file("x/f.jsonl", MIN), vec![p]))).unwrap();
        assert_eq!(info["status"], "info");
        assert_eq!(info["stuck_file"], "x/stuck_old.jsonl");
        assert_eq!(info["stuck_file_age_seconds"], 5 * 3600);
        assert_eq!(info["processor"], "verification");
        assert!(info["detail"].as_str().unwrap().contains("skipped"));
        assert_eq!(
            serde_json::to_value(PipelineLevel::Warning).unwrap(),
            "warning"
        );
    }

    #[test]
    fn levels_order_warning_over_info_over_ok() {
        assert!(PipelineLevel::Warning > PipelineLevel::Info);
        assert!(PipelineLevel::Info > PipelineLevel::Ok);
        assert_eq!(PipelineLevel::Info.as_str(), "info");
    }
}
