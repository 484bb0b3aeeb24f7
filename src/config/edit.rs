//! Edits of the config file as a person wrote it: one entry or one section changes, every
//! other byte stays.
//!
//! Owns: the edits the app can make ([`Edit`]: create, replace, patch or delete a
//! `[[providers]]` or `[[models]]` entry; patch `[probe]`, `[planner]`, `[executor]` or
//! `[store]`), applied with `toml_edit` to the file's text so comments, key order, blank
//! lines, inline tables and dotted keys outside the edit are kept byte for byte (and those
//! inside it as far as the edit allows: a replaced value keeps its key's place and its
//! trailing comment); the file's revision (a hash of its bytes, for `If-Match`); and the
//! JSON view of the file with secret-looking values hidden ([`to_json`]).
//! Does not own: whether the result is a valid config (the caller parses it with the same
//! validator as the loader, [`super::Config::parse`]), or reading and writing the file.

use serde_json::{Map, Value as Json};
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, TableLike, Value};

/// What a hidden value reads as in [`to_json`]; sent back in an edit, it keeps the value
/// the file has.
pub const HIDDEN: &str = "(hidden)";

/// The sections `PATCH /api/config/{section}` may change. `[http]` (who may reach the
/// API) and `[bus]` are edited in the file only.
pub const SECTIONS: &[&str] = &["probe", "planner", "executor", "store"];

/// An array of tables the app edits entry by entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entries {
    Providers,
    Models,
}

