//! runc's `--log FILE --log-format text|json`: one line per message with level, msg
//! and time. podman and containerd read the `msg` of the last error line.
use std::io::Write;
use std::sync::OnceLock;

/// Format of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

struct Cfg {
    file: Option<std::path::PathBuf>,
    format: Format,
    debug: bool,
}

static CFG: OnceLock<Cfg> = OnceLock::new();

/// Configure once, at the CLI edge.
pub fn init(file: Option<std::path::PathBuf>, format: Format, debug: bool) {
    let _ = CFG.set(Cfg { file, format, debug });
}

/// One log line in `format`.
pub fn line(format: Format, level: &str, msg: &str, time: &str) -> String {
    match format {
        Format::Json => serde_json::json!({"level": level, "msg": msg, "time": time}).to_string(),
        Format::Text => format!("time=\"{time}\" level={level} msg={:?}", msg),
    }
}

fn write(level: &str, msg: &str) {
    let Some(c) = CFG.get() else { return };
    let Some(f) = &c.file else { return };
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    if let Ok(mut fh) = std::fs::OpenOptions::new().create(true).append(true).open(f) {
        let _ = writeln!(fh, "{}", line(c.format, level, msg, &time));
    }
}

/// An error: to stderr (by the caller) and the log file.
pub fn error(msg: &str) {
    write("error", msg);
}

/// A warning: stderr and the log file.
pub fn warn(msg: &str) {
    eprintln!("minirun-oci: warning: {msg}");
    write("warning", msg);
}

/// A debug note, only with --debug.
pub fn debug(msg: &str) {
    if CFG.get().is_some_and(|c| c.debug) {
        write("debug", msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let j: serde_json::Value = serde_json::from_str(&line(Format::Json, "error", "a \"b\"", "T")).unwrap();
        assert_eq!(j["msg"], "a \"b\"");
        assert_eq!(j["level"], "error");
        assert_eq!(line(Format::Text, "error", "x y", "T"), "time=\"T\" level=error msg=\"x y\"");
    }
}
