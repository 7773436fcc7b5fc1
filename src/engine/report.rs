//! Telling people what changed: a log line per service whose state, MED or reason changed.

use crate::plan::Plan;
use crate::sorted::{self, Cursor};

/// Logs every service whose report differs between two plans.
pub fn log_changes(old: &Plan, new: &Plan) {
    let mut before = Cursor::new(&old.reports);
    for (key, report) in &new.reports {
        if before.seek(key) == Some(report) {
            continue;
        }
        let prefixes: Vec<String> = report.prefixes.iter().map(ToString::to_string).collect();
        tracing::info!(
            service = %key,
            state = ?report.state,
            med = report.med,
            prefixes = %prefixes.join(" "),
            reason = %report.reason,
            "service state"
        );
        for (ip, why) in &report.refused {
            tracing::warn!(service = %key, address = %ip, reason = %why, "address refused");
        }
    }
    for key in sorted::missing_from(&old.reports, &new.reports) {
        tracing::info!(service = %key, "service removed");
    }
}
