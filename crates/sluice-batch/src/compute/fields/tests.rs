use proptest::prelude::*;

use super::*;

/// What `serde_json::Value` finds at each path (the reference).
fn by_value(doc: &[u8], paths: &Paths) -> Option<Vec<Option<Field<'static>>>> {
    let v: Value = serde_json::from_slice(doc).ok()?;
    Some(
        paths
            .0
            .iter()
            .map(|p| at(&v, p).map(Field::from_value))
            .collect(),
    )
}

fn both(doc: &str, paths: &[&str]) -> Option<Vec<Option<Field<'static>>>> {
    let paths = Paths::new(paths);
    let got: Option<Vec<Option<Field<'static>>>> = extract(doc.as_bytes(), &paths).map(|fs| {
        fs.into_iter()
            .map(|f| {
                f.map(|f| match f {
                    Field::Str(s) => Field::Str(Cow::Owned(s.into_owned())),
                    Field::Null => Field::Null,
                    Field::Number(n) => Field::Number(n),
                    Field::Other(v) => Field::Other(v),
                })
            })
            .collect()
    });
    assert_eq!(got, by_value(doc.as_bytes(), &paths), "{doc} {paths:?}");
    got
}

#[test]
fn fields_numbers_strings_and_nested_paths() {
    let doc = r#"{"user":"u1","amount":10.5,"n":3,"neg":-4,"s":"7.25","order":{"amount":7,"id":[1,2]},"ok":true,"z":null}"#;
    let got = both(
        doc,
        &[
            "user",
            "amount",
            "n",
            "neg",
            "s",
            "order.amount",
            "order.id",
            "ok",
            "z",
            "missing",
            "user.x",
        ],
    )
    .unwrap();
    assert_eq!(got[0], Some(Field::Str("u1".into())));
    assert_eq!(got[1].as_ref().and_then(Field::number), Some(10.5));
    assert_eq!(got[2].as_ref().and_then(Field::key), Some("3".into()));
    assert_eq!(got[3].as_ref().and_then(Field::number), Some(-4.0));
    assert_eq!(got[4].as_ref().and_then(Field::number), Some(7.25));
    assert_eq!(got[5].as_ref().and_then(Field::number), Some(7.0));
    assert_eq!(got[6].as_ref().and_then(Field::key), Some("[1,2]".into()));
    assert_eq!(got[7].as_ref().and_then(Field::key), Some("true".into()));
    assert_eq!(got[8], Some(Field::Null));
    assert_eq!(got[8].as_ref().and_then(Field::key), None);
    assert_eq!((&got[9], &got[10]), (&None, &None));
}

#[test]
fn strings_without_escapes_are_borrowed_from_the_record() {
    let doc = br#"{"user":"plain","other":"esc\"aped"}"#;
    let got = extract(doc, &Paths::new(&["user", "other"])).unwrap();
    assert!(matches!(got[0], Some(Field::Str(Cow::Borrowed("plain")))));
    assert_eq!(got[1], Some(Field::Str(Cow::Owned("esc\"aped".into()))));
}

#[test]
fn a_repeated_key_counts_its_last_value_as_value_does() {
    both(r#"{"a":1,"a":2}"#, &["a"]);
    both(r#"{"a":{"b":1},"a":{"c":2}}"#, &["a.b", "a.c"]);
    both(r#"{"a":{"b":1},"a":5}"#, &["a.b"]);
}

#[test]
fn a_path_ending_where_another_goes_on() {
    both(r#"{"a":{"b":1,"c":[true]},"x":0}"#, &["a", "a.b", "a.c"]);
}

#[test]
fn not_json_or_not_an_object_finds_nothing() {
    assert_eq!(both("not json", &["a"]), None);
    assert_eq!(both(r#"{"a":1"#, &["a"]), None, "truncated");
    assert_eq!(both(r#"{"a":1} {"a":2}"#, &["a"]), None, "two documents");
    assert_eq!(
        both(r#"{"a":1,"b":[1,}"#, &["a"]),
        None,
        "bad after the field"
    );
    assert_eq!(both("[1,2]", &["a"]), Some(vec![None]));
    assert_eq!(both("5", &["a"]), Some(vec![None]));
    assert_eq!(both(r#"{}"#, &[]), Some(vec![]));
}

#[test]
fn more_paths_than_the_bit_set_are_answered_the_same() {
    let paths: Vec<String> = (0..70).map(|i| format!("k{i}")).collect();
    let doc = format!(
        "{{{}}}",
        (0..70)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let got = extract(doc.as_bytes(), &Paths::new(&paths)).unwrap();
    assert_eq!(got[69].as_ref().and_then(Field::number), Some(69.0));
    assert_eq!(got.len(), 70);
}

/// JSON text (keys from a small set, so repeats and path hits are common).
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (-1e6f64..1e6).prop_map(|x| format!("{x:?}")),
        "[a-c\\\\\"0-9. ]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just(r#""\u00e9t\u00e9""#.to_string()),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (prop::sample::select(vec!["a", "b", "c", "a\\u0062"]), inner),
                0..5
            )
            .prop_map(|kv| {
                let parts: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", parts.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn extract_finds_what_value_finds(
        doc in json_text(),
        paths in prop::collection::vec(
            prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "ab"]), 1..4)
                .prop_map(|p| p.join(".")),
            0..4,
        ),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        both(&doc, &paths);
        if truncate && !doc.is_empty() {
            let at = cut.index(doc.len());
            if doc.is_char_boundary(at) {
                both(&doc[..at], &paths);
            }
        }
    }
}