impl Entries {
    pub fn key(self) -> &'static str {
        match self {
            Entries::Providers => "providers",
            Entries::Models => "models",
        }
    }

    /// Keys written first, in this order, in a new entry (the rest follow as given).
    fn leading(self) -> &'static [&'static str] {
        match self {
            Entries::Providers => &["id", "kind", "node", "service", "enabled"],
            Entries::Models => &["id", "api", "url", "model", "provider", "api_key_env"],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    Create(Entries, Map<String, Json>),
    /// Replace entry `id` with these fields (its place in the file stays).
    Replace(Entries, String, Map<String, Json>),
    /// Change these fields of entry `id`; `null` removes one.
    Patch(Entries, String, Map<String, Json>),
    Delete(Entries, String),
    /// Change these keys of a section ([`SECTIONS`]); `null` removes one.
    Section(String, Map<String, Json>),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    #[error("the config file is not valid TOML: {0}")]
    Unreadable(String),
    #[error("no {0} entry with id {1:?}")]
    NotFound(&'static str, String),
    #[error("a {0} entry with id {1:?} exists already")]
    Exists(&'static str, String),
    #[error("{field}: {message}")]
    Field { field: String, message: String },
    #[error("{0} cannot be edited from the app (edit the file)")]
    Section(String),
}

impl EditError {
    fn field(field: impl Into<String>, message: impl Into<String>) -> EditError {
        EditError::Field {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The revision of a config file's bytes (what `If-Match` carries).
pub fn revision(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..16].to_owned()
}

/// `text` with `edit` applied. Only the edited entry or keys change.
pub fn apply(text: &str, edit: &Edit) -> Result<String, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Unreadable(e.message().to_owned()))?;
    match edit {
        Edit::Create(kind, fields) => create(&mut doc, *kind, fields)?,
        Edit::Replace(kind, id, fields) => {
            check_id(*kind, id, fields)?;
            let mut entry = find(&mut doc, *kind, id)?;
            let old = entry.clone_values();
            let keep: Vec<String> = entry.keys();
            for key in keep {
                if !fields.contains_key(&key) {
                    entry.remove(&key);
                }
            }
            for (key, value) in fields {
                set(&mut entry, key, value, old.get(key))?;
            }
        }
        Edit::Patch(kind, id, fields) => {
            if let Some(new_id) = fields.get("id") {
                if new_id.as_str() != Some(id) {
                    return Err(EditError::field(
                        "id",
                        "an id is not changed in place: delete the entry and create it anew \
                         (its history stays with the old id)",
                    ));
                }
            }
            let mut entry = find(&mut doc, *kind, id)?;
            let old = entry.clone_values();
            for (key, value) in fields {
                if value.is_null() {
                    entry.remove(key);
                } else {
                    set(&mut entry, key, value, old.get(key))?;
                }
            }
        }
        Edit::Delete(kind, id) => delete(&mut doc, *kind, id)?,
        Edit::Section(name, fields) => section(&mut doc, name, fields)?,
    }
    Ok(doc.to_string())
}

/// The id a replace must keep (a rename is a delete and a create).
fn check_id(kind: Entries, id: &str, fields: &Map<String, Json>) -> Result<(), EditError> {
    match fields.get("id").and_then(Json::as_str) {
        Some(given) if given == id => Ok(()),
        Some(_) => Err(EditError::field(
            "id",
            "an id is not changed in place: delete the entry and create it anew (its \
             history stays with the old id)",
        )),
        None => Err(EditError::field(
            "id",
            format!("a {} entry needs its id", kind.key()),
        )),
    }
}

/// One entry of `[[providers]]` or `[[models]]`, whether the file writes the array as
/// tables or as an inline array of inline tables.
enum EntryMut<'a> {
    Table(&'a mut Table),
    Inline(&'a mut InlineTable),
}

impl EntryMut<'_> {
    fn like(&mut self) -> &mut dyn TableLike {
        match self {
            EntryMut::Table(t) => *t,
            EntryMut::Inline(t) => *t,
        }
    }

    fn keys(&mut self) -> Vec<String> {
        self.like().iter().map(|(k, _)| k.to_owned()).collect()
    }

    fn remove(&mut self, key: &str) {
        self.like().remove(key);
    }

    /// The entry's current values (to keep hidden ones and decor).
    fn clone_values(&mut self) -> std::collections::HashMap<String, Item> {
        self.like()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect()
    }
}

fn id_of(t: &dyn TableLike) -> Option<&str> {
    t.get("id").and_then(Item::as_str)
}

fn find<'a>(doc: &'a mut DocumentMut, kind: Entries, id: &str) -> Result<EntryMut<'a>, EditError> {
    let missing = || EditError::NotFound(kind.key(), id.to_owned());
    match doc.get_mut(kind.key()) {
        Some(Item::ArrayOfTables(a)) => a
            .iter_mut()
            .find(|t| id_of(*t) == Some(id))
            .map(EntryMut::Table)
            .ok_or_else(missing),
        Some(Item::Value(Value::Array(a))) => a
            .iter_mut()
            .filter_map(Value::as_inline_table_mut)
            .find(|t| id_of(*t) == Some(id))
            .map(EntryMut::Inline)
            .ok_or_else(missing),
        _ => Err(missing()),
    }
}

fn create(
    doc: &mut DocumentMut,
    kind: Entries,
    fields: &Map<String, Json>,
) -> Result<(), EditError> {
    let id = fields
        .get("id")
        .and_then(Json::as_str)
        .ok_or_else(|| EditError::field("id", format!("a {} entry needs its id", kind.key())))?
        .to_owned();
    if find(doc, kind, &id).is_ok() {
        return Err(EditError::Exists(kind.key(), id));
    }
    let ordered = ordered(kind, fields);
    match doc.get_mut(kind.key()) {
        Some(Item::Value(Value::Array(a))) => {
            let mut t = InlineTable::new();
            for (key, value) in ordered {
                t.insert(key, to_value(key, value)?);
            }
            a.push(t);
            // One entry per line, as such arrays are usually written.
            if let Some(last) = a.iter_mut().last() {
                last.decor_mut().set_prefix("\n  ");
            }
        }
        Some(Item::ArrayOfTables(a)) => a.push(new_table(ordered)?),
        Some(_) => {
            return Err(EditError::field(
                kind.key(),
                format!("{} is neither [[{0}]] tables nor an array", kind.key()),
            ))
        }
        None => {
            let mut a = toml_edit::ArrayOfTables::new();
            a.push(new_table(ordered)?);
            doc.insert(kind.key(), Item::ArrayOfTables(a));
        }
    }
    Ok(())
}

fn new_table<'a>(fields: Vec<(&'a str, &'a Json)>) -> Result<Table, EditError> {
    let mut t = Table::new();
    for (key, value) in fields {
        t.insert(key, Item::Value(to_value(key, value)?));
    }
    // A blank line before the new `[[…]]` header, like the entries around it.
    t.decor_mut().set_prefix("\n");
    Ok(t)
}

