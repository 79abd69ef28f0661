//! A small, iterative JSON reader that keeps what ES error messages need and `serde_json` drops.
//!
//! ES reports document errors with Jackson's `[line:column]` token locations, rejects duplicate keys
//! (`Duplicate field 'a'`), accepts `/* */` and `//` comments, and caps nesting depth at 1000. This
//! reader does the same and produces a flat arena ([`Dom`]) in document order: a container node
//! records the index one past its subtree, so walking, skipping and dropping never recurse. Nothing
//! here recurses, whatever the input depth.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::error::Location;

/// Jackson's default `StreamReadConstraints.maxNestingDepth`.
pub const DEFAULT_MAX_NESTING_DEPTH: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeValue<'a> {
    Object,
    Array,
    Str(Cow<'a, str>),
    /// A number with its exact source text (ES keeps `1.50` as `1.50` for keyword fields).
    Num {
        raw: &'a str,
        integral: bool,
    },
    Bool(bool),
    Null,
}

#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    /// The member name when this node is the value of an object member.
    pub key: Option<Cow<'a, str>>,
    pub value: NodeValue<'a>,
    /// Location of the value's first token.
    pub loc: Location,
    /// Location of the value's last token (the closing bracket of a container).
    pub end_loc: Location,
    /// Index one past this node's subtree.
    pub end: usize,
}

/// A parsed document: nodes in pre-order, root at index 0.
#[derive(Debug, Clone)]
pub(crate) struct Dom<'a> {
    pub nodes: Vec<Node<'a>>,
}

impl<'a> Dom<'a> {
    /// The direct children of a container node.
    pub fn children(&self, idx: usize) -> Children<'_, 'a> {
        let end = self.nodes.get(idx).map_or(idx, |n| n.end);
        Children { dom: self, next: idx + 1, end }
    }

    pub fn node(&self, idx: usize) -> &Node<'a> {
        &self.nodes[idx]
    }

    /// Java `toString()` of the value as ES shows it in "Preview of field's value: '...'"
    /// (maps as `{a=1, b=x}`, lists as `[1, 2]`). Iterative.
    pub fn preview(&self, idx: usize) -> String {
        enum Task {
            Node(usize, bool),
            Lit(&'static str),
        }
        let mut out = String::new();
        let mut tasks = vec![Task::Node(idx, false)];
        while let Some(task) = tasks.pop() {
            match task {
                Task::Lit(s) => out.push_str(s),
                Task::Node(i, with_key) => {
                    let node = &self.nodes[i];
                    if with_key {
                        if let Some(k) = &node.key {
                            out.push_str(k);
                        }
                        out.push('=');
                    }
                    let (open, close, keyed) = match &node.value {
                        NodeValue::Object => ("{", "}", true),
                        NodeValue::Array => ("[", "]", false),
                        scalar => {
                            out.push_str(&scalar_text(scalar));
                            continue;
                        }
                    };
                    out.push_str(open);
                    tasks.push(Task::Lit(close));
                    let kids: Vec<usize> = self.children(i).collect();
                    for (n, c) in kids.iter().enumerate().rev() {
                        tasks.push(Task::Node(*c, keyed));
                        if n > 0 {
                            tasks.push(Task::Lit(", "));
                        }
                    }
                }
            }
        }
        out
    }
}

/// Java-ish text of a scalar node (`null` for JSON null).
pub(crate) fn scalar_text(v: &NodeValue<'_>) -> String {
    match v {
        NodeValue::Str(s) => s.to_string(),
        NodeValue::Num { raw, .. } => (*raw).to_string(),
        NodeValue::Bool(b) => b.to_string(),
        NodeValue::Null => "null".to_string(),
        NodeValue::Object => "{}".to_string(),
        NodeValue::Array => "[]".to_string(),
    }
}

pub(crate) struct Children<'d, 'a> {
    dom: &'d Dom<'a>,
    next: usize,
    end: usize,
}

