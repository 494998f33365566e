//! Files as `jwt-gate check` reads them: a JSON file is one document, kept byte for byte (the
//! filter's parser decides on it); a YAML file is one document per `---`; a Markdown file is its
//! fenced code blocks, each JSON or YAML block read the same way and the others listed as skipped.

use serde_json::Value;

/// How a file is read.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Format {
    Json,
    Yaml,
    Markdown,
}

/// One JSON or YAML document and where it starts.
pub struct Document {
    /// Where it starts: a Markdown block's opening fence (its first document's), a YAML
    /// document's first line of content; `None` for a JSON file, whose places are its JSON
    /// paths.
    pub line: Option<usize>,
    /// Its text (for finding the line of a key), and the line of the text's first line.
    pub text: String,
    pub text_line: usize,
    /// The bytes the filter would get if this document is a plugin configuration: a JSON file's
    /// or block's own bytes, a YAML document's as the JSON it stands for.
    pub bytes: Vec<u8>,
    /// The document parsed (JSON leniently, to see what it is: the filter's parser judges it).
    pub value: Result<Value, String>,
    /// In Markdown: the block's language (`json`, `yaml`).
    pub block: Option<String>,
}

/// What a file holds.
pub struct Contents {
    pub documents: Vec<Document>,
    /// Markdown blocks that are not JSON or YAML: (line, language or "" for none).
    pub other_blocks: Vec<(usize, String)>,
}

/// The documents of a file's `bytes`, read as `format`.
pub fn read(bytes: &[u8], format: Format) -> Result<Contents, String> {
    match format {
        Format::Json => Ok(Contents {
            documents: vec![json_document(bytes, None, None)],
            other_blocks: Vec::new(),
        }),
        Format::Yaml => {
            let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
            Ok(Contents {
                documents: yaml_documents(text, 0, None),
                other_blocks: Vec::new(),
            })
        }
        Format::Markdown => {
            let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
            let mut contents = Contents {
                documents: Vec::new(),
                other_blocks: Vec::new(),
            };
            for block in fenced_blocks(text) {
                match block.language.as_str() {
                    "json" => contents.documents.push(json_document(
                        block.text.as_bytes(),
                        Some(block.line),
                        Some(block.language.clone()),
                    )),
                    "yaml" | "yml" => contents.documents.extend(yaml_documents(
                        &block.text,
                        block.line,
                        Some(&block.language),
                    )),
                    _ => contents.other_blocks.push((block.line, block.language)),
                }
            }
            Ok(contents)
        }
    }
}

/// A JSON document: parsed with serde_json to see what it is (the filter's own parser judges
/// it when it is a plugin configuration, on `bytes`).
fn json_document(bytes: &[u8], line: Option<usize>, block: Option<String>) -> Document {
    Document {
        line,
        text: String::from_utf8_lossy(bytes).into_owned(),
        text_line: line.map_or(1, |fence| fence + 1),
        bytes: bytes.to_vec(),
        value: serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}")),
        block,
    }
}

