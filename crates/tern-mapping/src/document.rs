//! Document parsing: a JSON source becomes typed `(path, value)` pairs plus a dynamic mapping
//! update, following the mapping and ES 8's rules.
//!
//! The walk is iterative (an explicit frame stack over the flat [`Dom`]), so document depth never
//! turns into Rust stack depth. ES's behaviours reproduced here:
//!
//! * dotted names expand into objects (`{"a.b": 1}` is `{"a": {"b": 1}}`) unless the object has
//!   `subobjects: false`;
//! * arrays flatten (every element is a value of the same field; arrays of objects too);
//! * unmapped fields follow the nearest `dynamic`: `true` infers a mapping (dynamic templates first,
//!   then date/numeric detection, `text` + `keyword`, `long`, `float`, `boolean`, `object`), `false`
//!   skips, `strict` fails; JSON `null` never creates a mapping;
//! * multi-fields, `copy_to`, `null_value`, `ignore_above`, `ignore_malformed`, `coerce`;
//! * errors carry Jackson-style `[line:col]` locations and ES's texts.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::date::{DEFAULT_DATE_FORMAT, DateFormat};
use crate::dynamic::{DynamicTemplate, XContentFieldType};
use crate::error::{Location, MappingError};
use crate::field::{Dynamic, FieldMapping, FieldType, MAX_MAPPING_DEPTH, parse_field, split_dotted};
use crate::json::{self, Dom, JsonFailure, NodeValue};
use crate::mapping::{Mapping, MappingLimits};
use crate::util::{java_len, join_path};
use crate::value::{Converted, IndexedValue, Scalar, convert_scalar};

/// The result of parsing one document.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedDocument {
    /// Every indexed value in document order. Arrays give several entries with the same path;
    /// multi-fields appear under their own path (`title.keyword`); `flattened` fields give each leaf
    /// value under the field path and under `field.key.path`.
    pub fields: Vec<(String, IndexedValue)>,
    /// New mappings to merge ([`Mapping::merge`]) before the document is searchable as mapped.
    pub dynamic_update: Option<Mapping>,
    /// Sorted paths that hold a value in this document — leaves, multi-fields and their parent
    /// objects — for `exists` queries (`_field_names`).
    pub field_paths: Vec<String>,
    /// Fields whose value was dropped (`ignore_malformed`, `ignore_above`), for `_ignored`.
    pub ignored_fields: Vec<String>,
}

impl ParsedDocument {
    /// Whether the document has a value for a path (leaf, multi-field or object).
    pub fn has_field(&self, path: &str) -> bool {
        self.field_paths.binary_search_by(|p| p.as_str().cmp(path)).is_ok()
    }

    /// All values of one path.
    pub fn values<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a IndexedValue> + 'a {
        self.fields.iter().filter(move |(p, _)| p == path).map(|(_, v)| v)
    }
}

/// Knobs from index settings that affect document parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentParseOptions {
    pub limits: MappingLimits,
    /// Jackson's nesting limit (1000).
    pub max_nesting_depth: usize,
    /// `index.mapping.ignore_malformed` (default for fields that accept `ignore_malformed`).
    pub ignore_malformed: bool,
}

impl Default for DocumentParseOptions {
    fn default() -> Self {
        DocumentParseOptions {
            limits: MappingLimits::default(),
            max_nesting_depth: json::DEFAULT_MAX_NESTING_DEPTH,
            ignore_malformed: false,
        }
    }
}

/// Metadata fields that may not appear at the root of a document.
const METADATA_FIELDS: &[&str] = &[
    "_id",
    "_index",
    "_routing",
    "_source",
    "_seq_no",
    "_version",
    "_primary_term",
    "_ignored",
    "_ignored_source",
    "_field_names",
    "_nested_path",
    "_data_stream_timestamp",
    "_tier",
    "_tsid",
];

/// Lucene's maximum term length in bytes.
const MAX_TERM_BYTES: usize = 32766;

