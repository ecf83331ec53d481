use proptest::prelude::*;
use serde_json::json;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn canon(s: &str) -> String {
    match Selector::parse(s) {
        Ok(sel) => sel.to_string(),
        Err(e) => panic!("{s:?}: {e}"),
    }
}

fn err(s: &str) -> String {
    match Selector::parse(s) {
        Ok(sel) => panic!("{s:?} parsed as {sel}"),
        Err(e) => e.0,
    }
}

const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

#[test]
fn parses_and_canonicalizes_like_upstream() {
    let cases = [
        ("", ""),
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("z=c,x=a,y=b", "x=a,y=b,z=c"),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x=,z= ", "x=,z="),
        ("x= ,z= ", "x=,z="),
        ("!x", "!x"),
        ("x>1", "x>1"),
        ("x<7", "x<7"),
        ("x==a", "x=a"),
        ("x in (abc,def),y", "x in (abc,def),y"),
        ("x in (def,abc,abc)", "x in (abc,def)"),
        ("x in ()", "x in ()"),
        (
            "x notin (abc,,def),bar,z in (),w",
            "bar,w,x notin (,abc,def),z in ()",
        ),
        ("x in (,)", "x in ()"),
        ("  x  in  ( a , b )  ,  !y ", "x in (a,b),!y"),
        ("x\tin\n(a)", "x in (a)"),
        ("in in (in,notin)", "in in (in,notin)"),
        ("example.com/app=web", "example.com/app=web"),
        ("x,y=", "x,y="),
    ];
    for (input, want) in cases {
        assert_eq!(canon(input), want, "{input:?}");
    }
}

#[test]
fn reports_upstream_errors() {
    let cases = [
        ("x=a,,y=b", "found ',', expected: identifier after ','"),
        ("x=a,", "found '', expected: identifier after ','"),
        (
            "=a",
            "found '=', expected: !, identifier, or 'end of string'",
        ),
        ("x=a b", "found 'b', expected: ',' or 'end of string'"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        (
            "x in (a",
            "unable to parse requirement: found '', expected: ',' or ')'",
        ),
        (
            "x in (a,",
            "unable to parse requirement: found '', expected: ',', or identifier",
        ),
        (
            "x in a",
            "unable to parse requirement: found 'a' expected: '('",
        ),
        (
            "x in (=)",
            "unable to parse requirement: found '=', expected: ',', ')' or identifier",
        ),
        (
            "x y",
            "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "x=(",
            "unable to parse requirement: found '(', expected: identifier",
        ),
        (
            "!",
            "unable to parse requirement: found '', expected: identifier",
        ),
        (
            "x>a",
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(err(input), want, "{input:?}");
    }
    assert_eq!(
        err("app:monolith"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"app:monolith\": {NAME_PART_MSG}"
        )
    );
    assert_eq!(
        err("x=a_"),
        "unable to parse requirement: values[0][x]: Invalid value: \"a_\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );
    assert!(err("a/b/c ?=? def").starts_with(
        "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of"
    ));
}

#[test]
fn matches_like_upstream() {
    let l = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
    let yes = [
        "",
        "app=web",
        "app==web",
        "app!=db",
        "missing!=x",
        "app in (web,db)",
        "app notin (db)",
        "missing notin (x)",
        "app",
        "!missing",
        "n>4",
        "n<6",
        "app=web,tier=front",
    ];
    for s in yes {
        assert!(Selector::parse(s).unwrap().matches(&l), "{s}");
    }
    let no = [
        "app=db",
        "app!=web",
        "app in (db)",
        "app notin (web)",
        "missing",
        "!app",
        "n>5",
        "n<5",
        "app>1",
        "missing>1",
        "missing=x",
        "app=web,tier=back",
    ];
    for s in no {
        assert!(!Selector::parse(s).unwrap().matches(&l), "{s}");
    }
}

#[test]
fn from_label_selector_like_upstream() {
    let sel = Selector::from_label_selector(&json!({
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "c", "operator": "In", "values": ["y", "x"]},
            {"key": "d", "operator": "NotIn", "values": ["z"]},
            {"key": "e", "operator": "Exists"},
            {"key": "f", "operator": "DoesNotExist", "values": []},
        ]
    }))
    .unwrap();
    assert_eq!(sel.to_string(), "a=1,b=2,c in (x,y),d notin (z),e,!f");
    assert!(sel.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "x"), ("e", "")])));
    assert!(!sel.matches(&labels(&[("a", "1"), ("b", "2"), ("c", "x")])));

    let everything = Selector::from_label_selector(&json!({})).unwrap();
    assert!(everything.is_empty());
    assert!(everything.matches(&BTreeMap::new()));
    let nothing = Selector::from_label_selector(&Value::Null).unwrap();
    assert!(!nothing.is_empty());
    assert!(nothing.matches_nothing());
    assert!(!nothing.matches(&BTreeMap::new()));
    assert_eq!(nothing.to_string(), "");

    let e = |v: Value| Selector::from_label_selector(&v).unwrap_err().0;
    assert_eq!(
        e(json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
        "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
    );
    assert_eq!(
        e(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
        "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
    );
    assert_eq!(
        e(json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})),
        "\"Gt\" is not a valid label selector operator"
    );
    assert_eq!(
        e(json!({"matchLabels": {"a b": "x"}})),
        format!("key: Invalid value: \"a b\": {NAME_PART_MSG}")
    );
    assert_eq!(
        e(json!({"matchExpressions": [{"key": "-a", "operator": "In"}]})),
        format!(
            "[key: Invalid value: \"-a\": {NAME_PART_MSG}, values: Invalid value: []string{{}}: for 'in', 'notin' operators, values set can't be empty]"
        )
    );
    assert!(Selector::from_label_selector(&json!({"matchLabels": {"a": 1}})).is_err());
    assert!(Selector::from_label_selector(&json!([1])).is_err());
    assert!(Selector::from_label_selector(&json!({"matchExpressions": [1]})).is_err());
}

