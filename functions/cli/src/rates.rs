//! `credits rates ...`: the product manager's tools for rate books.
//!
//! `check` reports every error of every file, `test` runs the examples, `quote` prices one
//! usage, `fmt` formats, `diff` shows which prices change between two versions. Exit codes:
//! 0 when all is well, 1 when a check, test or format check fails, 2 on a usage error (bad
//! arguments, an unreadable file, an unknown feature, plan or input in a quote).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use credits_dsl::compile::{CompileOptions, compile_source_with};
use credits_dsl::diagnostics::Diagnostics;
use credits_dsl::expect::{ExpectOutcome, describe, run_expects};
use credits_dsl::usage::RawValue;
use credits_dsl::{RateBook, Rating, RatingContext, Usage, diff, fmt, library};
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};

/// Where rate books live when no path is given.
const DEFAULT_PATH: &str = "rates";

/// Largest rate file read; the language caps files at 256 KiB, so anything far beyond is
/// not a rate file and is refused before it is read whole.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Most `key=value` inputs a quote accepts (a feature has at most 64 inputs).
const MAX_QUOTE_INPUTS: usize = 64;

#[derive(Debug, clap::Subcommand)]
pub enum RatesCommand {
    /// Check rate books and report every error with file, line and column.
    Check {
        /// Rate files or directories of them (default: `rates/`).
        paths: Vec<PathBuf>,
    },
    /// Run every `expect` example and `scenario` of rate books and report each result.
    Test {
        /// Rate files or directories of them (default: `rates/`).
        paths: Vec<PathBuf>,
    },
    /// Price one usage of a feature: `credits rates quote rates/invideo.rates
    /// generative_video duration=3m30s model=pro`.
    Quote(QuoteArgs),
    /// Format rate books in place, or with `--check` only report those that would change.
    Fmt {
        /// Report files that would change and exit 1, without writing.
        #[arg(long)]
        check: bool,
        /// Rate files or directories of them (default: `rates/`).
        paths: Vec<PathBuf>,
    },
    /// Show what changes between two versions of a book, and which example prices change;
    /// exit 1 when the later version changes what accounts stored under the earlier one.
    Diff {
        /// The version before.
        old: PathBuf,
        /// The version after.
        new: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct QuoteArgs {
    /// The rate file.
    file: PathBuf,
    /// The feature to price.
    feature: String,
    /// Inputs as `key=value`: a number in the input's base unit (`words=250`), a unit
    /// literal (`duration=3m30s`), a choice (`model=pro`) or a flag (`actor=yes`).
    inputs: Vec<String>,
    /// Rate for an account on this plan: its prices, refusals and subscription gates.
    #[arg(long)]
    plan: Option<String>,
    /// The request channel (`web`, `api`), for books with channels.
    #[arg(long)]
    channel: Option<String>,
    /// Price it as the account's first request of the feature.
    #[arg(long)]
    first_request: bool,
    /// How the job ended: `completed` (the default), `failed`, `moderated` or `cancelled`.
    #[arg(long)]
    outcome: Option<String>,
    /// Print JSON: `{"feature", "amounts", "lines", "rates_version"}`.
    #[arg(long)]
    json: bool,
}

/// Runs one `credits rates` command.
pub fn run(command: RatesCommand) -> ExitCode {
    let outcome = match command {
        RatesCommand::Check { paths } => check(&paths),
        RatesCommand::Test { paths } => test(&paths),
        RatesCommand::Quote(arguments) => quote(&arguments),
        RatesCommand::Fmt { check, paths } => format(&paths, check),
        RatesCommand::Diff { old, new } => difference(&old, &new),
    };
    match outcome {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::from(1),
        Err(UsageProblem::Message(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(UsageProblem::Reported) => ExitCode::from(2),
    }
}

/// How a command ended when its arguments were usable.
enum Outcome {
    Success,
    /// A check, test or format check failed; its report is already printed.
    Failure,
}

/// A usage error, exit 2.
#[derive(Debug)]
enum UsageProblem {
    /// Printed as `error: ...`.
    Message(String),
    /// Already printed as a full diagnostic.
    Reported,
}

fn problem(message: impl Into<String>) -> UsageProblem {
    UsageProblem::Message(message.into())
}

/// Prints a diagnostic about the command's input (an unknown feature, input or choice).
fn reported(diagnostic: &dyn Diagnostic) -> UsageProblem {
    eprint!("{}", render(diagnostic));
    UsageProblem::Reported
}

/// A rate file: its name as shown in messages and its text.
struct Source {
    name: String,
    text: String,
}

/// The rate files named by `paths` (files, or directories whose `*.rates` files are taken
/// in name order), or `rates/` when there are none.
fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, UsageProblem> {
    let default = [PathBuf::from(DEFAULT_PATH)];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|error| problem(format!("cannot read `{}`: {error}", path.display())))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|file| file.is_file() && file.extension().is_some_and(|e| e == "rates"))
                .collect();
            if found.is_empty() {
                return Err(problem(format!(
                    "`{}` holds no `.rates` files",
                    path.display()
                )));
            }
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(problem(format!("`{}` does not exist", path.display())));
        }
    }
    Ok(files)
}