impl Mapping {
    /// Parses a document source with default options. See [`Mapping::parse_document_with`].
    pub fn parse_document(&self, source: &[u8], doc_id: &str) -> Result<ParsedDocument, MappingError> {
        self.parse_document_with(source, doc_id, &DocumentParseOptions::default())
    }

    /// Parses a document source into typed values and a dynamic mapping update.
    pub fn parse_document_with(
        &self,
        source: &[u8],
        doc_id: &str,
        opts: &DocumentParseOptions,
    ) -> Result<ParsedDocument, MappingError> {
        if source.is_empty() {
            return Err(MappingError::document_parsing(
                Some(Location { line: 0, column: 0 }),
                "failed to parse, document is empty",
                None,
            ));
        }
        let dom = match json::parse_document(source, opts.max_nesting_depth) {
            Ok(d) => d,
            Err(JsonFailure::NotAnObject) => {
                return Err(MappingError::document_parsing(None, "Malformed content, must start with an object", None));
            }
            Err(JsonFailure::ExtraData { token }) => {
                return Err(MappingError::illegal_argument(format!(
                    "Malformed content, found extra data after parsing: {token}"
                )));
            }
            Err(JsonFailure::Syntax { at, msg, .. }) => {
                return Err(MappingError::document_parsing(
                    Some(at),
                    format!("failed to parse: {msg}"),
                    Some(MappingError::XContentParse { location: Some(at), reason: msg }),
                ));
            }
        };
        let mut w = Walker::new(self, &dom, doc_id, opts)?;
        w.run()?;
        w.finish()
    }
}

/// What we know about an object while walking its members.
struct Ctx<'m> {
    path: String,
    dynamic: Dynamic,
    /// Properties of the object in the existing mapping (None for objects new in this document).
    existing: Option<&'m BTreeMap<String, FieldMapping>>,
    subobjects: bool,
    /// Object depth, root = 1.
    depth: usize,
}

enum Frame {
    Obj { next: usize, end: usize, ctx: usize },
    Arr { next: usize, end: usize, ctx: usize, key: String },
}

/// A mapping found for a name: borrowed from the index mapping, or created by this document.
enum Found<'m> {
    Existing(&'m FieldMapping),
    New(FieldMapping),
}

impl Found<'_> {
    fn get(&self) -> &FieldMapping {
        match self {
            Found::Existing(f) => f,
            Found::New(f) => f,
        }
    }
}

struct NewField {
    parent: String,
    name: String,
    fm: FieldMapping,
}

struct Walker<'m, 'd, 's> {
    mapping: &'m Mapping,
    dom: &'d Dom<'s>,
    id: &'d str,
    opts: &'d DocumentParseOptions,
    templates: &'m [DynamicTemplate],
    date_formats: Vec<(String, Arc<DateFormat>)>,
    ctxs: Vec<Ctx<'m>>,
    ctx_by_path: HashMap<String, usize>,
    /// Existing objects we walked into: path -> (parent path, name, type).
    existing_objects: HashMap<String, (String, String, FieldType)>,
    new_fields: BTreeMap<String, NewField>,
    new_field_count: usize,
    base_field_count: Option<usize>,
    frames: Vec<Frame>,
    fields: Vec<(String, IndexedValue)>,
    present: BTreeSet<String>,
    ignored: BTreeSet<String>,
}

fn wrap(loc: Location, e: MappingError) -> MappingError {
    match e {
        MappingError::DocumentParsing { .. } | MappingError::StrictDynamicMapping { .. } => e,
        other => MappingError::document_parsing(Some(loc), format!("failed to parse: {other}"), Some(other)),
    }
}

fn scalar_of<'a>(v: &'a NodeValue<'_>) -> Scalar<'a> {
    match v {
        NodeValue::Str(s) => Scalar::Str(Cow::Borrowed(s.as_ref())),
        NodeValue::Num { raw, integral } => Scalar::Num { raw: Cow::Borrowed(raw), integral: *integral },
        NodeValue::Bool(b) => Scalar::Bool(*b),
        _ => Scalar::Null,
    }
}