impl Iterator for Children<'_, '_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        self.next = self.dom.nodes[i].end.max(i + 1);
        Some(i)
    }
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonFailure {
    /// Malformed JSON (Jackson's message), with the location of the last good token.
    Syntax { last_token: Option<Location>, at: Location, msg: String },
    /// The first token is not `{` (or there is no token at all).
    NotAnObject,
    /// A second value follows the root object (ES: "found extra data after parsing: START_OBJECT").
    ExtraData { token: &'static str },
}

enum ObjState {
    FirstKeyOrEnd,
    Key,
    Colon,
    Value,
    CommaOrEnd,
}

enum ArrState {
    FirstValueOrEnd,
    Value,
    CommaOrEnd,
}

enum Frame<'a> {
    Object { idx: usize, state: ObjState, keys: HashSet<Cow<'a, str>>, pending_key: Option<Cow<'a, str>> },
    Array { idx: usize, state: ArrState },
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: u32,
    line_start: usize,
    last_token: Option<Location>,
}

fn char_desc(c: u8) -> String {
    if c < 0x20 || c == 0x7f {
        format!("(CTRL-CHAR, code {c})")
    } else if c < 0x80 {
        format!("'{}' (code {c})", c as char)
    } else {
        format!("(code {c} / 0x{c:x})")
    }
}

type Res<T> = Result<T, JsonFailure>;

impl<'a> Lexer<'a> {
    fn loc(&self) -> Location {
        Location { line: self.line, column: (self.pos - self.line_start + 1) as u32 }
    }