fn read(path: &Path) -> Result<Source, UsageProblem> {
    let name = path.display().to_string();
    let size = std::fs::metadata(path)
        .map_err(|error| problem(format!("cannot read `{name}`: {error}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(problem(format!(
            "`{name}` is {size} bytes, too large to be a rate file"
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|error| problem(format!("cannot read `{name}`: {error}")))?;
    Ok(Source { name, text })
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<Source>, UsageProblem> {
    collect(paths)?.iter().map(|path| read(path)).collect()
}

/// Renders a diagnostic with miette's graphical handler: file, line, column, the underlined
/// text and the help. Colours only on a terminal and without `NO_COLOR`.
fn render(diagnostic: &dyn Diagnostic) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::default());
    let mut out = String::new();
    if handler.render_report(&mut out, diagnostic).is_err() {
        out = format!("{diagnostic}\n");
    }
    out
}

fn print_diagnostics(diagnostics: &Diagnostics) {
    eprintln!("{}", render(diagnostics));
}

fn compile(source: &Source) -> Result<RateBook, Diagnostics> {
    credits_dsl::compile_source(&source.name, &source.text)
}

// ---- check ---------------------------------------------------------------------------------

fn check(paths: &[PathBuf]) -> Result<Outcome, UsageProblem> {
    let sources = read_all(paths)?;
    let count = sources.len();
    let pairs: Vec<(String, String)> = sources
        .into_iter()
        .map(|source| (source.name, source.text))
        .collect();
    // The library checks each file and, across files, the versions of each book.
    match library::RateLibrary::from_sources(pairs) {
        Ok(_) => {
            println!(
                "{count} rate {} checked: no errors",
                plural(count, "file", "files")
            );
            Ok(Outcome::Success)
        }
        Err(all) => {
            let errors: usize = all.iter().map(Diagnostics::len).sum();
            for diagnostics in &all {
                print_diagnostics(diagnostics);
            }
            eprintln!(
                "{errors} {} in {} of {count} rate {}",
                plural(errors, "error", "errors"),
                all.len(),
                plural(count, "file", "files")
            );
            Ok(Outcome::Failure)
        }
    }
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

// ---- test ----------------------------------------------------------------------------------

fn test(paths: &[PathBuf]) -> Result<Outcome, UsageProblem> {
    let sources = read_all(paths)?;
    let mut passed = 0usize;
    let mut failed = 0usize;
    let mut broken_files = 0usize;
    // The examples are run here, one by one, rather than by the compiler, so that every
    // example is reported with its expected and actual amounts.
    let options = CompileOptions { run_expects: false };
    // Scenarios run on a library of every version of their book among the files given.
    let pairs: Vec<(String, String)> = sources
        .iter()
        .map(|source| (source.name.clone(), source.text.clone()))
        .collect();
    for source in &sources {
        match compile_source_with(&source.name, &source.text, options) {
            Ok(book) => {
                let outcomes = run_expects(&book);
                let file_failed = outcomes.iter().filter(|outcome| !outcome.passed).count();
                let file_passed = outcomes.len() - file_failed;
                println!(
                    "{}: {file_passed} of {} {} pass",
                    source.name,
                    outcomes.len(),
                    plural(outcomes.len(), "example", "examples")
                );
                for outcome in &outcomes {
                    println!("{}", describe_outcome(&book, outcome));
                }
                passed += file_passed;
                failed += file_failed;
                let (policy_passed, policy_failed) =
                    crate::scenarios::report(&source.name, &book, &pairs);
                passed += policy_passed;
                failed += policy_failed;
            }
            Err(diagnostics) => {
                broken_files += 1;
                println!("{}: does not compile", source.name);
                print_diagnostics(&diagnostics);
            }
        }
    }
    let files = sources.len();
    let broken = if broken_files > 0 {
        format!(", {broken_files} did not compile")
    } else {
        String::new()
    };
    println!(
        "{passed} passed, {failed} failed in {files} {}{broken}",
        plural(files, "file", "files")
    );
    if failed == 0 && broken_files == 0 {
        Ok(Outcome::Success)
    } else {
        Ok(Outcome::Failure)
    }
}

fn describe_outcome(book: &RateBook, outcome: &ExpectOutcome) -> String {
    let Some(expect) = book.expects.get(outcome.index) else {
        return String::new();
    };
    let example = diff::describe_terms(book, &expect.terms);
    let expected = describe(&outcome.expected);
    if outcome.passed {
        return format!("  ok    line {}: {example} = {expected}", expect.line);
    }
    let actual = match &outcome.actual {
        Ok(actual) => describe(actual),
        Err(reason) => format!("no price: {reason}"),
    };
    format!(
        "  FAIL  line {}: {example}\n          expected {expected}\n          actual   {actual}",
        expect.line
    )
}

// ---- quote ---------------------------------------------------------------------------------

fn quote(arguments: &QuoteArgs) -> Result<Outcome, UsageProblem> {
    let source = read(&arguments.file)?;
    let book = match compile(&source) {
        Ok(book) => book,
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            return Err(problem(format!(
                "`{}` does not compile; run `credits rates check`",
                source.name
            )));
        }
    };
    if arguments.inputs.len() > MAX_QUOTE_INPUTS {
        return Err(problem(format!(
            "at most {MAX_QUOTE_INPUTS} inputs may be given"
        )));
    }
    let mut channel = arguments.channel.clone();
    let mut inputs: Vec<(String, RawValue)> = Vec::with_capacity(arguments.inputs.len());
    for argument in &arguments.inputs {
        let Some((key, value)) = argument.split_once('=') else {
            return Err(problem(format!(
                "`{argument}` is not `key=value`; write, for example, `duration=3m30s`"
            )));
        };
        let (key, value) = (key.trim(), value.trim());
        // `channel=api` reads naturally beside the inputs; it is the request channel.
        if key == "channel"
            && book
                .feature(&arguments.feature)
                .is_some_and(|feature| !feature.inputs.iter().any(|input| input.name == "channel"))
        {
            if channel.is_some() {
                return Err(problem("the channel is given twice"));
            }
            channel = Some(value.to_owned());
            continue;
        }
        inputs.push((key.to_owned(), RawValue::Text(value.to_owned())));
    }
    let usage = book
        .usage(&arguments.feature, channel.as_deref(), &inputs)
        .map_err(|error| reported(&error))?;

    let gate = match &arguments.plan {
        Some(plan_name) => {
            let plan = book.plan(plan_name).ok_or_else(|| {
                let names: Vec<String> = book
                    .plans
                    .iter()
                    .map(|plan| format!("`{}`", plan.name))
                    .collect();
                problem(format!(
                    "`{plan_name}` is not a plan of `{}`; the plans are: {}",
                    book.name,
                    names.join(", ")
                ))
            })?;
            Some((plan.name.clone(), book.requires_subscription(plan, &usage)))
        }
        None => None,
    };

    let outcome = match arguments.outcome.as_deref() {
        None => credits_dsl::JobOutcome::Completed,
        Some(word) => credits_dsl::JobOutcome::from_word(word).ok_or_else(|| {
            problem(format!(
                "`{word}` is not an outcome: a job ends {}",
                credits_dsl::JobOutcome::allowed()
            ))
        })?,
    };
    let context = RatingContext {
        first_request: arguments.first_request,
    };
    let rating = match book.rate_outcome(&usage, outcome, context, arguments.plan.as_deref()) {
        Ok(rating) => rating,
        Err(error) => return Err(reported(&error)),
    };
    let gate_line = gate.map(|(plan, gated)| {
        if gated {
            format!("plan `{plan}`: requires subscription")
        } else {
            format!("plan `{plan}`: allowed")
        }
    });
    if arguments.json {
        println!("{}", quote_json(&rating, gate_line.as_deref()));
    } else {
        print!(
            "{}",
            quote_text(&book, &usage, &rating, gate_line.as_deref())
        );
    }
    Ok(Outcome::Success)
}

/// `{"feature", "amounts": {unit: "decimal"}, "lines": [text...], "rates_version"}`; a plan
/// gate, when asked for, is the last line.
fn quote_json(rating: &Rating, gate: Option<&str>) -> String {
    let mut amounts = serde_json::Map::new();
    for amount in &rating.amounts {
        amounts.insert(
            amount.unit.clone(),
            serde_json::Value::String(amount.amount.normalize().to_string()),
        );
    }
    let mut lines: Vec<serde_json::Value> = rating
        .lines
        .iter()
        .map(|line| serde_json::Value::String(line.text.clone()))
        .collect();
    if let Some(gate) = gate {
        lines.push(serde_json::Value::String(gate.to_owned()));
    }
    let value = serde_json::json!({
        "feature": rating.feature,
        "amounts": amounts,
        "lines": lines,
        "rates_version": rating.rates_version,
    });
    value.to_string()
}

fn quote_text(book: &RateBook, usage: &Usage, rating: &Rating, gate: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  ({})",
        diff::describe_usage(book, usage),
        rating.rates_version
    );
    for line in &rating.lines {
        let _ = writeln!(out, "  {}", line.text);
    }
    let amounts: Vec<(String, rust_decimal::Decimal)> = rating
        .amounts
        .iter()
        .map(|amount| (amount.unit.clone(), amount.amount))
        .collect();
    let total = if amounts.is_empty() {
        "nothing".to_owned()
    } else {
        describe(&amounts)
    };
    let _ = writeln!(out, "total: {total}");
    if let Some(gate) = gate {
        let _ = writeln!(out, "{gate}");
    }
    out
}

