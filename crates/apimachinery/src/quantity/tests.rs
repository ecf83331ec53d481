use proptest::prelude::*;

use super::*;

fn canon(s: &str) -> String {
    match Quantity::parse(s) {
        Ok(q) => q.to_string(),
        Err(e) => panic!("{s:?}: {e}"),
    }
}

fn q(s: &str) -> Quantity {
    Quantity::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn canonical_forms_match_upstream() {
    let cases = [
        // Zeroes.
        ("0", "0"),
        ("0n", "0"),
        ("0m", "0"),
        ("0Ki", "0"),
        ("0Ei", "0"),
        ("00", "0"),
        ("-0", "0"),
        (".", "0"),
        ("-.", "0"),
        ("0.0", "0"),
        // Plain and suffixed values.
        ("1", "1"),
        ("1Ki", "1Ki"),
        ("8Ki", "8Ki"),
        ("7Mi", "7Mi"),
        ("6Gi", "6Gi"),
        ("5Ti", "5Ti"),
        ("4Pi", "4Pi"),
        ("3Ei", "3Ei"),
        ("100Ti", "100Ti"),
        ("5n", "5n"),
        ("4u", "4u"),
        ("3m", "3m"),
        ("8k", "8k"),
        ("50k", "50k"),
        ("7M", "7M"),
        ("6G", "6G"),
        ("40T", "40T"),
        ("300T", "300T"),
        ("2P", "2P"),
        ("1E", "1E"),
        ("12E", "12E"),
        // Canonicalization.
        ("0.5", "500m"),
        ("1000m", "1"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("1.5Gi", "1536Mi"),
        ("1000", "1k"),
        ("2000000", "2M"),
        ("1500", "1500"),
        ("1.5", "1500m"),
        ("1.5k", "1500"),
        ("1000M", "1G"),
        ("0.001", "1m"),
        ("0.0005k", "500m"),
        ("0.00500", "5m"),
        ("9.01", "9010m"),
        ("8.1k", "8100"),
        ("2.5P", "2500T"),
        ("1.01E", "1010P"),
        (".001Ki", "1024m"),
        (".000001Ki", "1024u"),
        (".000000001Ki", "1024n"),
        (".000000000001Ki", "2n"),
        ("0.5Mi", "512Ki"),
        ("0.05Gi", "53687091200m"),
        ("100.035Ki", "102435840m"),
        ("0.5Ki", "512"),
        ("2048", "2048"),
        ("+1.5", "1500m"),
        // Exponents.
        ("1e3", "1e3"),
        ("12e6", "12e6"),
        ("100e3", "100e3"),
        ("1e14", "100e12"),
        ("1e13", "10e12"),
        ("1.2e3", "1200"),
        ("1.3E+6", "1300e3"),
        ("0.5e-1", "50e-3"),
        ("0.5e0", "500e-3"),
        ("1.1E-9", "2e-9"),
        ("0.5e-9", "1e-9"),
        ("1e-30", "1e-9"),
        ("1e40", "10e39"),
        ("1e1000000000", "10e999999999"),
        ("1e-2147483647", "1e-9"),
        // Rounding up to nano.
        ("3.001n", "4n"),
        ("0.0000000001", "1n"),
        ("0.00000012345", "124n"),
        ("0.9n", "1n"),
        // Caps and large values.
        ("9Ei", "9223372036854775807"),
        ("9223372036854775807Ki", "9223372036854775807"),
        ("8Ei", "9223372036854775807"),
        ("7Ei", "7Ei"),
        ("99999999999999999999", "99999999999999999999"),
        ("100000000000000000000", "100E"),
        ("1000E", "1e21"),
        ("5000E", "5e21"),
        // Negative values.
        ("-1", "-1"),
        ("-0.5", "-500m"),
        ("-1.5Gi", "-1536Mi"),
        ("-1000", "-1k"),
        ("-.001Ki", "-1024m"),
        ("-0.0000000001", "-1n"),
        ("-9Ei", "-9223372036854775807"),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter(|(input, want)| canon(input) != *want)
        .map(|(input, want)| format!("{input:?}: got {:?}, want {want:?}", canon(input)))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn echoes_canonical_shaped_input_like_upstream() {
    // Upstream's fast path keeps the input string when its shape looks
    // canonical, including spellings the computed form would not produce.
    for s in [
        "+1", "01", "+1Ki", "1E3", "1e+3", "1e03", "1e0", "1E-3", "1.001", "100.035k", "10.035M",
        "5.444T", "1.", "1.G", "-1Ki",
    ] {
        assert_eq!(canon(s), s);
    }
    assert_eq!(q("+1").canonical_string(), "1");
    assert_eq!(q("1E3").canonical_string(), "1e3");
    assert_eq!(q("1e0").canonical_string(), "1");
    assert_eq!(q("1.001").canonical_string(), "1001m");
    assert_eq!(q("100.035k").canonical_string(), "100035");
    assert_eq!(q("+1"), q("1"));
}

#[test]
fn rejects_what_upstream_rejects() {
    for s in [
        "",
        "1.2.3",
        "1.1.M",
        "1+1.0M",
        "0.1mi",
        "0.1am",
        "aoeu",
        ".5i",
        "1i",
        "-3.01i",
        "-3.01e-",
        "1e",
        "1E+",
        "1Mb",
        "1K",
        "1 Gi",
        " 1",
        "1 ",
        "1e4294967297",
        "1e2147483648",
        "Non-Numeric",
        // No number at all (upstream's scanner reads these as 0, but its
        // documented regex rejects them).
        "Mi",
        "-",
        "+",
        "k",
        "e3",
    ] {
        assert_eq!(Quantity::parse(s), Err(QuantityError), "{s:?}");
    }
    assert_eq!(
        QuantityError.to_string(),
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
}

#[test]
fn formats_are_kept() {
    assert_eq!(q("1Ki").format(), Format::BinarySI);
    assert_eq!(q("0.5Ki").format(), Format::BinarySI);
    assert_eq!(q(".000000000001Ki").format(), Format::DecimalSI);
    assert_eq!(q("1k").format(), Format::DecimalSI);
    assert_eq!(q("1e3").format(), Format::DecimalExponent);
    assert_eq!(q("1E").format(), Format::DecimalSI);
}

#[test]
fn values_round_up_away_from_zero() {
    assert_eq!(q("1.5").value(), 2);
    assert_eq!(q("-1.5").value(), -2);
    assert_eq!(q("100m").value(), 1);
    assert_eq!(q("1").milli_value(), 1000);
    assert_eq!(q("1.0001m").milli_value(), 2);
    assert_eq!(q("-1.0001m").milli_value(), -2);
    assert_eq!(q("1Gi").value(), 1 << 30);
    assert_eq!(q("1n").milli_value(), 1);
    assert_eq!(q("0").milli_value(), 0);
    assert_eq!(q("1k").scaled_value(3), 1);
    assert_eq!(q("9Ei").value(), i64::MAX);
    assert_eq!(q("9Ei").milli_value(), i64::MAX);
    assert_eq!(q("-9Ei").milli_value(), i64::MIN);
    assert_eq!(q("1e30").value(), i64::MAX);
    assert_eq!(q("-9223372036854775808").value(), i64::MIN);
}

#[test]
fn compares_values() {
    assert_eq!(q("100m").cmp_value(&q("50m")), Ordering::Greater);
    assert_eq!(q("10000T").cmp_value(&q("100Gi")), Ordering::Greater);
    assert_eq!(q("1Ki").cmp_value(&q("1024")), Ordering::Equal);
    assert_eq!(q("-1").cmp_value(&q("0")), Ordering::Less);
    assert_eq!(q("-2").cmp_value(&q("-1")), Ordering::Less);
    assert_eq!(q("0").cmp_value(&q("-0")), Ordering::Equal);
    assert!(q("-1").is_negative());
    assert!(!q("-0").is_negative());
    assert!(q("0Mi").is_zero());
    assert!((q("1.5k").as_approximate_f64() - 1500.0).abs() < 1e-9);
    assert!((q("-2m").as_approximate_f64() + 0.002).abs() < 1e-12);
}

#[test]
fn round_up_like_upstream() {
    let mut x = q("9.01");
    assert!(!x.round_up(-1));
    assert_eq!(x.to_string(), "9100m");
    let mut x = q("-9.01");
    assert!(!x.round_up(0));
    assert_eq!(x.to_string(), "-10");
    let mut x = q("+1");
    assert!(x.round_up(-3));
    assert_eq!(
        x.to_string(),
        "+1",
        "an echoed string at a coarser scale survives"
    );
    let mut x = q("+1500u");
    assert!(!x.round_up(-3));
    assert_eq!(x.to_string(), "2m");
    let mut x = q("+1500u");
    assert!(x.round_up(-6));
    assert_eq!(x.to_string(), "+1500u");
    let mut x = q("1.5Gi");
    assert!(x.round_up(-3));
    assert_eq!(x.to_string(), "1536Mi");
}

#[test]
fn canonicalize_helper() {
    assert_eq!(canonicalize("1024Mi").as_deref(), Ok("1Gi"));
    assert_eq!(canonicalize("x"), Err(QuantityError));
    assert_eq!(canonicalize(" 1000 ").as_deref(), Ok("1k"));
    assert_eq!(canonicalize("   "), Err(QuantityError));
}

fn quantity_string() -> impl Strategy<Value = String> {
    let suffix = prop_oneof![
        Just(String::new()),
        "[numkMGTPE]",
        "(Ki|Mi|Gi|Ti|Pi|Ei)",
        "[eE][-+]?[0-9]{1,3}",
    ];
    (
        "[-+]?",
        "[0-9]{0,25}",
        prop::option::of("[0-9]{0,12}"),
        suffix,
    )
        .prop_map(|(sign, int, frac, suffix)| {
            let int = if int.is_empty() && frac.is_none() {
                "1".to_string()
            } else {
                int
            };
            match frac {
                Some(f) => format!("{sign}{int}.{f}{suffix}"),
                None => format!("{sign}{int}{suffix}"),
            }
        })
}

proptest! {
    #[test]
    fn canonical_string_is_a_fixed_point(s in quantity_string()) {
        let parsed = Quantity::parse(&s);
        prop_assert!(parsed.is_ok(), "{} -> {:?}", s, parsed);
        if let Ok(a) = parsed {
            let text = a.to_string();
            let b = Quantity::parse(&text);
            prop_assert!(b.is_ok(), "{} -> {} -> {:?}", s, text, b);
            if let Ok(b) = b {
                prop_assert_eq!(b.cmp_value(&a), Ordering::Equal, "{} -> {}", s, text);
                prop_assert_eq!(b.to_string(), text.clone(), "{} -> {}", s, text);
                let canonical = a.canonical_string();
                let c = Quantity::parse(&canonical);
                prop_assert!(c.is_ok(), "{} -> {} -> {:?}", s, canonical, c);
                if let Ok(c) = c {
                    prop_assert_eq!(c.cmp_value(&a), Ordering::Equal);
                    prop_assert_eq!(c.to_string(), canonical);
                }
            }
        }
    }

    #[test]
    fn parse_never_panics(s in "\\PC{0,30}") {
        if let Ok(q) = Quantity::parse(&s) {
            let _ = (q.to_string(), q.value(), q.milli_value(), q.as_approximate_f64());
        }
    }

    #[test]
    fn parse_never_panics_on_quantity_alphabet(s in "[-+0-9.eEinumkKMGTP]{0,24}") {
        if let Ok(q) = Quantity::parse(&s) {
            let text = q.to_string();
            let again = Quantity::parse(&text);
            prop_assert!(again.is_ok(), "{} -> {}", s, text);
        }
    }
}