/// The YAML documents of `text` (empty ones left out). `line_offset` is the line before the
/// first line of `text` (a Markdown block's fence), 0 for a file.
fn yaml_documents(text: &str, line_offset: usize, block: Option<&str>) -> Vec<Document> {
    let mut documents = Vec::new();
    for (first_line, chunk) in split_yaml(text) {
        let value = serde_yaml_ng::from_str::<Value>(&chunk).map_err(|e| {
            // The parser's line is the chunk's: make it the file's.
            match e.location() {
                Some(at) => format!(
                    "not YAML: {} (line {})",
                    e.to_string().split(" at line ").next().unwrap_or_default(),
                    line_offset + first_line + at.line().saturating_sub(1)
                ),
                None => format!("not YAML: {e}"),
            }
        });
        if matches!(value, Ok(Value::Null)) {
            continue; // comments only
        }
        let content_line = chunk
            .lines()
            .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .unwrap_or(0);
        let bytes = match &value {
            Ok(value) => serde_json::to_vec(value).unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        // A block's first document is where the reader sees the block start: its fence.
        let line = match block {
            Some(_) if documents.is_empty() => line_offset,
            _ => line_offset + first_line + content_line,
        };
        documents.push(Document {
            line: Some(line),
            text: chunk,
            text_line: line_offset + first_line,
            bytes,
            value,
            block: block.map(str::to_owned),
        });
    }
    documents
}

/// `text` cut at its document markers (`---` or `...` at the start of a line: YAML forbids
/// them inside a document): (the 1-based line of each chunk's first line, the chunk).
fn split_yaml(text: &str) -> Vec<(usize, String)> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (index, line) in text.lines().enumerate() {
        let marker = ["---", "..."].into_iter().find(|m| {
            line == *m || line.starts_with(&format!("{m} ")) || line.starts_with(&format!("{m}\t"))
        });
        match marker {
            Some(marker) => {
                chunks.push((start, std::mem::take(&mut current)));
                start = index + 1;
                if marker == "---" {
                    // `--- {a: 1}`: the document starts on the marker's line.
                    current.push_str(line.get(3..).unwrap_or_default());
                } else {
                    start = index + 2;
                }
                current.push('\n');
            }
            None => {
                current.push_str(line);
                current.push('\n');
            }
        }
    }
    chunks.push((start, current));
    chunks
}

/// A fenced code block of a Markdown file.
struct Block {
    /// The first word of the info string, lower case ("" without one).
    language: String,
    text: String,
    /// The line of the opening fence, 1-based.
    line: usize,
}

/// The fenced code blocks of `markdown` (CommonMark's: ``` or ~~~, three or more, indented or
/// not, as in lists; an unclosed fence runs to the end of the file).
fn fenced_blocks(markdown: &str) -> Vec<Block> {
    struct Open {
        fence: char,
        length: usize,
        indent: usize,
        block: Block,
    }
    let mut blocks = Vec::new();
    let mut open: Option<Open> = None;
    for (index, line) in markdown.lines().enumerate() {
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        let fence = content.chars().next().filter(|c| *c == '`' || *c == '~');
        let length = fence.map_or(0, |f| content.chars().take_while(|c| *c == f).count());
        match &mut open {
            None => {
                let Some(fence) = fence.filter(|_| length >= 3) else {
                    continue;
                };
                let info = content.get(length..).unwrap_or_default().trim();
                if fence == '`' && info.contains('`') {
                    continue; // inline code, not a fence
                }
                open = Some(Open {
                    fence,
                    length,
                    indent,
                    block: Block {
                        language: info
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_ascii_lowercase(),
                        text: String::new(),
                        line: index + 1,
                    },
                });
            }
            Some(current) => {
                let closes = fence == Some(current.fence)
                    && length >= current.length
                    && content.get(length..).unwrap_or_default().trim().is_empty();
                if closes {
                    if let Some(done) = open.take() {
                        blocks.push(done.block);
                    }
                } else {
                    let strip = indent.min(current.indent);
                    current
                        .block
                        .text
                        .push_str(line.get(strip..).unwrap_or_default());
                    current.block.text.push('\n');
                }
            }
        }
    }
    if let Some(unclosed) = open {
        blocks.push(unclosed.block);
    }
    blocks
}

impl Document {
    /// The line of the member `key` when the document's text names it exactly once (so that
    /// the line is certainly the member's); otherwise the document's own line.
    pub fn line_of(&self, key: Option<&str>) -> Option<usize> {
        key.and_then(|key| key_index(&self.text, key))
            .map(|index| self.text_line + index)
            .or(self.line)
    }
}