/// The fields of a new entry: the usual leading keys first, then the rest as given.
fn ordered(kind: Entries, fields: &Map<String, Json>) -> Vec<(&str, &Json)> {
    let mut out: Vec<(&str, &Json)> = kind
        .leading()
        .iter()
        .filter_map(|k| fields.get_key_value(*k))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    out.extend(
        fields
            .iter()
            .filter(|(k, _)| !kind.leading().contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v)),
    );
    out.retain(|(_, v)| !v.is_null());
    out
}

fn delete(doc: &mut DocumentMut, kind: Entries, id: &str) -> Result<(), EditError> {
    let missing = || EditError::NotFound(kind.key(), id.to_owned());
    match doc.get_mut(kind.key()) {
        Some(Item::ArrayOfTables(a)) => {
            let i = a
                .iter()
                .position(|t| id_of(t) == Some(id))
                .ok_or_else(missing)?;
            a.remove(i);
        }
        Some(Item::Value(Value::Array(a))) => {
            let i = a
                .iter()
                .position(|v| v.as_inline_table().is_some_and(|t| id_of(t) == Some(id)))
                .ok_or_else(missing)?;
            a.remove(i);
        }
        _ => return Err(missing()),
    }
    Ok(())
}

fn section(doc: &mut DocumentMut, name: &str, fields: &Map<String, Json>) -> Result<(), EditError> {
    if !SECTIONS.contains(&name) {
        return Err(EditError::Section(format!("[{name}]")));
    }
    if doc.get(name).is_none() {
        let mut t = Table::new();
        t.decor_mut().set_prefix("\n");
        doc.insert(name, Item::Table(t));
    }
    let table = doc
        .get_mut(name)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| EditError::field(name, format!("{name} is not a table")))?;
    let old: std::collections::HashMap<String, Item> = table
        .iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
    for (key, value) in fields {
        if value.is_null() {
            table.remove(key);
        } else if let (Some(sub), Json::Object(inner)) =
            (table.get_mut(key).and_then(Item::as_table_like_mut), value)
        {
            // A sub-table (`[executor.commands]`): merged key by key too.
            let sub_old: std::collections::HashMap<String, Item> =
                sub.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
            for (k, v) in inner {
                if v.is_null() {
                    sub.remove(k);
                } else {
                    set_in(sub, k, v, sub_old.get(k))?;
                }
            }
        } else {
            set_in(table, key, value, old.get(key))?;
        }
    }
    Ok(())
}

fn set(
    entry: &mut EntryMut<'_>,
    key: &str,
    value: &Json,
    old: Option<&Item>,
) -> Result<(), EditError> {
    set_in(entry.like(), key, value, old)
}

/// Sets `key`, keeping its place, its comments and any hidden value the edit sent back.
fn set_in(
    table: &mut dyn TableLike,
    key: &str,
    value: &Json,
    old: Option<&Item>,
) -> Result<(), EditError> {
    let mut new = to_value(key, value)?;
    if let Some(old) = old.and_then(Item::as_value) {
        new = keep_hidden(new, old);
        if same(&new, old) {
            // Sent back unchanged: the file keeps how it wrote it (key order in an
            // inline table, number and string forms).
            return Ok(());
        }
        *new.decor_mut() = old.decor().clone();
    }
    match table.get_mut(key) {
        Some(item @ Item::Value(_)) => *item = Item::Value(new),
        _ => {
            table.insert(key, Item::Value(new));
        }
    }
    Ok(())
}

/// Whether two values are the same data, however each is written.
fn same(a: &Value, b: &Value) -> bool {
    let data = |v: &Value| -> Option<toml::Value> {
        let mut v = v.clone();
        v.decor_mut().clear();
        let doc: toml::Table = toml::from_str(&format!("v = {v}")).ok()?;
        doc.get("v").cloned()
    };
    matches!((data(a), data(b)), (Some(x), Some(y)) if x == y)
}

