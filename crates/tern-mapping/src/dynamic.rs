//! Dynamic templates (`dynamic_templates`) and the JSON-type classification dynamic mapping uses.

use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Value};

use crate::error::MappingError;
use crate::field::FieldType;
use crate::util::{java_to_string, simple_match};

/// The JSON-side type of a new value, as `match_mapping_type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XContentFieldType {
    Object,
    String,
    Long,
    Double,
    Boolean,
    Date,
    Binary,
}

impl XContentFieldType {
    const ALL: [XContentFieldType; 7] = [
        XContentFieldType::Object,
        XContentFieldType::String,
        XContentFieldType::Long,
        XContentFieldType::Double,
        XContentFieldType::Boolean,
        XContentFieldType::Date,
        XContentFieldType::Binary,
    ];

    /// The `match_mapping_type` name.
    pub fn name(self) -> &'static str {
        match self {
            XContentFieldType::Object => "object",
            XContentFieldType::String => "string",
            XContentFieldType::Long => "long",
            XContentFieldType::Double => "double",
            XContentFieldType::Boolean => "boolean",
            XContentFieldType::Date => "date",
            XContentFieldType::Binary => "binary",
        }
    }

    /// The mapping type `{dynamic_type}` stands for (ES maps JSON doubles to `float`, strings to
    /// `text`).
    pub fn default_mapping_type(self) -> &'static str {
        match self {
            XContentFieldType::Object => "object",
            XContentFieldType::String => "text",
            XContentFieldType::Long => "long",
            XContentFieldType::Double => "float",
            XContentFieldType::Boolean => "boolean",
            XContentFieldType::Date => "date",
            XContentFieldType::Binary => "binary",
        }
    }

    fn from_name(s: &str) -> Option<XContentFieldType> {
        XContentFieldType::ALL.into_iter().find(|t| t.name() == s)
    }
}

#[derive(Debug)]
enum Matcher {
    Simple(String),
    Regex(Regex),
}

impl Matcher {
    fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Simple(p) => simple_match(p, s),
            Matcher::Regex(r) => r.is_match(s),
        }
    }
}

#[derive(Debug, Default)]
struct Compiled {
    match_: Vec<Matcher>,
    unmatch: Vec<Matcher>,
    path_match: Vec<Matcher>,
    path_unmatch: Vec<Matcher>,
    match_mapping_type: Vec<String>,
    unmatch_mapping_type: Vec<String>,
}

/// One entry of `dynamic_templates`.
#[derive(Debug, Clone)]
pub struct DynamicTemplate {
    pub name: String,
    /// The template body as given (rendered back as is).
    raw: Map<String, Value>,
    compiled: Arc<Compiled>,
    mapping: Option<Map<String, Value>>,
    runtime: bool,
}

impl PartialEq for DynamicTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.raw == other.raw
    }
}

fn string_list(v: &Value, what: &str, template: &str) -> Result<Vec<String>, MappingError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                other => Err(MappingError::mapper_parsing(format!(
                    "[{what}] values must either be a string or list of strings, but was [{}] in dynamic template [{template}]",
                    java_to_string(other)
                ))),
            })
            .collect(),
        other => Err(MappingError::mapper_parsing(format!(
            "[{what}] values must either be a string or list of strings, but was [{}] in dynamic template [{template}]",
            java_to_string(other)
        ))),
    }
}

impl DynamicTemplate {
    /// Parses the `dynamic_templates` array.
    pub(crate) fn parse_list(v: &Value) -> Result<Vec<DynamicTemplate>, MappingError> {
        let Value::Array(items) = v else {
            return Err(MappingError::mapper_parsing(
                "Dynamic template syntax error. An array of named objects is expected.",
            ));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Value::Object(m) = item else {
                return Err(MappingError::mapper_parsing("A dynamic template must be defined with a name"));
            };
            let mut it = m.iter();
            let (Some((name, body)), None) = (it.next(), it.next()) else {
                return Err(MappingError::mapper_parsing("A dynamic template must be defined with a name"));
            };
            out.push(DynamicTemplate::parse(name, body)?);
        }
        Ok(out)
    }