fn scalar_of_json(v: &serde_json::Value) -> Scalar<'_> {
    match v {
        serde_json::Value::String(s) => Scalar::Str(Cow::Borrowed(s)),
        serde_json::Value::Number(n) => {
            Scalar::Num { raw: Cow::Owned(n.to_string()), integral: n.is_i64() || n.is_u64() }
        }
        serde_json::Value::Bool(b) => Scalar::Bool(*b),
        _ => Scalar::Null,
    }
}

fn supports_ignore_malformed(t: FieldType) -> bool {
    t.is_numeric() || t.is_date() || matches!(t, FieldType::Ip | FieldType::Boolean | FieldType::GeoPoint)
}

/// Java `Long.parseLong`.
fn parseable_as_long(s: &str) -> bool {
    !s.is_empty() && s.parse::<i64>().is_ok()
}

/// Java `Double.parseDouble` (trimmed, `NaN`, `Infinity`, `d`/`f` suffixes).
fn parseable_as_double(s: &str) -> bool {
    let t = s.trim_matches(|c: char| c <= ' ');
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if body == "NaN" || body == "Infinity" {
        return true;
    }
    let body = body.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(body);
    !body.is_empty()
        && body.bytes().next().is_some_and(|c| c.is_ascii_digit() || c == b'.')
        && body.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body.parse::<f64>().is_ok()
}

impl<'m, 'd, 's> Walker<'m, 'd, 's> {
    fn new(
        mapping: &'m Mapping,
        dom: &'d Dom<'s>,
        id: &'d str,
        opts: &'d DocumentParseOptions,
    ) -> Result<Self, MappingError> {
        let mut date_formats = Vec::new();
        if mapping.date_detection_enabled() {
            for spec in mapping.effective_dynamic_date_formats() {
                let f = DateFormat::cached(&spec)?;
                date_formats.push((spec, f));
            }
        }
        let root = Ctx {
            path: String::new(),
            dynamic: mapping.root_dynamic(),
            existing: Some(&mapping.properties),
            subobjects: mapping.subobjects.unwrap_or(true),
            depth: 1,
        };
        let mut ctx_by_path = HashMap::new();
        ctx_by_path.insert(String::new(), 0);
        Ok(Walker {
            mapping,
            dom,
            id,
            opts,
            templates: mapping.dynamic_templates.as_deref().unwrap_or(&[]),
            date_formats,
            ctxs: vec![root],
            ctx_by_path,
            existing_objects: HashMap::new(),
            new_fields: BTreeMap::new(),
            new_field_count: 0,
            base_field_count: None,
            frames: Vec::new(),
            fields: Vec::new(),
            present: BTreeSet::new(),
            ignored: BTreeSet::new(),
        })
    }

    fn run(&mut self) -> Result<(), MappingError> {
        let root_end = self.dom.node(0).end;
        self.frames.push(Frame::Obj { next: 1, end: root_end, ctx: 0 });
        while let Some(frame) = self.frames.last_mut() {
            let (child, ctx, key) = match frame {
                Frame::Obj { next, end, ctx } => {
                    if *next >= *end {
                        self.frames.pop();
                        continue;
                    }
                    let child = *next;
                    *next = self.dom.node(child).end.max(child + 1);
                    (child, *ctx, None)
                }
                Frame::Arr { next, end, ctx, key } => {
                    if *next >= *end {
                        self.frames.pop();
                        continue;
                    }
                    let child = *next;
                    *next = self.dom.node(child).end.max(child + 1);
                    (child, *ctx, Some(key.clone()))
                }
            };
            let loc = self.dom.node(child).loc;
            let r = match key {
                Some(k) => self.handle_value(ctx, &k, child, false),
                None => {
                    let name = self.dom.node(child).key.clone().unwrap_or_default();
                    self.handle_entry(ctx, &name, child, false)
                }
            };
            r.map_err(|e| wrap(loc, e))?;
        }
        Ok(())
    }

