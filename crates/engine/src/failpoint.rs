//! The `failCommand` fail point: makes chosen commands fail, close the connection, stall, or
//! report a write-concern error, as the MongoDB driver test suites configure it.

use std::time::Duration;

use bson::{Bson, Document};

use crate::compare::Number;
use crate::error::{CommandError, CommandResult};

/// When the fail point fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Off,
    AlwaysOn,
    /// Fires this many more times.
    Times(u64),
    /// Lets this many matching commands pass, then fires every time.
    Skip(u64),
}

/// What a fired `failCommand` does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FailAction {
    /// Close the connection without a reply.
    pub close_connection: bool,
    /// Delay the command this long first.
    pub block: Option<Duration>,
    /// Answer with this error instead of running the command.
    pub error: Option<CommandError>,
    /// Run the command, then add this `writeConcernError`.
    pub write_concern_error: Option<Document>,
    /// Labels that replace those the server would add (`errorLabels` in the fail point data).
    pub labels_override: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
struct FailCommand {
    mode: Mode,
    commands: Vec<String>,
    app_name: Option<String>,
    action: FailAction,
}

/// The fail points of one node.
#[derive(Debug, Default)]
pub struct FailPoints {
    fail_command: Option<FailCommand>,
    entered: u64,
}

impl FailPoints {
    /// Applies a `configureFailPoint` command; returns how many times the fail point fired
    /// under its previous setting (the reply's `count`).
    pub fn configure(&mut self, command: &Document) -> CommandResult<u64> {
        match command.get("configureFailPoint") {
            Some(Bson::String(name)) if name == "failCommand" => {}
            Some(Bson::String(name)) => {
                return Err(CommandError::bad_value(format!(
                    "fail point '{name}' is not supported by this engine; only 'failCommand' is"
                )));
            }
            _ => {
                return Err(CommandError::type_mismatch(
                    "'configureFailPoint' must name a fail point",
                ));
            }
        }
        let mode = parse_mode(command.get("mode"))?;
        let previous = std::mem::take(&mut self.entered);
        if mode == Mode::Off {
            self.fail_command = None;
            return Ok(previous);
        }
        let data = match command.get("data") {
            Some(Bson::Document(data)) => data,
            None => {
                return Err(CommandError::bad_value(
                    "failCommand needs 'data' with 'failCommands'",
                ));
            }
            Some(_) => {
                return Err(CommandError::type_mismatch(
                    "fail point 'data' must be a document",
                ));
            }
        };
        self.fail_command = Some(parse_data(mode, data)?);
        Ok(previous)
    }

    /// What to do with command `name` from a client named `app_name`, counting the firing.
    pub fn check(&mut self, name: &str, app_name: Option<&str>) -> Option<FailAction> {
        let fp = self.fail_command.as_mut()?;
        if !fp.commands.iter().any(|c| c == name) {
            return None;
        }
        if fp
            .app_name
            .as_deref()
            .is_some_and(|wanted| Some(wanted) != app_name)
        {
            return None;
        }
        match fp.mode {
            Mode::Off => return None,
            Mode::AlwaysOn => {}
            Mode::Times(n) => {
                if n <= 1 {
                    fp.mode = Mode::Off;
                } else {
                    fp.mode = Mode::Times(n - 1);
                }
            }
            Mode::Skip(n) => {
                if n > 0 {
                    fp.mode = Mode::Skip(n - 1);
                    return None;
                }
            }
        }
        self.entered += 1;
        let action = fp.action.clone();
        if fp.mode == Mode::Off {
            self.fail_command = None;
        }
        Some(action)
    }
}

fn parse_mode(mode: Option<&Bson>) -> CommandResult<Mode> {
    let count = |v: &Bson, what: &str| -> CommandResult<u64> {
        match Number::from_bson(v) {
            Some(Number::Int(n)) if n >= 0 => Ok(n as u64),
            Some(Number::Float(f)) if f >= 0.0 && f.fract() == 0.0 => Ok(f as u64),
            _ => Err(CommandError::bad_value(format!(
                "'{what}' must be a non-negative integer"
            ))),
        }
    };
    match mode {
        Some(Bson::String(s)) if s == "alwaysOn" => Ok(Mode::AlwaysOn),
        Some(Bson::String(s)) if s == "off" => Ok(Mode::Off),
        Some(Bson::Document(d)) => match d.iter().next() {
            Some((k, v)) if k == "times" => Ok(match count(v, "times")? {
                0 => Mode::Off,
                n => Mode::Times(n),
            }),
            Some((k, v)) if k == "skip" => Ok(Mode::Skip(count(v, "skip")?)),
            _ => Err(CommandError::bad_value(
                "fail point mode must be 'alwaysOn', 'off', {times: n} or {skip: n}",
            )),
        },
        _ => Err(CommandError::bad_value(
            "fail point mode must be 'alwaysOn', 'off', {times: n} or {skip: n}",
        )),
    }
}

