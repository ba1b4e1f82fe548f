//! A later version of a book may change prices, never what accounts stored under the earlier
//! one (`LANGUAGE.md`, "Versions of a book").
//!
//! Each case is an earlier and a later file of book `test`; its snapshot shows the later
//! file's SOURCE and then the ERROR as `credits rates check` renders it. Regenerate with
//! `INSTA_UPDATE=always cargo test -p credits-dsl --test versions` and review the diff.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use credits_dsl::library::{Incompatibility, VersionFile, compatibility};
use credits_dsl::{BookError, Diagnostics, RateLibrary, compile_source};
use miette::Diagnostic;

use common::render;

const EARLIER_FILE: &str = "test.rates";
const LATER_FILE: &str = "test@2027-01-01.rates";

/// The earlier version every case changes: two units, two plans, grants of each frequency.
const EARLIER: &str = "book test
effective 2025-01-01
unit credit scale 2 round half-up
unit minute scale 0 round up
feature image {
  base 1 credit each
}
plan free {
  grant 100 credit daily as free, expires end of day
  order free, top_up
  topup as top_up, expires never
}
plan pro {
  cycle monthly from purchase
  grant 12000 credit every cycle as allocation, expires end of cycle
  grant 60 minute once as welcome, expires never
  order allocation, welcome, top_up
  topup as top_up, expires never
  package starter 5000 credit
}
";

fn later(changes: &[(&str, &str)]) -> String {
    let mut source = EARLIER.replace("effective 2025-01-01", "effective 2027-01-01");
    for (from, to) in changes {
        assert!(source.contains(from), "`{from}` is not in the earlier file");
        source = source.replacen(from, to, 1);
    }
    source
}

/// `(case, changes to the earlier file)`: each must be refused.
const REFUSED: &[(&str, &[(&str, &str)])] = &[
    (
        "version_scale_changed",
        &[("unit credit scale 2", "unit credit scale 3")],
    ),
    (
        "version_unit_removed",
        &[
            ("unit minute scale 0 round up\n", ""),
            ("  grant 60 minute once as welcome, expires never\n", ""),
        ],
    ),
    (
        "version_plan_removed",
        &[(
            "plan pro {\n  cycle monthly from purchase\n  grant 12000 credit every cycle as allocation, expires end of cycle\n  grant 60 minute once as welcome, expires never\n  order allocation, welcome, top_up\n  topup as top_up, expires never\n  package starter 5000 credit\n}\n",
            "",
        )],
    ),
    (
        "version_grant_removed",
        &[("  grant 60 minute once as welcome, expires never\n", "")],
    ),
    (
        "version_grant_kind_changed",
        &[
            ("every cycle as allocation", "every cycle as monthly"),
            ("order allocation,", "order monthly, allocation,"),
        ],
    ),
    (
        "version_grant_frequency_changed",
        &[(
            "grant 100 credit daily as free",
            "grant 100 credit once as free",
        )],
    ),
    (
        "version_order_kind_dropped",
        &[
            (
                "order allocation, welcome, top_up",
                "order allocation, welcome, extra",
            ),
            (
                "  topup as top_up, expires never\n  package",
                "  topup as extra, expires never\n  package",
            ),
        ],
    ),
    (
        "version_new_plan_ties_kinds",
        &[(
            "plan pro {",
            "plan trial {\n  grant 10 credit once as trial, expires never\n  order trial\n}\nplan pro {",
        )],
    ),
    (
        "version_several_changes",
        &[
            ("unit credit scale 2", "unit credit scale 4"),
            ("every cycle as allocation", "every cycle as monthly"),
            ("order allocation,", "order monthly, allocation,"),
        ],
    ),
];

fn library(later: &str) -> Result<RateLibrary, Vec<Diagnostics>> {
    RateLibrary::from_sources(vec![
        (EARLIER_FILE.to_owned(), EARLIER.to_owned()),
        (LATER_FILE.to_owned(), later.to_owned()),
    ])
}

/// The later file's diagnostics: it must compile alone, and be refused after the earlier.
fn refused(later: &str) -> Diagnostics {
    compile_source(LATER_FILE, later)
        .unwrap_or_else(|errors| panic!("the later file does not compile:\n{errors:?}"));
    let failures = library(later).expect_err("the later version was accepted");
    assert_eq!(failures.len(), 1, "{failures:?}");
    let diagnostics = failures.into_iter().next().unwrap();
    assert_eq!(diagnostics.file_name(), LATER_FILE);
    diagnostics
}

fn incompatibilities(diagnostics: &Diagnostics) -> Vec<&Incompatibility> {
    diagnostics
        .errors()
        .iter()
        .map(|error| match error {
            BookError::Incompatible(incompatibility) => incompatibility.as_ref(),
            other => panic!("not an incompatibility: {other:?}"),
        })
        .collect()
}

#[test]
fn every_refused_change_renders_as_its_snapshot() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (case, changes) in REFUSED {
            let source = later(changes);
            let rendered = render(&refused(&source));
            insta::assert_snapshot!(
                *case,
                format!("FILE {LATER_FILE}\nSOURCE\n{source}\nERROR\n{rendered}")
            );
        }
    });
}

