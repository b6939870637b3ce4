//! What `cargo xtask test` prints after the suite: the slowest tests, read from the JUnit
//! report nextest writes (`junit` in `.config/nextest.toml`).

use std::{path::Path, time::Duration};

use anyhow::{Context, Result};

/// One test's outcome from the report.
#[derive(Debug, Clone, PartialEq)]
pub struct TestTime {
    /// `crate::binary test::path`, as nextest names it.
    pub name: String,
    pub time: Duration,
    pub failed: bool,
}

/// Every test case in the JUnit report at `path`, slowest first.
pub fn read(path: &Path) -> Result<Vec<TestTime>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).with_context(|| format!("{} is not a JUnit report", path.display()))
}

fn parse(text: &str) -> Result<Vec<TestTime>> {
    let document = roxmltree::Document::parse(text)?;
    let mut tests: Vec<TestTime> = document
        .descendants()
        .filter(|node| node.has_tag_name("testcase"))
        .map(|case| {
            let seconds: f64 = case
                .attribute("time")
                .and_then(|t| t.parse().ok())
                .unwrap_or_default();
            TestTime {
                name: format!(
                    "{} {}",
                    case.attribute("classname").unwrap_or_default(),
                    case.attribute("name").unwrap_or_default()
                ),
                time: Duration::from_secs_f64(seconds.max(0.0)),
                failed: case
                    .children()
                    .any(|c| c.has_tag_name("failure") || c.has_tag_name("error")),
            }
        })
        .collect();
    tests.sort_by_key(|test| std::cmp::Reverse(test.time));
    Ok(tests)
}

/// The summary printed at the end of a run.
pub fn summary(tests: &[TestTime], slowest: usize) -> String {
    let mut out = format!(
        "==> the {} slowest of {} tests:\n",
        slowest.min(tests.len()),
        tests.len()
    );
    for test in tests.iter().take(slowest) {
        let mark = if test.failed { "  FAILED" } else { "" };
        out.push_str(&format!(
            "    {:>6.1}s  {}{mark}\n",
            test.time.as_secs_f64(),
            test.name
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="1" errors="0" time="12.5">
  <testsuite name="auth-service::api" tests="2" failures="1" errors="0">
    <testcase name="login::ok" classname="auth-service::api" time="0.250"/>
    <testcase name="resilience::slow" classname="auth-service::api" time="9.000">
      <failure type="test failure">assertion failed</failure>
    </testcase>
  </testsuite>
  <testsuite name="xtask" tests="1" failures="0" errors="0">
    <testcase name="report::tests::x" classname="xtask" time="1.5"/>
  </testsuite>
</testsuites>"#;

    #[test]
    fn tests_are_read_slowest_first_with_their_outcome() {
        let tests = parse(REPORT).unwrap();
        let names: Vec<&str> = tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "auth-service::api resilience::slow",
                "xtask report::tests::x",
                "auth-service::api login::ok"
            ]
        );
        assert_eq!(tests[0].time, Duration::from_secs(9));
        assert!(tests[0].failed);
        assert!(!tests[1].failed);
    }

    #[test]
    fn the_summary_lists_at_most_the_asked_number() {
        let text = summary(&parse(REPORT).unwrap(), 2);
        assert!(text.starts_with("==> the 2 slowest of 3 tests:"), "{text}");
        assert!(
            text.contains("9.0s  auth-service::api resilience::slow  FAILED"),
            "{text}"
        );
        assert!(!text.contains("login::ok"), "{text}");
    }

    #[test]
    fn a_broken_report_is_an_error_not_a_panic() {
        assert!(parse("<testsuites><testcase").is_err());
    }
}