    fn err<T>(&self, at: Location, msg: impl Into<String>) -> Res<T> {
        Err(JsonFailure::Syntax { last_token: self.last_token, at, msg: msg.into() })
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn skip_ws(&mut self) -> Res<()> {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.pos;
                }
                b'\r' => {
                    self.pos += 1;
                    if self.peek() == Some(b'\n') {
                        self.pos += 1;
                    }
                    self.line += 1;
                    self.line_start = self.pos;
                }
                b'/' => {
                    let at = self.loc();
                    match self.src.get(self.pos + 1) {
                        Some(b'/') => {
                            while let Some(c) = self.peek() {
                                if c == b'\n' || c == b'\r' {
                                    break;
                                }
                                self.pos += 1;
                            }
                        }
                        Some(b'*') => {
                            self.pos += 2;
                            loop {
                                match self.peek() {
                                    None => {
                                        return self.err(self.loc(), "Unexpected end-of-input in a comment");
                                    }
                                    Some(b'*') if self.src.get(self.pos + 1) == Some(&b'/') => {
                                        self.pos += 2;
                                        break;
                                    }
                                    Some(b'\n') => {
                                        self.pos += 1;
                                        self.line += 1;
                                        self.line_start = self.pos;
                                    }
                                    Some(_) => self.pos += 1,
                                }
                            }
                        }
                        Some(&c) => {
                            return self.err(
                                at,
                                format!(
                                    "Unexpected character ({}): was expecting either '*' or '/' for a comment",
                                    char_desc(c)
                                ),
                            );
                        }
                        None => {
                            return self.err(at, "Unexpected end-of-input in a comment");
                        }
                    }
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// Reads a string starting at the opening quote.
    fn string(&mut self) -> Res<Cow<'a, str>> {
        let start_loc = self.loc();
        self.pos += 1;
        let start = self.pos;
        let mut owned: Option<Vec<u8>> = None;
        loop {
            let Some(c) = self.peek() else {
                return self.err(self.loc(), "Unexpected end-of-input: was expecting closing quote for a string value");
            };
            match c {
                b'"' => {
                    let bytes: Cow<'a, [u8]> = match owned {
                        Some(v) => Cow::Owned(v),
                        None => Cow::Borrowed(&self.src[start..self.pos]),
                    };
                    self.pos += 1;
                    return match bytes {
                        Cow::Borrowed(b) => match std::str::from_utf8(b) {
                            Ok(s) => Ok(Cow::Borrowed(s)),
                            Err(e) => self.utf8_err(start_loc, b, e),
                        },
                        Cow::Owned(v) => match String::from_utf8(v) {
                            Ok(s) => Ok(Cow::Owned(s)),
                            Err(e) => {
                                let bytes = e.as_bytes().to_vec();
                                let err = e.utf8_error();
                                self.utf8_err(start_loc, &bytes, err)
                            }
                        },
                    };
                }
                b'\\' => {
                    let buf = owned.get_or_insert_with(|| self.src[start..self.pos].to_vec());
                    let esc_loc = self.loc();
                    self.pos += 1;
                    let Some(e) = self.peek() else {
                        return self.err(
                            self.loc(),
                            "Unexpected end-of-input: was expecting closing quote for a string value",
                        );
                    };
                    self.pos += 1;
                    match e {
                        b'"' => buf.push(b'"'),
                        b'\\' => buf.push(b'\\'),
                        b'/' => buf.push(b'/'),
                        b'b' => buf.push(0x08),
                        b'f' => buf.push(0x0c),
                        b'n' => buf.push(b'\n'),
                        b'r' => buf.push(b'\r'),
                        b't' => buf.push(b'\t'),
                        b'u' => {
                            let first = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&first)
                                && self.peek() == Some(b'\\')
                                && self.src.get(self.pos + 1) == Some(&b'u')
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let second = self.hex4()?;
                                if (0xDC00..0xE000).contains(&second) {
                                    let cp = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                                    char::from_u32(cp).unwrap_or('\u{FFFD}')
                                } else {
                                    self.pos = save;
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(first).unwrap_or('\u{FFFD}')
                            };
                            let mut tmp = [0u8; 4];
                            // Re-borrow: `hex4` needed `&mut self`.
                            let buf = owned.get_or_insert_with(Vec::new);
                            buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                        }
                        other => {
                            return self.err(esc_loc, format!("Unrecognized character escape {}", char_desc(other)));
                        }
                    }
                }
                c if c < 0x20 => {
                    return self.err(
                        self.loc(),
                        format!(
                            "Illegal unquoted character ({}): has to be escaped using backslash to be included in string value",
                            char_desc(c)
                        ),
                    );
                }
                _ => {
                    if let Some(buf) = owned.as_mut() {
                        buf.push(c);
                    }
                    self.pos += 1;
                }
            }
        }
    }

    fn utf8_err<T>(&self, at: Location, bytes: &[u8], e: std::str::Utf8Error) -> Res<T> {
        let bad = bytes.get(e.valid_up_to()).copied().unwrap_or(0);
        self.err(at, format!("Invalid UTF-8 start byte 0x{bad:x}"))
    }

    fn hex4(&mut self) -> Res<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let at = self.loc();
            let Some(c) = self.peek() else {
                return self.err(at, "Unexpected end-of-input in character escape sequence");
            };
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => {
                    return self.err(
                        at,
                        format!(
                            "Unexpected character ({}): expected a hex-digit for character escape sequence",
                            char_desc(c)
                        ),
                    );
                }
            };
            v = v * 16 + u32::from(d);
            self.pos += 1;
        }
        Ok(v)
    }

    fn number(&mut self) -> Res<(&'a str, bool)> {
        let start = self.pos;
        let mut integral = true;
        if self.peek() == Some(b'-') {
            self.pos += 1;
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {}
                Some(c) => {
                    return self.err(
                        self.loc(),
                        format!(
                            "Unexpected character ({}) in numeric value: expected digit (0-9) to follow minus sign, for valid numeric value",
                            char_desc(c)
                        ),
                    );
                }
                None => {
                    return self.err(self.loc(), "Unexpected end-of-input in numeric value");
                }
            }
        }
        if self.peek() == Some(b'0') {
            self.pos += 1;
            if matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                return self.err(self.loc(), "Invalid numeric value: Leading zeroes not allowed");
            }
        } else {
            while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        if self.peek() == Some(b'.') {
            integral = false;
            self.pos += 1;
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {}
                Some(c) => {
                    return self.err(
                        self.loc(),
                        format!(
                            "Unexpected character ({}) in numeric value: Decimal point not followed by a digit",
                            char_desc(c)
                        ),
                    );
                }
                None => return self.err(self.loc(), "Unexpected end-of-input in numeric value"),
            }
            while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integral = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {}
                Some(c) => {
                    return self.err(
                        self.loc(),
                        format!(
                            "Unexpected character ({}) in numeric value: Exponent indicator not followed by a digit",
                            char_desc(c)
                        ),
                    );
                }
                None => return self.err(self.loc(), "Unexpected end-of-input in numeric value"),
            }
            while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        // Digits, signs and dots are ASCII, so this slice is valid UTF-8.
        let raw = std::str::from_utf8(&self.src[start..self.pos]).unwrap_or("0");
        Ok((raw, integral))
    }

    /// `true`, `false`, `null`, or Jackson's "Unrecognized token" error.
    fn literal(&mut self) -> Res<NodeValue<'a>> {
        let at = self.loc();
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80) {
            self.pos += 1;
        }
        let word = String::from_utf8_lossy(&self.src[start..self.pos]);
        match word.as_ref() {
            "true" => Ok(NodeValue::Bool(true)),
            "false" => Ok(NodeValue::Bool(false)),
            "null" => Ok(NodeValue::Null),
            _ => self.err(
                at,
                format!(
                    "Unrecognized token '{word}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
                ),
            ),
        }
    }
}

