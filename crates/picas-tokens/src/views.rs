//! The design document of a token pool: `_design/Monitor` with the views
//! `todo`, `locked`, `done`, `error` and `overview_total`, the same names and
//! conditions as picas' `create_views.py`, so Python and hpckit read one pool.
//! Autopilot pools add design documents with one more condition (`SingleCore`:
//! `doc.cores == 1`, `MultiCore`: `doc.cores == 4`).

use hpc_core::{Error, Result};
use serde_json::{Map, Value, json};

use crate::couch::{CouchDb, WriteOutcome};

/// The default design document.
pub const MONITOR: &str = "Monitor";

/// The four state views, in the order `overview_total` reports them.
pub const STATE_VIEWS: [&str; 4] = ["todo", "locked", "done", "error"];

/// The reduce function of `overview_total`: JavaScript `sum`, as picas writes
/// it (not the built-in `_sum`).
const SUM: &str = "function (keys, values, rereduce) {\n    return sum(values);\n}";

/// One design document of views over tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesignDoc {
    /// Its name (`Monitor`, `SingleCore`, ...).
    pub name: String,
    /// A JavaScript condition every view adds (`doc.cores == 1`), if any.
    pub extra_condition: Option<String>,
}

impl DesignDoc {
    /// `_design/Monitor`.
    pub fn monitor() -> Self {
        DesignDoc { name: MONITOR.into(), extra_condition: None }
    }

    /// A design document whose views also require `condition` (JavaScript over `doc`).
    pub fn with_condition(name: impl Into<String>, condition: impl Into<String>) -> Self {
        DesignDoc { name: name.into(), extra_condition: Some(condition.into()) }
    }

    /// picas' autopilot pair: `SingleCore` (`doc.cores == 1`) and `MultiCore` (`doc.cores == 4`).
    pub fn autopilot() -> [DesignDoc; 2] {
        [
            DesignDoc::with_condition("SingleCore", "doc.cores == 1"),
            DesignDoc::with_condition("MultiCore", "doc.cores == 4"),
        ]
    }

    /// `_design/<name>`.
    pub fn id(&self) -> String {
        format!("_design/{}", self.name)
    }

    /// The condition of a state view, with the extra condition.
    fn condition(&self, state: &str) -> String {
        let base = match state {
            "todo" => "doc.lock == 0 && doc.done == 0",
            "locked" => "doc.lock > 0 && doc.done == 0",
            "done" => "doc.lock > 0 && doc.done > 0 && parseInt(doc.exit_code) == 0",
            "error" => "doc.lock > 0 && doc.done > 0 && parseInt(doc.exit_code) != 0",
            other => unreachable!("no state view {other}"),
        };
        match &self.extra_condition {
            Some(extra) => format!("{base} && {extra}"),
            None => base.to_owned(),
        }
    }

    /// `{view name: {map[, reduce]}}` for all five views.
    pub fn views(&self) -> Map<String, Value> {
        let mut views = Map::new();
        for state in STATE_VIEWS {
            let map = format!(
                "function(doc) {{\n  if (doc.type == \"token\") {{\n    if ({}) {{\n      emit(doc._id, doc._id);\n    }}\n  }}\n}}",
                self.condition(state)
            );
            views.insert(state.into(), json!({ "map": map }));
        }
        let mut total = String::from("function(doc) {\n  if (doc.type == \"token\") {\n");
        for state in STATE_VIEWS {
            total.push_str(&format!(
                "    if ({}) {{\n      emit(\"{state}\", 1);\n    }}\n",
                self.condition(state)
            ));
        }
        total.push_str("  }\n}");
        views.insert("overview_total".into(), json!({ "map": total, "reduce": SUM }));
        views
    }
}

/// What [`ensure_views`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewsOutcome {
    /// The design document was written (new or changed).
    Written,
    /// It already had every view with the same conditions.
    Unchanged,
}

/// Create or update a design document so that it has the five views (other
/// views in it are kept). One GET, and one PUT when something differs; a
/// concurrent writer makes it read and try again.
pub async fn ensure_views(db: &CouchDb, design: &DesignDoc) -> Result<ViewsOutcome> {
    let wanted = design.views();
    for _ in 0..5 {
        let mut doc = match db.get(&design.id()).await? {
            Some(Value::Object(doc)) => doc,
            Some(_) => {
                let reason = "a design document must be a JSON object";
                return Err(Error::parse(format!("GET {}", design.id()), reason, ""));
            }
            None => {
                let mut doc = Map::new();
                doc.insert("_id".into(), design.id().into());
                doc
            }
        };
        let mut views = match doc.remove("views") {
            Some(Value::Object(v)) => v,
            _ => Map::new(),
        };
        let unchanged = doc.get("language").and_then(Value::as_str) == Some("javascript")
            && wanted.iter().all(|(k, v)| views.get(k) == Some(v));
        if unchanged {
            return Ok(ViewsOutcome::Unchanged);
        }
        views.extend(wanted.clone());
        doc.insert("views".into(), Value::Object(views));
        doc.insert("language".into(), "javascript".into());
        match db.put(&Value::Object(doc)).await? {
            WriteOutcome::Written { .. } => return Ok(ViewsOutcome::Written),
            WriteOutcome::Conflict { .. } => continue,
        }
    }
    let message = format!("{} kept changing while its views were being written", design.id());
    Err(Error::remote("couchdb", Some(409), message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_views_with_picas_conditions() {
        let v = DesignDoc::monitor().views();
        assert_eq!(v.len(), 5);
        let todo = v["todo"]["map"].as_str().unwrap();
        assert!(todo.contains("doc.type == \"token\""), "{todo}");
        assert!(todo.contains("doc.lock == 0 && doc.done == 0"), "{todo}");
        assert!(todo.contains("emit(doc._id, doc._id)"), "{todo}");
        let total = &v["overview_total"];
        assert!(total["reduce"].as_str().unwrap().contains("sum(values)"));
        assert_eq!(total["map"].as_str().unwrap().matches("emit(").count(), 4);
        let single = DesignDoc::autopilot()[0].views();
        assert!(single["error"]["map"].as_str().unwrap().contains("!= 0 && doc.cores == 1"));
    }
}
