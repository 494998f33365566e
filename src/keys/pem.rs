//! PEM blocks, read exactly as x509-parser 0.18's `Pem::iter_from_buffer` reads them (the same
//! blocks, the same errors and texts), but decoded with the `base64` crate the rest of jwt-gate
//! uses: x509-parser's reader is the only user of `data-encoding`, whose decoder alone was ~31 KB
//! of the .wasm. `tests` holds the two readers side by side.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// One `-----BEGIN <label>-----` … `-----END …` block.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Block {
    /// The label up to its first `-` (`PUBLIC KEY`, `CERTIFICATE`, …).
    pub label: String,
    /// The decoded base64 between the lines.
    pub contents: Vec<u8>,
}

/// Why a block could not be read (x509-parser's `PEMError`, and its texts).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PemError {
    /// The contents are not padded standard base64.
    Base64,
    /// No `-----END ` line.
    Incomplete,
    /// A `-----BEGIN ` line that does not read as one.
    InvalidHeader,
    /// A line inside a block that is not UTF-8.
    NotUtf8,
}

impl fmt::Display for PemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Base64 => "base64 decode error",
            Self::Incomplete => "incomplete PEM",
            Self::InvalidHeader => "invalid header",
            Self::NotUtf8 => "IO error: stream did not contain valid UTF-8",
        })
    }
}

/// The blocks of `text`, in order; lines outside blocks are ignored. After an error the next
/// block is read from where the error was found.
pub fn blocks(text: &[u8]) -> Blocks<'_> {
    Blocks { rest: text }
}

/// See [`blocks`].
pub struct Blocks<'a> {
    rest: &'a [u8],
}

impl Blocks<'_> {
    /// The next line, its `\n` included (empty at the end).
    fn line(&mut self) -> &[u8] {
        let end = self
            .rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.rest.len(), |newline| newline.saturating_add(1));
        let (line, rest) = self.rest.split_at(end.min(self.rest.len()));
        self.rest = rest;
        line
    }

    fn read(&mut self) -> Option<Result<Block, PemError>> {
        let label = loop {
            let line = self.line();
            if line.is_empty() {
                return None;
            }
            // Lines that are not UTF-8 are skipped outside a block (comments).
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            if !line.starts_with("-----BEGIN ") {
                continue;
            }
            let mut parts = line.split("-----");
            let (Some(""), Some(label), Some(_)) = (parts.next(), parts.next(), parts.next())
            else {
                return Some(Err(PemError::InvalidHeader));
            };
            let Some(label) = label.strip_prefix("BEGIN ") else {
                return Some(Err(PemError::InvalidHeader));
            };
            break label.split('-').next().unwrap_or_default().to_owned();
        };
        let mut base64 = String::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                return Some(Err(PemError::Incomplete));
            }
            let Ok(line) = std::str::from_utf8(line) else {
                return Some(Err(PemError::NotUtf8));
            };
            if line.starts_with("-----END ") {
                break;
            }
            base64.push_str(line.trim_end());
        }
        Some(
            decode_padded(base64.as_bytes())
                .map(|contents| Block { label, contents })
                .ok_or(PemError::Base64),
        )
    }
}

impl Iterator for Blocks<'_> {
    type Item = Result<Block, PemError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        self.read()
    }
}

/// Standard base64 with padding, trailing bits checked; like data-encoding's `BASE64`, padded
/// inputs may follow one another (`AA==AA==`).
fn decode_padded(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut start = 0;
    for (index, chunk) in input.chunks(4).enumerate() {
        if chunk.contains(&b'=') {
            let end = index.saturating_add(1).saturating_mul(4);
            STANDARD.decode_vec(input.get(start..end)?, &mut out).ok()?;
            start = end;
        }
    }
    STANDARD.decode_vec(input.get(start..)?, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::pem::Pem;

    type Read = Vec<Result<Block, String>>;

    /// Both readers' blocks (label and contents, or the error's text), to the end.
    fn both(text: &[u8]) -> (Read, Read) {
        let ours = blocks(text).map(|b| b.map_err(|e| e.to_string())).collect();
        let theirs = Pem::iter_from_buffer(text)
            .map(|b| {
                b.map(|pem| Block {
                    label: pem.label,
                    contents: pem.contents,
                })
                .map_err(|e| e.to_string())
            })
            .collect();
        (ours, theirs)
    }

    #[test]
    fn reads_as_x509_parser_does() {
        let body = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE";
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"\n\n".to_vec(),
            b"no block here".to_vec(),
            format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n").into(),
            format!("-----BEGIN PUBLIC KEY-----\r\n{body}\r\n-----END PUBLIC KEY-----").into(),
            format!("junk\n-----BEGIN RSA PUBLIC KEY-----\n{body}\n-----END X-----\ntail\n-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n").into(),
            b"-----BEGIN A-B-----\nAA==AA==\n-----END A-----\n".to_vec(),
            b"-----BEGIN A-----\nAA==\nAAA=\n-----END A-----\n".to_vec(),
            b"-----BEGIN A-----\nAA=A\n-----END A-----\n".to_vec(),
            b"-----BEGIN A-----\nAB==\n-----END A-----\n".to_vec(),
            b"-----BEGIN A-----\nAA\n-----END A-----\n".to_vec(),
            b"-----BEGIN A-----\n====\n-----END A-----\n".to_vec(),
            b"-----BEGIN A-----\nA===\n-----END A-----\n".to_vec(),
            b"-----BEGIN A-----\nA A=\n-----END A-----\n".to_vec(),
            b"-----BEGIN A-----\nAA==  \t\n-----END A-----\n".to_vec(),
            b"-----BEGIN A-----\n-----END A-----\n".to_vec(),
            b"-----BEGIN A-----\nAA==\n".to_vec(),
            b"-----BEGIN A-----\nAA==".to_vec(),
            b"-----BEGIN A\nAA==\n-----END A-----\n".to_vec(),
            b"x-----BEGIN A-----\n".to_vec(),
            b"-----BEGIN -----\nAA==\n-----END -----\n".to_vec(),
            b"-----BEGIN A----------\n-----END A-----\n".to_vec(),
            b"\xff\xfe\n-----BEGIN A-----\nAA==\n-----END A-----\n".to_vec(),
            b"-----BEGIN A-----\n\xff\nAA==\n-----END A-----\n-----BEGIN B-----\nAA==\n-----END B-----\n".to_vec(),
            b"-----BEGIN A-----\nAA==\n-----END A-----\n-----BEGIN B-----\nAA\n-----END B-----\n-----BEGIN C-----\nAAAA\n-----END C-----\n".to_vec(),
            "-----BEGIN A-----\nAA==\u{3000}\n-----END A-----\n".as_bytes().to_vec(),
        ];
        for case in cases {
            let (ours, theirs) = both(&case);
            assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(&case));
        }
    }
}
