//! Configuration from environment variables, validated at boot.
//!
//! Every setting is an environment variable with a documented default (README, "Configuration").
//! Each concern reads its own settings — [`crate::db::DatabaseConfig::from_env`],
//! [`crate::kafka::KafkaConfig::from_env`], … — through an [`Env`], a snapshot of the
//! variables. A missing required variable or a value that does not parse stops boot with a
//! [`ConfigError`] that names the variable, so a misconfigured pod fails fast and says why.
//!
//! Tests build an [`Env`] from pairs instead of mutating the process environment.

use std::{collections::HashMap, fmt::Display, str::FromStr, time::Duration};

use secrecy::SecretString;

/// A configuration problem, naming the variable at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration variable {variable}: {problem}")]
pub struct ConfigError {
    /// The environment variable's name.
    pub variable: String,
    /// What is wrong with it, in words an operator can act on (never the secret value).
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: &str, problem: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            problem: problem.into(),
        }
    }
}

/// A snapshot of environment variables to read settings from.
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets: show the names only.
        let mut names: Vec<_> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

impl Env {
    /// The variables of this process.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// Variables given explicitly, for tests and tools.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Returns a copy with `name` set to `value`.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// The raw value; blank values count as unset so `FOO=` in a file means "use the default".
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A variable that must be set.
    pub fn required<T>(&self, name: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.optional(name)?
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    /// A variable that may be unset.
    pub fn optional<T>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.raw(name)
            .map(|raw| {
                raw.parse::<T>()
                    .map_err(|e| ConfigError::new(name, format!("invalid value {raw:?}: {e}")))
            })
            .transpose()
    }

    /// A variable with a default.
    pub fn or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.optional(name)?.unwrap_or(default))
    }

    /// A secret that must be set. The value is never echoed in errors.
    pub fn required_secret(&self, name: &str) -> Result<SecretString, ConfigError> {
        self.optional_secret(name)?
            .ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    /// A secret that may be unset.
    pub fn optional_secret(&self, name: &str) -> Result<Option<SecretString>, ConfigError> {
        Ok(self.raw(name).map(|v| SecretString::from(v.to_owned())))
    }

    /// A duration written the human way (`250ms`, `10s`, `5m`), with a default.
    pub fn duration_or(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.raw(name) {
            None => Ok(default),
            Some(raw) => humantime::parse_duration(raw).map_err(|e| {
                ConfigError::new(
                    name,
                    format!("invalid duration {raw:?} ({e}); use e.g. 500ms, 10s, 5m"),
                )
            }),
        }
    }

    /// A comma-separated list; unset means empty. Blank items are dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.raw(name)
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A boolean (`true/false`, `1/0`, `yes/no`, `on/off`), with a default.
    pub fn flag_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(ConfigError::new(
                name,
                format!("invalid flag {other:?}; use true or false"),
            )),
        }
    }
}

/// Checks a number is within `range`, naming the variable otherwise.
pub fn in_range<T: PartialOrd + Display + Copy>(
    name: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            name,
            format!(
                "{value} is out of range {}..={}",
                range.start(),
                range.end()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn missing_required_variable_is_named() {
        let err = Env::default()
            .required::<String>("DATABASE_URL")
            .unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn blank_values_count_as_unset() {
        let env = Env::from_pairs([("PORT", "  ")]);
        assert_eq!(env.or("PORT", 8080u16).unwrap(), 8080);
    }

    #[test]
    fn unparsable_values_are_rejected_with_the_variable_and_value() {
        let env = Env::from_pairs([("PORT", "eighty")]);
        let err = env.or("PORT", 8080u16).unwrap_err();
        assert_eq!(err.variable, "PORT");
        assert!(err.problem.contains("eighty"), "{err}");
    }

    #[test]
    fn durations_accept_units_and_reject_bare_numbers() {
        let env = Env::from_pairs([("A", "250ms"), ("B", "5m"), ("C", "10")]);
        assert_eq!(
            env.duration_or("A", Duration::ZERO).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(
            env.duration_or("B", Duration::ZERO).unwrap(),
            Duration::from_secs(300)
        );
        assert_eq!(
            env.duration_or("C", Duration::ZERO).unwrap_err().variable,
            "C"
        );
        assert_eq!(
            env.duration_or("D", Duration::from_secs(1)).unwrap(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn lists_split_on_commas_and_drop_blanks() {
        let env = Env::from_pairs([("L", " a, b ,,c ")]);
        assert_eq!(env.list("L"), vec!["a", "b", "c"]);
        assert!(env.list("MISSING").is_empty());
    }

    #[test]
    fn flags_accept_the_usual_spellings() {
        let env = Env::from_pairs([("A", "Yes"), ("B", "0"), ("C", "maybe")]);
        assert!(env.flag_or("A", false).unwrap());
        assert!(!env.flag_or("B", true).unwrap());
        assert_eq!(env.flag_or("C", true).unwrap_err().variable, "C");
    }

    #[test]
    fn secrets_are_not_echoed_in_debug_output() {
        let env = Env::from_pairs([("TOKEN", "hunter2")]);
        assert!(!format!("{env:?}").contains("hunter2"));
        assert_eq!(
            env.required_secret("TOKEN").unwrap().expose_secret(),
            "hunter2"
        );
    }

    #[test]
    fn ranges_name_the_variable() {
        assert_eq!(in_range("N", 5, 1..=10).unwrap(), 5);
        assert_eq!(in_range("N", 0, 1..=10).unwrap_err().variable, "N");
    }
}
