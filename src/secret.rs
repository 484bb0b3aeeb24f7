//! Secrets inside connection URLs (`redis://user:password@host`, `?password=`).
//!
//! Owns: showing such a URL without its secret (`redact`) and listing the secrets it
//! holds, as written and percent-decoded, so error texts can be scrubbed of them. The bus
//! and the config's error messages both use it; it depends on nothing.

/// The URL with any password replaced by `***`: `redis://:***@host:6379`,
/// `redis://user:***@host`, `redis+unix:///run/redis.sock?pass=***`. A user part without a
/// colon is redacted whole (some clients read it as the password).
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // Not a URL we understand: keep nothing that could be a credential.
        return match url.rfind('@') {
            Some(at) => format!("***{}", &url[at..]),
            None => url.to_owned(),
        };
    };
    let rest_at = scheme_end + 3;
    let rest = &url[rest_at..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let mut out = String::with_capacity(url.len());
    out.push_str(&url[..rest_at]);
    match authority.rfind('@') {
        Some(at) => {
            match authority[..at].split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str("***"),
            }
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let tail = &rest[authority_len..];
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            let params: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if is_secret_param(k) => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
            if let Some(f) = fragment {
                out.push('#');
                out.push_str(f);
            }
        }
        None => out.push_str(tail),
    }
    out
}

fn is_secret_param(key: &str) -> bool {
    matches!(key.to_ascii_lowercase().as_str(), "pass" | "password")
}

/// The secrets [`redact`] hides, as written and percent-decoded, for scrubbing error texts.
pub(crate) fn secrets_of(url: &str) -> Vec<String> {
    let mut raw = Vec::new();
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            raw.push(match userinfo.split_once(':') {
                Some((_, pass)) => pass.to_owned(),
                None => userinfo.to_owned(),
            });
        }
        if let Some((_, query)) = rest[authority_len..].split_once('?') {
            let query = query.split('#').next().unwrap_or_default();
            for kv in query.split('&') {
                if let Some((k, v)) = kv.split_once('=') {
                    if is_secret_param(k) {
                        raw.push(v.to_owned());
                    }
                }
            }
        }
    } else if let Some(at) = url.rfind('@') {
        raw.push(url[..at].to_owned());
    }
    let mut secrets = Vec::new();
    for s in raw.into_iter().filter(|s| !s.is_empty()) {
        let decoded = percent_decode(&s);
        if decoded != s && !decoded.is_empty() {
            secrets.push(decoded);
        }
        secrets.push(s);
    }
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
