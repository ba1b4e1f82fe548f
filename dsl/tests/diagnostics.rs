//! Scratch (replaced below).
use miette::{GraphicalReportHandler, GraphicalTheme};

fn render(diagnostic: &dyn miette::Diagnostic) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, diagnostic)
        .unwrap();
    out
}

#[test]
fn rates_compile() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../rates");
    let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for path in names {
        let source = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        match credits_dsl::compile_source(&name, &source) {
            Ok(book) => println!("{name}: ok {}", book.rates_version),
            Err(d) => println!("{}", render(&d)),
        }
    }
}