#[test]
fn every_refusal_names_both_files_and_says_what_to_do() {
    for (case, changes) in REFUSED {
        let diagnostics = refused(&later(changes));
        for incompatibility in incompatibilities(&diagnostics) {
            let message = incompatibility.to_string();
            assert!(message.contains(EARLIER_FILE), "{case}: {message}");
            assert_eq!(message, message.to_lowercase(), "{case}: {message}");
            assert!(incompatibility.help().is_some(), "{case}");
            let label = incompatibility.labels().unwrap().next().unwrap();
            assert!(!label.is_empty(), "{case}: an empty label");
        }
        assert!(render(&diagnostics).contains(LATER_FILE), "{case}");
    }
}

#[test]
fn each_change_is_named_by_its_kind() {
    let kinds = |changes: &[(&str, &str)]| -> Vec<String> {
        incompatibilities(&refused(&later(changes)))
            .iter()
            .map(|incompatibility| incompatibility.code().unwrap().to_string())
            .collect()
    };
    let expected = [
        ("version_scale_changed", vec!["rates::scale_changed"]),
        (
            "version_unit_removed",
            vec!["rates::unit_removed", "rates::grant_removed"],
        ),
        ("version_plan_removed", vec!["rates::plan_removed"]),
        ("version_grant_removed", vec!["rates::grant_removed"]),
        (
            "version_grant_kind_changed",
            vec!["rates::grant_kind_changed"],
        ),
        (
            "version_grant_frequency_changed",
            vec!["rates::grant_renamed"],
        ),
        (
            "version_order_kind_dropped",
            vec!["rates::order_kind_dropped"],
        ),
        ("version_new_plan_ties_kinds", vec!["rates::order_new_tie"]),
        (
            "version_several_changes",
            vec!["rates::scale_changed", "rates::grant_kind_changed"],
        ),
    ];
    assert_eq!(expected.len(), REFUSED.len());
    for ((case, changes), (expected_case, codes)) in REFUSED.iter().zip(expected) {
        assert_eq!(*case, expected_case);
        let mut found = kinds(changes);
        found.sort();
        let mut codes: Vec<String> = codes.into_iter().map(str::to_owned).collect();
        codes.sort();
        assert_eq!(found, codes, "{case}");
    }
}

/// What a later version may change: prices, amounts, expiries, rollover, packages, the
/// top-up kind while the old one stays ranked, the order of ranked kinds, new units, plans
/// that rank every kind, new grants and features.
#[test]
fn compatible_changes_are_accepted() {
    let source = later(&[
        ("base 1 credit each", "base 2 credit each"),
        ("grant 100 credit daily", "grant 150 credit daily"),
        (
            "every cycle as allocation, expires end of cycle",
            "every cycle as allocation, expires never",
        ),
        (
            "order allocation, welcome, top_up",
            "order welcome, allocation, top_up, bonus, extra",
        ),
        (
            "  topup as top_up, expires never\n  package",
            "  topup as extra, expires after 30 days\n  package",
        ),
        ("package starter 5000 credit", "package large 90000 credit"),
        (
            "  grant 60 minute once",
            "  grant 10 credit daily as bonus, expires end of day\n  grant 60 minute once",
        ),
        (
            "feature image {",
            "unit token scale 0 round up\nfeature text {\n  base 1 token each\n}\nfeature image {",
        ),
        (
            "plan free {",
            "plan team {\n  grant 100 credit once as team, expires never\n  order team, allocation, welcome, free, top_up\n}\nplan free {",
        ),
    ]);
    let library = library(&source).unwrap_or_else(|failures| {
        panic!("{}", failures.iter().map(|d| render(d)).collect::<String>())
    });
    assert_eq!(library.versions("test").len(), 2);
}

/// A new plan may leave kinds out of its `order` together when an earlier plan already did:
/// `free` leaves out `allocation` and `welcome`, so they already share a rank.
#[test]
fn a_new_plan_may_leave_out_kinds_an_earlier_plan_left_out_together() {
    let source = later(&[(
        "plan pro {",
        "plan basic {\n  grant 10 credit daily as free, expires end of day\n  order free, top_up\n}\nplan pro {",
    )]);
    assert!(library(&source).is_ok());
}

/// The check is over consecutive versions, each against the one before it: a third version
/// that undoes a change of the second is judged against the second.
#[test]
fn each_version_is_checked_against_the_one_before_it() {
    let second = later(&[(
        "order allocation, welcome, top_up",
        "order allocation, welcome, top_up, bonus",
    )]);
    let third = second
        .replace("effective 2027-01-01", "effective 2028-01-01")
        .replace("unit credit scale 2", "unit credit scale 3");
    let failures = RateLibrary::from_sources(vec![
        ("test@2028-01-01.rates".to_owned(), third),
        (EARLIER_FILE.to_owned(), EARLIER.to_owned()),
        (LATER_FILE.to_owned(), second),
    ])
    .unwrap_err();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].file_name(), "test@2028-01-01.rates");
    let message = failures[0].errors()[0].to_string();
    assert!(message.contains(&format!("`{LATER_FILE}`")), "{message}");
}