#[test]
fn from_set_and_helpers() {
    let set = labels(&[("b", "2"), ("a", "1")]);
    let sel = Selector::from_set(&set);
    assert_eq!(sel.to_string(), "a=1,b=2");
    assert_eq!(sel.requires_exact_match("b"), Some("2"));
    assert_eq!(sel.requires_exact_match("c"), None);
    let sel = sel.with_requirement(Requirement::new("aa", Operator::Exists, vec![]).unwrap());
    assert_eq!(sel.to_string(), "a=1,aa,b=2");
    assert!(Selector::everything().is_empty());
    assert_eq!(Selector::everything().to_string(), "");
}

fn key_strategy() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-z0-9]([a-z0-9.-]{0,6}[a-z0-9])?"),
        "[A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?",
    )
        .prop_filter_map("valid prefix", |(prefix, name)| {
            let key = match prefix {
                Some(p) => format!("{p}/{name}"),
                None => name,
            };
            is_qualified_name(&key).is_empty().then_some(key)
        })
}

fn value_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?",
        Just("in".to_string()),
        Just("notin".to_string()),
    ]
}

fn requirement_strategy() -> impl Strategy<Value = Requirement> {
    let op = prop_oneof![
        Just(Operator::Equals),
        Just(Operator::NotEquals),
        Just(Operator::In),
        Just(Operator::NotIn),
        Just(Operator::Exists),
        Just(Operator::DoesNotExist),
        Just(Operator::GreaterThan),
        Just(Operator::LessThan),
    ];
    (
        key_strategy(),
        op,
        prop::collection::vec(value_strategy(), 1..4),
        0u32..100_000,
    )
        .prop_map(|(key, op, values, n)| {
            let values = match op {
                Operator::Exists | Operator::DoesNotExist => vec![],
                Operator::Equals | Operator::NotEquals => values[..1].to_vec(),
                Operator::GreaterThan | Operator::LessThan => vec![n.to_string()],
                Operator::In | Operator::NotIn => values,
            };
            Requirement::new(&key, op, values).expect("generated requirement is valid")
        })
}

proptest! {
    #[test]
    fn display_parse_round_trip(reqs in prop::collection::vec(requirement_strategy(), 0..5)) {
        let mut sel = Selector::everything();
        for r in reqs {
            sel = sel.with_requirement(r);
        }
        let text = sel.to_string();
        let parsed = Selector::parse(&text);
        prop_assert_eq!(parsed.as_ref().ok(), Some(&sel), "{} -> {:?}", text, parsed);
        if let Ok(p) = parsed {
            prop_assert_eq!(p.to_string(), text);
        }
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,40}") {
        let _ = Selector::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_selector_alphabet(s in "[a-z=!(), <>\\tin]{0,30}") {
        if let Ok(sel) = Selector::parse(&s) {
            // Whatever parses must re-parse to the same selector.
            prop_assert_eq!(Selector::parse(&sel.to_string()).ok(), Some(sel));
        }
    }
}

#[test]
fn nul_bytes_lex_like_upstream() {
    // At a token start NUL ends the input; inside a token it splits it.
    assert_eq!(canon("a \0,junk=("), "a");
    assert_eq!(
        err("a\0b"),
        "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
    );
    assert_eq!(
        err("a=\0=b"),
        "unable to parse requirement: found '=', expected: identifier"
    );
}
