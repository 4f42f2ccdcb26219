//! `runOnRequirements`: what the deployment under test is (topology, server version,
//! authentication) and whether a file or a test may run on it.

use bson::{Bson, Document, doc};
use causeway::Client;

/// What the tests run against.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// `[major, minor, patch]` from `buildInfo.versionArray`.
    pub version: [u64; 3],
    /// `single`, `replicaset` or `sharded`, from `hello`.
    pub topology: &'static str,
    /// Whether authentication is enabled (never, for the embedded engine).
    pub auth: bool,
    /// Whether this is Atlas Serverless (never).
    pub serverless: bool,
}

impl Deployment {
    /// Asks an embedded deployment what it is (`buildInfo` and `hello`).
    pub async fn discover() -> Result<Deployment, String> {
        let client = Client::embedded();
        let admin = client.database("admin");
        let build = admin
            .run_command(doc! {"buildInfo": 1})
            .await
            .map_err(|e| format!("buildInfo failed: {e}"))?;
        let version = version_from_build_info(&build)?;
        let hello = admin
            .run_command(doc! {"hello": 1})
            .await
            .map_err(|e| format!("hello failed: {e}"))?;
        let topology = if hello.get_str("msg").ok() == Some("isdbgrid") {
            "sharded"
        } else if hello.contains_key("setName") {
            "replicaset"
        } else {
            "single"
        };
        client.shutdown().await;
        Ok(Deployment {
            version,
            topology,
            auth: false,
            serverless: false,
        })
    }

    /// The server version as `a.b.c`.
    pub fn version_string(&self) -> String {
        format!(
            "{}.{}.{}",
            self.version[0], self.version[1], self.version[2]
        )
    }

    /// `None` if one of the requirements is met (or there are none), else why none is.
    pub fn unmet(&self, requirements: Option<&Bson>) -> Result<Option<String>, String> {
        let Some(requirements) = requirements else {
            return Ok(None);
        };
        let Bson::Array(items) = requirements else {
            return Err("runOnRequirements must be an array".to_owned());
        };
        if items.is_empty() {
            return Ok(None);
        }
        let mut reasons = Vec::new();
        for item in items {
            let Bson::Document(requirement) = item else {
                return Err("a runOnRequirement must be a document".to_owned());
            };
            match self.unmet_one(requirement)? {
                None => return Ok(None),
                Some(reason) => reasons.push(reason),
            }
        }
        Ok(Some(reasons.join("; or ")))
    }

    fn unmet_one(&self, requirement: &Document) -> Result<Option<String>, String> {
        let mut reasons = Vec::new();
        for (key, value) in requirement {
            match key.as_str() {
                "minServerVersion" => {
                    let min = parse_version(as_str(value, key)?)?;
                    if self.version < min {
                        reasons.push(format!(
                            "server >= {} (deployment: {})",
                            as_str(value, key)?,
                            self.version_string()
                        ));
                    }
                }
                "maxServerVersion" => {
                    let max = parse_version(as_str(value, key)?)?;
                    if self.version > max {
                        reasons.push(format!(
                            "server <= {} (deployment: {})",
                            as_str(value, key)?,
                            self.version_string()
                        ));
                    }
                }
                "topologies" => {
                    let Bson::Array(names) = value else {
                        return Err("`topologies` must be an array".to_owned());
                    };
                    let names: Vec<&str> = names.iter().filter_map(Bson::as_str).collect();
                    let ok = names.iter().any(|t| {
                        *t == self.topology
                            || (*t == "sharded-replicaset" && self.topology == "sharded")
                    });
                    if !ok {
                        reasons.push(format!(
                            "topology {} (deployment: {})",
                            names.join(" or "),
                            self.topology
                        ));
                    }
                }
                "serverless" => match as_str(value, key)? {
                    "require" if !self.serverless => {
                        reasons.push("Atlas Serverless (deployment: not serverless)".to_owned());
                    }
                    "forbid" if self.serverless => {
                        reasons.push("no Atlas Serverless".to_owned());
                    }
                    "require" | "forbid" | "allow" => {}
                    other => return Err(format!("unknown `serverless` value `{other}`")),
                },
                "auth" => {
                    let wanted = value
                        .as_bool()
                        .ok_or_else(|| "`auth` must be a boolean".to_owned())?;
                    if wanted != self.auth {
                        reasons.push(if wanted {
                            "authentication enabled (deployment: no authentication)".to_owned()
                        } else {
                            "authentication disabled".to_owned()
                        });
                    }
                }
                "authMechanism" => {
                    reasons.push(format!(
                        "authentication mechanism {} (deployment: no authentication)",
                        value.as_str().unwrap_or("?")
                    ));
                }
                "csfle" => {
                    if value.as_bool() != Some(false) {
                        reasons.push(
                            "client-side field level encryption (causeway has none)".to_owned(),
                        );
                    }
                }
                "serverParameters" => {
                    reasons.push(
                        "server parameters the runner does not check on the embedded engine"
                            .to_owned(),
                    );
                }
                other => return Err(format!("unknown runOnRequirement field `{other}`")),
            }
        }
        Ok((!reasons.is_empty()).then(|| format!("requires {}", reasons.join(", "))))
    }
}