fn parse_data(mode: Mode, data: &Document) -> CommandResult<FailCommand> {
    let commands = match data.get("failCommands") {
        Some(Bson::Array(items)) => items
            .iter()
            .map(|c| match c {
                Bson::String(s) => Ok(s.clone()),
                _ => Err(CommandError::type_mismatch(
                    "'failCommands' must be an array of command names",
                )),
            })
            .collect::<CommandResult<Vec<_>>>()?,
        _ => {
            return Err(CommandError::bad_value(
                "failCommand needs 'failCommands', an array of command names",
            ));
        }
    };
    let mut action = FailAction::default();
    let mut block_connection = false;
    let mut block_ms = None;
    let mut app_name = None;
    let mut error_code = None;
    let mut errmsg = None;
    for (key, value) in data {
        match key.as_str() {
            "failCommands" | "failInternalCommands" => {}
            "closeConnection" => action.close_connection = as_bool(value, key)?,
            "blockConnection" => block_connection = as_bool(value, key)?,
            "blockTimeMS" => block_ms = Some(as_u64(value, key)?),
            "appName" => match value {
                Bson::String(s) => app_name = Some(s.clone()),
                _ => return Err(CommandError::type_mismatch("'appName' must be a string")),
            },
            "errorCode" => {
                let code = as_u64(value, key).ok().and_then(|c| i32::try_from(c).ok());
                error_code = Some(code.ok_or_else(|| {
                    CommandError::type_mismatch("'errorCode' must be an integer")
                })?);
            }
            "errmsg" => match value {
                Bson::String(s) => errmsg = Some(s.clone()),
                _ => return Err(CommandError::type_mismatch("'errmsg' must be a string")),
            },
            "errorLabels" => match value {
                Bson::Array(items) => {
                    let labels = items
                        .iter()
                        .map(|l| match l {
                            Bson::String(s) => Ok(s.clone()),
                            _ => Err(CommandError::type_mismatch("'errorLabels' must be strings")),
                        })
                        .collect::<CommandResult<Vec<_>>>()?;
                    action.labels_override = Some(labels);
                }
                _ => {
                    return Err(CommandError::type_mismatch(
                        "'errorLabels' must be an array",
                    ));
                }
            },
            "writeConcernError" => match value {
                Bson::Document(d) => action.write_concern_error = Some(d.clone()),
                _ => {
                    return Err(CommandError::type_mismatch(
                        "'writeConcernError' must be a document",
                    ));
                }
            },
            other => {
                return Err(CommandError::bad_value(format!(
                    "failCommand option '{other}' is not supported by this engine"
                )));
            }
        }
    }
    if block_connection {
        let ms = block_ms
            .ok_or_else(|| CommandError::bad_value("'blockConnection' needs 'blockTimeMS'"))?;
        action.block = Some(Duration::from_millis(ms));
    }
    if let Some(code) = error_code {
        let message =
            errmsg.unwrap_or_else(|| "Failing command via 'failCommand' failpoint".to_owned());
        action.error = Some(CommandError::with_code(code, message));
    }
    Ok(FailCommand {
        mode,
        commands,
        app_name,
        action,
    })
}

fn as_bool(value: &Bson, key: &str) -> CommandResult<bool> {
    match value {
        Bson::Boolean(b) => Ok(*b),
        _ => Err(CommandError::type_mismatch(format!(
            "'{key}' must be a boolean"
        ))),
    }
}

fn as_u64(value: &Bson, key: &str) -> CommandResult<u64> {
    match Number::from_bson(value) {
        Some(Number::Int(n)) if n >= 0 => Ok(n as u64),
        Some(Number::Float(f)) if f >= 0.0 && f.fract() == 0.0 => Ok(f as u64),
        _ => Err(CommandError::type_mismatch(format!(
            "'{key}' must be a non-negative integer"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn configure(fp: &mut FailPoints, mode: Bson, data: Document) -> CommandResult<u64> {
        fp.configure(&doc! { "configureFailPoint": "failCommand", "mode": mode, "data": data })
    }

    #[test]
    fn times_fires_that_many_times_then_turns_off() {
        let mut fp = FailPoints::default();
        configure(
            &mut fp,
            Bson::Document(doc! {"times": 2}),
            doc! {"failCommands": ["insert"], "errorCode": 112},
        )
        .expect("valid");
        assert!(fp.check("find", None).is_none());
        let action = fp.check("insert", None).expect("fires");
        assert_eq!(
            action.error.map(|e| e.code_name),
            Some("WriteConflict".to_owned())
        );
        assert!(fp.check("insert", None).is_some());
        assert!(fp.check("insert", None).is_none());
    }

    #[test]
    fn skip_lets_the_first_commands_pass() {
        let mut fp = FailPoints::default();
        configure(
            &mut fp,
            Bson::Document(doc! {"skip": 1}),
            doc! {"failCommands": ["ping"], "closeConnection": true},
        )
        .expect("valid");
        assert!(fp.check("ping", None).is_none());
        assert!(fp.check("ping", None).is_some_and(|a| a.close_connection));
        assert!(fp.check("ping", None).is_some());
    }

    #[test]
    fn app_name_restricts_the_clients() {
        let mut fp = FailPoints::default();
        configure(
            &mut fp,
            Bson::String("alwaysOn".into()),
            doc! {"failCommands": ["find"], "errorCode": 2, "appName": "a"},
        )
        .expect("valid");
        assert!(fp.check("find", Some("b")).is_none());
        assert!(fp.check("find", None).is_none());
        assert!(fp.check("find", Some("a")).is_some());
        assert_eq!(
            fp.configure(&doc! {"configureFailPoint": "failCommand", "mode": "off"}),
            Ok(1)
        );
        assert!(fp.check("find", Some("a")).is_none());
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut fp = FailPoints::default();
        assert!(
            configure(
                &mut fp,
                Bson::String("sometimes".into()),
                doc! {"failCommands": ["find"]}
            )
            .is_err()
        );
        assert!(
            configure(
                &mut fp,
                Bson::String("alwaysOn".into()),
                doc! {"failCommands": "find"}
            )
            .is_err()
        );
        assert!(
            configure(
                &mut fp,
                Bson::String("alwaysOn".into()),
                doc! {"failCommands": ["find"], "blockConnection": true}
            )
            .is_err()
        );
        assert!(
            fp.configure(&doc! {"configureFailPoint": "other", "mode": "off"})
                .is_err()
        );
    }
}