#[test]
fn the_check_is_a_function_of_two_compiled_versions() {
    let earlier_book = compile_source(EARLIER_FILE, EARLIER).unwrap();
    let source = later(&[("unit credit scale 2", "unit credit scale 3")]);
    let later_book = compile_source(LATER_FILE, &source).unwrap();
    let earlier = VersionFile {
        file_name: EARLIER_FILE,
        source: EARLIER,
        book: &earlier_book,
    };
    let later = VersionFile {
        file_name: LATER_FILE,
        source: &source,
        book: &later_book,
    };
    assert_eq!(compatibility(&earlier, &earlier), vec![]);
    assert!(matches!(
        compatibility(&earlier, &later).as_slice(),
        [Incompatibility::ScaleChanged {
            old_scale: 2,
            new_scale: 3,
            ..
        }]
    ));
}

// ---- One regression test per finding, on the shipped `imentiv` book ----------------------

/// The shipped book without its scenarios (they close the file): these tests remove plans
/// and kinds a scenario would name.
fn imentiv() -> String {
    let source = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rates/imentiv.rates"
    ))
    .unwrap();
    match source.split_once("\nscenario ") {
        Some((book, _)) => format!("{book}\n"),
        None => source,
    }
}

/// `imentiv@2027-01-01.rates` with `changes`, refused after `imentiv.rates`.
fn imentiv_later_refused(changes: &[(&str, &str)]) -> Vec<String> {
    let mut source = imentiv().replace("effective 2025-01-01", "effective 2027-01-01");
    for (from, to) in changes {
        assert!(source.contains(from), "`{from}` is not in imentiv.rates");
        source = source.replacen(from, to, 1);
    }
    let later_file = "imentiv@2027-01-01.rates";
    compile_source(later_file, &source).unwrap_or_else(|e| panic!("{e:?}"));
    let failures = RateLibrary::from_sources(vec![
        ("imentiv.rates".to_owned(), imentiv()),
        (later_file.to_owned(), source),
    ])
    .expect_err("the later imentiv version was accepted");
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].file_name(), later_file);
    failures[0]
        .errors()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// `scale 2` → `scale 3` read every stored amount ten times smaller (12098.75 → 1209.875).
#[test]
fn a_later_version_changing_a_units_scale_is_refused() {
    let messages = imentiv_later_refused(&[("unit credit scale 2", "unit credit scale 3")]);
    assert_eq!(
        messages,
        ["unit `credit` has scale 3 here but scale 2 in `imentiv.rates`"]
    );
}

/// Removing plan `professional` answered 404 to every call on its accounts, close
/// included, stranding their credits.
#[test]
fn a_later_version_removing_a_plan_is_refused() {
    let start = imentiv().find("plan professional").unwrap();
    let end = imentiv().find("plan enterprise").unwrap();
    let professional = imentiv()[start..end].to_owned();
    let messages = imentiv_later_refused(&[(professional.as_str(), "")]);
    assert_eq!(
        messages,
        ["plan `professional` of `imentiv.rates` is missing from this version"]
    );
}

/// Renaming a grant's kind granted the current cycle again (12,000 became 24,000): grant
/// marks are keyed by `<plan>/<kind>:<unit>:<every>`.
#[test]
fn a_later_version_renaming_a_grants_kind_is_refused() {
    let messages = imentiv_later_refused(&[
        (
            "grant 12000 credit every cycle as allocation",
            "grant 12000 credit every cycle as subscription",
        ),
        (
            "order allocation, promotional, top_up\n  topup as top_up, expires never\n  package",
            "order subscription, allocation, promotional, top_up\n  topup as top_up, expires never\n  package",
        ),
    ]);
    assert_eq!(
        messages,
        [
            "plan `professional` grants `credit` every cycle as `subscription` here but as `allocation` in `imentiv.rates`"
        ]
    );
}

/// Dropping a unit that holds balances strands them like a removed plan.
#[test]
fn a_later_version_removing_a_unit_is_refused() {
    let with_minutes = imentiv().replace(
        "unit credit scale 2 round half-up",
        "unit credit scale 2 round half-up\nunit review_minute scale 0 round up",
    );
    let later_file = "imentiv@2027-01-01.rates";
    let later = imentiv().replace("effective 2025-01-01", "effective 2027-01-01");
    let failures = RateLibrary::from_sources(vec![
        ("imentiv.rates".to_owned(), with_minutes),
        (later_file.to_owned(), later),
    ])
    .unwrap_err();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].errors()[0].to_string(),
        "unit `review_minute` of `imentiv.rates` is missing from this version"
    );
}

#[test]
fn the_shipped_books_pass_the_check() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rates");
    let files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        // Files only: `rates/examples/` holds example books, not versions of these.
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "rates")
        })
        .map(|path| {
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    let library = RateLibrary::from_sources(files).unwrap();
    assert_eq!(library.versions("imini").len(), 2);
}