fn as_str<'a>(value: &'a Bson, key: &str) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("`{key}` must be a string"))
}

/// `major[.minor[.patch]]`, with anything after the patch (`-rc1`, extra components) dropped.
pub fn parse_version(text: &str) -> Result<[u64; 3], String> {
    let mut out = [0_u64; 3];
    let core = text.split(['-', '+']).next().unwrap_or_default();
    for (i, part) in core.split('.').take(3).enumerate() {
        out[i] = part
            .parse()
            .map_err(|_| format!("malformed version string `{text}`"))?;
    }
    Ok(out)
}

fn version_from_build_info(reply: &Document) -> Result<[u64; 3], String> {
    if let Ok(items) = reply.get_array("versionArray") {
        let mut out = [0_u64; 3];
        for (i, item) in items.iter().take(3).enumerate() {
            out[i] = match item {
                Bson::Int32(n) => u64::try_from(*n).unwrap_or(0),
                Bson::Int64(n) => u64::try_from(*n).unwrap_or(0),
                Bson::Double(n) => *n as u64,
                _ => return Err("buildInfo.versionArray holds a non-number".to_owned()),
            };
        }
        return Ok(out);
    }
    match reply.get_str("version") {
        Ok(v) => parse_version(v),
        Err(_) => Err("buildInfo has neither versionArray nor version".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::bson;

    fn replica_set() -> Deployment {
        Deployment {
            version: [8, 0, 0],
            topology: "replicaset",
            auth: false,
            serverless: false,
        }
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(parse_version("4.0.10"), Ok([4, 0, 10]));
        assert_eq!(parse_version("4.9.0-alpha4-271"), Ok([4, 9, 0]));
        assert_eq!(parse_version("5"), Ok([5, 0, 0]));
        assert!(parse_version("x").is_err());
    }

    #[test]
    fn one_met_requirement_is_enough() {
        let d = replica_set();
        let reqs = bson!([{"topologies": ["sharded"]}, {"minServerVersion": "4.0", "topologies": ["replicaset"]}]);
        assert_eq!(d.unmet(Some(&reqs)), Ok(None));
        let reqs = bson!([{"topologies": ["sharded", "load-balanced"]}]);
        assert!(d.unmet(Some(&reqs)).unwrap().unwrap().contains("sharded"));
        let reqs = bson!([{"maxServerVersion": "4.4.99"}]);
        assert!(d.unmet(Some(&reqs)).unwrap().is_some());
        let reqs = bson!([{"auth": true}]);
        assert!(d.unmet(Some(&reqs)).unwrap().is_some());
        let reqs = bson!([{"serverless": "forbid", "auth": false}]);
        assert_eq!(d.unmet(Some(&reqs)), Ok(None));
    }
}
