//! `credits rates ...` end to end: the built binary on the real `rates/` and on broken
//! copies, checking output and exit codes (0 ok, 1 check/test failure, 2 usage error).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use credits_dsl::{InputKind, RateBook, compile_source};
use rust_decimal::Decimal;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn credits(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_credits"))
        .args(arguments)
        .current_dir(workspace())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

/// Every file of `rates/`: (path relative to the workspace, compiled book).
fn books() -> Vec<(String, RateBook)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workspace().join("rates"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "rates")
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let source = std::fs::read_to_string(path).unwrap();
            (
                format!("rates/{name}"),
                compile_source(&name, &source).unwrap(),
            )
        })
        .collect()
}

/// A directory holding a copy of one seed book, changed by `edit`.
fn broken_copy(file: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(workspace().join("rates").join(file)).unwrap();
    std::fs::write(directory.path().join(file), edit(source)).unwrap();
    directory
}

fn path_of(directory: &Path, file: &str) -> String {
    directory.join(file).to_string_lossy().into_owned()
}

#[test]
fn check_passes_on_the_seed_books() {
    let output = credits(&["rates", "check"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("no errors"), "{}", stdout(&output));
    let explicit = credits(&[
        "rates",
        "check",
        "rates/invideo.rates",
        "rates/imentiv.rates",
    ]);
    assert_eq!(code(&explicit), 0, "{}", stderr(&explicit));
}

#[test]
fn check_reports_every_error_with_file_line_and_column_and_exits_1() {
    let directory = broken_copy("invideo.rates", |source| {
        source
            .replace("base 0.2 credit per image", "base 0.2 credit per imag")
            .replace(
                "unit video_minute scale 0 round up",
                "unit video_minute scale 0",
            )
    });
    let output = credits(&["rates", "check", &directory.path().to_string_lossy()]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let report = stderr(&output);
    assert!(report.contains("invideo.rates:"), "{report}");
    assert!(report.contains("`imag`"), "{report}");
    assert!(report.contains("error"), "{report}");
}

/// A later version that changes what accounts stored under the one before it (here the
/// scale of `credit`, which would divide every stored amount by ten) fails the check, over
/// the versions of each book in the directory.
#[test]
fn check_refuses_a_later_version_accounts_cannot_follow_and_exits_1() {
    let directory = tempfile::tempdir().unwrap();
    let earlier = std::fs::read_to_string(workspace().join("rates/imentiv.rates")).unwrap();
    let later = earlier
        .replace("effective 2025-01-01", "effective 2027-01-01")
        .replace("unit credit scale 2", "unit credit scale 3");
    std::fs::write(directory.path().join("imentiv.rates"), &earlier).unwrap();
    std::fs::write(directory.path().join("imentiv@2027-01-01.rates"), &later).unwrap();
    // Each file is a valid book on its own.
    for file in ["imentiv.rates", "imentiv@2027-01-01.rates"] {
        let alone = tempfile::tempdir().unwrap();
        std::fs::copy(directory.path().join(file), alone.path().join(file)).unwrap();
        let output = credits(&["rates", "check", &alone.path().to_string_lossy()]);
        assert_eq!(code(&output), 0, "{file}: {}", stderr(&output));
    }

    let output = credits(&["rates", "check", &directory.path().to_string_lossy()]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    let report = stderr(&output);
    assert!(report.contains("rates::scale_changed"), "{report}");
    assert!(
        report.contains("unit `credit` has scale 3 here but scale 2 in `"),
        "{report}"
    );
    assert!(report.contains("imentiv@2027-01-01.rates:"), "{report}");
    assert!(report.contains("add a new unit"), "{report}");
    assert!(report.contains("1 error in 1 of 2 rate files"), "{report}");
}

#[test]
fn test_passes_on_the_seed_books() {
    let output = credits(&["rates", "test"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
    let report = stdout(&output);
    assert!(report.contains(" 0 failed in 6 files"), "{report}");
    assert!(
        report.contains("rates/invideo.rates: 33 of 33 examples pass"),
        "{report}"
    );
    assert!(!report.contains("FAIL"), "{report}");
}

#[test]
fn test_shows_expected_and_actual_and_exits_1() {
    let directory = broken_copy("invideo.rates", |source| {
        source.replace(
            "expect remix_clip(duration: 3s) = 1 credit",
            "expect remix_clip(duration: 3s) = 2 credit",
        )
    });
    let output = credits(&["rates", "test", &path_of(directory.path(), "invideo.rates")]);
    assert_eq!(code(&output), 1);
    let report = stdout(&output);
    assert!(
        report.contains("FAIL  line 107: remix_clip(duration: 3s)"),
        "{report}"
    );
    assert!(report.contains("expected 2 credit"), "{report}");
    assert!(report.contains("actual   1 credit"), "{report}");
    assert!(report.contains("32 passed, 1 failed in 1 file"), "{report}");
}

/// A value every input accepts: the first choice, `no`, or one base unit.
fn sample_value(kind: &InputKind) -> String {
    match kind {
        InputKind::Choice(names) => names[0].clone(),
        InputKind::Flag => "no".to_owned(),
        _ => "1".to_owned(),
    }
}

/// Acceptance: `quote --json` answers for every feature of every book in `rates/`, with
/// exactly the documented shape.
#[test]
fn quote_json_answers_for_every_feature() {
    let mut quoted = 0;
    for (path, book) in books() {
        for feature in &book.features {
            let inputs: Vec<String> = feature
                .inputs
                .iter()
                .filter(|input| input.default.is_none())
                .map(|input| format!("{}={}", input.name, sample_value(&input.kind)))
                .collect();
            let mut arguments = vec!["rates", "quote", path.as_str(), feature.name.as_str()];
            arguments.extend(inputs.iter().map(String::as_str));
            arguments.push("--json");
            let output = credits(&arguments);
            assert_eq!(
                code(&output),
                0,
                "{path} {}: {}",
                feature.name,
                stderr(&output)
            );
            let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
            let object = json.as_object().unwrap();
            let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["amounts", "feature", "lines", "rates_version"]);
            assert_eq!(json["feature"], feature.name.as_str());
            assert_eq!(json["rates_version"], book.rates_version.as_str());
            for (unit, amount) in json["amounts"].as_object().unwrap() {
                assert!(feature.units.contains(unit), "{unit}");
                let amount = amount.as_str().unwrap();
                assert!(amount.parse::<Decimal>().is_ok(), "{amount}");
            }
            for line in json["lines"].as_array().unwrap() {
                assert!(line.is_string());
            }
            quoted += 1;
        }
    }
    assert!(quoted >= 17, "only {quoted} features quoted");
}

#[test]
fn quote_prices_a_seed_example() {
    let output = credits(&[
        "rates",
        "quote",
        "rates/invideo.rates",
        "generative_video",
        "duration=3m30s",
        "model=pro",
        "actor=yes",
        "--json",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["amounts"]["credit"], "90");
    let lines = json["lines"].as_array().unwrap();
    assert_eq!(
        lines[0],
        "base 20 credit per minute when model is pro: duration 3m30s = 70 credit"
    );
    assert_eq!(
        lines[1],
        "add 5 credit per minute rounded up when actor: duration 4m = 20 credit"
    );

    let words = credits(&[
        "rates",
        "quote",
        "rates/imentiv.rates",
        "text_emotion",
        "words=250",
        "--channel",
        "web",
    ]);
    assert_eq!(code(&words), 0, "{}", stderr(&words));
    assert!(
        stdout(&words).contains("total: 6 credit"),
        "{}",
        stdout(&words)
    );
}

#[test]
fn quote_notes_subscription_gates() {
    let gated = credits(&[
        "rates",
        "quote",
        "rates/imagineart.rates",
        "image",
        "model=pro",
        "--plan",
        "free",
    ]);
    assert_eq!(code(&gated), 0, "{}", stderr(&gated));
    assert!(
        stdout(&gated).contains("plan `free`: requires subscription"),
        "{}",
        stdout(&gated)
    );
    let allowed = credits(&[
        "rates",
        "quote",
        "rates/imagineart.rates",
        "image",
        "model=standard",
        "--plan",
        "free",
        "--json",
    ]);
    assert_eq!(code(&allowed), 0);
    assert!(
        stdout(&allowed).contains("plan `free`: allowed"),
        "{}",
        stdout(&allowed)
    );
}

#[test]
fn quote_usage_errors_exit_2() {
    for (arguments, message) in [
        (
            &["rates", "quote", "rates/invideo.rates", "holograms"][..],
            "`holograms` is not a feature of `invideo`",
        ),
        (
            &[
                "rates",
                "quote",
                "rates/invideo.rates",
                "remix_clip",
                "length=3s",
            ][..],
            "`length` is not an input of `remix_clip`",
        ),
        (
            &[
                "rates",
                "quote",
                "rates/invideo.rates",
                "remix_clip",
                "duration=3 words",
            ][..],
            "is a number of words, not a duration",
        ),
        (
            &[
                "rates",
                "quote",
                "rates/invideo.rates",
                "remix_clip",
                "duration",
            ][..],
            "is not `key=value`",
        ),
        (
            &[
                "rates",
                "quote",
                "rates/imagineart.rates",
                "image",
                "model=pro",
                "--plan",
                "gold",
            ][..],
            "`gold` is not a plan of `imagineart`",
        ),
        (
            &["rates", "quote", "rates/nowhere.rates", "image"][..],
            "cannot read `rates/nowhere.rates`",
        ),
    ] {
        let output = credits(arguments);
        assert_eq!(code(&output), 2, "{arguments:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(message),
            "{arguments:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn other_usage_errors_exit_2() {
    assert_eq!(code(&credits(&["rates", "check", "no/such/dir"])), 2);
    assert_eq!(code(&credits(&["rates", "test", "no/such/file.rates"])), 2);
    assert_eq!(code(&credits(&["rates", "diff", "rates/imini.rates"])), 2);
    assert_eq!(code(&credits(&["rates", "frobnicate"])), 2);
}

#[test]
fn fmt_check_exits_1_when_a_file_would_change_and_fmt_fixes_it() {
    let directory = broken_copy("imini.rates", |source| {
        source.replace("\n  base ", "\n      base ")
    });
    let file = path_of(directory.path(), "imini.rates");
    let output = credits(&["rates", "fmt", "--check", &file]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert!(
        stdout(&output).contains("would reformat"),
        "{}",
        stdout(&output)
    );
    let before = std::fs::read_to_string(&file).unwrap();
    let output = credits(&["rates", "fmt", &file]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let after = std::fs::read_to_string(&file).unwrap();
    assert_ne!(before, after);
    let output = credits(&["rates", "fmt", "--check", &file]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
}

/// `diff` of two versions of one book also says when the later one cannot follow the
/// earlier, and exits 1, as `check` would refuse the pair.
#[test]
fn diff_reports_a_change_accounts_cannot_follow_and_exits_1() {
    let directory = tempfile::tempdir().unwrap();
    let earlier = std::fs::read_to_string(workspace().join("rates/imentiv.rates")).unwrap();
    let start = earlier.find("plan enterprise").unwrap();
    let end = earlier.find("# Section 3.1").unwrap();
    let later = format!("{}{}", &earlier[..start], &earlier[end..])
        .replace("effective 2025-01-01", "effective 2027-01-01");
    std::fs::write(directory.path().join("imentiv@2027-01-01.rates"), later).unwrap();
    let later_path = path_of(directory.path(), "imentiv@2027-01-01.rates");
    let output = credits(&["rates", "diff", "rates/imentiv.rates", &later_path]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(
        stdout(&output).contains("  - enterprise"),
        "{}",
        stdout(&output)
    );
    let report = stderr(&output);
    assert!(
        report.contains("plan `enterprise` of `rates/imentiv.rates` is missing from this version"),
        "{report}"
    );
    assert!(
        report.contains("keep the plan and stop selling it"),
        "{report}"
    );
}

#[test]
fn diff_lists_the_examples_whose_price_changes() {
    let output = credits(&[
        "rates",
        "diff",
        "rates/imini.rates",
        "rates/imini@2026-12-01.rates",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report = stdout(&output);
    assert!(
        report.contains("effective 2025-01-01 → 2026-12-01"),
        "{report}"
    );
    assert!(
        report.contains(
            "price changed: base 10 credit each when model is flux_pro → base 12 credit each when model is flux_pro"
        ),
        "{report}"
    );
    assert!(
        report.contains("prices that change (2 of 11 examples):"),
        "{report}"
    );
    assert!(
        report.contains("image_generation(model: flux_pro, outputs: 4): 40 credit → 48 credit"),
        "{report}"
    );
    assert!(
        report.contains(
            "video_generation(duration: 8s, model: veo, resolution: hd): 136 credit → 160 credit"
        ),
        "{report}"
    );
    // Only the moved line numbers differ: no change reported.
    assert!(!report.contains("chat_completion"), "{report}");
}

/// Two different books are not two versions of one: `diff` refuses to compare them rather
/// than list every feature and plan as changed.
#[test]
fn diff_of_two_different_books_is_refused() {
    let output = credits(&["rates", "diff", "rates/imini.rates", "rates/imentiv.rates"]);
    assert_eq!(code(&output), 2, "{}", stdout(&output));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    let report = stderr(&output);
    assert!(
        report.contains(
            "`rates/imini.rates` is book `imini` and `rates/imentiv.rates` is book `imentiv`"
        ),
        "{report}"
    );
}

#[test]
fn quote_prices_an_outcome() {
    let failed = credits(&[
        "rates",
        "quote",
        "rates/invideo.rates",
        "generative_video",
        "duration=3m30s",
        "model=pro",
        "actor=yes",
        "--outcome",
        "failed",
        "--json",
    ]);
    assert_eq!(code(&failed), 0, "{}", stderr(&failed));
    let json: serde_json::Value = serde_json::from_str(&stdout(&failed)).unwrap();
    assert_eq!(
        json["amounts"],
        serde_json::json!({}),
        "failed jobs are free by default"
    );
    assert_eq!(json["lines"][0], "outcome failed: free");

    let unknown = credits(&[
        "rates",
        "quote",
        "rates/invideo.rates",
        "generative_video",
        "duration=3m30s",
        "model=pro",
        "--outcome",
        "aborted",
    ]);
    assert_eq!(code(&unknown), 2);
    assert!(stderr(&unknown).contains("`completed`, `failed`, `moderated` or `cancelled`"));
}

#[test]
fn quote_rates_with_the_plan_it_names_and_shows_the_books_refusals() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(
        directory.path().join("demo.rates"),
        "book demo
effective 2025-01-01
unit credit scale 2 round half-up
feature video {
  input duration: duration max 4h
  input fast: flag default no
  input batch: flag default no
  round duration up to 1s
  base 10 credit per minute of duration when plan is free
  base 8 credit per minute of duration when plan is business
  refuse \"fast mode is not available with batch\" when fast and batch
}
plan free {
  order top_up
  topup as top_up, expires never
}
plan business {
  order top_up
  topup as top_up, expires never
}
",
    )
    .unwrap();
    let file = path_of(directory.path(), "demo.rates");
    let business = credits(&[
        "rates",
        "quote",
        &file,
        "video",
        "duration=10m",
        "--plan",
        "business",
    ]);
    assert_eq!(code(&business), 0, "{}", stderr(&business));
    assert!(
        stdout(&business).contains("total: 80 credit"),
        "{}",
        stdout(&business)
    );

    let without = credits(&["rates", "quote", &file, "video", "duration=10m"]);
    assert_eq!(code(&without), 2);
    assert!(
        stderr(&without).contains("rating::plan_required"),
        "{}",
        stderr(&without)
    );

    let refused = credits(&[
        "rates",
        "quote",
        &file,
        "video",
        "duration=1m",
        "fast=yes",
        "batch=yes",
        "--plan",
        "free",
    ]);
    assert_eq!(code(&refused), 2);
    assert!(
        stderr(&refused).contains("fast mode is not available with batch"),
        "{}",
        stderr(&refused)
    );
}