/// A value sent back as [`HIDDEN`] (or a table holding such values) keeps what the file has.
fn keep_hidden(new: Value, old: &Value) -> Value {
    match (new, old) {
        (Value::String(s), old) if s.value() == HIDDEN => old.clone(),
        // A URL whose password was shown hidden, sent back as shown: the file's URL.
        (Value::String(s), Value::String(o)) if s.value().contains(HIDDEN) => {
            let mut shown = o.value().clone();
            hide_url_password(&mut shown);
            if shown == *s.value() {
                old.clone()
            } else {
                Value::String(s)
            }
        }
        (Value::InlineTable(mut t), Value::InlineTable(o)) => {
            for (k, v) in t.iter_mut() {
                if v.as_str() == Some(HIDDEN) {
                    if let Some(kept) = o.get(&k) {
                        *v = kept.clone();
                    }
                }
            }
            Value::InlineTable(t)
        }
        (new, _) => new,
    }
}

/// A JSON value as a TOML value (objects as inline tables); `null` has no TOML form.
fn to_value(key: &str, json: &Json) -> Result<Value, EditError> {
    Ok(match json {
        Json::Null => return Err(EditError::field(key, "null has no TOML form")),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => {
            let mut a = Array::new();
            for item in items {
                a.push(to_value(key, item)?);
            }
            Value::Array(a)
        }
        Json::Object(map) => {
            let mut t = InlineTable::new();
            for (k, v) in map {
                t.insert(k, to_value(k, v)?);
            }
            Value::InlineTable(t)
        }
    })
}

/// Header names whose values are secrets unless they only name an environment variable.
fn secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "token",
        "key",
        "secret",
        "password",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// The file as JSON, for the app: values that look like secrets (a secret header's value
/// that is not an `${ENV}` reference, a password in a URL) read as [`HIDDEN`].
pub fn to_json(text: &str) -> Result<Json, EditError> {
    let value: toml::Value =
        toml::from_str(text).map_err(|e| EditError::Unreadable(e.message().to_owned()))?;
    let mut json = serde_json::to_value(value).unwrap_or(Json::Null);
    hide(&mut json, None);
    Ok(json)
}