// ---- fmt -----------------------------------------------------------------------------------

fn format(paths: &[PathBuf], check_only: bool) -> Result<Outcome, UsageProblem> {
    let files = collect(paths)?;
    let mut changed = 0usize;
    let mut broken = 0usize;
    for path in &files {
        let source = read(path)?;
        match fmt::format_source(&source.name, &source.text) {
            Ok(formatted) if formatted == source.text => {}
            Ok(formatted) => {
                changed += 1;
                if check_only {
                    println!("would reformat {}", source.name);
                } else {
                    std::fs::write(path, formatted).map_err(|error| {
                        problem(format!("cannot write `{}`: {error}", source.name))
                    })?;
                    println!("formatted {}", source.name);
                }
            }
            Err(diagnostics) => {
                broken += 1;
                print_diagnostics(&diagnostics);
            }
        }
    }
    let count = files.len();
    if check_only {
        println!(
            "{changed} of {count} rate {} would change",
            plural(count, "file", "files")
        );
    } else {
        println!(
            "{changed} of {count} rate {} reformatted",
            plural(count, "file", "files")
        );
    }
    if broken > 0 || (check_only && changed > 0) {
        Ok(Outcome::Failure)
    } else {
        Ok(Outcome::Success)
    }
}

// ---- diff ----------------------------------------------------------------------------------

