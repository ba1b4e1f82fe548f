//! Which endpoint URLs are accepted.
//!
//! `http` or `https`, at most [`MAX_ENDPOINT_URL_BYTES`], a host, no user or password (they
//! would be stored and shown in listings), no fragment. Loopback and unspecified hosts
//! (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`, `0.0.0.0`, `::`) are refused unless the
//! deployment allows them (`credits serve --webhook-allow-loopback`, for tests and trials on
//! one machine): in production a webhook aimed at the server's own machine reaches services
//! that trust local callers.

use std::net::IpAddr;

use credits_store::webhooks::MAX_ENDPOINT_URL_BYTES;

/// Why a URL is refused, in words for `invalid-input`.
///
/// # Errors
/// A sentence naming the rule broken.
pub fn check_url(url: &str, allow_loopback: bool) -> Result<(), String> {
    if url.len() > MAX_ENDPOINT_URL_BYTES {
        return Err(format!(
            "`url` is {} bytes long; at most {MAX_ENDPOINT_URL_BYTES}",
            url.len()
        ));
    }
    if url.contains('#') {
        return Err("`url` must not have a fragment (`#…`)".to_owned());
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "`url` is not a valid absolute URL".to_owned())?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("`url` must start with `http://` or `https://`".to_owned()),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| "`url` has no host".to_owned())?;
    if authority.as_str().contains('@') {
        return Err("`url` must not hold a user or password".to_owned());
    }
    let host = authority.host();
    if host.is_empty() {
        return Err("`url` has no host".to_owned());
    }
    if !allow_loopback && is_loopback(host) {
        return Err(
            "`url` names this machine (a loopback host); this server does not deliver to it"
                .to_owned(),
        );
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    let lower = host.to_ascii_lowercase();
    let bare = lower.trim_start_matches('[').trim_end_matches(']');
    if bare == "localhost" || bare.ends_with(".localhost") {
        return true;
    }
    bare.parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_ENDPOINT_URL_BYTES));
        // (url, allow loopback, accepted)
        let cases: &[(&str, bool, bool)] = &[
            ("https://platform.example/hooks", false, true),
            ("http://platform.example:8080/hooks?x=1", false, true),
            ("ftp://platform.example/hooks", false, false),
            ("platform.example/hooks", false, false),
            ("https://user:pass@platform.example/hooks", false, false),
            ("https://platform.example/hooks#part", false, false),
            ("http://127.0.0.1:9000/hooks", false, false),
            ("http://127.0.0.1:9000/hooks", true, true),
            ("http://localhost/hooks", false, false),
            ("http://api.localhost/hooks", false, false),
            ("http://[::1]:9000/hooks", false, false),
            ("http://[::1]:9000/hooks", true, true),
            ("http://0.0.0.0/hooks", false, false),
            ("http://127.1.2.3/hooks", false, false),
            (long.as_str(), false, false),
            ("", false, false),
        ];
        for (url, allow, accepted) in cases {
            assert_eq!(check_url(url, *allow).is_ok(), *accepted, "{url} {allow}");
        }
    }
}
