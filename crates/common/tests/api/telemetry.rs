//! Log lines are JSON objects that carry the trace and span ids of the span they were written in.

use std::sync::{Arc, Mutex};

use marquee_common::telemetry::{self, LogFormat, TelemetryConfig};

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn json_log_lines_carry_trace_and_span_ids() {
    let config = TelemetryConfig {
        service_name: "test".into(),
        otlp_endpoint: None,
        log_format: LogFormat::Json,
        log_filter: "info".into(),
    };
    let captured = Captured::default();
    let (subscriber, _guard) = telemetry::subscriber_writing_to(&config, captured.clone()).unwrap();
    let trace_id = tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("handle_request").in_scope(|| {
            tracing::info!(user = "ada", "profile updated");
            telemetry::current_trace_id().expect("a trace id inside the span")
        })
    });

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value =
        serde_json::from_str(output.lines().next().expect("one line")).unwrap();
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["message"], "profile updated");
    assert_eq!(line["fields"]["user"], "ada");
    assert_eq!(
        line["openTelemetry"]["traceId"],
        trace_id.as_str(),
        "{line}"
    );
    assert_eq!(
        line["openTelemetry"]["spanId"].as_str().map(str::len),
        Some(16),
        "{line}"
    );
}
