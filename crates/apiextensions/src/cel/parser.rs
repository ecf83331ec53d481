//! CEL parser: tokens to an expression tree with macros (`has`, `all`,
//! `exists`, `exists_one`, `map`, `filter`, `cel.bind`) expanded into
//! dedicated nodes, and optional syntax (`?.`, `[?`, `{?k: v}`, `[?x]`).

use super::lexer::{Tok, lex};

/// Deepest expression tree accepted (cel-go's default recursion limit):
/// every nesting, chained operator and member access counts, so the
/// recursive parser, evaluator and drop stay off the stack limit.
pub(crate) const MAX_NESTING: usize = 250;

/// Deepest nesting of parenthesised/bracketed sub-expressions and call
/// arguments (each costs the parser a dozen stack frames).
pub(crate) const MAX_PARSE_NESTING: usize = 32;

/// A literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(String),
    Bytes(Vec<u8>),
}

/// Comprehension macros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Macro {
    All,
    Exists,
    ExistsOne,
    Map,
    Filter,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Lit(Lit),
    Ident(String),
    /// `operand.field`; `test` is `has(operand.field)`, `optional` is `?.`.
    Select {
        operand: Box<Expr>,
        field: String,
        test: bool,
        optional: bool,
    },
    /// `operand[index]` or `operand[?index]`.
    Index {
        operand: Box<Expr>,
        index: Box<Expr>,
        optional: bool,
    },
    /// `f(args)` or `target.f(args)`.
    Call {
        target: Option<Box<Expr>>,
        func: String,
        args: Vec<Expr>,
    },
    /// List literal; the flag marks optional elements (`[?x]`).
    List(Vec<(Expr, bool)>),
    /// Map literal; the flag marks optional entries (`{?k: v}`).
    Map(Vec<(Expr, Expr, bool)>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    Comprehension {
        kind: Macro,
        var: String,
        range: Box<Expr>,
        /// Predicate (all/exists/exists_one/filter, map's filter).
        pred: Option<Box<Expr>>,
        /// Map's transform.
        transform: Option<Box<Expr>>,
    },
    Bind {
        var: String,
        init: Box<Expr>,
        body: Box<Expr>,
    },
}

/// A parse error at a byte offset.
#[derive(Debug, Clone)]
pub(crate) struct ParseError {
    pub offset: usize,
    pub message: String,
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    depth: usize,
    nest: usize,
}

type PResult<T> = Result<T, ParseError>;