/// The index of the one line of `text` naming the member `key` (`key:`, `"key":`), `None` if
/// no line or several do (YAML comment lines aside).
fn key_index(text: &str, key: &str) -> Option<usize> {
    let mut found = None;
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut offset = 0;
        while let Some(at) = line.get(offset..).and_then(|rest| rest.find(key)) {
            let start = offset + at;
            let end = start + key.len();
            let before = line.get(..start).and_then(|s| s.chars().last());
            let after = line.get(end..).unwrap_or_default();
            let after = after.strip_prefix(['"', '\'']).unwrap_or(after);
            let whole_word =
                before.is_none_or(|c| !c.is_ascii_alphanumeric() && !matches!(c, '_' | '-' | '.'));
            if whole_word && after.trim_start().starts_with(':') {
                if found.is_some() {
                    return None;
                }
                found = Some(index);
            }
            offset = end;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_keep_their_lines() {
        let text = "# a comment\na: 1\n---\n\nb: 2\n--- {c: 3}\n...\n---\n# only a comment\n";
        let documents = yaml_documents(text, 0, None);
        let lines: Vec<_> = documents.iter().map(|d| d.line).collect();
        assert_eq!(lines, [Some(2), Some(5), Some(6)]);
        assert_eq!(documents[2].value, Ok(serde_json::json!({"c": 3})));
        assert_eq!(documents[0].bytes, br#"{"a":1}"#);
    }

    #[test]
    fn yaml_errors_name_the_files_line() {
        let documents = yaml_documents("a: 1\n---\nb: [\n", 10, None);
        let error = documents[1].value.as_ref().unwrap_err();
        assert!(error.starts_with("not YAML: "), "{error}");
        assert!(error.ends_with("(line 14)"), "{error}");
    }

    #[test]
    fn markdown_blocks_indented_tilde_and_unclosed() {
        let markdown = "# t\n```json\n{}\n```\n- item\n\n   ```yaml title\n   a: 1\n   ```\n~~~~sh\n```\n~~~~\n```text\nnot closed\n";
        let blocks = fenced_blocks(markdown);
        let summary: Vec<_> = blocks
            .iter()
            .map(|b| (b.line, b.language.as_str(), b.text.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (2, "json", "{}\n"),
                (7, "yaml", "a: 1\n"),
                (10, "sh", "```\n"),
                (13, "text", "not closed\n"),
            ]
        );
    }

    #[test]
    fn markdown_reads_json_and_yaml_blocks_and_lists_the_others() {
        let markdown =
            "```json\n{\"a\": 1}\n```\n\n```yaml\nb: 2\n---\nc: 3\n```\n```sh\nls\n```\n";
        let contents = read(markdown.as_bytes(), Format::Markdown).unwrap();
        let lines: Vec<_> = contents.documents.iter().map(|d| d.line).collect();
        assert_eq!(lines, [Some(1), Some(5), Some(8)]);
        assert_eq!(contents.other_blocks, [(10, "sh".to_owned())]);
    }

    #[test]
    fn a_json_file_is_kept_byte_for_byte() {
        let bytes = b"{\"providers\": {},}";
        let contents = read(bytes, Format::Json).unwrap();
        assert_eq!(contents.documents[0].bytes, bytes);
        assert!(contents.documents[0].value.is_err());
    }

    #[test]
    fn the_line_of_a_key_named_once() {
        let text = "x: 1\n---\n# c\nspec:\n  pluginConfig:\n    providers: {}\n  url: x\n";
        let [_, document] = &yaml_documents(text, 0, None)[..] else {
            panic!()
        };
        assert_eq!(document.line, Some(4));
        assert_eq!(document.line_of(Some("pluginConfig")), Some(5));
        assert_eq!(document.line_of(Some("url")), Some(7));
        assert_eq!(document.line_of(Some("nowhere")), Some(4));
        assert_eq!(document.line_of(None), Some(4));
        let commented = "# the configuration: below\nconfiguration: {}\n";
        assert_eq!(key_index(commented, "configuration"), Some(1));
        let twice = "a:\n  value: 1\nb:\n  value: 2\n";
        assert_eq!(key_index(twice, "value"), None);
        // Part of another key, or a value: not the key.
        assert_eq!(key_index("xvalue: 1\nk: value\n", "value"), None);
        let block = json_document(b"{\n  \"value\": 1}", Some(3), None);
        assert_eq!(block.line_of(Some("value")), Some(5));
    }
}
