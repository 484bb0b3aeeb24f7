//! Who decided, in the audit: the surface and, when known, a plain person name.

/// Who decided, in the audit: the surface and, when known, the person
/// (`local:alice`, `tray:alice`, `api:ci-bot`). A name that is not a plain user name
/// (empty, too long, odd characters) is left out rather than recorded.
pub fn actor(surface: &str, user: Option<&str>) -> String {
    match user.filter(|u| is_user_name(u)) {
        Some(u) => format!("{surface}:{u}"),
        None => surface.to_owned(),
    }
}

/// `[A-Za-z0-9_.@-]`, 1 to 64 characters: a login name or an e-mail-like token name.
pub fn is_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b))
}

/// The person running this process (`USER`, else `LOGNAME`, else the login name of the
/// process's user id), for local surfaces.
pub fn local_user() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .filter(|u| is_user_name(u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_names_the_surface_and_a_plain_person_name_only() {
        assert_eq!(actor("local", Some("alice")), "local:alice");
        assert_eq!(
            actor("api", Some("ci-bot@example.org")),
            "api:ci-bot@example.org"
        );
        assert_eq!(actor("tray", None), "tray");
        for odd in ["", "a b", "x;rm", "$(id)", "é", &"x".repeat(65)] {
            assert_eq!(actor("api", Some(odd)), "api", "{odd:?} is not recorded");
        }
    }
}
