//! Expression-level tests of the interpreter.

use super::*;
use serde_json::json;

fn eval_with(src: &str, self_json: serde_json::Value) -> Result<Val, String> {
    let p = compile(src, None, false)?;
    let v = value::from_json_dyn(&self_json, 0);
    run(&p, vec![("self".into(), v)], 1_000_000)
        .0
        .map_err(|e| e.to_string())
}

fn truthy(src: &str) -> bool {
    matches!(
        eval_with(
            src,
            json!({"a": 1, "s": "hello", "l": [3, 1, 2], "m": {"k": "v"}})
        ),
        Ok(Val::Bool(true))
    )
}

#[test]
fn core_language() {
    for src in [
        "1 + 2 * 3 == 7",
        "-9223372036854775808 < 0",
        "2u * 3u == 6u",
        "1 == 1.0",
        "'ab' + 'c' == 'abc'",
        "[1, 2] + [3] == [1, 2, 3]",
        "{'a': 1}['a'] == 1",
        "true ? self.a == 1 : false",
        "!false && !(1 > 2)",
        "3 in self.l && 'k' in self.m",
        "has(self.m.k) && !has(self.m.z)",
        "self.l.all(x, x > 0) && self.l.exists(x, x == 2) && self.l.exists_one(x, x == 3)",
        "self.l.map(x, x * 2) == [6, 2, 4] && self.l.filter(x, x > 1) == [3, 2]",
        "self.l.map(x, x > 1, x) == [3, 2]",
        "self.m.all(k, k == 'k')",
        "cel.bind(x, 2, x * x) == 4",
        "size(self.s) == 5 && self.s.size() == 5",
        "type(self.s) == string && type(1) == int",
        "int('42') == 42 && double(1) == 1.0 && string(12) == '12' && uint(3) == 3u",
        "duration('1h') > duration('30m') && timestamp('2020-01-01T00:00:00Z').getFullYear() == 2020",
        "timestamp('2020-01-01T00:00:00Z') + duration('24h') == timestamp('2020-01-02T00:00:00Z')",
        "!(false && (1 / 0 == 1))",
        "(1 / 0 == 1) || true",
    ] {
        assert!(
            truthy(src),
            "{src}: {:?}",
            eval_with(
                src,
                json!({"a": 1, "s": "hello", "l": [3, 1, 2], "m": {"k": "v"}})
            )
        );
    }
}

#[test]
fn libraries() {
    for src in [
        "self.s.startsWith('he') && self.s.endsWith('lo') && self.s.contains('ll')",
        "self.s.matches('^h[a-z]+$') && !self.s.matches('^x')",
        "self.s.charAt(1) == 'e' && self.s.indexOf('l') == 2 && self.s.lastIndexOf('l') == 3",
        "self.s.upperAscii() == 'HELLO' && 'A-B'.lowerAscii() == 'a-b'",
        "self.s.replace('l', 'L') == 'heLLo' && 'a,b,c'.split(',') == ['a', 'b', 'c']",
        "self.s.substring(1, 3) == 'el' && '  x '.trim() == 'x' && ['a', 'b'].join('-') == 'a-b'",
        "'%s has %d items'.format(['list', 3]) == 'list has 3 items'",
        "self.l.isSorted() == false && [1, 2].isSorted() && self.l.sum() == 6",
        "self.l.min() == 1 && self.l.max() == 3 && self.l.indexOf(1) == 1",
        "sets.contains([1, 2, 3], [1]) && sets.intersects([1], [1, 2]) && sets.equivalent([1, 2], [2, 1])",
        "'abc123'.find('[0-9]+') == '123' && 'a1b2'.findAll('[0-9]') == ['1', '2']",
        "url('https://example.com:8080/p?x=1').getHost() == 'example.com:8080'",
        "url('https://example.com:8080/p').getPort() == '8080' && isURL('/path') && !isURL('a b')",
        "ip('10.0.0.1').family() == 4 && isIP('::1') && !isIP('nope') && ip('127.0.0.1').isLoopback()",
        "cidr('10.0.0.0/8').containsIP('10.1.2.3') && cidr('10.0.0.0/8').prefixLength() == 8",
        "quantity('1Gi').isGreaterThan(quantity('1G')) && quantity('500m').asApproximateFloat() == 0.5",
        "quantity('1').add(quantity('500m')).compareTo(quantity('1500m')) == 0 && isQuantity('10Mi')",
        "!format.dns1123Label().validate('ok-name').hasValue() && format.dns1123Label().validate('Bad').hasValue()",
        "math.greatest(1, 5, 3) == 5 && math.least([4, 2]) == 2",
        "optional.of(1).orValue(2) == 1 && optional.none().orValue(2) == 2",
        "self.?missing.orValue('d') == 'd' && self.m.?k.value() == 'v'",
        "[?optional.none(), ?optional.of(1)] == [1]",
        "strings.quote('a\"b') == '\"a\\\\\"b\"'",
    ] {
        assert!(
            truthy(src),
            "{src}: {:?}",
            eval_with(
                src,
                json!({"a": 1, "s": "hello", "l": [3, 1, 2], "m": {"k": "v"}})
            )
        );
    }
}

#[test]
fn runtime_errors_read_like_cel_go() {
    let obj = json!({"a": 1, "l": [1]});
    assert_eq!(
        eval_with("self.missing == 1", obj.clone()).unwrap_err(),
        "no such key: missing"
    );
    assert_eq!(
        eval_with("self.a / 0 == 1", obj.clone()).unwrap_err(),
        "division by zero"
    );
    assert_eq!(
        eval_with("self.l[5] == 1", obj.clone()).unwrap_err(),
        "index '5' out of range in list size '1'"
    );
    assert_eq!(
        eval_with("self.a + 'x' == 1", obj.clone()).unwrap_err(),
        "no such overload"
    );
    assert_eq!(
        eval_with("9223372036854775807 + 1 > 0", obj).unwrap_err(),
        "integer overflow"
    );
}

#[test]
fn compile_errors_point_at_the_input() {
    let e = compile("self.a >", None, false).unwrap_err();
    assert!(e.starts_with("ERROR: <input>:1:9: Syntax error"), "{e}");
    assert!(e.contains("\n | self.a >\n | ........^"), "{e}");
    let e = compile("foo(1)", None, false).unwrap_err();
    assert_eq!(
        e,
        "ERROR: <input>: undeclared reference to 'foo' (in container '')"
    );
    let e = compile("x > 1", None, false).unwrap_err();
    assert_eq!(
        e,
        "ERROR: <input>: undeclared reference to 'x' (in container '')"
    );
    assert!(
        compile("oldSelf == self", None, false)
            .unwrap()
            .uses_old_self
    );
}

#[test]
fn cost_limit_stops_runaway_rules() {
    let p = compile(
        "self.l.all(a, self.l.all(b, self.l.all(c, a + b + c >= 0)))",
        None,
        false,
    )
    .unwrap();
    let list: Vec<i64> = (0..200).collect();
    let v = value::from_json_dyn(&json!({"l": list}), 0);
    let (r, cost) = run(&p, vec![("self".into(), v)], 1_000_000);
    assert_eq!(r.unwrap_err(), EvalError::CostLimit);
    assert!(cost > 1_000_000);
}
