//! Config edits from the app, written to the file a person edits by hand.
//!
//! Owns: one edit at a time ([`Engine::edit_config`]): the `If-Match` revision check
//! against the file's bytes now, the edit applied to the text ([`crate::config::edit`]),
//! the result checked by the loader's own validator (an invalid edit leaves the file
//! untouched and answers each issue with its field), the atomic write (a temporary file
//! in the same directory, synced, renamed over the old one, its permissions kept), and the
//! new config applied the way a reload applies it (once: the config watcher skips the
//! file an edit wrote). Also the app's view of the file
//! ([`Engine::config_document`]) and the one-off probe of an unsaved provider
//! ([`Engine::test_provider`]).
//! Does not own: what an edit changes in the text (`config::edit`), or what a valid
//! config means (`config`).

use super::Engine;
use crate::config::edit::{self, Edit, EditError, Entries};
use crate::config::{Config, ConfigError};
use crate::error::{ApiError, FieldIssue};
use crate::health::probe::Verdict;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The config file as the app sees it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ConfigDocument {
    pub path: PathBuf,
    /// What a write sends back as `If-Match`.
    pub revision: String,
    /// The file's content as JSON, secret-looking values as `"(hidden)"` (sent back
    /// unchanged, they keep what the file has); `${ENV}` references as written.
    #[ts(type = "Record<string, unknown>")]
    pub config: Json,
}

/// One probe of an unsaved provider.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct TestOutcome {
    /// `up`, `down`, `rate_limited`, `inconclusive` or `error`.
    pub status: &'static str,
    pub ok: bool,
    pub latency_ms: f64,
    /// What went wrong, in words.
    pub error: Option<String>,
}

/// The longest a test probe may take whatever its timeout says.
const TEST_TIMEOUT_MAX: Duration = Duration::from_secs(30);

impl Engine {
    fn config_path(&self) -> Result<PathBuf, ApiError> {
        self.ctx
            .config()
            .source
            .clone()
            .ok_or_else(|| ApiError::BadRequest("this engine runs without a config file".into()))
    }

    /// `GET /api/config`.
    pub async fn config_document(&self) -> Result<ConfigDocument, ApiError> {
        let path = self.config_path()?;
        let bytes = read(&path).await?;
        let text = String::from_utf8_lossy(&bytes);
        Ok(ConfigDocument {
            revision: edit::revision(&bytes),
            config: edit::to_json(&text).map_err(|e| ApiError::BadRequest(e.to_string()))?,
            path,
        })
    }

    /// Applies `edit` to the config file made at revision `if_match`, writes it and
    /// applies it; answers the file as it is now.
    pub async fn edit_config(
        &self,
        edit: Edit,
        if_match: Option<&str>,
    ) -> Result<ConfigDocument, ApiError> {
        let path = self.config_path()?;
        let if_match = if_match.ok_or(ApiError::RevisionRequired)?;
        let _one_at_a_time = self.edits.lock().await;
        let bytes = read(&path).await?;
        let revision = edit::revision(&bytes);
        if if_match.trim().trim_matches('"') != revision {
            return Err(ApiError::ConfigChanged { revision });
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| ApiError::BadRequest("the config file is not UTF-8".into()))?;
        let new_text = edit::apply(&text, &edit).map_err(edit_error)?;
        let config = Config::parse(&new_text, Some(&path))
            .map_err(|e| invalid(&e, &new_text, edited(&edit)))?;
        // Said before the write: the watcher may see the new file at once.
        let revision = edit::revision(new_text.as_bytes());
        *self.edited_revision.lock() = Some(revision.clone());
        write_atomically(&path, &new_text).await?;
        tracing::info!(path = %path.display(), edit = describe(&edit), "config edited from the app");
        self.apply_config(config)
            .await
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        Ok(ConfigDocument {
            revision,
            config: edit::to_json(&new_text).map_err(|e| ApiError::BadRequest(e.to_string()))?,
            path,
        })
    }

    /// `POST /api/providers/test`: probes a provider definition once without saving it,
    /// with the config's defaults. A `command` provider is not run before it is saved.
    pub async fn test_provider(&self, fields: Map<String, Json>) -> Result<TestOutcome, ApiError> {
        if fields.get("kind").and_then(Json::as_str) == Some("command") {
            return Err(ApiError::BadRequest(
                "a command provider is not run before it is saved (save it, then probe it)".into(),
            ));
        }
        // The definition inside the current file (its defaults apply), as a new entry or
        // in place of the one with its id.
        let (text, path) = match self.ctx.config().source.clone() {
            Some(path) => (
                String::from_utf8_lossy(&read(&path).await?).into_owned(),
                Some(path),
            ),
            None => (String::new(), None),
        };
        let mut fields = fields;
        let id = match fields.get("id").and_then(Json::as_str) {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => {
                fields.insert("id".into(), "untitled".into());
                "untitled".to_owned()
            }
        };
        let replace = Edit::Replace(Entries::Providers, id.clone(), fields.clone());
        let candidate = match edit::apply(&text, &replace) {
            Err(EditError::NotFound(..)) => {
                edit::apply(&text, &Edit::Create(Entries::Providers, fields)).map_err(edit_error)?
            }
            other => other.map_err(edit_error)?,
        };
        let config = Config::parse(&candidate, path.as_deref())
            .map_err(|e| invalid(&e, &candidate, Some((Entries::Providers, id.clone()))))?;
        let provider = config
            .provider(&id)
            .ok_or_else(|| ApiError::BadRequest("the provider did not parse".into()))?;
        let probe = (self.factory)(provider);
        let limit = provider.timeout.min(TEST_TIMEOUT_MAX);
        let started = Instant::now();
        let result = tokio::time::timeout(limit, probe.check()).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let (status, error) = match result {
            Err(_) => (
                "error",
                Some(format!("no answer within {} s", limit.as_secs_f64())),
            ),
            Ok(Ok(Verdict::Up)) => ("up", None),
            Ok(Ok(Verdict::Down { reason })) => ("down", Some(reason)),
            Ok(Ok(Verdict::RateLimited { .. })) => (
                "rate_limited",
                Some("the provider answered 429 (reachable, throttled)".into()),
            ),
            Ok(Ok(Verdict::Inconclusive { reason })) => ("inconclusive", Some(reason)),
            Ok(Err(e)) => ("error", Some(e.to_string())),
        };
        Ok(TestOutcome {
            ok: status == "up",
            status,
            latency_ms,
            error,
        })
    }
}