/// Parses a whole expression.
pub(crate) fn parse(src: &str) -> PResult<Expr> {
    let toks = lex(src).map_err(|(offset, message)| ParseError { offset, message })?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        nest: 0,
    };
    let e = p.expr()?;
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.unexpected());
    }
    Ok(e)
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Int(v) | Tok::Uint(v) => v.to_string(),
        Tok::BigInt => "<int>".into(),
        Tok::Double(v) => v.to_string(),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Bytes(_) => "<bytes>".into(),
        Tok::Ident(s) | Tok::Reserved(s) => s.clone(),
        Tok::True => "true".into(),
        Tok::False => "false".into(),
        Tok::Null => "null".into(),
        Tok::In => "in".into(),
        Tok::Punct(p) => (*p).into(),
        Tok::Eof => "<EOF>".into(),
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].1
    }
    fn offset(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].0
    }
    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }
    fn is(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }
    fn eat(&mut self, p: &str) -> bool {
        if self.is(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn err(&self, message: String) -> ParseError {
        ParseError {
            offset: self.offset(),
            message,
        }
    }
    fn unexpected(&self) -> ParseError {
        self.err(format!(
            "Syntax error: mismatched input '{}'",
            tok_text(self.peek())
        ))
    }
    fn expect(&mut self, p: &str) -> PResult<()> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.err(format!(
                "Syntax error: mismatched input '{}' expecting '{p}'",
                tok_text(self.peek())
            )))
        }
    }
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err("expression recursion limit exceeded".into()));
        }
        Ok(())
    }

    fn expr(&mut self) -> PResult<Expr> {
        self.nest += 1;
        if self.nest > MAX_PARSE_NESTING {
            return Err(self.err("expression recursion limit exceeded".into()));
        }
        self.enter()?;
        let cond = self.or()?;
        let r = if self.eat("?") {
            let t = self.or()?;
            self.expect(":")?;
            let f = self.expr()?;
            Expr::Cond(Box::new(cond), Box::new(t), Box::new(f))
        } else {
            cond
        };
        self.depth -= 1;
        self.nest -= 1;
        Ok(r)
    }

    fn or(&mut self) -> PResult<Expr> {
        let base = self.depth;
        let mut l = self.and()?;
        while self.eat("||") {
            self.enter()?;
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        self.depth = base;
        Ok(l)
    }

    fn and(&mut self) -> PResult<Expr> {
        let base = self.depth;
        let mut l = self.relation()?;
        while self.eat("&&") {
            self.enter()?;
            let r = self.relation()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        self.depth = base;
        Ok(l)
    }

    fn relation(&mut self) -> PResult<Expr> {
        let base = self.depth;
        let mut l = self.additive()?;
        loop {
            let op: &'static str = match self.peek() {
                Tok::Punct(p @ ("<" | "<=" | ">" | ">=" | "==" | "!=")) => p,
                Tok::In => "in",
                _ => {
                    self.depth = base;
                    return Ok(l);
                }
            };
            self.next();
            self.enter()?;
            let r = self.additive()?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }

    fn additive(&mut self) -> PResult<Expr> {
        let base = self.depth;
        let mut l = self.multiplicative()?;
        loop {
            let op: &'static str = match self.peek() {
                Tok::Punct(p @ ("+" | "-")) => p,
                _ => {
                    self.depth = base;
                    return Ok(l);
                }
            };
            self.next();
            self.enter()?;
            let r = self.multiplicative()?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }

    fn multiplicative(&mut self) -> PResult<Expr> {
        let base = self.depth;
        let mut l = self.unary()?;
        loop {
            let op: &'static str = match self.peek() {
                Tok::Punct(p @ ("*" | "/" | "%")) => p,
                _ => {
                    self.depth = base;
                    return Ok(l);
                }
            };
            self.next();
            self.enter()?;
            let r = self.unary()?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }

    fn unary(&mut self) -> PResult<Expr> {
        let base = self.depth;
        let e = self.unary_inner()?;
        self.depth = base;
        Ok(e)
    }

    fn unary_inner(&mut self) -> PResult<Expr> {
        if self.is("!") {
            let mut n = 0;
            while self.eat("!") {
                n += 1;
                self.enter()?;
            }
            let mut e = self.member()?;
            for _ in 0..n {
                e = Expr::Not(Box::new(e));
            }
            return Ok(e);
        }
        if self.is("-") {
            let mut n = 0;
            while self.eat("-") {
                n += 1;
                self.enter()?;
            }
            // A negated integer literal may be i64::MIN.
            if n % 2 == 1
                && let Tok::Int(v) = self.peek().clone()
                && v == 1u64 << 63
                && !self.followed_by_member()
            {
                self.next();
                let mut e = Expr::Lit(Lit::Int(i64::MIN));
                for _ in 1..n {
                    e = Expr::Neg(Box::new(e));
                }
                return Ok(e);
            }
            let mut e = self.member()?;
            for _ in 0..n {
                e = Expr::Neg(Box::new(e));
            }
            return Ok(e);
        }
        self.member()
    }

    fn followed_by_member(&self) -> bool {
        matches!(
            self.toks.get(self.pos + 1),
            Some((_, Tok::Punct("." | "[")))
        )
    }

    fn member(&mut self) -> PResult<Expr> {
        let base = self.depth;
        let mut e = self.primary()?;
        loop {
            if self.is(".") || self.is("[") {
                self.enter()?;
            }
            if self.eat(".") {
                let optional = self.eat("?");
                let name = match self.next() {
                    // cel-go only refuses reserved words as plain
                    // identifiers: `x.namespace(...)` (the authorizer
                    // library) parses.
                    Tok::Ident(n) | Tok::Reserved(n) => n,
                    t => {
                        return Err(self.err(format!(
                            "Syntax error: mismatched input '{}' expecting IDENTIFIER",
                            tok_text(&t)
                        )));
                    }
                };
                if !optional && self.is("(") {
                    self.next();
                    let args = self.args(")")?;
                    e = self.member_call(e, name, args)?;
                } else {
                    e = Expr::Select {
                        operand: Box::new(e),
                        field: name,
                        test: false,
                        optional,
                    };
                }
            } else if self.eat("[") {
                let optional = self.eat("?");
                let idx = self.expr()?;
                self.expect("]")?;
                e = Expr::Index {
                    operand: Box::new(e),
                    index: Box::new(idx),
                    optional,
                };
            } else {
                self.depth = base;
                return Ok(e);
            }
        }
    }

    fn args(&mut self, close: &str) -> PResult<Vec<Expr>> {
        let mut args = Vec::new();
        if self.eat(close) {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat(close) {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn ident_of(&self, e: &Expr) -> PResult<String> {
        match e {
            Expr::Ident(n) => Ok(n.clone()),
            _ => Err(self.err("argument must be a simple name".into())),
        }
    }

    fn member_call(&mut self, target: Expr, func: String, mut args: Vec<Expr>) -> PResult<Expr> {
        let kind = match (func.as_str(), args.len()) {
            ("all", 2) => Some(Macro::All),
            ("exists", 2) => Some(Macro::Exists),
            ("exists_one", 2) => Some(Macro::ExistsOne),
            ("map", 2 | 3) => Some(Macro::Map),
            ("filter", 2) => Some(Macro::Filter),
            _ => None,
        };
        if let Some(kind) = kind {
            let var = self.ident_of(&args[0])?;
            let (pred, transform) = match (kind, args.len()) {
                (Macro::Map, 2) => (None, Some(Box::new(args.remove(1)))),
                (Macro::Map, _) => {
                    let t = args.remove(2);
                    (Some(Box::new(args.remove(1))), Some(Box::new(t)))
                }
                _ => (Some(Box::new(args.remove(1))), None),
            };
            return Ok(Expr::Comprehension {
                kind,
                var,
                range: Box::new(target),
                pred,
                transform,
            });
        }
        if func == "bind" && args.len() == 3 && target == Expr::Ident("cel".into()) {
            let var = self.ident_of(&args[0])?;
            let body = args.remove(2);
            let init = args.remove(1);
            return Ok(Expr::Bind {
                var,
                init: Box::new(init),
                body: Box::new(body),
            });
        }
        // Namespaced global functions (`optional.of`, `strings.quote`, ...).
        if let Expr::Ident(ns) = &target
            && matches!(
                ns.as_str(),
                "optional" | "strings" | "math" | "sets" | "lists" | "format" | "base64"
            )
        {
            return Ok(Expr::Call {
                target: None,
                func: format!("{ns}.{func}"),
                args,
            });
        }
        Ok(Expr::Call {
            target: Some(Box::new(target)),
            func,
            args,
        })
    }

    fn primary(&mut self) -> PResult<Expr> {
        let start = self.offset();
        let t = self.next();
        Ok(match t {
            Tok::Int(v) => Expr::Lit(Lit::Int(
                i64::try_from(v).map_err(|_| self.err("invalid int literal".into()))?,
            )),
            Tok::BigInt => return Err(self.err("invalid int literal".into())),
            Tok::Uint(v) => Expr::Lit(Lit::Uint(v)),
            Tok::Double(v) => Expr::Lit(Lit::Double(v)),
            Tok::Str(s) => Expr::Lit(Lit::Str(s)),
            Tok::Bytes(b) => Expr::Lit(Lit::Bytes(b)),
            Tok::True => Expr::Lit(Lit::Bool(true)),
            Tok::False => Expr::Lit(Lit::Bool(false)),
            Tok::Null => Expr::Lit(Lit::Null),
            Tok::Punct(".") => match self.next() {
                Tok::Ident(n) => self.ident_or_call(n)?,
                _ => return Err(self.unexpected()),
            },
            Tok::Ident(n) => self.ident_or_call(n)?,
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                e
            }
            Tok::Punct("[") => {
                self.enter()?;
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        let optional = self.eat("?");
                        items.push((self.expr()?, optional));
                        if self.eat("]") {
                            break;
                        }
                        self.expect(",")?;
                        if self.eat("]") {
                            break;
                        }
                    }
                }
                self.depth -= 1;
                Expr::List(items)
            }
            Tok::Punct("{") => {
                self.enter()?;
                let mut entries = Vec::new();
                if !self.eat("}") {
                    loop {
                        let optional = self.eat("?");
                        let k = self.expr()?;
                        self.expect(":")?;
                        let v = self.expr()?;
                        entries.push((k, v, optional));
                        if self.eat("}") {
                            break;
                        }
                        self.expect(",")?;
                        if self.eat("}") {
                            break;
                        }
                    }
                }
                self.depth -= 1;
                Expr::Map(entries)
            }
            Tok::Reserved(w) => {
                return Err(ParseError {
                    offset: start,
                    message: format!("Syntax error: mismatched input '{w}'"),
                });
            }
            other => {
                return Err(ParseError {
                    offset: start,
                    message: format!(
                        "Syntax error: mismatched input '{}' expecting {{'[', '{{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}}",
                        tok_text(&other)
                    ),
                });
            }
        })
    }

    fn ident_or_call(&mut self, name: String) -> PResult<Expr> {
        if !self.eat("(") {
            return Ok(Expr::Ident(name));
        }
        let mut args = self.args(")")?;
        if name == "has" {
            if args.len() != 1 {
                return Err(self.err("invalid argument to has() macro".into()));
            }
            return match args.remove(0) {
                Expr::Select {
                    operand,
                    field,
                    optional: false,
                    ..
                } => Ok(Expr::Select {
                    operand,
                    field,
                    test: true,
                    optional: false,
                }),
                _ => Err(self.err("invalid argument to has() macro".into())),
            };
        }
        Ok(Expr::Call {
            target: None,
            func: name,
            args,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_precedence_and_macros() {
        let e = parse("a || b && c").unwrap();
        assert!(matches!(e, Expr::Or(..)));
        let e = parse("self.items.all(x, x > 0) ? 1 : -2").unwrap();
        assert!(matches!(e, Expr::Cond(..)));
        let e = parse("has(self.spec.foo)").unwrap();
        assert!(matches!(e, Expr::Select { test: true, .. }));
        assert!(matches!(
            parse("cel.bind(x, 1, x + 1)").unwrap(),
            Expr::Bind { .. }
        ));
        assert!(matches!(
            parse("optional.of(1)").unwrap(),
            Expr::Call { target: None, .. }
        ));
        assert!(matches!(
            parse("-9223372036854775808").unwrap(),
            Expr::Lit(Lit::Int(i64::MIN))
        ));
        assert!(parse("self.x >").is_err());
        assert!(parse("has(x)").is_err());
        let deep = "(".repeat(500) + "1" + &")".repeat(500);
        assert!(parse(&deep).is_err());
    }
}