    /// An object member `key: value` (dot expansion, name validation).
    fn handle_entry(&mut self, ctx: usize, key: &str, node: usize, copy: bool) -> Result<(), MappingError> {
        let loc = self.dom.node(node).loc;
        if key.is_empty() {
            return Err(MappingError::illegal_argument("Field name cannot be an empty string"));
        }
        if key.trim().is_empty() {
            return Err(MappingError::document_parsing(
                Some(loc),
                format!("Field name cannot contain only whitespace: [{}]", join_path(&self.ctxs[ctx].path, key)),
                None,
            ));
        }
        if ctx == 0 && !copy && METADATA_FIELDS.contains(&key) {
            return Err(MappingError::document_parsing(
                Some(loc),
                format!(
                    "Field [{key}] is a metadata field and cannot be added inside a document. Use the index API request parameters."
                ),
                None,
            ));
        }
        if ctx == 0 && key == "_doc_count" {
            return Ok(());
        }
        if self.ctxs[ctx].subobjects && key.contains('.') {
            let parts = split_dotted(key).map_err(MappingError::IllegalArgument)?;
            let Some((last, init)) = parts.split_last() else {
                return Ok(());
            };
            let full_key = join_path(&self.ctxs[ctx].path, key);
            let mut c = ctx;
            for seg in init {
                match self.descend(c, seg, &full_key, loc)? {
                    Some(nc) => c = nc,
                    None => return Ok(()),
                }
            }
            return self.handle_value(c, last, node, copy);
        }
        self.handle_value(ctx, key, node, copy)
    }

    /// Walks into the object `seg` of a dotted name (`full_key` = its full path), creating it
    /// dynamically if needed.
    fn descend(&mut self, ctx: usize, seg: &str, full_key: &str, loc: Location) -> Result<Option<usize>, MappingError> {
        let found = match self.lookup(ctx, seg) {
            Some(f) => f,
            None => match self.ctxs[ctx].dynamic {
                Dynamic::Strict => return Err(self.strict(ctx, seg, loc)),
                Dynamic::False => return Ok(None),
                Dynamic::True | Dynamic::Runtime => {
                    match self.create_dynamic(ctx, seg, XContentFieldType::Object, None)? {
                        Some(fm) => Found::New(fm),
                        None => return Ok(None),
                    }
                }
            },
        };
        let f = found.get();
        if !f.field_type.is_object() {
            let parent = &self.ctxs[ctx].path;
            return Err(MappingError::illegal_argument(format!(
                "Could not dynamically add mapping for field [{}]. Existing mapping for [{}] must be of type object but found [{}].",
                full_key,
                join_path(parent, seg),
                f.field_type.name()
            )));
        }
        if !f.enabled() {
            return Ok(None);
        }
        Ok(Some(self.push_ctx(ctx, seg, &found)))
    }

    fn strict(&self, ctx: usize, field: &str, loc: Location) -> MappingError {
        let p = &self.ctxs[ctx].path;
        MappingError::StrictDynamicMapping {
            location: Some(loc),
            field: field.to_string(),
            parent: if p.is_empty() { "_doc".to_string() } else { p.clone() },
        }
    }

