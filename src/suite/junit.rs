//! The suite as a JUnit XML report (quick-junit), for CI systems that draw test results:
//! one test suite per scenario file, one test case per expectation. No timestamps or
//! durations are written, so the file is the same for the same inputs.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::SuiteEntry;

/// The report for a suite run.
pub fn junit_xml(entries: &[SuiteEntry]) -> String {
    let mut report = Report::new("icepath");
    for e in entries {
        match e {
            super::SuiteEntry::Ran(r) => {
                let mut suite = TestSuite::new(format!("{} {}", r.id, r.title));
                for (call, k) in r.lines() {
                    let status = if k.passed {
                        TestCaseStatus::success()
                    } else {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(k.detail.clone());
                        s
                    };
                    let mut case = TestCase::new(format!("{call}: {}", k.what), status);
                    case.set_classname(r.id.clone());
                    if k.passed {
                        case.set_system_out(k.detail.clone());
                    }
                    suite.add_test_case(case);
                }
                report.add_test_suite(suite);
            }
            super::SuiteEntry::Broken { file, rendered, .. } => {
                let mut suite = TestSuite::new(file.clone());
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_message("the scenario does not load");
                s.set_description(rendered.clone());
                suite.add_test_case(TestCase::new("load", s));
                report.add_test_suite(suite);
            }
        }
    }
    report.to_string().unwrap_or_else(|e| format!("<!-- could not write the report: {e} -->\n"))
}