/// Parses a document body. The root must be an object.
pub(crate) fn parse_document(src: &[u8], max_depth: usize) -> Result<Dom<'_>, JsonFailure> {
    let mut lx = Lexer { src, pos: 0, line: 1, line_start: 0, last_token: None };
    // Skip a UTF-8 byte order mark like Jackson does.
    if src.starts_with(&[0xEF, 0xBB, 0xBF]) {
        lx.pos = 3;
        lx.line_start = 3;
    }
    lx.skip_ws()?;
    match lx.peek() {
        None => return Err(JsonFailure::NotAnObject),
        Some(b'{') => {}
        Some(c) => {
            // ES checks the first token: a valid non-object token is "must start with an object",
            // an invalid one is Jackson's error.
            let at = lx.loc();
            match c {
                b'[' | b'"' | b'-' | b'0'..=b'9' => return Err(JsonFailure::NotAnObject),
                c if c.is_ascii_alphabetic() => {
                    lx.literal()?;
                    return Err(JsonFailure::NotAnObject);
                }
                c => {
                    return lx.err(
                        at,
                        format!(
                            "Unexpected character ({}): expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')",
                            char_desc(c)
                        ),
                    );
                }
            }
        }
    }

    let mut nodes: Vec<Node<'_>> = Vec::new();
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut container_start: Vec<Location> = Vec::new();

    // Opens the root object.
    open_value(&mut lx, &mut nodes, &mut stack, &mut container_start, None, max_depth)?;

    while let Some(frame) = stack.last_mut() {
        lx.skip_ws()?;
        let c = lx.peek();
        let at = lx.loc();
        match frame {
            Frame::Object { idx, state, keys, pending_key } => {
                let idx = *idx;
                match state {
                    ObjState::FirstKeyOrEnd | ObjState::Key => {
                        let first = matches!(state, ObjState::FirstKeyOrEnd);
                        match c {
                            Some(b'}') if first => {
                                lx.pos += 1;
                                close(&mut lx, &mut nodes, &mut stack, &mut container_start, idx, at);
                            }
                            Some(b'"') => {
                                let key = lx.string()?;
                                if !keys.insert(key.clone()) {
                                    return lx.err(at, format!("Duplicate field '{key}'"));
                                }
                                lx.last_token = Some(at);
                                *pending_key = Some(key);
                                *state = ObjState::Colon;
                            }
                            None => return eof_in_container(&lx, &container_start, true),
                            Some(c) => {
                                return lx.err(
                                    at,
                                    format!(
                                        "Unexpected character ({}): was expecting double-quote to start field name",
                                        char_desc(c)
                                    ),
                                );
                            }
                        }
                    }
                    ObjState::Colon => match c {
                        Some(b':') => {
                            lx.pos += 1;
                            *state = ObjState::Value;
                        }
                        None => return eof_in_container(&lx, &container_start, true),
                        Some(c) => {
                            return lx.err(
                                at,
                                format!(
                                    "Unexpected character ({}): was expecting a colon to separate field name and value",
                                    char_desc(c)
                                ),
                            );
                        }
                    },
                    ObjState::Value => {
                        *state = ObjState::CommaOrEnd;
                        let key = pending_key.take();
                        if c.is_none() {
                            return eof_in_container(&lx, &container_start, true);
                        }
                        open_value(&mut lx, &mut nodes, &mut stack, &mut container_start, key, max_depth)?;
                    }
                    ObjState::CommaOrEnd => match c {
                        Some(b',') => {
                            lx.pos += 1;
                            *state = ObjState::Key;
                        }
                        Some(b'}') => {
                            lx.pos += 1;
                            close(&mut lx, &mut nodes, &mut stack, &mut container_start, idx, at);
                        }
                        Some(b']') => {
                            let start = container_start.last().copied().unwrap_or_default();
                            return lx.err(
                                at,
                                format!(
                                    "Unexpected close marker ']': expected '}}' (for Object starting at [line: {}, column: {}])",
                                    start.line, start.column
                                ),
                            );
                        }
                        None => return eof_in_container(&lx, &container_start, true),
                        Some(c) => {
                            return lx.err(
                                at,
                                format!(
                                    "Unexpected character ({}): was expecting comma to separate Object entries",
                                    char_desc(c)
                                ),
                            );
                        }
                    },
                }
            }
            Frame::Array { idx, state } => {
                let idx = *idx;
                match state {
                    ArrState::FirstValueOrEnd | ArrState::Value => {
                        let first = matches!(state, ArrState::FirstValueOrEnd);
                        match c {
                            Some(b']') if first => {
                                lx.pos += 1;
                                close(&mut lx, &mut nodes, &mut stack, &mut container_start, idx, at);
                            }
                            None => return eof_in_container(&lx, &container_start, false),
                            Some(_) => {
                                *state = ArrState::CommaOrEnd;
                                open_value(&mut lx, &mut nodes, &mut stack, &mut container_start, None, max_depth)?;
                            }
                        }
                    }
                    ArrState::CommaOrEnd => match c {
                        Some(b',') => {
                            lx.pos += 1;
                            *state = ArrState::Value;
                        }
                        Some(b']') => {
                            lx.pos += 1;
                            close(&mut lx, &mut nodes, &mut stack, &mut container_start, idx, at);
                        }
                        Some(b'}') => {
                            let start = container_start.last().copied().unwrap_or_default();
                            return lx.err(
                                at,
                                format!(
                                    "Unexpected close marker '}}': expected ']' (for Array starting at [line: {}, column: {}])",
                                    start.line, start.column
                                ),
                            );
                        }
                        None => return eof_in_container(&lx, &container_start, false),
                        Some(c) => {
                            return lx.err(
                                at,
                                format!(
                                    "Unexpected character ({}): was expecting comma to separate Array entries",
                                    char_desc(c)
                                ),
                            );
                        }
                    },
                }
            }
        }
    }

    // Anything after the root object?
    lx.skip_ws()?;
    if let Some(c) = lx.peek() {
        let at = lx.loc();
        let token = match c {
            b'{' => "START_OBJECT",
            b'[' => "START_ARRAY",
            b'"' => {
                lx.string()?;
                "VALUE_STRING"
            }
            b'-' | b'0'..=b'9' => {
                lx.number()?;
                "VALUE_NUMBER"
            }
            c if c.is_ascii_alphabetic() => match lx.literal()? {
                NodeValue::Null => "VALUE_NULL",
                _ => "VALUE_BOOLEAN",
            },
            b'}' | b']' => {
                return lx.err(
                    at,
                    format!(
                        "Unexpected close marker '{}': expected ']' (for root starting at [line: 1, column: 0])",
                        c as char
                    ),
                );
            }
            c => {
                return lx.err(
                    at,
                    format!(
                        "Unexpected character ({}): expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')",
                        char_desc(c)
                    ),
                );
            }
        };
        return Err(JsonFailure::ExtraData { token });
    }
    Ok(Dom { nodes })
}