fn difference(old: &Path, new: &Path) -> Result<Outcome, UsageProblem> {
    let old_source = read(old)?;
    let new_source = read(new)?;
    let (old_book, new_book) = match (compile(&old_source), compile(&new_source)) {
        (Ok(old_book), Ok(new_book)) => (old_book, new_book),
        (old_result, new_result) => {
            for result in [old_result, new_result] {
                if let Err(diagnostics) = result {
                    print_diagnostics(&diagnostics);
                }
            }
            return Ok(Outcome::Failure);
        }
    };
    // Two different books share no accounts: every feature and plan would read as changed,
    // which says nothing a reviewer can use.
    if old_book.name != new_book.name {
        return Err(problem(format!(
            "`{}` is book `{}` and `{}` is book `{}`: `rates diff` compares two versions of one book",
            old_source.name, old_book.name, new_source.name, new_book.name
        )));
    }
    print!("{}", diff::diff(&old_book, &new_book));
    // Two versions of one book: the later must be one accounts stored under the earlier can
    // follow, as `check` and every start require.
    if old_book.effective == new_book.effective {
        return Ok(Outcome::Success);
    }
    let (earlier, later) = {
        let old_file = library::VersionFile {
            file_name: &old_source.name,
            source: &old_source.text,
            book: &old_book,
        };
        let new_file = library::VersionFile {
            file_name: &new_source.name,
            source: &new_source.text,
            book: &new_book,
        };
        if old_book.effective < new_book.effective {
            (old_file, new_file)
        } else {
            (new_file, old_file)
        }
    };
    let errors: Vec<credits_dsl::BookError> = library::compatibility(&earlier, &later)
        .into_iter()
        .map(|incompatibility| credits_dsl::BookError::Incompatible(Box::new(incompatibility)))
        .collect();
    if errors.is_empty() {
        return Ok(Outcome::Success);
    }
    print_diagnostics(&Diagnostics::new(later.file_name, later.source, errors));
    Ok(Outcome::Failure)
}