    fn lookup(&self, ctx: usize, name: &str) -> Option<Found<'m>> {
        let c = &self.ctxs[ctx];
        if let Some(props) = c.existing
            && let Some(f) = props.get(name)
        {
            return Some(Found::Existing(f));
        }
        let full = join_path(&c.path, name);
        self.new_fields.get(&full).map(|nf| Found::New(nf.fm.clone()))
    }

    fn push_ctx(&mut self, parent: usize, name: &str, found: &Found<'m>) -> usize {
        let path = join_path(&self.ctxs[parent].path, name);
        if let Some(&i) = self.ctx_by_path.get(&path) {
            return i;
        }
        let (existing, f): (Option<&'m BTreeMap<String, FieldMapping>>, &FieldMapping) = match found {
            Found::Existing(f) => (Some(&f.properties), f),
            Found::New(f) => (None, f),
        };
        if let Found::Existing(f) = found {
            self.existing_objects
                .insert(path.clone(), (self.ctxs[parent].path.clone(), name.to_string(), f.field_type));
        }
        let ctx = Ctx {
            path: path.clone(),
            dynamic: f.dynamic().unwrap_or(self.ctxs[parent].dynamic),
            existing,
            subobjects: f.subobjects(),
            depth: self.ctxs[parent].depth + 1,
        };
        self.ctxs.push(ctx);
        let i = self.ctxs.len() - 1;
        self.ctx_by_path.insert(path, i);
        i
    }

    fn push_array(&mut self, ctx: usize, key: &str, node: usize) {
        let end = self.dom.node(node).end;
        self.frames.push(Frame::Arr { next: node + 1, end, ctx, key: key.to_string() });
    }

    /// A value for `key` in object `ctx`.
    fn handle_value(&mut self, ctx: usize, key: &str, node: usize, copy: bool) -> Result<(), MappingError> {
        if let Some(found) = self.lookup(ctx, key) {
            return self.handle_mapped(ctx, key, found, node, copy);
        }
        let loc = self.dom.node(node).loc;
        match self.ctxs[ctx].dynamic {
            Dynamic::Strict => Err(self.strict(ctx, key, loc)),
            Dynamic::False => Ok(()),
            Dynamic::True | Dynamic::Runtime => {
                let (xtype, date_format) = match &self.dom.node(node).value {
                    NodeValue::Null => return Ok(()),
                    NodeValue::Array => {
                        self.push_array(ctx, key, node);
                        return Ok(());
                    }
                    NodeValue::Object => (XContentFieldType::Object, None),
                    NodeValue::Bool(_) => (XContentFieldType::Boolean, None),
                    NodeValue::Num { integral: true, .. } => (XContentFieldType::Long, None),
                    NodeValue::Num { .. } => (XContentFieldType::Double, None),
                    NodeValue::Str(s) => self.classify_string(s),
                };
                match self.create_dynamic(ctx, key, xtype, date_format)? {
                    Some(fm) => self.handle_mapped(ctx, key, Found::New(fm), node, copy),
                    None => Ok(()),
                }
            }
        }
    }

    fn classify_string(&self, s: &str) -> (XContentFieldType, Option<String>) {
        let as_long = parseable_as_long(s);
        let as_double = parseable_as_double(s);
        let numeric = self.mapping.numeric_detection_enabled();
        if as_long && numeric {
            return (XContentFieldType::Long, None);
        }
        if as_double && numeric {
            return (XContentFieldType::Double, None);
        }
        if !as_long && !as_double {
            for (spec, f) in &self.date_formats {
                if f.parse_millis(s, None).is_ok() {
                    return (XContentFieldType::Date, Some(spec.clone()));
                }
            }
        }
        (XContentFieldType::String, None)
    }

    /// Creates the mapping of a new field (template or default). `Ok(None)` when a runtime
    /// template claims it (not indexed).
    fn create_dynamic(
        &mut self,
        ctx: usize,
        key: &str,
        xtype: XContentFieldType,
        date_format: Option<String>,
    ) -> Result<Option<FieldMapping>, MappingError> {
        let (parent_path, depth) = (self.ctxs[ctx].path.clone(), self.ctxs[ctx].depth);
        let full = join_path(&parent_path, key);
        let custom_format = date_format.filter(|f| f != DEFAULT_DATE_FORMAT);
        let mut created: Option<FieldMapping> = None;
        for t in self.templates {
            if !t.matches(key, &full, xtype) {
                continue;
            }
            if t.is_runtime() {
                return Ok(None);
            }
            let mut def = t.mapping_for(key, xtype.default_mapping_type());
            if let (Some(fmt), Some(obj)) = (&custom_format, def.as_object_mut())
                && matches!(obj.get("type").and_then(|v| v.as_str()), Some("date" | "date_nanos"))
                && !obj.contains_key("format")
            {
                obj.insert("format".into(), serde_json::Value::from(fmt.clone()));
            }
            created = Some(parse_field(key, &parent_path, &def, depth, false)?);
            break;
        }
        let fm = match created {
            Some(f) => f,
            None => match xtype {
                XContentFieldType::Object => FieldMapping::object(),
                XContentFieldType::String => FieldMapping::dynamic_text(),
                XContentFieldType::Long => FieldMapping::new(FieldType::Long),
                XContentFieldType::Double => FieldMapping::new(FieldType::Float),
                XContentFieldType::Boolean => FieldMapping::new(FieldType::Boolean),
                XContentFieldType::Binary => FieldMapping::new(FieldType::Binary),
                XContentFieldType::Date => match custom_format {
                    Some(f) => FieldMapping::new(FieldType::Date).with_param("format", serde_json::Value::from(f))?,
                    None => FieldMapping::new(FieldType::Date),
                },
            },
        };
        self.add_new(&parent_path, key, fm.clone())?;
        Ok(Some(fm))
    }

    /// Records a new mapping (and, for template objects with properties, its descendants) and
    /// enforces the total fields limit.
    fn add_new(&mut self, parent: &str, name: &str, fm: FieldMapping) -> Result<(), MappingError> {
        let mut pending = vec![(parent.to_string(), name.to_string(), fm)];
        let mut added = 0usize;
        while let Some((parent, name, mut fm)) = pending.pop() {
            let path = join_path(&parent, &name);
            added += 1 + fm.fields.len();
            for (child, cf) in std::mem::take(&mut fm.properties) {
                pending.push((path.clone(), child, cf));
            }
            self.new_fields.insert(path, NewField { parent, name, fm });
        }
        self.new_field_count += added;
        let base = match self.base_field_count {
            Some(b) => b,
            None => {
                let b = self.mapping.total_field_count();
                self.base_field_count = Some(b);
                b
            }
        };
        if base + self.new_field_count > self.opts.limits.total_fields {
            return Err(MappingError::illegal_argument(format!(
                "Limit of total fields [{}] has been exceeded while adding new fields [{}]",
                self.opts.limits.total_fields, self.new_field_count
            )));
        }
        Ok(())
    }

    fn handle_mapped(
        &mut self,
        ctx: usize,
        key: &str,
        found: Found<'m>,
        node: usize,
        copy: bool,
    ) -> Result<(), MappingError> {
        let full = join_path(&self.ctxs[ctx].path, key);
        let loc = self.dom.node(node).loc;
        let fm = found.get();
        let t = fm.field_type;
        if t == FieldType::Alias {
            return Err(MappingError::document_parsing(
                Some(loc),
                format!("Cannot {} to a field alias [{full}].", if copy { "copy" } else { "write" }),
                None,
            ));
        }
        let value_kind = match &self.dom.node(node).value {
            NodeValue::Object => 0,
            NodeValue::Array => 1,
            _ => 2,
        };
        if t.is_object() {
            match value_kind {
                0 => {
                    if !fm.enabled() {
                        return Ok(());
                    }
                    let c = self.push_ctx(ctx, key, &found);
                    let end = self.dom.node(node).end;
                    self.frames.push(Frame::Obj { next: node + 1, end, ctx: c });
                    Ok(())
                }
                1 => {
                    self.push_array(ctx, key, node);
                    Ok(())
                }
                _ => {
                    if self.dom.node(node).value == NodeValue::Null {
                        return Ok(());
                    }
                    Err(MappingError::document_parsing(
                        Some(loc),
                        format!(
                            "object mapping for [{full}] tried to parse field [{key}] as object, but found a concrete value"
                        ),
                        None,
                    ))
                }
            }
        } else {
            match value_kind {
                1 => {
                    self.push_array(ctx, key, node);
                    Ok(())
                }
                0 => match t {
                    FieldType::Flattened => self.index_flattened(&full, fm, node),
                    FieldType::GeoPoint => {
                        self.mark_present(&full);
                        Ok(())
                    }
                    _ => {
                        let end_loc = self.dom.node(node).end_loc;
                        let cause = if t.is_numeric() {
                            "Current token (START_OBJECT) not numeric, can not use numeric value accessors".to_string()
                        } else if t == FieldType::Boolean {
                            "Current token (START_OBJECT) not of boolean type".to_string()
                        } else {
                            format!("Expected text at {loc} but found START_OBJECT")
                        };
                        Err(MappingError::document_parsing(
                            Some(end_loc),
                            self.field_error_reason(&full, fm, &self.dom.preview(node)),
                            Some(MappingError::IllegalArgument(cause)),
                        ))
                    }
                },
                _ => self.index_scalar(&full, fm, node, copy),
            }
        }
    }

    fn field_error_reason(&self, path: &str, fm: &FieldMapping, preview: &str) -> String {
        format!(
            "failed to parse field [{path}] of type [{}] in document with id '{}'. Preview of field's value: '{preview}'",
            fm.field_type.name(),
            self.id
        )
    }

    fn index_scalar(&mut self, full: &str, fm: &FieldMapping, node: usize, copy: bool) -> Result<(), MappingError> {
        let n = self.dom.node(node);
        let (loc, scalar) = (n.loc, scalar_of(&n.value));
        self.index_one(full, fm, &scalar, loc)?;
        for (sub, sf) in &fm.fields {
            self.index_one(&join_path(full, sub), sf, &scalar, loc)?;
        }
        if !copy {
            for target in fm.copy_to() {
                self.handle_entry(0, target, node, true)?;
            }
        }
        Ok(())
    }

    fn index_one(
        &mut self,
        path: &str,
        fm: &FieldMapping,
        scalar: &Scalar<'_>,
        loc: Location,
    ) -> Result<(), MappingError> {
        let null_sub;
        let s = if *scalar == Scalar::Null {
            match fm.null_value() {
                Some(v) => {
                    null_sub = scalar_of_json(v);
                    &null_sub
                }
                None => return Ok(()),
            }
        } else {
            scalar
        };
        match convert_scalar(fm, path, s) {
            Ok(Converted::Value(v)) => {
                if let IndexedValue::Keyword(text) = &v {
                    if let Some(limit) = fm.ignore_above()
                        && java_len(text) > limit as usize
                    {
                        self.ignored.insert(path.to_string());
                        return Ok(());
                    }
                    if text.len() > MAX_TERM_BYTES && fm.index() {
                        let prefix: Vec<String> = text.bytes().take(30).map(|b| (b as i8).to_string()).collect();
                        return Err(MappingError::illegal_argument(format!(
                            "Document contains at least one immense term in field=\"{path}\" (whose UTF8 encoding is longer than the max length {MAX_TERM_BYTES}), all of which were skipped. Please correct the analyzer to not produce such terms. The prefix of the first immense term is: '[{}]...', original message: bytes can be at most {MAX_TERM_BYTES} in length; got {}",
                            prefix.join(", "),
                            text.len()
                        )));
                    }
                }
                self.fields.push((path.to_string(), v));
                self.mark_present(path);
                Ok(())
            }
            Ok(Converted::Null) => Ok(()),
            Ok(Converted::NotIndexed) => {
                self.mark_present(path);
                Ok(())
            }
            Err(e) => {
                let ignore = supports_ignore_malformed(fm.field_type)
                    && fm.ignore_malformed().unwrap_or(self.opts.ignore_malformed);
                if ignore {
                    self.ignored.insert(path.to_string());
                    return Ok(());
                }
                Err(MappingError::document_parsing(
                    Some(loc),
                    self.field_error_reason(path, fm, &scalar.text()),
                    Some(e),
                ))
            }
        }
    }

    /// A `flattened` field's object: every leaf is a keyword under the field and under its key path.
    fn index_flattened(&mut self, full: &str, fm: &FieldMapping, node: usize) -> Result<(), MappingError> {
        let limit = fm.depth_limit();
        // (node, key path, depth)
        let mut stack: Vec<(usize, String, usize)> = Vec::new();
        for c in self.dom.children(node).collect::<Vec<_>>().into_iter().rev() {
            let k = self.dom.node(c).key.as_deref().unwrap_or_default().to_string();
            stack.push((c, k, 1));
        }
        while let Some((idx, keypath, depth)) = stack.pop() {
            let n = self.dom.node(idx);
            match &n.value {
                NodeValue::Object => {
                    if depth + 1 > limit {
                        return Err(MappingError::illegal_argument(format!(
                            "The provided [flattened] field [{full}] exceeds the maximum depth limit of [{limit}]."
                        )));
                    }
                    for c in self.dom.children(idx).collect::<Vec<_>>().into_iter().rev() {
                        let k = self.dom.node(c).key.as_deref().unwrap_or_default();
                        stack.push((c, format!("{keypath}.{k}"), depth + 1));
                    }
                }
                NodeValue::Array => {
                    for c in self.dom.children(idx).collect::<Vec<_>>().into_iter().rev() {
                        stack.push((c, keypath.clone(), depth));
                    }
                }
                v => {
                    let scalar = scalar_of(v);
                    if scalar == Scalar::Null {
                        continue;
                    }
                    let text = scalar.text().into_owned();
                    if let Some(l) = fm.ignore_above()
                        && java_len(&text) > l as usize
                    {
                        self.ignored.insert(full.to_string());
                        continue;
                    }
                    let keyed = format!("{full}.{keypath}");
                    self.fields.push((full.to_string(), IndexedValue::Keyword(text.clone())));
                    self.fields.push((keyed.clone(), IndexedValue::Keyword(text)));
                    self.mark_present(&keyed);
                }
            }
        }
        Ok(())
    }

    fn mark_present(&mut self, path: &str) {
        if self.present.contains(path) {
            return;
        }
        self.present.insert(path.to_string());
        for (i, _) in path.match_indices('.') {
            self.present.insert(path[..i].to_string());
        }
    }

    fn finish(self) -> Result<ParsedDocument, MappingError> {
        let depth_limit = self.opts.limits.depth.min(MAX_MAPPING_DEPTH);
        let mut too_deep: Option<&String> = None;
        for (path, nf) in &self.new_fields {
            if nf.fm.field_type.is_object() && path.matches('.').count() + 2 > depth_limit {
                match too_deep {
                    Some(p) if p.len() <= path.len() => {}
                    _ => too_deep = Some(path),
                }
            }
        }
        if let Some(p) = too_deep {
            return Err(MappingError::illegal_argument(format!(
                "Limit of mapping depth [{}] has been exceeded due to object field [{p}]",
                self.opts.limits.depth
            )));
        }
        let dynamic_update = if self.new_fields.is_empty() { None } else { Some(self.build_update()?) };
        Ok(ParsedDocument {
            fields: self.fields,
            dynamic_update,
            field_paths: self.present.into_iter().collect(),
            ignored_fields: self.ignored.into_iter().collect(),
        })
    }

    /// Assembles the new fields into a mapping update, with shells for existing parents.
    fn build_update(&self) -> Result<Mapping, MappingError> {
        let mut update = Mapping::default();
        for nf in self.new_fields.values() {
            // The chain of parents from the root down.
            let mut chain: Vec<(String, FieldType)> = Vec::new();
            let mut p = nf.parent.clone();
            while !p.is_empty() {
                let (pp, name, ty) = if let Some(n) = self.new_fields.get(&p) {
                    (n.parent.clone(), n.name.clone(), n.fm.field_type)
                } else if let Some((pp, name, ty)) = self.existing_objects.get(&p) {
                    (pp.clone(), name.clone(), *ty)
                } else {
                    return Err(MappingError::IllegalState(format!(
                        "missing parent [{p}] while building a dynamic mapping update"
                    )));
                };
                chain.push((name, ty));
                if chain.len() > MAX_MAPPING_DEPTH * 4 {
                    return Err(MappingError::IllegalState("dynamic update nests too deeply".into()));
                }
                p = pp;
            }
            let mut props = &mut update.properties;
            for (name, ty) in chain.iter().rev() {
                let entry = props.entry(name.clone()).or_insert_with(|| FieldMapping::new(*ty));
                props = &mut entry.properties;
            }
            match props.get_mut(&nf.name) {
                Some(existing) => {
                    // A shell created for a parent earlier; keep its children, take the params.
                    let children = std::mem::take(&mut existing.properties);
                    *existing = nf.fm.clone();
                    existing.properties.extend(children);
                }
                None => {
                    props.insert(nf.name.clone(), nf.fm.clone());
                }
            }
        }
        Ok(update)
    }
}