    fn parse(name: &str, body: &Value) -> Result<DynamicTemplate, MappingError> {
        let Value::Object(raw) = body else {
            return Err(MappingError::mapper_parsing("A dynamic template must be defined with a name"));
        };
        let mut regex = false;
        if let Some(mp) = raw.get("match_pattern") {
            match mp.as_str() {
                Some("simple") => {}
                Some("regex") => regex = true,
                _ => {
                    return Err(MappingError::mapper_parsing(format!(
                        "No matching pattern found for [{}]",
                        java_to_string(mp)
                    )));
                }
            }
        }
        let mut c = Compiled::default();
        let mut mapping = None;
        let mut runtime = false;
        for (k, v) in raw {
            match k.as_str() {
                "match" | "unmatch" | "path_match" | "path_unmatch" => {
                    let list = string_list(v, k, name)?;
                    let mut matchers = Vec::with_capacity(list.len());
                    for p in list {
                        // `match_pattern: regex` applies to `match`/`unmatch` only; path matches
                        // stay simple like ES.
                        if regex && (k == "match" || k == "unmatch") {
                            let r = Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                                MappingError::mapper_parsing(format!(
                                    "Invalid regex [{p}] in dynamic template [{name}]: {e}"
                                ))
                            })?;
                            matchers.push(Matcher::Regex(r));
                        } else {
                            matchers.push(Matcher::Simple(p));
                        }
                    }
                    match k.as_str() {
                        "match" => c.match_ = matchers,
                        "unmatch" => c.unmatch = matchers,
                        "path_match" => c.path_match = matchers,
                        _ => c.path_unmatch = matchers,
                    }
                }
                "match_mapping_type" | "unmatch_mapping_type" => {
                    let list = string_list(v, k, name)?;
                    for t in &list {
                        if t != "*" && XContentFieldType::from_name(t).is_none() {
                            return Err(MappingError::mapper_parsing(format!(
                                "No field type matched on [{t}], possible values are [object, string, long, double, boolean, date, binary]"
                            )));
                        }
                    }
                    if k == "match_mapping_type" {
                        c.match_mapping_type = list;
                    } else {
                        c.unmatch_mapping_type = list;
                    }
                }
                "match_pattern" => {}
                "mapping" | "runtime" => {
                    let Value::Object(m) = v else {
                        return Err(MappingError::mapper_parsing(format!(
                            "[{k}] of dynamic template [{name}] must be an object"
                        )));
                    };
                    if let Some(t) = m.get("type").and_then(Value::as_str)
                        && !t.contains('{')
                        && k == "mapping"
                        && FieldType::from_name(t).is_none()
                    {
                        return Err(MappingError::mapper_parsing(format!(
                            "dynamic template [{name}] has invalid content [{}], attempted to validate it with the following match_mapping_type: [{}], caused by [No mapper found for type [{t}]]",
                            java_to_string(body),
                            if c.match_mapping_type.is_empty() {
                                "*".to_string()
                            } else {
                                c.match_mapping_type.join(", ")
                            }
                        )));
                    }
                    if k == "runtime" {
                        runtime = true;
                    }
                    mapping = Some(m.clone());
                }
                other => {
                    return Err(MappingError::mapper_parsing(format!("Illegal dynamic template parameter: [{other}]")));
                }
            }
        }
        if mapping.is_none() {
            return Err(MappingError::mapper_parsing(format!(
                "template [{name}] must have either mapping or runtime set"
            )));
        }
        Ok(DynamicTemplate { name: name.to_string(), raw: raw.clone(), compiled: Arc::new(c), mapping, runtime })
    }

    /// Renders the template as one entry of `dynamic_templates`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(self.name.clone(), Value::Object(self.raw.clone()));
        Value::Object(m)
    }

    /// Whether this is a `runtime` template (tern does not index such fields).
    pub fn is_runtime(&self) -> bool {
        self.runtime
    }

    /// Whether the template applies to a new field (`name` = leaf name, `path` = full path).
    pub fn matches(&self, name: &str, path: &str, t: XContentFieldType) -> bool {
        let c = &self.compiled;
        if !c.path_match.is_empty() && !c.path_match.iter().any(|m| m.matches(path)) {
            return false;
        }
        if !c.match_.is_empty() && !c.match_.iter().any(|m| m.matches(name)) {
            return false;
        }
        if c.path_unmatch.iter().any(|m| m.matches(path)) {
            return false;
        }
        if c.unmatch.iter().any(|m| m.matches(name)) {
            return false;
        }
        if !c.match_mapping_type.is_empty() && !c.match_mapping_type.iter().any(|m| m == "*" || m == t.name()) {
            return false;
        }
        if c.unmatch_mapping_type.iter().any(|m| m == "*" || m == t.name()) {
            return false;
        }
        true
    }

    /// The template's mapping for a field, with `{name}` and `{dynamic_type}` substituted and
    /// `type` defaulted to the dynamic type.
    pub fn mapping_for(&self, name: &str, dynamic_type: &str) -> Value {
        let mut m = Map::new();
        if let Some(mapping) = &self.mapping {
            for (k, v) in mapping {
                m.insert(substitute(k, name, dynamic_type), substitute_value(v, name, dynamic_type, 0));
            }
        }
        if !m.contains_key("type") {
            m.insert("type".into(), Value::from(dynamic_type));
        }
        Value::Object(m)
    }
}