async fn read(path: &Path) -> Result<Vec<u8>, ApiError> {
    tokio::fs::read(path).await.map_err(|e| {
        ApiError::Unavailable(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))
    })
}

/// Writes `text` over `path` so a reader (or a crash) sees the old file or the new one,
/// never half of one.
async fn write_atomically(path: &Path, text: &str) -> Result<(), ApiError> {
    let path = path.to_owned();
    let text = text.to_owned();
    let failed =
        |e: std::io::Error| ApiError::Unavailable(format!("cannot write the config file: {e}"));
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::Builder::new()
            .prefix(".steward-config-")
            .tempfile_in(dir)?;
        tmp.write_all(text.as_bytes())?;
        if let Ok(meta) = std::fs::metadata(&path) {
            tmp.as_file().set_permissions(meta.permissions())?;
        }
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        // The rename itself is durable once the directory is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            // Some filesystems refuse to sync a directory; the rename happened anyway.
            let _ = d.sync_all();
        }
        Ok(())
    })
    .await
    .map_err(|e| ApiError::Unavailable(format!("the config write did not finish: {e}")))?
    .map_err(failed)
}

fn edit_error(e: EditError) -> ApiError {
    match e {
        EditError::NotFound(..) => ApiError::NotFound(e.to_string()),
        EditError::Exists(..) => ApiError::Conflict(e.to_string()),
        EditError::Section(_) => ApiError::NotFound(e.to_string()),
        EditError::Unreadable(_) => ApiError::BadRequest(e.to_string()),
        EditError::Field { field, message } => ApiError::InvalidConfig(vec![FieldIssue {
            key: Some(field.clone()),
            field,
            line: None,
            message,
        }]),
    }
}

/// The entry an edit is about, to name the keys of its issues.
fn edited(edit: &Edit) -> Option<(Entries, String)> {
    match edit {
        Edit::Create(kind, fields) => fields
            .get("id")
            .and_then(Json::as_str)
            .map(|id| (*kind, id.to_owned())),
        Edit::Replace(kind, id, _) | Edit::Patch(kind, id, _) | Edit::Delete(kind, id) => {
            Some((*kind, id.clone()))
        }
        Edit::Section(..) => None,
    }
}

fn describe(edit: &Edit) -> String {
    match edit {
        Edit::Create(kind, fields) => format!(
            "create {} {}",
            kind.key(),
            fields.get("id").and_then(Json::as_str).unwrap_or("?")
        ),
        Edit::Replace(kind, id, _) => format!("replace {} {id}", kind.key()),
        Edit::Patch(kind, id, _) => format!("patch {} {id}", kind.key()),
        Edit::Delete(kind, id) => format!("delete {} {id}", kind.key()),
        Edit::Section(name, _) => format!("patch [{name}]"),
    }
}

/// The validator's issues, each with the key of the edited entry it is about.
fn invalid(e: &ConfigError, text: &str, entry: Option<(Entries, String)>) -> ApiError {
    // Where the edited entry sits in the new file: `providers[3]`.
    let prefix = entry.and_then(|(kind, id)| {
        let doc: toml::Value = toml::from_str(text).ok()?;
        let i = doc
            .get(kind.key())?
            .as_array()?
            .iter()
            .position(|t| t.get("id").and_then(toml::Value::as_str) == Some(id.as_str()))?;
        Some(format!("{}[{i}].", kind.key()))
    });
    let issues = e
        .issues()
        .into_iter()
        .map(|i| {
            let key = match (&i.field, &prefix) {
                (Some(f), Some(p)) => f.strip_prefix(p.as_str()).map(str::to_owned),
                // A key serde does not know: "unknown field `urll`, expected …".
                (None, _) => i
                    .message
                    .strip_prefix("unknown field `")
                    .and_then(|rest| rest.split('`').next())
                    .map(str::to_owned),
                _ => None,
            };
            FieldIssue {
                field: i.field.clone().unwrap_or_else(|| "config".into()),
                key,
                line: i.line,
                message: i.message,
            }
        })
        .collect();
    ApiError::InvalidConfig(issues)
}
