//! The request as a host hands it over, and the few ways jwt-gate reads it: the path and its
//! query string, percent-decoding, and header names as a CGI-style backend compares them.

/// One request header as the host lends it: its lower-case name and its value, as raw bytes
/// borrowed from the host's own header map (no copy on the request path).
pub type Header<'a> = (&'a [u8], &'a [u8]);

/// The request as the host sees it: every header, pseudo-headers (`:path`, `:method`,
/// `:authority`, `:scheme`) included, as raw bytes with lower-case names.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The headers, in order, duplicates kept.
    pub headers: &'a [Header<'a>],
}

/// Borrowed views of owned headers (a host that must copy them, and tests).
pub fn borrow_headers(headers: &[(Vec<u8>, Vec<u8>)]) -> Vec<Header<'_>> {
    headers
        .iter()
        .map(|(name, value)| (name.as_slice(), value.as_slice()))
        .collect()
}

impl<'a> Request<'a> {
    /// The first value of header `name` (lower-case), if any.
    pub fn header(self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| *v)
    }
}

/// The query string of a `:path`, without the fragment.
pub fn split_path(path: &[u8]) -> (&[u8], Option<&[u8]>) {
    let path = match path.iter().position(|&b| b == b'#') {
        Some(hash) => path.get(..hash).unwrap_or(path),
        None => path,
    };
    match path.iter().position(|&b| b == b'?') {
        Some(q) => (path.get(..q).unwrap_or(path), path.get(q + 1..)),
        None => (path, None),
    }
}

/// `:path` without the query parameter `name` (every occurrence); other parameters keep their
/// order and encoding.
pub fn remove_query_param(path: &[u8], name: &str) -> Vec<u8> {
    let (base, query) = split_path(path);
    let Some(query) = query else {
        return path.to_vec();
    };
    let kept: Vec<&[u8]> = query
        .split(|&b| b == b'&')
        .filter(|pair| {
            let key = pair.split(|&b| b == b'=').next().unwrap_or_default();
            percent_decode(key) != name.as_bytes()
        })
        .collect();
    let mut out = base.to_vec();
    if !kept.is_empty() {
        out.push(b'?');
        out.extend_from_slice(&kept.join(&b'&'));
    }
    out
}

pub(crate) fn query_pairs(query: &[u8]) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    query
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut halves = pair.splitn(2, |&b| b == b'=');
            let key = halves.next().unwrap_or_default();
            let value = halves.next().unwrap_or_default();
            (percent_decode(key), percent_decode(value))
        })
}

pub(crate) fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|&c| char::from(c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Whether two header names are one for a backend that reads `_` as `-` (CGI's `HTTP_X_USER`
/// for both `X-User` and `X_User`), compared case-insensitively.
pub fn same_header_name(a: &[u8], b: &[u8]) -> bool {
    let fold = |byte: u8| match byte {
        b'_' => b'-',
        other => other.to_ascii_lowercase(),
    };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| fold(x) == fold(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_a_query_parameter_keeps_the_rest() {
        assert_eq!(
            remove_query_param(b"/a?x=1&access_token=t&y=2", "access_token"),
            b"/a?x=1&y=2"
        );
        assert_eq!(
            remove_query_param(b"/a?access_token=t", "access_token"),
            b"/a"
        );
        assert_eq!(remove_query_param(b"/a", "access_token"), b"/a");
        assert_eq!(split_path(b"/p?q#f"), (&b"/p"[..], Some(&b"q"[..])));
    }

    #[test]
    fn header_names_compare_as_cgi_reads_them() {
        assert!(same_header_name(b"X_User", b"x-user"));
        assert!(!same_header_name(b"x-users", b"x-user"));
    }
}