fn hide(json: &mut Json, parent: Option<&str>) {
    match json {
        Json::Object(map) => {
            for (k, v) in map.iter_mut() {
                if parent == Some("headers") && secret_header(k) {
                    if let Json::String(s) = v {
                        if !s.contains("${") {
                            *s = HIDDEN.to_owned();
                        }
                    }
                } else if let Json::String(s) = v {
                    hide_url_password(s);
                } else {
                    hide(v, Some(k));
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(|v| hide(v, parent)),
        _ => {}
    }
}

/// `scheme://user:password@host…` → `scheme://user:(hidden)@host…`.
fn hide_url_password(s: &mut String) {
    let Some(scheme_end) = s.find("://") else {
        return;
    };
    let rest = &s[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if let Some(at) = authority.rfind('@') {
        if let Some(colon) = authority[..at].find(':') {
            let start = scheme_end + 3 + colon + 1;
            let end = scheme_end + 3 + at;
            if !s[start..end].contains("${") {
                s.replace_range(start..end, HIDDEN);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILE: &str = r#"# Steward — my fleet
[probe]
interval = "30s"   # fast enough

# The web front
[[providers]]
id = "web"
kind = "http"
node = "piha"
service = "nginx"
url = "http://127.0.0.1:8080/health"  # behind the proxy
headers = { Authorization = "Bearer ${WEB_TOKEN}", Cookie = "s=abc" }

# Between entries: kept.

[[providers]]
id = "db"
kind = "tcp"
node = "piha"
service = "postgres"
address = "127.0.0.1:5432"
"#;

    fn obj(v: Json) -> Map<String, Json> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_patch_changes_one_key_and_keeps_every_other_byte() {
        let out = apply(
            FILE,
            &Edit::Patch(
                Entries::Providers,
                "web".into(),
                obj(json!({"enabled": false})),
            ),
        )
        .unwrap();
        assert_eq!(
            out,
            FILE.replace(
                "headers = { Authorization = \"Bearer ${WEB_TOKEN}\", Cookie = \"s=abc\" }\n",
                "headers = { Authorization = \"Bearer ${WEB_TOKEN}\", Cookie = \"s=abc\" }\nenabled = false\n"
            )
        );
    }

    #[test]
    fn a_replaced_value_keeps_its_place_and_its_comment() {
        let out = apply(
            FILE,
            &Edit::Patch(
                Entries::Providers,
                "web".into(),
                obj(json!({"url": "http://127.0.0.1:9090/health"})),
            ),
        )
        .unwrap();
        assert_eq!(
            out,
            FILE.replace(
                "url = \"http://127.0.0.1:8080/health\"  # behind the proxy",
                "url = \"http://127.0.0.1:9090/health\"  # behind the proxy"
            )
        );
    }

    #[test]
    fn hidden_values_sent_back_keep_what_the_file_has() {
        let shown = to_json(FILE).unwrap();
        let web = &shown["providers"][0];
        assert_eq!(web["headers"]["Authorization"], "Bearer ${WEB_TOKEN}");
        assert_eq!(web["headers"]["Cookie"], HIDDEN);
        // The form sends the provider back as it got it, with a new service name.
        let mut fields = web.as_object().unwrap().clone();
        fields.insert("service".into(), json!("caddy"));
        let out = apply(
            FILE,
            &Edit::Replace(Entries::Providers, "web".into(), fields),
        )
        .unwrap();
        assert!(out.contains("Cookie = \"s=abc\""), "{out}");
        assert!(!out.contains(HIDDEN), "{out}");
        assert_eq!(
            out,
            FILE.replace("service = \"nginx\"", "service = \"caddy\"")
        );
    }

    #[test]
    fn create_appends_an_entry_and_delete_removes_exactly_it() {
        let created = apply(
            FILE,
            &Edit::Create(
                Entries::Providers,
                obj(json!({"url": "http://10.0.0.2/", "kind": "http", "id": "nas", "node": "nas", "service": "web"})),
            ),
        )
        .unwrap();
        assert!(created.starts_with(FILE), "{created}");
        assert_eq!(
            &created[FILE.len()..],
            "\n[[providers]]\nid = \"nas\"\nkind = \"http\"\nnode = \"nas\"\nservice = \"web\"\nurl = \"http://10.0.0.2/\"\n"
        );
        let deleted = apply(&created, &Edit::Delete(Entries::Providers, "nas".into())).unwrap();
        assert_eq!(deleted, FILE);
        // An id that exists, or none: refused.
        assert_eq!(
            apply(
                FILE,
                &Edit::Create(Entries::Providers, obj(json!({"id": "db"})))
            ),
            Err(EditError::Exists("providers", "db".into()))
        );
        assert_eq!(
            apply(FILE, &Edit::Delete(Entries::Providers, "nope".into())),
            Err(EditError::NotFound("providers", "nope".into()))
        );
    }

    #[test]
    fn an_inline_array_of_providers_is_edited_in_place() {
        let file = "providers = [\n  { id = \"a\", kind = \"tcp\", node = \"n\", service = \"s\", address = \"127.0.0.1:1\" },\n]\n# end\n";
        let out = apply(
            file,
            &Edit::Patch(
                Entries::Providers,
                "a".into(),
                obj(json!({"address": "127.0.0.1:2"})),
            ),
        )
        .unwrap();
        assert_eq!(out, file.replace("127.0.0.1:1", "127.0.0.1:2"));
        let out = apply(
            file,
            &Edit::Create(
                Entries::Providers,
                obj(json!({"id": "b", "kind": "tcp", "node": "n", "service": "t", "address": "127.0.0.1:3"})),
            ),
        )
        .unwrap();
        let parsed: toml::Value = toml::from_str(&out).unwrap();
        assert_eq!(parsed["providers"].as_array().unwrap().len(), 2);
        assert!(out.ends_with("]\n# end\n"), "{out}");
    }

    #[test]
    fn an_id_is_never_renamed_in_place() {
        let err = apply(
            FILE,
            &Edit::Patch(Entries::Providers, "web".into(), obj(json!({"id": "www"}))),
        )
        .unwrap_err();
        assert!(
            matches!(err, EditError::Field { ref field, .. } if field == "id"),
            "{err}"
        );
    }

    #[test]
    fn a_section_patch_merges_keys_and_sub_tables_and_dotted_keys_survive() {
        let file = "[executor]\ntimeout = \"60s\" # long\n\n[executor.commands]\nrestart = [\"systemctl\", \"restart\", \"{service}\"]\n\n[planner]\nchain.x = 1\n";
        let out = apply(
            file,
            &Edit::Section(
                "executor".into(),
                obj(json!({"proposal_ttl": "10m", "commands": {"reload": ["nginx", "-s", "reload"]}})),
            ),
        )
        .unwrap();
        assert_eq!(
            out,
            "[executor]\ntimeout = \"60s\" # long\nproposal_ttl = \"10m\"\n\n[executor.commands]\nrestart = [\"systemctl\", \"restart\", \"{service}\"]\nreload = [\"nginx\", \"-s\", \"reload\"]\n\n[planner]\nchain.x = 1\n"
        );
        assert!(matches!(
            apply(file, &Edit::Section("http".into(), Map::new())),
            Err(EditError::Section(_))
        ));
    }

    #[test]
    fn a_url_sent_back_with_its_password_hidden_keeps_the_password() {
        let file = "[[models]]\nid = \"m\"\napi = \"openai\"\nurl = \"http://u:pw@10.0.0.1/v1\"\nmodel = \"x\"\n";
        let shown = to_json(file).unwrap();
        assert_eq!(shown["models"][0]["url"], "http://u:(hidden)@10.0.0.1/v1");
        let fields = shown["models"][0].as_object().unwrap().clone();
        assert_eq!(
            apply(file, &Edit::Replace(Entries::Models, "m".into(), fields)).unwrap(),
            file
        );
        // A changed host with the password still hidden is written as given (the
        // validator or the probe then says it is wrong): never a guess.
        let out = apply(
            file,
            &Edit::Patch(
                Entries::Models,
                "m".into(),
                obj(json!({"url": "http://u:(hidden)@10.0.0.2/v1"})),
            ),
        )
        .unwrap();
        assert!(out.contains("10.0.0.2"));
    }

    #[test]
    fn passwords_in_urls_are_hidden() {
        let mut s = "redis://:s3cret@10.0.0.1:6379/0".to_owned();
        hide_url_password(&mut s);
        assert_eq!(s, "redis://:(hidden)@10.0.0.1:6379/0");
        let mut s = "http://user:${PASS}@host/".to_owned();
        hide_url_password(&mut s);
        assert_eq!(s, "http://user:${PASS}@host/");
    }

    #[test]
    fn the_file_written_on_first_run_takes_every_kind_of_edit() {
        let first = crate::config::DEFAULT_CONFIG;
        let created = apply(
            first,
            &Edit::Create(
                Entries::Providers,
                obj(
                    json!({"id": "nas", "kind": "tcp", "node": "nas", "service": "smb",
                            "address": "127.0.0.1:445"}),
                ),
            ),
        )
        .unwrap();
        // The entry goes after the last table ([http]), before the commented examples;
        // nothing of the file changes but that insertion.
        let entry = "\n[[providers]]\nid = \"nas\"\nkind = \"tcp\"\nnode = \"nas\"\nservice = \"smb\"\naddress = \"127.0.0.1:445\"\n";
        assert_eq!(created.replacen(entry, "", 1), first);
        let config = crate::config::Config::parse(&created, None).unwrap();
        assert!(config.provider("nas").is_some());
        assert_eq!(
            apply(&created, &Edit::Delete(Entries::Providers, "nas".into())).unwrap(),
            first
        );
        let patched = apply(
            &created,
            &Edit::Section("probe".into(), obj(json!({"interval": "45s"}))),
        )
        .unwrap();
        let config = crate::config::Config::parse(&patched, None).unwrap();
        assert_eq!(config.probe.interval, std::time::Duration::from_secs(45));
        let deleted = apply(&patched, &Edit::Delete(Entries::Providers, "nas".into())).unwrap();
        let config = crate::config::Config::parse(&deleted, None).unwrap();
        assert!(config.provider("nas").is_none());
        assert_eq!(deleted, patched.replacen(entry, "", 1));
    }

    #[test]
    fn the_revision_follows_the_bytes() {
        assert_eq!(revision(b"a"), revision(b"a"));
        assert_ne!(revision(b"a"), revision(b"a "));
        assert_eq!(revision(b"a").len(), 16);
    }
}
