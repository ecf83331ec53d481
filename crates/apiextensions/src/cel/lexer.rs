//! CEL tokens (the cel-spec lexical grammar).

/// One token with its byte offset in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An integer literal's magnitude (sign is applied by the parser).
    Int(u64),
    /// An integer literal too large for `u64` (only valid nowhere).
    BigInt,
    Uint(u64),
    Double(f64),
    Str(String),
    Bytes(Vec<u8>),
    Ident(String),
    True,
    False,
    Null,
    In,
    /// A reserved word that may not be used as an identifier.
    Reserved(String),
    Punct(&'static str),
    Eof,
}

/// A lexing error: offset and message.
pub(crate) type LexError = (usize, String);

const PUNCTS: &[&str] = &[
    "&&", "||", "==", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", ".", ",", ":", "?", "!", "-",
    "+", "*", "/", "%", "<", ">",
];

const RESERVED: &[&str] = &[
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// Splits `src` into tokens.
pub(crate) fn lex(src: &str) -> Result<Vec<(usize, Tok)>, LexError> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        // String and bytes literals, with optional r/b prefixes.
        let (raw, bytes, q) = match (c, b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'r' | b'R', Some(q @ (b'\'' | b'"')), _) => (true, false, Some((q, 1))),
            (b'b' | b'B', Some(q @ (b'\'' | b'"')), _) => (false, true, Some((q, 1))),
            (b'r' | b'R', Some(b'b' | b'B'), Some(q @ (b'\'' | b'"')))
            | (b'b' | b'B', Some(b'r' | b'R'), Some(q @ (b'\'' | b'"'))) => {
                (true, true, Some((q, 2)))
            }
            (q @ (b'\'' | b'"'), _, _) => (false, false, Some((q, 0))),
            _ => (false, false, None),
        };
        if let Some((q, prefix)) = q {
            i += prefix;
            let (content, next) = string_lit(src, i, q, raw)?;
            i = next;
            out.push((
                start,
                if bytes {
                    Tok::Bytes(content)
                } else {
                    match String::from_utf8(content) {
                        Ok(s) => Tok::Str(s),
                        Err(_) => return Err((start, "invalid UTF-8 in string literal".into())),
                    }
                },
            ));
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let (tok, next) = number(src, i)?;
            out.push((start, tok));
            i = next;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &src[start..i];
            let tok = match word {
                "true" => Tok::True,
                "false" => Tok::False,
                "null" => Tok::Null,
                "in" => Tok::In,
                w if RESERVED.contains(&w) => Tok::Reserved(w.to_string()),
                w => Tok::Ident(w.to_string()),
            };
            out.push((start, tok));
            continue;
        }
        match PUNCTS.iter().find(|p| src[i..].starts_with(**p)) {
            Some(p) => {
                out.push((start, Tok::Punct(p)));
                i += p.len();
            }
            None => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err((
                    i,
                    format!("Syntax error: token recognition error at: '{ch}'"),
                ));
            }
        }
    }
    out.push((b.len(), Tok::Eof));
    Ok(out)
}

fn number(src: &str, start: usize) -> Result<(Tok, usize), LexError> {
    let b = src.as_bytes();
    let mut i = start;
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        let ds = i;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        let text = &src[ds..i];
        let unsigned = matches!(b.get(i), Some(b'u' | b'U'));
        let v = u64::from_str_radix(text, 16)
            .map_err(|_| (start, "invalid int literal".to_string()))?;
        return Ok(if unsigned {
            (Tok::Uint(v), i + 1)
        } else {
            (Tok::Int(v), i)
        });
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut is_double = false;
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        is_double = true;
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            is_double = true;
            i = j;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    let text = &src[start..i];
    if is_double {
        let v: f64 = text
            .parse()
            .map_err(|_| (start, "invalid double literal".to_string()))?;
        return Ok((Tok::Double(v), i));
    }
    if matches!(b.get(i), Some(b'u' | b'U')) {
        let v: u64 = text
            .parse()
            .map_err(|_| (start, "invalid uint literal".to_string()))?;
        return Ok((Tok::Uint(v), i + 1));
    }
    Ok((text.parse::<u64>().map_or(Tok::BigInt, Tok::Int), i))
}

fn string_lit(src: &str, start: usize, q: u8, raw: bool) -> Result<(Vec<u8>, usize), LexError> {
    let b = src.as_bytes();
    let triple = b.get(start + 1) == Some(&q) && b.get(start + 2) == Some(&q);
    let mut i = start + if triple { 3 } else { 1 };
    let mut out = Vec::new();
    loop {
        if i >= b.len() {
            return Err((
                start,
                "Syntax error: token recognition error: unterminated string".into(),
            ));
        }
        let c = b[i];
        if triple {
            if c == q && b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q) {
                return Ok((out, i + 3));
            }
        } else if c == q {
            return Ok((out, i + 1));
        } else if c == b'\n' || c == b'\r' {
            return Err((
                i,
                "Syntax error: token recognition error: newline in string".into(),
            ));
        }
        if c == b'\\' && !raw {
            let (bytes, next) = escape(src, i)?;
            out.extend(bytes);
            i = next;
            continue;
        }
        out.push(c);
        i += 1;
    }
}

fn escape(src: &str, i: usize) -> Result<(Vec<u8>, usize), LexError> {
    let b = src.as_bytes();
    let bad = || (i, "Syntax error: invalid escape sequence".to_string());
    let c = *b.get(i + 1).ok_or_else(bad)?;
    let simple = |ch: u8| Ok((vec![ch], i + 2));
    match c {
        b'a' => simple(7),
        b'b' => simple(8),
        b'f' => simple(12),
        b'n' => simple(b'\n'),
        b'r' => simple(b'\r'),
        b't' => simple(b'\t'),
        b'v' => simple(11),
        b'\\' | b'\'' | b'"' | b'`' | b'?' => simple(c),
        b'x' | b'X' | b'u' | b'U' => {
            let n = match c {
                b'x' | b'X' => 2,
                b'u' => 4,
                _ => 8,
            };
            let hex = src.get(i + 2..i + 2 + n).ok_or_else(bad)?;
            let v = u32::from_str_radix(hex, 16).map_err(|_| bad())?;
            if n == 2 {
                return Ok((vec![v as u8], i + 2 + n));
            }
            let ch = char::from_u32(v).ok_or_else(bad)?;
            Ok((ch.to_string().into_bytes(), i + 2 + n))
        }
        b'0'..=b'3' => {
            let oct = src.get(i + 1..i + 4).ok_or_else(bad)?;
            let v = u32::from_str_radix(oct, 8).map_err(|_| bad())?;
            Ok((vec![v as u8], i + 4))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_literals_and_operators() {
        let toks: Vec<Tok> = lex("self.a >= 1u && 'x\\n' + r'\\d' != b\"y\" || 2.5e1 in [0x10]")
            .unwrap()
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        assert!(toks.contains(&Tok::Uint(1)));
        assert!(toks.contains(&Tok::Str("x\n".into())));
        assert!(toks.contains(&Tok::Str("\\d".into())));
        assert!(toks.contains(&Tok::Bytes(b"y".to_vec())));
        assert!(toks.contains(&Tok::Double(25.0)));
        assert!(toks.contains(&Tok::Int(16)));
        assert!(lex("'unterminated").is_err());
        assert!(lex("a # b").is_err());
    }
}