fn substitute(s: &str, name: &str, dynamic_type: &str) -> String {
    s.replace("{name}", name).replace("{dynamic_type}", dynamic_type)
}

fn substitute_value(v: &Value, name: &str, dynamic_type: &str, depth: usize) -> Value {
    if depth > 64 {
        return v.clone();
    }
    match v {
        Value::String(s) => Value::String(substitute(s, name, dynamic_type)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute_value(x, name, dynamic_type, depth + 1)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (substitute(k, name, dynamic_type), substitute_value(x, name, dynamic_type, depth + 1)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn templates(v: Value) -> Vec<DynamicTemplate> {
        DynamicTemplate::parse_list(&v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parse_and_match() {
        let t = templates(json!([
            {"strings_as_keywords": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}},
            {"longs": {"match": "long_*", "unmatch": "*_text", "mapping": {"type": "long"}}},
            {"paths": {"path_match": "name.*", "path_unmatch": "*.middle", "mapping": {"type": "text", "copy_to": "full_{name}"}}},
            {"re": {"match_pattern": "regex", "match": "^profit_\\d+$", "mapping": {"type": "double"}}},
        ]));
        assert!(t[0].matches("a", "a", XContentFieldType::String));
        assert!(!t[0].matches("a", "a", XContentFieldType::Long));
        assert!(t[1].matches("long_x", "long_x", XContentFieldType::String));
        assert!(!t[1].matches("long_text", "long_text", XContentFieldType::String));
        assert!(t[2].matches("first", "name.first", XContentFieldType::String));
        assert!(!t[2].matches("middle", "name.middle", XContentFieldType::String));
        assert_eq!(t[2].mapping_for("first", "text"), json!({"type": "text", "copy_to": "full_first"}));
        assert!(t[3].matches("profit_12", "profit_12", XContentFieldType::Long));
        assert!(!t[3].matches("profit_x", "profit_x", XContentFieldType::Long));
    }

    #[test]
    fn placeholders() {
        let t = templates(
            json!([{"t": {"match_mapping_type": "*", "mapping": {"type": "{dynamic_type}", "index": false}}}]),
        );
        assert_eq!(t[0].mapping_for("x", "long"), json!({"type": "long", "index": false}));
    }

    #[test]
    fn errors() {
        let e = |v: Value| DynamicTemplate::parse_list(&v).err().map(|e| e.to_string());
        assert_eq!(
            e(json!([{"t": {"match": "*", "foo": 1, "mapping": {}}}])),
            Some("Illegal dynamic template parameter: [foo]".into())
        );
        assert_eq!(
            e(json!([{"t": {"match_mapping_type": "text", "mapping": {}}}])),
            Some("No field type matched on [text], possible values are [object, string, long, double, boolean, date, binary]".into())
        );
        assert_eq!(
            e(json!([{"a": {"mapping": {}}, "b": {"mapping": {}}}])),
            Some("A dynamic template must be defined with a name".into())
        );
        assert_eq!(
            e(json!([{"t": {"match": "*"}}])),
            Some("template [t] must have either mapping or runtime set".into())
        );
    }
}