fn eof_in_container<T>(lx: &Lexer<'_>, starts: &[Location], object: bool) -> Res<T> {
    let start = starts.last().copied().unwrap_or_default();
    lx.err(
        lx.loc(),
        format!(
            "Unexpected end-of-input: expected close marker for {} (start marker at [line: {}, column: {}])",
            if object { "Object" } else { "Array" },
            start.line,
            start.column
        ),
    )
}

fn close(
    lx: &mut Lexer<'_>,
    nodes: &mut [Node<'_>],
    stack: &mut Vec<Frame<'_>>,
    starts: &mut Vec<Location>,
    idx: usize,
    at: Location,
) {
    let len = nodes.len();
    if let Some(n) = nodes.get_mut(idx) {
        n.end = len;
        n.end_loc = at;
    }
    lx.last_token = Some(at);
    stack.pop();
    starts.pop();
}

/// Reads one value at the current position: a scalar becomes a node, a container becomes a node
/// plus a frame on the stack.
fn open_value<'a>(
    lx: &mut Lexer<'a>,
    nodes: &mut Vec<Node<'a>>,
    stack: &mut Vec<Frame<'a>>,
    starts: &mut Vec<Location>,
    key: Option<Cow<'a, str>>,
    max_depth: usize,
) -> Res<()> {
    let at = lx.loc();
    let Some(c) = lx.peek() else {
        return lx.err(at, "Unexpected end-of-input: expected a value");
    };
    let value = match c {
        b'{' | b'[' => {
            if stack.len() + 1 > max_depth {
                return lx.err(
                    at,
                    format!(
                        "Document nesting depth ({}) exceeds the maximum allowed ({max_depth}, from `StreamReadConstraints.getMaxNestingDepth()`)",
                        stack.len() + 1
                    ),
                );
            }
            lx.pos += 1;
            lx.last_token = Some(at);
            let idx = nodes.len();
            let object = c == b'{';
            nodes.push(Node {
                key,
                value: if object { NodeValue::Object } else { NodeValue::Array },
                loc: at,
                end_loc: at,
                end: idx + 1,
            });
            stack.push(if object {
                Frame::Object { idx, state: ObjState::FirstKeyOrEnd, keys: HashSet::new(), pending_key: None }
            } else {
                Frame::Array { idx, state: ArrState::FirstValueOrEnd }
            });
            starts.push(at);
            return Ok(());
        }
        b'"' => NodeValue::Str(lx.string()?),
        b'-' | b'0'..=b'9' => {
            let (raw, integral) = lx.number()?;
            NodeValue::Num { raw, integral }
        }
        c if c.is_ascii_alphabetic() => lx.literal()?,
        c => {
            return lx.err(at, format!("Unexpected character ({}): expected a value", char_desc(c)));
        }
    };
    lx.last_token = Some(at);
    let idx = nodes.len();
    nodes.push(Node { key, value, loc: at, end_loc: at, end: idx + 1 });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Dom<'_> {
        match parse_document(s.as_bytes(), DEFAULT_MAX_NESTING_DEPTH) {
            Ok(d) => d,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    fn syntax(s: &str) -> (Location, String) {
        match parse_document(s.as_bytes(), DEFAULT_MAX_NESTING_DEPTH) {
            Err(JsonFailure::Syntax { at, msg, .. }) => (at, msg),
            other => panic!("{s}: expected syntax error, got {other:?}"),
        }
    }

    #[test]
    fn parses_nested_document_in_order() {
        let d = ok(r#"{"a": 1, "b": {"c": [true, null, "x"]}, "d": -1.5e3}"#);
        let root_kids: Vec<_> = d.children(0).collect();
        assert_eq!(root_kids.len(), 3);
        assert_eq!(d.node(root_kids[0]).key.as_deref(), Some("a"));
        assert_eq!(d.node(root_kids[0]).value, NodeValue::Num { raw: "1", integral: true });
        assert_eq!(d.node(root_kids[2]).value, NodeValue::Num { raw: "-1.5e3", integral: false });
        let b = root_kids[1];
        let c = d.children(b).next().unwrap_or(0);
        assert_eq!(d.children(c).count(), 3);
        assert_eq!(d.preview(b), "{c=[true, null, x]}");
    }

    #[test]
    fn locations_are_jackson_like() {
        let d = ok("{\"foo\": \"bar\",\n \"n\": 5}");
        let kids: Vec<_> = d.children(0).collect();
        assert_eq!(d.node(kids[0]).loc, Location { line: 1, column: 9 });
        assert_eq!(d.node(kids[1]).loc, Location { line: 2, column: 7 });
    }

    #[test]
    fn escapes_and_unicode() {
        let d = ok(r#"{"k\u00e9y": "a\"b\\c\n\ud83d\ude00é"}"#);
        let k = d.children(0).next().unwrap_or(0);
        assert_eq!(d.node(k).key.as_deref(), Some("kéy"));
        assert_eq!(d.node(k).value, NodeValue::Str(Cow::Borrowed("a\"b\\c\n😀é")));
    }

    #[test]
    fn comments_are_allowed() {
        let d = ok("{ /* c */ \"a\": 1 // line\n }");
        assert_eq!(d.children(0).count(), 1);
    }

    #[test]
    fn errors() {
        assert_eq!(syntax(r#"{"a": }"#).1, "Unexpected character ('}' (code 125)): expected a value");
        assert!(syntax(r#"{"a": 1"#).1.starts_with("Unexpected end-of-input: expected close marker for Object"));
        assert_eq!(
            syntax(r#"{"a" 1}"#).1,
            "Unexpected character ('1' (code 49)): was expecting a colon to separate field name and value"
        );
        assert_eq!(syntax(r#"{"a": 1, "a": 2}"#).1, "Duplicate field 'a'");
        assert_eq!(
            syntax(r#"{"a": tru}"#).1,
            "Unrecognized token 'tru': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
        );
        assert_eq!(syntax(r#"{"a": 01}"#).1, "Invalid numeric value: Leading zeroes not allowed");
        assert_eq!(
            syntax("{a: 1}").1,
            "Unexpected character ('a' (code 97)): was expecting double-quote to start field name"
        );
        assert!(syntax("{\"a\": \"x\ny\"}").1.starts_with("Illegal unquoted character"));
        assert!(syntax(r#"{"a": [1, 2}"#).1.starts_with("Unexpected close marker '}'"));
        assert!(syntax(r#"{"a": "\q"}"#).1.starts_with("Unrecognized character escape"));
    }

    #[test]
    fn not_object_and_extra_data() {
        for s in ["[1]", "\"x\"", "5", "true", "", "   "] {
            assert_eq!(parse_document(s.as_bytes(), 1000).err(), Some(JsonFailure::NotAnObject), "{s}");
        }
        assert_eq!(parse_document(b"{}{}", 1000).err(), Some(JsonFailure::ExtraData { token: "START_OBJECT" }));
        assert!(ok("{} \n ").nodes.len() == 1);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let depth = 10_000;
        let mut s = String::new();
        for _ in 0..depth {
            s.push_str("{\"a\":");
        }
        s.push('1');
        for _ in 0..depth {
            s.push('}');
        }
        let (_, msg) = syntax(&s);
        assert!(msg.starts_with("Document nesting depth (1001) exceeds the maximum allowed (1000"), "{msg}");
        // Within the limit it parses, and previews without recursion.
        let mut s = String::new();
        for _ in 0..999 {
            s.push('[');
        }
        for _ in 0..999 {
            s.push(']');
        }
        let s = format!("{{\"a\":{s}}}");
        let d = ok(&s);
        assert_eq!(d.preview(1).len(), 999 * 2);
    }
}
