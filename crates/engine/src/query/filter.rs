//! Query filters (`{qty: {$gte: 100}, sku: "abc123"}`): parsing and matching.
//!
//! A filter is parsed once into a tree and then matched against many documents. The semantics
//! are `mongod`'s (8.0):
//!
//! - A predicate on a path holds when it holds for *any* value the path reaches (see
//!   [`any_value`]): `{a: 5}` matches `a: 5` and `a: [4, 5]`, and `{a: [4, 5]}` matches both
//!   `a: [4, 5]` and `a: [[4, 5], 6]`.
//! - Comparisons are type-bracketed: `{$gt: 5}` only matches numbers, except that `MinKey` and
//!   `MaxKey` bound every type. A missing value compares like `null` (`{a: null}`, `$gte: null`,
//!   `$lte: null` and `$in: [null]` match it); `undefined` is not `null`.
//! - `$ne`, `$nin`, `$not` and `$nor` are exact complements of what they negate.
//! - Regular expressions are compiled with the `regex` crate after rewriting what PCRE means
//!   differently (ASCII-only `\d`/`\w`/`\s`/`\b`, `$` before a final newline, literal `[`
//!   in classes); PCRE features the crate lacks (look-around, back-references) are refused
//!   as invalid regular expressions rather than matched differently.
//! - Errors carry `mongod`'s codes and messages; operators this engine does not implement
//!   (`$where`, `$expr`, `$text`, geospatial, `$jsonSchema`) are refused when parsing.

use std::cmp::Ordering;

use bson::{Bson, Document};
use regex::{Regex, RegexBuilder};

use super::path::{Container, FieldPath, LeafArrays, any_value};
use crate::compare::{Number, canonical_type, compare_values, decimal_to_f64};
use crate::error::{CommandError, CommandResult};

/// How deeply `$and`/`$or`/`$nor`/`$elemMatch`/`$not` may nest.
const MAX_DEPTH: usize = 100;

/// A parsed query filter.
#[derive(Debug, Clone)]
pub struct Filter {
    root: Node,
}

impl Filter {
    /// Parses a filter document; unknown operators and malformed arguments are errors.
    pub fn parse(spec: &Document) -> CommandResult<Filter> {
        let root = parse_filter(spec, Ctx::default())?;
        Ok(Filter { root })
    }

    /// Whether `doc` matches.
    pub fn matches(&self, doc: &Document) -> bool {
        self.root.matches(Container::Document(doc), &mut None)
    }

    /// Where in an array `doc` matched, when it does: the position the update operator `$`
    /// stands for. As in `mongod`, it is the index of the matching element in the first array
    /// a predicate searched, the last predicate that found one deciding; `None` when `doc`
    /// does not match or no predicate matched inside an array.
    pub fn matched_position(&self, doc: &Document) -> Option<usize> {
        let mut found = None;
        self.root
            .matches(Container::Document(doc), &mut found)
            .then_some(found)
            .flatten()
    }

    /// The paths the filter pins to one value by equality at its top level (implicit equality,
    /// `$eq`, and those inside a top-level `$and`), in filter order. Upserts seed the new
    /// document from them; the planner looks them up in indexes.
    ///
    /// A one-element `$in` and a one-branch `$or` count too, as `mongod` rewrites them to an
    /// equality and to their branch. The value has the filter's equality semantics: `null`
    /// also matches a missing field, and an array value also matches an array containing it.
    pub fn equalities(&self) -> Vec<(&str, &Bson)> {
        let mut out = Vec::new();
        self.root.collect_equalities(&mut out);
        out
    }

    /// Whether the filter matches every document (`{}`).
    pub fn is_match_all(&self) -> bool {
        self.root.is_trivially_true()
    }
}

/// A condition on one array element, in the forms `$elemMatch` takes: operators on the element
/// itself (`{$gte: 6}`), or a query on the element's fields (`{score: {$gt: 5}}`). The
/// projection `$elemMatch` and the update `$pull` use it.
#[derive(Debug, Clone)]
pub struct ElementFilter {
    test: Test,
    /// The query form accepts document elements only (`$pull`), rather than documents and
    /// arrays (whose fields are their indexes, as in `$elemMatch`).
    documents_only: bool,
}

impl ElementFilter {
    /// Parses the argument of an `$elemMatch`.
    pub fn for_elem_match(spec: &Document) -> CommandResult<ElementFilter> {
        Ok(ElementFilter {
            test: elem_match_test(spec, Ctx::default())?,
            documents_only: false,
        })
    }

    /// Parses a `$pull` condition that is a document: operators on the element, or a query on
    /// document elements.
    pub fn for_pull(spec: &Document) -> CommandResult<ElementFilter> {
        Ok(ElementFilter {
            test: elem_match_test(spec, Ctx::default())?,
            documents_only: true,
        })
    }

    /// Whether the element meets the condition.
    pub fn matches(&self, element: &Bson) -> bool {
        match &self.test {
            Test::ElemMatchObject(node) => {
                let container = match element {
                    Bson::Array(_) if self.documents_only => None,
                    _ => Container::of(element),
                };
                container.is_some_and(|c| node.matches(c, &mut None))
            }
            Test::ElemMatchValue(exprs) => exprs.iter().all(|e| e.matches_value(element)),
            other => other.matches(Some(element)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tree

/// A predicate on a whole document (or on an array element, inside `$elemMatch`).
#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Nor(Vec<Node>),
    /// What the values at a path must satisfy.
    Path(FieldPath, Expr),
    /// `$alwaysTrue` / `$alwaysFalse`.
    Const(bool),
}

/// A predicate on the values at one path: the right-hand side of `{path: ...}`.
#[derive(Debug, Clone)]
enum Expr {
    /// One test, satisfied when any value the path reaches passes it.
    Test(Test),
    /// `$not`, `$ne`, `$nin`, `$exists: false`.
    Not(Box<Expr>),
    /// Several operators on the same path (`{$gt: 1, $lt: 5}`), each checked on its own.
    And(Vec<Expr>),
    /// `$all`: like `And`, but not an equality for [`Filter::equalities`].
    All(Vec<Expr>),
}

/// A test of one value, `None` standing for a missing one (`mongod`'s `matchesSingleElement`).
#[derive(Debug, Clone)]
enum Test {
    Compare(CmpOp, Bson),
    In(InList),
    Regex(Box<RegexTest>),
    Exists,
    Type(TypeSet),
    Mod {
        divisor: i64,
        remainder: i64,
    },
    Bits(BitTest),
    Size(usize),
    ElemMatchObject(Box<Node>),
    ElemMatchValue(Vec<Expr>),
    /// `$all: []`.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CmpOp {
    fn accepts(self, ord: Ordering) -> bool {
        match self {
            CmpOp::Eq => ord == Ordering::Equal,
            CmpOp::Lt => ord == Ordering::Less,
            CmpOp::Lte => ord != Ordering::Greater,
            CmpOp::Gt => ord == Ordering::Greater,
            CmpOp::Gte => ord != Ordering::Less,
        }
    }

    fn includes_equal(self) -> bool {
        matches!(self, CmpOp::Eq | CmpOp::Lte | CmpOp::Gte)
    }
}

// ---------------------------------------------------------------------------------------------
// Matching

impl Node {
    /// Whether the node matches; a match inside an array records the element's position in
    /// `found` (left as it was when the node does not match).
    fn matches(&self, root: Container<'_>, found: &mut Option<usize>) -> bool {
        let before = *found;
        let matched = match self {
            Node::And(children) => children.iter().all(|c| c.matches(root, found)),
            Node::Or(children) => children.iter().any(|c| c.matches(root, found)),
            Node::Nor(children) => !children.iter().any(|c| c.matches(root, &mut None)),
            Node::Path(path, expr) => expr.matches_path(root, path, found),
            Node::Const(value) => *value,
        };
        if !matched {
            *found = before;
        }
        matched
    }

    fn is_trivially_true(&self) -> bool {
        match self {
            Node::And(children) => children.iter().all(Node::is_trivially_true),
            Node::Or(children) => children.iter().any(Node::is_trivially_true),
            Node::Const(value) => *value,
            Node::Nor(_) | Node::Path(..) => false,
        }
    }

    fn collect_equalities<'a>(&'a self, out: &mut Vec<(&'a str, &'a Bson)>) {
        match self {
            Node::And(children) => children.iter().for_each(|c| c.collect_equalities(out)),
            Node::Or(children) if children.len() == 1 => children[0].collect_equalities(out),
            Node::Path(path, expr) => expr.collect_equalities(path.as_str(), out),
            _ => {}
        }
    }
}

impl Expr {
    /// Whether the values at `path` satisfy the expression; see [`Node::matches`] for
    /// `found`.
    fn matches_path(
        &self,
        root: Container<'_>,
        path: &FieldPath,
        found: &mut Option<usize>,
    ) -> bool {
        match self {
            Expr::Test(test) => {
                any_value(root, path.parts(), test.leaf_arrays(), &mut |value, at| {
                    if !test.matches(value) {
                        return false;
                    }
                    if let Some(position) = at.or_else(|| test.element_position(value)) {
                        *found = Some(position);
                    }
                    true
                })
            }
            Expr::Not(inner) => !inner.matches_path(root, path, &mut None),
            Expr::And(exprs) | Expr::All(exprs) => {
                exprs.iter().all(|e| e.matches_path(root, path, found))
            }
        }
    }

    /// Matches one value without walking into it (inside `$elemMatch: {$gt: ...}`).
    fn matches_value(&self, value: &Bson) -> bool {
        match self {
            Expr::Test(test) => test.matches(Some(value)),
            Expr::Not(inner) => !inner.matches_value(value),
            Expr::And(exprs) | Expr::All(exprs) => exprs.iter().all(|e| e.matches_value(value)),
        }
    }

    fn collect_equalities<'a>(&'a self, path: &'a str, out: &mut Vec<(&'a str, &'a Bson)>) {
        match self {
            Expr::Test(Test::Compare(CmpOp::Eq, value)) => out.push((path, value)),
            Expr::Test(Test::In(list)) => {
                if let Some(value) = list.single_value() {
                    out.push((path, value));
                }
            }
            Expr::And(exprs) => exprs.iter().for_each(|e| e.collect_equalities(path, out)),
            _ => {}
        }
    }
}

impl Test {
    fn leaf_arrays(&self) -> LeafArrays {
        match self {
            Test::Size(_) | Test::ElemMatchObject(_) | Test::ElemMatchValue(_) => LeafArrays::Whole,
            _ => LeafArrays::Expand,
        }
    }

    fn matches(&self, value: Option<&Bson>) -> bool {
        match self {
            Test::Compare(op, rhs) => compare_matches(*op, rhs, value),
            Test::In(list) => list.matches(value),
            Test::Regex(regex) => value.is_some_and(|v| regex.matches(v)),
            Test::Exists => value.is_some(),
            Test::Type(types) => types.matches(value),
            Test::Mod { divisor, remainder } => value
                .and_then(mod_dividend)
                .is_some_and(|d| d.wrapping_rem(*divisor) == *remainder),
            Test::Bits(bits) => value.is_some_and(|v| bits.matches(v)),
            Test::Size(size) => matches!(value, Some(Bson::Array(items)) if items.len() == *size),
            Test::ElemMatchObject(_) | Test::ElemMatchValue(_) => {
                self.element_position(value).is_some()
            }
            Test::Never => false,
        }
    }
}

impl Test {
    /// The index of the first element an `$elemMatch` accepts (`None` for other tests).
    fn element_position(&self, value: Option<&Bson>) -> Option<usize> {
        let Some(Bson::Array(items)) = value else {
            return None;
        };
        match self {
            Test::ElemMatchObject(node) => items.iter().position(|item| {
                Container::of(item).is_some_and(|element| node.matches(element, &mut None))
            }),
            Test::ElemMatchValue(exprs) => items
                .iter()
                .position(|item| exprs.iter().all(|e| e.matches_value(item))),
            _ => None,
        }
    }
}

/// `mongod`'s comparison of one value with an operand.
fn compare_matches(op: CmpOp, rhs: &Bson, value: Option<&Bson>) -> bool {
    let Some(value) = value else {
        // A missing value compares like null, and MinKey/MaxKey bound it like any other type.
        return match rhs {
            Bson::Null => op.includes_equal(),
            _ => cross_type_matches(op, rhs),
        };
    };
    if canonical_type(value) != canonical_type(rhs) {
        return cross_type_matches(op, rhs);
    }
    if op != CmpOp::Eq {
        let (lhs_nan, rhs_nan) = (is_nan(value), is_nan(rhs));
        if lhs_nan || rhs_nan {
            // NaN only equals NaN; it is neither above nor below anything.
            return lhs_nan && rhs_nan && op.includes_equal();
        }
    }
    op.accepts(compare_values(value, rhs))
}

/// Values of different types compare only against MinKey (everything is above it) and MaxKey.
fn cross_type_matches(op: CmpOp, rhs: &Bson) -> bool {
    match rhs {
        Bson::MaxKey => matches!(op, CmpOp::Lt | CmpOp::Lte),
        Bson::MinKey => matches!(op, CmpOp::Gt | CmpOp::Gte),
        _ => false,
    }
}

fn is_nan(value: &Bson) -> bool {
    match value {
        Bson::Double(f) => f.is_nan(),
        Bson::Decimal128(d) => decimal_to_f64(d).is_nan(),
        _ => false,
    }
}

/// The integer `$mod` divides: numbers truncated toward zero; NaN, infinities and values out of
/// the 64-bit range match nothing.
fn mod_dividend(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(f) => f64_to_i64(f.trunc()),
        Bson::Decimal128(d) => f64_to_i64(decimal_to_f64(d).trunc()),
        _ => None,
    }
}

/// A whole double as an `i64`, if it is one.
fn f64_to_i64(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; every i64 is below it and at or above -2^63.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    // The range check makes the cast exact.
    (f.is_finite() && f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f)).then_some(f as i64)
}

/// The list of `$in` / `$nin`: values sorted in BSON order, plus regexes.
#[derive(Debug, Clone)]
struct InList {
    values: Vec<Bson>,
    has_null: bool,
    regexes: Vec<RegexTest>,
}

impl InList {
    fn matches(&self, value: Option<&Bson>) -> bool {
        match value {
            None => self.has_null,
            Some(value) => {
                self.values
                    .binary_search_by(|probe| compare_values(probe, value))
                    .is_ok()
                    || self.regexes.iter().any(|r| r.matches(value))
            }
        }
    }

    fn single_value(&self) -> Option<&Bson> {
        match (self.values.as_slice(), self.regexes.is_empty()) {
            ([value], true) => Some(value),
            _ => None,
        }
    }
}

/// A compiled `$regex`; it also equals a stored regex with the same pattern and options.
#[derive(Debug, Clone)]
struct RegexTest {
    pattern: String,
    options: String,
    regex: Regex,
}

impl RegexTest {
    fn matches(&self, value: &Bson) -> bool {
        match value {
            Bson::String(s) | Bson::Symbol(s) => self.regex.is_match(s),
            Bson::RegularExpression(r) => {
                r.pattern.as_str() == self.pattern && r.options.as_str() == self.options
            }
            _ => false,
        }
    }
}

/// The types a `$type` accepts, as a bit set over `mongod`'s type codes.
#[derive(Debug, Clone, Copy, Default)]
struct TypeSet {
    bits: u32,
}

impl TypeSet {
    /// Bit positions: codes 0 (missing) to 19, then MinKey and MaxKey.
    const MIN_KEY_BIT: u32 = 20;
    const MAX_KEY_BIT: u32 = 21;

    fn bit(code: i32) -> Option<u32> {
        match code {
            -1 => Some(Self::MIN_KEY_BIT),
            127 => Some(Self::MAX_KEY_BIT),
            0..=19 => u32::try_from(code).ok(),
            _ => None,
        }
    }

    fn insert(&mut self, code: i32) -> bool {
        match Self::bit(code) {
            Some(bit) => {
                self.bits |= 1 << bit;
                true
            }
            None => false,
        }
    }

    fn insert_numbers(&mut self) {
        for code in [1, 16, 18, 19] {
            self.insert(code);
        }
    }

    fn matches(&self, value: Option<&Bson>) -> bool {
        let code = value.map_or(0, type_code);
        Self::bit(code).is_some_and(|bit| self.bits & (1 << bit) != 0)
    }
}

/// `mongod`'s number for the type of a value.
fn type_code(value: &Bson) -> i32 {
    match value {
        Bson::Double(_) => 1,
        Bson::String(_) => 2,
        Bson::Document(_) => 3,
        Bson::Array(_) => 4,
        Bson::Binary(_) => 5,
        Bson::Undefined => 6,
        Bson::ObjectId(_) => 7,
        Bson::Boolean(_) => 8,
        Bson::DateTime(_) => 9,
        Bson::Null => 10,
        Bson::RegularExpression(_) => 11,
        Bson::DbPointer(_) => 12,
        Bson::JavaScriptCode(_) => 13,
        Bson::Symbol(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::Int32(_) => 16,
        Bson::Timestamp(_) => 17,
        Bson::Int64(_) => 18,
        Bson::Decimal128(_) => 19,
        Bson::MinKey => -1,
        Bson::MaxKey => 127,
    }
}

/// The `$type` aliases and their codes (`"number"` is handled apart).
const TYPE_ALIASES: &[(&str, i32)] = &[
    ("double", 1),
    ("string", 2),
    ("object", 3),
    ("array", 4),
    ("binData", 5),
    ("undefined", 6),
    ("objectId", 7),
    ("bool", 8),
    ("date", 9),
    ("null", 10),
    ("regex", 11),
    ("dbPointer", 12),
    ("javascript", 13),
    ("symbol", 14),
    ("javascriptWithScope", 15),
    ("int", 16),
    ("timestamp", 17),
    ("long", 18),
    ("decimal", 19),
    ("minKey", -1),
    ("maxKey", 127),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BitOp {
    AllSet,
    AllClear,
    AnySet,
    AnyClear,
}

/// `$bitsAllSet` and friends: the bit positions, and them as a 64-bit mask for numbers (positions
/// past 63 test the sign bit, as numbers are sign-extended).
#[derive(Debug, Clone)]
struct BitTest {
    op: BitOp,
    positions: Vec<u32>,
    mask: u64,
}

impl BitTest {
    fn new(op: BitOp, positions: Vec<u32>) -> BitTest {
        let mask = positions
            .iter()
            .fold(0u64, |mask, &p| mask | 1 << p.min(63));
        BitTest {
            op,
            positions,
            mask,
        }
    }

    fn matches(&self, value: &Bson) -> bool {
        match value {
            Bson::Binary(binary) => self.test_bytes(&binary.bytes),
            _ => whole_number(value).is_some_and(|n| self.test_integer(n)),
        }
    }

    fn test_integer(&self, n: i64) -> bool {
        // Two's complement bits of the value.
        let bits = n as u64;
        match self.op {
            BitOp::AllSet => bits & self.mask == self.mask,
            BitOp::AllClear => !bits & self.mask == self.mask,
            BitOp::AnySet => bits & self.mask != 0,
            BitOp::AnyClear => !bits & self.mask != 0,
        }
    }

    fn test_bytes(&self, bytes: &[u8]) -> bool {
        // Bit p is bit p % 8 of byte p / 8; bytes past the end are zero.
        let is_set = |p: &u32| {
            usize::try_from(p / 8)
                .ok()
                .and_then(|i| bytes.get(i))
                .is_some_and(|b| b & (1 << (p % 8)) != 0)
        };
        match self.op {
            BitOp::AllSet => self.positions.iter().all(is_set),
            BitOp::AllClear => !self.positions.iter().any(is_set),
            BitOp::AnySet => self.positions.iter().any(is_set),
            BitOp::AnyClear => !self.positions.iter().all(is_set),
        }
    }
}

/// A number that holds a whole value representable as an `i64`.
fn whole_number(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(f) => f64_to_i64(*f),
        Bson::Decimal128(d) => f64_to_i64(decimal_to_f64(d)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Where the parser is.
#[derive(Debug, Clone, Copy, Default)]
struct Ctx {
    depth: usize,
}

impl Ctx {
    fn deeper(self) -> CommandResult<Ctx> {
        if self.depth >= MAX_DEPTH {
            return Err(bad(format!(
                "filter exceeds the nesting depth limit of {MAX_DEPTH}"
            )));
        }
        Ok(Ctx {
            depth: self.depth + 1,
        })
    }
}

fn bad(message: impl Into<String>) -> CommandError {
    CommandError::bad_value(message)
}

fn unsupported(op: &str) -> CommandError {
    bad(format!("{op} is not supported by this engine"))
}

/// Parses a filter document (the whole filter, a branch of `$and`/`$or`/`$nor`, or the
/// document form of `$elemMatch`).
fn parse_filter(spec: &Document, ctx: Ctx) -> CommandResult<Node> {
    let mut children = Vec::with_capacity(spec.len());
    for (key, value) in spec {
        let node = if key.starts_with('$') {
            parse_top_level_operator(key, value, ctx)?
        } else {
            Some(parse_field(key, value, ctx)?)
        };
        children.extend(node);
    }
    Ok(if children.len() == 1 {
        children.remove(0)
    } else {
        Node::And(children)
    })
}

/// `$and`, `$or`, `$comment`, ...; `None` for operators that match nothing in particular.
fn parse_top_level_operator(key: &str, value: &Bson, ctx: Ctx) -> CommandResult<Option<Node>> {
    match key {
        "$and" | "$or" | "$nor" => parse_logical(key, value, ctx).map(Some),
        "$comment" => Ok(None),
        "$alwaysTrue" | "$alwaysFalse" => parse_always(key, value).map(Some),
        // DBRef fields are matched by plain equality.
        "$ref" | "$id" | "$db" => equality(key, value).map(|t| Some(path_node(key, Expr::Test(t)))),
        "$where" | "$expr" | "$text" | "$jsonSchema" | "$sampleRate" => Err(unsupported(key)),
        _ => Err(bad(format!(
            "unknown top level operator: {key}. If you have a field name that starts with a '$' \
             symbol, consider using $getField or $setField."
        ))),
    }
}

fn parse_logical(op: &str, value: &Bson, ctx: Ctx) -> CommandResult<Node> {
    let Bson::Array(items) = value else {
        return Err(bad(format!("{op} must be an array")));
    };
    if items.is_empty() {
        return Err(bad("$and/$or/$nor must be a nonempty array"));
    }
    let ctx = ctx.deeper()?;
    let children = items
        .iter()
        .map(|item| match item {
            Bson::Document(branch) => parse_filter(branch, ctx),
            _ => Err(bad("$or/$and/$nor entries need to be full objects")),
        })
        .collect::<CommandResult<Vec<_>>>()?;
    Ok(match op {
        "$and" => Node::And(children),
        "$or" => Node::Or(children),
        _ => Node::Nor(children),
    })
}

fn parse_always(op: &str, value: &Bson) -> CommandResult<Node> {
    if Number::from_bson(value).map(Number::as_f64) != Some(1.0) {
        return Err(CommandError::failed_to_parse(format!(
            "{op} must be an integer value of 1"
        )));
    }
    Ok(Node::Const(op == "$alwaysTrue"))
}

fn path_node(path: &str, expr: Expr) -> Node {
    Node::Path(FieldPath::new(path), expr)
}

/// `{path: value}`: operators, a regex, or an equality.
fn parse_field(path: &str, value: &Bson, ctx: Ctx) -> CommandResult<Node> {
    let expr = match value {
        Bson::Document(ops) if is_operator_document(ops, false) => parse_operators(path, ops, ctx)?,
        Bson::RegularExpression(r) => regex_test(r.pattern.as_str(), r.options.as_str())?,
        _ => Expr::Test(equality(path, value)?),
    };
    Ok(path_node(path, expr))
}

/// Whether a document holds operators (`{$gt: 1}`) rather than being a value to compare with.
/// A DBRef (`{$ref, $id}`; with `allow_partial_dbref`, any of `$ref`/`$id`/`$db`) is a value.
fn is_operator_document(doc: &Document, allow_partial_dbref: bool) -> bool {
    let Some(first) = doc.keys().next() else {
        return false;
    };
    if !first.starts_with('$') {
        return false;
    }
    let has = |name: &str| doc.contains_key(name);
    let dbref = if allow_partial_dbref {
        has("$ref") || has("$id") || has("$db")
    } else {
        has("$ref") && has("$id")
    };
    !dbref
}

fn is_operator_value(value: &Bson, allow_partial_dbref: bool) -> bool {
    matches!(value, Bson::Document(doc) if is_operator_document(doc, allow_partial_dbref))
}

/// Parses the operators applying to one path (`{$gt: 1, $lt: 5}`).
fn parse_operators(path: &str, ops: &Document, ctx: Ctx) -> CommandResult<Expr> {
    let mut exprs = Vec::with_capacity(ops.len());
    for (op, arg) in ops {
        exprs.extend(parse_operator(path, op, arg, ops, ctx)?);
    }
    Ok(if exprs.len() == 1 {
        exprs.remove(0)
    } else {
        Expr::And(exprs)
    })
}

/// One field operator; `None` for `$options`, which its `$regex` reads.
fn parse_operator(
    path: &str,
    op: &str,
    arg: &Bson,
    ops: &Document,
    ctx: Ctx,
) -> CommandResult<Option<Expr>> {
    let test = |t: Test| Ok(Some(Expr::Test(t)));
    match op {
        "$eq" => test(comparison(path, CmpOp::Eq, arg)?),
        "$lt" => test(comparison(path, CmpOp::Lt, arg)?),
        "$lte" => test(comparison(path, CmpOp::Lte, arg)?),
        "$gt" => test(comparison(path, CmpOp::Gt, arg)?),
        "$gte" => test(comparison(path, CmpOp::Gte, arg)?),
        "$ne" => {
            if matches!(arg, Bson::RegularExpression(_)) {
                return Err(bad("Can't have regex as arg to $ne."));
            }
            Ok(Some(negate(Expr::Test(equality(path, arg)?))))
        }
        "$in" => test(Test::In(parse_in(op, arg)?)),
        "$nin" => Ok(Some(negate(Expr::Test(Test::In(parse_in(op, arg)?))))),
        "$exists" => Ok(Some(if truthy(arg) {
            Expr::Test(Test::Exists)
        } else {
            negate(Expr::Test(Test::Exists))
        })),
        "$type" => test(Test::Type(parse_type(arg)?)),
        "$mod" => test(parse_mod(arg)?),
        "$regex" => parse_regex_operator(ops).map(Some),
        "$options" if ops.contains_key("$regex") => Ok(None),
        "$options" => Err(bad("$options needs a $regex")),
        "$size" => test(Test::Size(parse_size(arg)?)),
        "$all" => parse_all(path, arg, ctx).map(Some),
        "$elemMatch" => parse_elem_match(arg, ctx).map(Some),
        "$not" => parse_not(path, arg, ctx).map(Some),
        "$bitsAllSet" => test(parse_bits(path, op, BitOp::AllSet, arg)?),
        "$bitsAllClear" => test(parse_bits(path, op, BitOp::AllClear, arg)?),
        "$bitsAnySet" => test(parse_bits(path, op, BitOp::AnySet, arg)?),
        "$bitsAnyClear" => test(parse_bits(path, op, BitOp::AnyClear, arg)?),
        "$where" => Err(bad("$where cannot be applied to a field")),
        _ if GEO_OPERATORS.contains(&op) => Err(unsupported(op)),
        _ => Err(bad(format!("unknown operator: {op}"))),
    }
}

/// Geospatial field operators, which this engine does not implement.
const GEO_OPERATORS: &[&str] = &[
    "$near",
    "$nearSphere",
    "$geoWithin",
    "$geoIntersects",
    "$within",
    "$maxDistance",
    "$minDistance",
];

/// Whether `name` is an operator that applies to a path (as `$all` refuses them in its list).
fn is_path_operator(name: &str) -> bool {
    const OPERATORS: &[&str] = &[
        "$eq",
        "$ne",
        "$lt",
        "$lte",
        "$gt",
        "$gte",
        "$in",
        "$nin",
        "$exists",
        "$type",
        "$mod",
        "$regex",
        "$options",
        "$size",
        "$all",
        "$elemMatch",
        "$bitsAllSet",
        "$bitsAllClear",
        "$bitsAnySet",
        "$bitsAnyClear",
    ];
    OPERATORS.contains(&name) || GEO_OPERATORS.contains(&name)
}

/// Whether `name` is an operator that applies to a whole document (so an `$elemMatch` starting
/// with it is the document form).
fn is_top_level_operator(name: &str) -> bool {
    const OPERATORS: &[&str] = &[
        "$and",
        "$or",
        "$nor",
        "$comment",
        "$alwaysTrue",
        "$alwaysFalse",
        "$where",
        "$expr",
        "$text",
        "$jsonSchema",
        "$sampleRate",
        "$ref",
        "$id",
        "$db",
    ];
    OPERATORS.contains(&name)
}

fn negate(expr: Expr) -> Expr {
    Expr::Not(Box::new(expr))
}

fn comparison(path: &str, op: CmpOp, arg: &Bson) -> CommandResult<Test> {
    if op != CmpOp::Eq && matches!(arg, Bson::RegularExpression(_)) {
        return Err(bad(format!(
            "Can't have RegEx as arg to predicate over field '{path}'."
        )));
    }
    if matches!(arg, Bson::Undefined) {
        return Err(bad("cannot compare to undefined"));
    }
    Ok(Test::Compare(op, arg.clone()))
}

fn equality(path: &str, value: &Bson) -> CommandResult<Test> {
    comparison(path, CmpOp::Eq, value)
}

/// `BSONElement::trueValue`: false, 0, null and undefined are false; everything else is true.
fn truthy(value: &Bson) -> bool {
    match value {
        Bson::Boolean(b) => *b,
        Bson::Null | Bson::Undefined => false,
        _ => Number::from_bson(value).is_none_or(|n| n.as_f64() != 0.0),
    }
}

fn parse_in(op: &str, arg: &Bson) -> CommandResult<InList> {
    let Bson::Array(items) = arg else {
        return Err(bad(format!("{op} needs an array")));
    };
    let mut list = InList {
        values: Vec::with_capacity(items.len()),
        has_null: false,
        regexes: Vec::new(),
    };
    for item in items {
        if is_operator_value(item, false) {
            return Err(bad("cannot nest $ under $in"));
        }
        match item {
            Bson::RegularExpression(r) => list
                .regexes
                .push(compile(r.pattern.as_str(), r.options.as_str())?),
            Bson::Undefined => return Err(bad("InMatchExpression equality cannot be undefined")),
            Bson::Null => {
                list.has_null = true;
                list.values.push(Bson::Null);
            }
            _ => list.values.push(item.clone()),
        }
    }
    list.values.sort_by(compare_values);
    list.values
        .dedup_by(|a, b| compare_values(a, b) == Ordering::Equal);
    Ok(list)
}

fn parse_type(arg: &Bson) -> CommandResult<TypeSet> {
    let mut types = TypeSet::default();
    match arg {
        Bson::Array(items) => {
            for item in items {
                if !matches!(item, Bson::String(_)) && Number::from_bson(item).is_none() {
                    return Err(CommandError::type_mismatch(
                        "type in $type array must be represented as a number or a string",
                    ));
                }
                add_type(&mut types, item)?;
            }
        }
        Bson::String(_) => add_type(&mut types, arg)?,
        _ if Number::from_bson(arg).is_some() => add_type(&mut types, arg)?,
        _ => {
            return Err(CommandError::type_mismatch(
                "type must be represented as a number or a string",
            ));
        }
    }
    Ok(types)
}

/// Adds one type, named by alias or by number, to the set.
fn add_type(types: &mut TypeSet, spec: &Bson) -> CommandResult<()> {
    if let Bson::String(alias) = spec {
        if alias == "number" {
            types.insert_numbers();
            return Ok(());
        }
        let code = TYPE_ALIASES
            .iter()
            .find(|(name, _)| name == alias)
            .map(|(_, code)| *code);
        return match code {
            Some(code) => {
                types.insert(code);
                Ok(())
            }
            None => Err(bad(format!("Unknown type name alias: {alias}"))),
        };
    }
    let code = whole_number(spec).and_then(|n| i32::try_from(n).ok());
    match code {
        Some(code) if types.insert(code) => Ok(()),
        _ => Err(bad(format!(
            "Invalid numerical type code: {}",
            describe_value(spec)
        ))),
    }
}

fn parse_mod(arg: &Bson) -> CommandResult<Test> {
    let Bson::Array(items) = arg else {
        return Err(bad("malformed mod, needs to be an array"));
    };
    let (divisor, remainder) = match items.as_slice() {
        [] | [_] => return Err(bad("malformed mod, not enough elements")),
        [divisor, remainder] => (divisor, remainder),
        _ => return Err(bad("malformed mod, too many elements")),
    };
    let divisor = mod_operand(divisor, "divisor")?;
    let remainder = mod_operand(remainder, "remainder")?;
    if divisor == 0 {
        return Err(bad("divisor cannot be 0"));
    }
    Ok(Test::Mod { divisor, remainder })
}

/// A `$mod` argument, truncated toward zero to a 64-bit integer.
fn mod_operand(value: &Bson, what: &str) -> CommandResult<i64> {
    let Some(number) = Number::from_bson(value) else {
        return Err(bad(format!("malformed mod, {what} not a number")));
    };
    match number {
        Number::Int(i) => Ok(i),
        Number::Float(f) => f64_to_i64(f.trunc()).ok_or_else(|| {
            bad(format!(
                "malformed mod, {what} value is invalid :: caused by :: Out of bounds coercing to \
                 integral value"
            ))
        }),
    }
}

fn parse_size(arg: &Bson) -> CommandResult<usize> {
    let size = match arg {
        Bson::Int32(i) => i64::from(*i),
        Bson::Int64(i) => i32::try_from(*i)
            .map(i64::from)
            .map_err(|_| bad("$size must be representable as a 32-bit integer"))?,
        Bson::Double(f) => f64_to_i64(*f)
            .filter(|n| i32::try_from(*n).is_ok())
            .ok_or_else(|| bad("$size must be a whole number"))?,
        _ => return Err(bad("$size needs a number")),
    };
    usize::try_from(size).map_err(|_| bad("$size may not be negative"))
}

fn parse_all(path: &str, arg: &Bson, ctx: Ctx) -> CommandResult<Expr> {
    let Bson::Array(items) = arg else {
        return Err(bad("$all needs an array"));
    };
    let Some(first) = items.first() else {
        return Ok(Expr::Test(Test::Never));
    };
    let exprs = if elem_match_argument(first).is_some() {
        items
            .iter()
            .map(|item| match elem_match_argument(item) {
                Some(arg) => parse_elem_match(arg, ctx),
                None => Err(bad("$all/$elemMatch has to be consistent")),
            })
            .collect::<CommandResult<Vec<_>>>()?
    } else {
        items
            .iter()
            .map(|item| all_item(path, item))
            .collect::<CommandResult<Vec<_>>>()?
    };
    Ok(Expr::All(exprs))
}

/// The argument of `{$elemMatch: arg}` when `item` is such a document.
fn elem_match_argument(item: &Bson) -> Option<&Bson> {
    match item {
        Bson::Document(doc) => match doc.iter().next() {
            Some((key, arg)) if key == "$elemMatch" => Some(arg),
            _ => None,
        },
        _ => None,
    }
}

/// One value of a plain `$all`: a regex or a value to equal.
fn all_item(path: &str, item: &Bson) -> CommandResult<Expr> {
    match item {
        Bson::RegularExpression(r) => regex_test(r.pattern.as_str(), r.options.as_str()),
        Bson::Document(doc) if doc.keys().next().is_some_and(|k| is_path_operator(k)) => {
            Err(bad("no $ expressions in $all"))
        }
        _ => Ok(Expr::Test(equality(path, item)?)),
    }
}

/// `$elemMatch`: the value form (`{$gt: 1, $lt: 5}`, tested on each element) or the document
/// form (`{b: 1}`, a filter each element is matched as a document against).
fn parse_elem_match(arg: &Bson, ctx: Ctx) -> CommandResult<Expr> {
    let Bson::Document(spec) = arg else {
        return Err(bad("$elemMatch needs an Object"));
    };
    Ok(Expr::Test(elem_match_test(spec, ctx.deeper()?)?))
}

/// The test an `$elemMatch` argument stands for.
fn elem_match_test(spec: &Document, ctx: Ctx) -> CommandResult<Test> {
    let value_form = is_operator_document(spec, true)
        && spec
            .keys()
            .next()
            .is_some_and(|k| !is_top_level_operator(k));
    let test = if value_form {
        let exprs = match parse_operators("", spec, ctx)? {
            Expr::And(exprs) => exprs,
            expr => vec![expr],
        };
        Test::ElemMatchValue(exprs)
    } else {
        Test::ElemMatchObject(Box::new(parse_filter(spec, ctx)?))
    };
    Ok(test)
}

fn parse_not(path: &str, arg: &Bson, ctx: Ctx) -> CommandResult<Expr> {
    match arg {
        Bson::RegularExpression(r) => {
            Ok(negate(regex_test(r.pattern.as_str(), r.options.as_str())?))
        }
        Bson::Document(ops) if ops.is_empty() => Err(bad("$not cannot be empty")),
        Bson::Document(ops) => Ok(negate(parse_operators(path, ops, ctx.deeper()?)?)),
        _ => Err(bad("$not needs a regex or a document")),
    }
}

/// `{$regex: ..., $options: ...}`, both read from the operator document.
fn parse_regex_operator(ops: &Document) -> CommandResult<Expr> {
    let mut pattern = "";
    let mut options: Option<&str> = None;
    for (op, arg) in ops {
        match (op.as_str(), arg) {
            ("$regex", Bson::String(s)) => pattern = s,
            ("$regex", Bson::RegularExpression(r)) => {
                pattern = r.pattern.as_str();
                if !r.options.as_str().is_empty() {
                    if options.is_some() {
                        return Err(options_twice(51074));
                    }
                    options = Some(r.options.as_str());
                }
            }
            ("$regex", _) => return Err(bad("$regex has to be a string")),
            ("$options", Bson::String(s)) => {
                if options.is_some() {
                    return Err(options_twice(51075));
                }
                options = Some(s);
            }
            ("$options", _) => return Err(bad("$options has to be a string")),
            _ => {}
        }
    }
    regex_test(pattern, options.unwrap_or(""))
}

fn options_twice(code: i32) -> CommandError {
    CommandError::with_code(code, "options set in both $regex and $options")
}

fn regex_test(pattern: &str, options: &str) -> CommandResult<Expr> {
    Ok(Expr::Test(Test::Regex(Box::new(compile(
        pattern, options,
    )?))))
}

/// Compiles a regex with `mongod`'s options: `i`, `m`, `s`, `x` (and `u`, always on).
fn compile(pattern: &str, options: &str) -> CommandResult<RegexTest> {
    if pattern.contains('\0') {
        return Err(bad(
            "Regular expression cannot contain an embedded null byte",
        ));
    }
    if let Some(flag) = options.chars().find(|c| !"imsxu".contains(*c)) {
        // mongod's message starts with a space: it names no operator here.
        return Err(CommandError::with_code(
            51108,
            format!(" invalid flag in regex options: {flag}"),
        ));
    }
    let multi_line = options.contains('m') || has_inline_multi_line(pattern);
    let regex = RegexBuilder::new(&translate_pattern(pattern, multi_line))
        .case_insensitive(options.contains('i'))
        .multi_line(options.contains('m'))
        .dot_matches_new_line(options.contains('s'))
        .ignore_whitespace(options.contains('x'))
        .build()
        .map_err(|e| {
            CommandError::with_code(
                51091,
                format!("Regular expression is invalid: {}", regex_error_text(&e)),
            )
        })?;
    Ok(RegexTest {
        pattern: pattern.to_owned(),
        options: options.to_owned(),
        regex,
    })
}

/// Rewrites what a PCRE pattern (as `mongod` compiles it: UTF-8, no Unicode properties) means
/// differently in the `regex` crate:
///
/// - `\d`, `\w`, `\s`, `\b` and their negations are ASCII-only;
/// - `$` without multi-line mode, and `\Z`, also match before a final newline;
/// - inside a class, `[` (except a POSIX `[:name:]`), `&` and `~` are literal.
///
/// Features the crate lacks (look-around, back-references) stay as written and fail to compile.
fn translate_pattern(pattern: &str, multi_line: bool) -> String {
    const END: &str = r"(?:\n?\z)";
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('Z') if !in_class => out.push_str(END),
                Some(escaped) => push_escape(&mut out, escaped, in_class),
                None => out.push('\\'),
            },
            '[' if in_class && chars.peek() == Some(&':') => {
                // A POSIX class: copy it through its closing ":]".
                out.push('[');
                let mut previous = '[';
                for ch in chars.by_ref() {
                    out.push(ch);
                    if previous == ':' && ch == ']' {
                        break;
                    }
                    previous = ch;
                }
            }
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '[' => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                if chars.peek() == Some(&']') {
                    // A `]` right after the opening is a literal.
                    chars.next();
                    out.push_str(r"\]");
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '$' if !in_class && !multi_line => out.push_str(END),
            _ => out.push(c),
        }
    }
    out
}

/// Appends the translation of the escape `\escaped`.
fn push_escape(out: &mut String, escaped: char, in_class: bool) {
    const DIGIT: &str = "0-9";
    const WORD: &str = "0-9A-Za-z_";
    const SPACE: &str = r"\t\n\x0B\f\r ";
    let (set, negated) = match escaped {
        'd' => (DIGIT, false),
        'D' => (DIGIT, true),
        'w' => (WORD, false),
        'W' => (WORD, true),
        's' => (SPACE, false),
        'S' => (SPACE, true),
        'b' | 'B' if !in_class => {
            out.push_str(if escaped == 'b' {
                r"(?-u:\b)"
            } else {
                r"(?-u:\B)"
            });
            return;
        }
        'b' => {
            // A backspace inside a class.
            out.push_str(r"\x08");
            return;
        }
        _ => {
            out.push('\\');
            out.push(escaped);
            return;
        }
    };
    match (in_class, negated) {
        (true, false) => out.push_str(set),
        (_, true) => {
            out.push_str("[^");
            out.push_str(set);
            out.push(']');
        }
        (false, false) => {
            out.push('[');
            out.push_str(set);
            out.push(']');
        }
    }
}

/// Whether the pattern turns multi-line mode on itself (`(?m)`, `(?im:...)`).
fn has_inline_multi_line(pattern: &str) -> bool {
    pattern.match_indices("(?").any(|(at, _)| {
        pattern[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .any(|c| c == 'm')
    })
}

/// The last line of a regex error ("unclosed group"), without the pattern echo.
fn regex_error_text(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(&text);
    last.trim().trim_start_matches("error: ").to_owned()
}

fn parse_bits(path: &str, op: &str, bit_op: BitOp, arg: &Bson) -> CommandResult<Test> {
    let positions = match arg {
        Bson::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| bit_position(i, item))
            .collect::<CommandResult<_>>()?,
        Bson::Binary(binary) => positions_of_bytes(&binary.bytes),
        _ if Number::from_bson(arg).is_some() => positions_of_mask(bit_mask(op, arg)?),
        _ => {
            return Err(bad(format!(
                "{path} takes an Array, a number, or a BinData but received: {}",
                describe(op, arg)
            )));
        }
    };
    Ok(Test::Bits(BitTest::new(bit_op, positions)))
}

/// One bit position from a `$bits...` array.
fn bit_position(index: usize, item: &Bson) -> CommandResult<u32> {
    let shown = || describe(&index.to_string(), item);
    let position = match item {
        Bson::Int32(i) => i64::from(*i),
        Bson::Int64(i) => *i,
        Bson::Double(f) if f.is_nan() => {
            return Err(bad(format!("bit positions cannot take a NaN: {}", shown())));
        }
        Bson::Double(f) if f.fract() != 0.0 && f.is_finite() => {
            return Err(bad(format!(
                "bit positions must be an integer but got: {}",
                shown()
            )));
        }
        Bson::Double(f) => f64_to_i64(*f).unwrap_or(i64::MAX),
        Bson::Decimal128(d) => f64_to_i64(decimal_to_f64(d)).unwrap_or(i64::MAX),
        _ => {
            return Err(bad(format!(
                "bit positions must be an integer but got: {}",
                shown()
            )));
        }
    };
    if i32::try_from(position).is_err() {
        return Err(bad(format!(
            "bit positions cannot be represented as a 32-bit signed integer: {}",
            shown()
        )));
    }
    u32::try_from(position)
        .map_err(|_| bad(format!("bit positions must be >= 0 but got: {}", shown())))
}

/// A numeric `$bits...` mask: a non-negative whole number.
fn bit_mask(op: &str, arg: &Bson) -> CommandResult<u64> {
    let shown = || describe(op, arg);
    if is_nan(arg) {
        return Err(CommandError::failed_to_parse(format!(
            "Expected an integer, but found NaN in: {}",
            shown()
        )));
    }
    let n = match arg {
        Bson::Int32(i) => i64::from(*i),
        Bson::Int64(i) => *i,
        Bson::Double(f) if f.is_finite() && f.fract() != 0.0 => {
            return Err(CommandError::failed_to_parse(format!(
                "Expected an integer: {}",
                shown()
            )));
        }
        _ => whole_number(arg).ok_or_else(|| {
            CommandError::failed_to_parse(format!(
                "Cannot represent as a 64-bit integer: {}",
                shown()
            ))
        })?,
    };
    u64::try_from(n).map_err(|_| {
        CommandError::failed_to_parse(format!("Expected a positive number in: {}", shown()))
    })
}

fn positions_of_mask(mask: u64) -> Vec<u32> {
    (0..64).filter(|bit| mask & (1 << bit) != 0).collect()
}

fn positions_of_bytes(bytes: &[u8]) -> Vec<u32> {
    let mut positions = Vec::new();
    for (i, byte) in bytes.iter().enumerate() {
        let Some(base) = i.checked_mul(8).and_then(|b| u32::try_from(b).ok()) else {
            break;
        };
        positions.extend(
            (0..8)
                .filter(|bit| byte & (1 << bit) != 0)
                .map(|bit| base + bit),
        );
    }
    positions
}

/// `name: value`, the way `mongod` shows an element in messages.
pub(crate) fn describe(name: &str, value: &Bson) -> String {
    format!("{name}: {}", describe_value(value))
}

fn describe_value(value: &Bson) -> String {
    match value {
        Bson::String(s) => format!("\"{s}\""),
        Bson::Double(f) if f.is_nan() => "nan".to_owned(),
        Bson::Double(f) if f.fract() == 0.0 && f.is_finite() => format!("{f:.1}"),
        Bson::Double(f) => f.to_string(),
        Bson::Int32(i) => i.to_string(),
        Bson::Int64(i) => i.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::{Binary, doc, spec::BinarySubtype};

    use crate::error::ErrorCode;

    fn filter(spec: &Document) -> Filter {
        Filter::parse(spec).unwrap_or_else(|e| panic!("{spec} should parse: {e}"))
    }

    fn matches(spec: Document, d: Document) -> bool {
        filter(&spec).matches(&d)
    }

    #[test]
    fn the_matched_position_is_the_element_that_matched_in_the_first_array() {
        let at = |spec: Document, d: Document| filter(&spec).matched_position(&d);
        let grades = doc! {"grades": [80, 85, 90]};
        assert_eq!(at(doc! {"grades": 85}, grades.clone()), Some(1));
        assert_eq!(at(doc! {"grades": {"$gte": 85}}, grades.clone()), Some(1));
        assert_eq!(at(doc! {"grades": 70}, grades.clone()), None, "no match");
        assert_eq!(at(doc! {"_id": {"$exists": false}}, grades.clone()), None);
        let items = doc! {"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 5}, {"sku": "b", "qty": 2}]};
        assert_eq!(at(doc! {"items.sku": "b"}, items.clone()), Some(1));
        assert_eq!(
            at(
                doc! {"items": {"$elemMatch": {"sku": "b", "qty": {"$lt": 3}}}},
                items.clone()
            ),
            Some(2)
        );
        assert_eq!(
            at(
                doc! {"items.qty": {"$lt": 3}, "items.sku": "b"},
                items.clone()
            ),
            Some(1),
            "the last predicate that matched in an array decides"
        );
        assert_eq!(
            at(
                doc! {"$or": [{"items.sku": "z"}, {"items.qty": 2}]},
                items.clone()
            ),
            Some(2),
            "a branch that failed leaves nothing behind"
        );
        assert_eq!(
            at(doc! {"items.sku": {"$ne": "z"}}, items),
            None,
            "a negation matches no element"
        );
        assert_eq!(
            at(doc! {"a.1": 5}, doc! {"a": [4, 5]}),
            None,
            "an explicit index is no match position"
        );
    }

    fn parse_error(spec: Document) -> CommandError {
        match Filter::parse(&spec) {
            Ok(f) => panic!("{spec} should not parse: {f:?}"),
            Err(e) => e,
        }
    }

    fn regex(pattern: &str, options: &str) -> Bson {
        Bson::RegularExpression(bson::Regex {
            pattern: pattern.try_into().expect("no NUL"),
            options: options.try_into().expect("no NUL"),
        })
    }

    /// The names of the documents `spec` matches, sorted.
    fn matching(spec: Document, docs: &[(&'static str, Document)]) -> Vec<&'static str> {
        let f = filter(&spec);
        let mut names: Vec<_> = docs
            .iter()
            .filter(|(_, d)| f.matches(d))
            .map(|(n, _)| *n)
            .collect();
        names.sort_unstable();
        names
    }

    fn sorted(mut names: Vec<&'static str>) -> Vec<&'static str> {
        names.sort_unstable();
        names
    }

    fn complement(docs: &[(&'static str, Document)], names: &[&str]) -> Vec<&'static str> {
        sorted(
            docs.iter()
                .map(|(n, _)| *n)
                .filter(|n| !names.contains(n))
                .collect(),
        )
    }

    #[test]
    fn implicit_equality_matches_values_and_array_elements() {
        assert!(matches(doc! {"a": 5}, doc! {"a": 5}));
        assert!(matches(doc! {"a": 5}, doc! {"a": 5.0}));
        assert!(matches(doc! {"a": 5}, doc! {"a": 5_i64}));
        assert!(matches(doc! {"a": 5}, doc! {"a": [4, 5]}));
        assert!(!matches(doc! {"a": 5}, doc! {"a": "5"}));
        assert!(!matches(doc! {"a": 5}, doc! {"a": [[5]]}));
        assert!(!matches(doc! {"a": 5}, doc! {}));
        assert!(matches(
            doc! {"a": "x", "b": true},
            doc! {"b": true, "a": "x"}
        ));
        assert!(!matches(doc! {"a": "x", "b": true}, doc! {"a": "x"}));
    }

    #[test]
    fn array_values_equal_whole_arrays_and_elements() {
        let f = doc! {"a": [1, 2]};
        assert!(matches(f.clone(), doc! {"a": [1, 2]}));
        assert!(matches(f.clone(), doc! {"a": [[1, 2], 3]}));
        assert!(!matches(f.clone(), doc! {"a": [2, 1]}));
        assert!(!matches(f.clone(), doc! {"a": [1, 2, 3]}));
        assert!(!matches(f, doc! {"a": 1}));
        assert!(matches(doc! {"a": []}, doc! {"a": []}));
        assert!(matches(doc! {"a": []}, doc! {"a": [[]]}));
        assert!(!matches(doc! {"a": []}, doc! {"a": [1]}));
    }

    #[test]
    fn document_values_equal_exactly_in_field_order() {
        let f = doc! {"a": {"b": 1, "c": 2}};
        assert!(matches(f.clone(), doc! {"a": {"b": 1, "c": 2}}));
        assert!(matches(f.clone(), doc! {"a": {"b": 1.0, "c": 2}}));
        assert!(!matches(f.clone(), doc! {"a": {"c": 2, "b": 1}}));
        assert!(!matches(f.clone(), doc! {"a": {"b": 1}}));
        assert!(matches(f, doc! {"a": [{"b": 1, "c": 2}]}));
        let eq = doc! {"a": {"$eq": {"b": 1}}};
        assert!(matches(eq.clone(), doc! {"a": {"b": 1}}));
        assert!(!matches(eq, doc! {"a": {"b": 1, "c": 1}}));
        // A document whose first field is not an operator is a value, even with `$` fields.
        assert!(matches(
            doc! {"a": {"b": 1, "$c": 2}},
            doc! {"a": {"b": 1, "$c": 2}}
        ));
        // `$eq` compares with any value literally, operators included.
        assert!(matches(
            doc! {"a": {"$eq": {"$gt": 1}}},
            doc! {"a": {"$gt": 1}}
        ));
    }

    #[test]
    fn dotted_paths_traverse_documents_and_arrays() {
        let d = doc! {"a": [{"b": 1}, {"b": 2}], "c": {"d": {"e": "x"}}};
        assert!(matches(doc! {"a.b": 2}, d.clone()));
        assert!(!matches(doc! {"a.b": 3}, d.clone()));
        assert!(matches(doc! {"c.d.e": "x"}, d.clone()));
        assert!(matches(doc! {"a.1.b": 2}, d.clone()));
        assert!(!matches(doc! {"a.0.b": 2}, d.clone()));
        assert!(matches(doc! {"a.0": {"b": 1}}, d.clone()));
        assert!(!matches(doc! {"a.5": {"b": 1}}, d));
        // Numeric components also name fields of sub-documents.
        assert!(matches(doc! {"a.0": 7}, doc! {"a": {"0": 7}}));
        assert!(matches(doc! {"a.0.x": 7}, doc! {"a": [{"0": {"x": 7}}]}));
        assert!(matches(doc! {"a.1": 6}, doc! {"a": [5, 6]}));
        assert!(matches(doc! {"a.0.1": 6}, doc! {"a": [[5, 6]]}));
        // Leaf arrays under a dotted path are expanded too.
        assert!(matches(doc! {"a.b": 3}, doc! {"a": [{"b": [2, 3]}]}));
        // Arrays of arrays are not searched for sub-documents.
        assert!(!matches(doc! {"a.b": 1}, doc! {"a": [[{"b": 1}]]}));
    }

    fn null_corpus() -> Vec<(&'static str, Document)> {
        vec![
            ("a_empty_subobject", doc! {"a": {}}),
            ("a_null", doc! {"a": null}),
            ("a_number", doc! {"a": 4}),
            ("a_subobject_b_not_null", doc! {"a": {"b": "hi"}}),
            ("a_subobject_b_null", doc! {"a": {"b": null}}),
            (
                "a_subobject_b_undefined",
                doc! {"a": {"b": Bson::Undefined}},
            ),
            ("a_undefined", doc! {"a": Bson::Undefined}),
            ("no_a", doc! {}),
            ("a_double_array", doc! {"a": [[]]}),
            ("a_empty_array", doc! {"a": []}),
            (
                "a_object_array_b_mix",
                doc! {"a": [{"b": null}, {"b": Bson::Undefined}, {"b": null}, {}]},
            ),
            (
                "a_object_array_no_b_nulls",
                doc! {"a": [{"b": 1}, {"b": 3}, {"b": "string"}]},
            ),
            (
                "a_object_array_some_b_nulls",
                doc! {"a": [{"b": null}, {"b": 3}, {"b": null}]},
            ),
            (
                "a_object_array_some_b_undefined",
                doc! {"a": [{"b": Bson::Undefined}, {"b": 3}]},
            ),
            ("a_object_array_some_b_missing", doc! {"a": [{"b": 3}, {}]}),
            ("a_value_array_all_nulls", doc! {"a": [null, null]}),
            ("a_value_array_no_nulls", doc! {"a": [1, "string", 4]}),
            (
                "a_value_array_with_null",
                doc! {"a": [1, "string", null, 4]},
            ),
            (
                "a_value_array_with_undefined",
                doc! {"a": [1, "string", Bson::Undefined, 4]},
            ),
        ]
    }

    /// The expectations of mongod 8.0's `null_query_semantics.js`.
    #[test]
    fn null_queries_match_null_and_missing_but_not_undefined() {
        let docs = null_corpus();
        let eq_null = [
            "a_null",
            "a_value_array_all_nulls",
            "a_value_array_with_null",
            "no_a",
        ];
        assert_eq!(matching(doc! {"a": null}, &docs), sorted(eq_null.to_vec()));
        assert_eq!(
            matching(doc! {"a": {"$eq": null}}, &docs),
            sorted(eq_null.to_vec())
        );
        assert_eq!(
            matching(doc! {"a": {"$in": [null, 75]}}, &docs),
            sorted(eq_null.to_vec())
        );
        assert_eq!(
            matching(doc! {"$or": [{"a": null}, {"a": 75}]}, &docs),
            sorted(eq_null.to_vec())
        );
        let ne_null = complement(&docs, &eq_null);
        assert_eq!(matching(doc! {"a": {"$ne": null}}, &docs), ne_null);
        assert_eq!(
            matching(doc! {"a": {"$not": {"$gte": null}}}, &docs),
            ne_null
        );
        assert_eq!(matching(doc! {"a": {"$nin": [null, 75]}}, &docs), ne_null);
        assert_eq!(
            matching(doc! {"a": {"$exists": false}}, &docs),
            vec!["no_a"]
        );
    }

    #[test]
    fn null_queries_in_lists_and_elem_match() {
        let docs = null_corpus();
        let nin_null_empty = [
            "a_null",
            "no_a",
            "a_double_array",
            "a_empty_array",
            "a_value_array_all_nulls",
            "a_value_array_with_null",
        ];
        assert_eq!(
            matching(doc! {"a": {"$nin": [null, []]}}, &docs),
            complement(&docs, &nin_null_empty)
        );
        let nin_null_regex = [
            "a_null",
            "no_a",
            "a_value_array_all_nulls",
            "a_value_array_no_nulls",
            "a_value_array_with_null",
            "a_value_array_with_undefined",
        ];
        let f = doc! {"a": {"$nin": [null, regex("^str.*", "")]}};
        assert_eq!(matching(f, &docs), complement(&docs, &nin_null_regex));
        assert_eq!(
            matching(doc! {"a": {"$elemMatch": {"$eq": null}}}, &docs),
            vec!["a_value_array_all_nulls", "a_value_array_with_null"]
        );
        let elem_ne_null = [
            "a_double_array",
            "a_object_array_b_mix",
            "a_object_array_no_b_nulls",
            "a_object_array_some_b_nulls",
            "a_object_array_some_b_undefined",
            "a_object_array_some_b_missing",
            "a_value_array_no_nulls",
            "a_value_array_with_undefined",
            "a_value_array_with_null",
        ];
        assert_eq!(
            matching(doc! {"a": {"$elemMatch": {"$ne": null}}}, &docs),
            sorted(elem_ne_null.to_vec())
        );
    }

    #[test]
    fn null_queries_on_dotted_paths() {
        let docs = null_corpus();
        let dotted_null = [
            "a_empty_subobject",
            "a_null",
            "a_number",
            "a_subobject_b_null",
            "a_undefined",
            "no_a",
            "a_object_array_b_mix",
            "a_object_array_some_b_nulls",
            "a_object_array_some_b_missing",
        ];
        assert_eq!(
            matching(doc! {"a.b": null}, &docs),
            sorted(dotted_null.to_vec())
        );
        assert_eq!(
            matching(doc! {"a.b": {"$in": [null, 75]}}, &docs),
            sorted(dotted_null.to_vec())
        );
        assert_eq!(
            matching(doc! {"a.b": {"$ne": null}}, &docs),
            complement(&docs, &dotted_null)
        );
        let nin_regex = doc! {"a.b": {"$nin": [null, regex("^str.*", "")]}};
        let mut excluded = dotted_null.to_vec();
        excluded.push("a_object_array_no_b_nulls");
        assert_eq!(matching(nin_regex, &docs), complement(&docs, &excluded));
        assert!(matching(doc! {"a.b": {"$elemMatch": {"$eq": null}}}, &docs).is_empty());
        assert_eq!(
            matching(doc! {"a": {"$elemMatch": {"b": {"$eq": null}}}}, &docs),
            sorted(vec![
                "a_double_array",
                "a_object_array_b_mix",
                "a_object_array_some_b_nulls",
                "a_object_array_some_b_missing"
            ])
        );
        assert_eq!(
            matching(doc! {"a": {"$elemMatch": {"b": {"$ne": null}}}}, &docs),
            sorted(vec![
                "a_object_array_no_b_nulls",
                "a_object_array_some_b_nulls",
                "a_object_array_some_b_undefined",
                "a_object_array_some_b_missing",
                "a_object_array_b_mix"
            ])
        );
        let exists_false = doc! {"a.b": {"$exists": false}};
        let present = matching(doc! {"a.b": {"$exists": true}}, &docs);
        assert_eq!(matching(exists_false, &docs), complement(&docs, &present));
        assert!(matching(doc! {"a.b": {"$exists": false}}, &docs).contains(&"a_number"));
        assert!(
            !matching(doc! {"a.b": {"$exists": false}}, &docs)
                .contains(&"a_object_array_some_b_missing")
        );
    }

    #[test]
    fn comparisons_are_type_bracketed() {
        let gt5 = doc! {"a": {"$gt": 5}};
        assert!(matches(gt5.clone(), doc! {"a": 6}));
        assert!(matches(gt5.clone(), doc! {"a": 5.5}));
        assert!(matches(gt5.clone(), doc! {"a": 6_i64}));
        assert!(!matches(gt5.clone(), doc! {"a": 5}));
        assert!(!matches(gt5.clone(), doc! {"a": "6"}));
        assert!(!matches(gt5.clone(), doc! {"a": {"x": 1}}));
        assert!(!matches(gt5.clone(), doc! {}));
        assert!(matches(gt5.clone(), doc! {"a": [1, 7]}));
        assert!(!matches(gt5, doc! {"a": [1, "7"]}));
        assert!(matches(doc! {"a": {"$lt": "b"}}, doc! {"a": "a"}));
        assert!(!matches(doc! {"a": {"$lt": "b"}}, doc! {"a": 1}));
        assert!(matches(doc! {"a": {"$gte": 5, "$lte": 5}}, doc! {"a": 5.0}));
        let dec: bson::Decimal128 = "5.5".parse().expect("decimal");
        assert!(matches(doc! {"a": {"$gt": 5}}, doc! {"a": dec}));
        // Each operator is satisfied on its own by some element.
        assert!(matches(
            doc! {"a": {"$gt": 5, "$lt": 3}},
            doc! {"a": [2, 6]}
        ));
        // Whole arrays compare with array operands.
        assert!(matches(doc! {"a": {"$gt": [1]}}, doc! {"a": [2]}));
        assert!(!matches(doc! {"a": {"$gt": [3]}}, doc! {"a": [2]}));
    }

    #[test]
    fn min_and_max_key_bound_every_type_and_missing() {
        for value in [
            Bson::Int32(1),
            Bson::String("x".into()),
            Bson::Null,
            Bson::Undefined,
        ] {
            let d = doc! {"a": value};
            assert!(matches(doc! {"a": {"$gt": Bson::MinKey}}, d.clone()));
            assert!(matches(doc! {"a": {"$lte": Bson::MaxKey}}, d.clone()));
            assert!(!matches(doc! {"a": {"$lt": Bson::MinKey}}, d.clone()));
            assert!(!matches(doc! {"a": {"$eq": Bson::MaxKey}}, d));
        }
        assert!(matches(doc! {"a": {"$gte": Bson::MinKey}}, doc! {}));
        assert!(matches(doc! {"a": {"$lt": Bson::MaxKey}}, doc! {}));
        assert!(matches(doc! {"a": Bson::MaxKey}, doc! {"a": Bson::MaxKey}));
        assert!(!matches(
            doc! {"a": {"$gt": Bson::MaxKey}},
            doc! {"a": Bson::MaxKey}
        ));
    }

    #[test]
    fn null_comparisons_follow_mongod() {
        let gte = doc! {"a": {"$gte": null}};
        assert!(matches(gte.clone(), doc! {"a": null}));
        assert!(matches(gte.clone(), doc! {}));
        assert!(!matches(gte.clone(), doc! {"a": Bson::Undefined}));
        assert!(!matches(gte, doc! {"a": 0}));
        assert!(matches(doc! {"a": {"$lte": null}}, doc! {}));
        for d in [
            doc! {},
            doc! {"a": null},
            doc! {"a": Bson::MinKey},
            doc! {"a": 1},
        ] {
            assert!(!matches(doc! {"a": {"$lt": null}}, d.clone()));
            assert!(!matches(doc! {"a": {"$gt": null}}, d));
        }
    }

    #[test]
    fn nan_equals_only_nan() {
        let nan = doc! {"a": f64::NAN};
        assert!(matches(doc! {"a": f64::NAN}, nan.clone()));
        assert!(matches(doc! {"a": {"$gte": f64::NAN}}, nan.clone()));
        assert!(!matches(doc! {"a": {"$gt": f64::NAN}}, nan.clone()));
        assert!(!matches(doc! {"a": {"$lt": 0}}, nan.clone()));
        assert!(!matches(doc! {"a": {"$gte": f64::NAN}}, doc! {"a": 1}));
        assert!(!matches(doc! {"a": 0}, nan.clone()));
        assert!(matches(doc! {"a": {"$ne": 0}}, nan));
    }

    #[test]
    fn ne_and_nin_are_complements() {
        let ne = doc! {"a": {"$ne": 5}};
        assert!(!matches(ne.clone(), doc! {"a": 5}));
        assert!(!matches(ne.clone(), doc! {"a": [4, 5]}));
        assert!(matches(ne.clone(), doc! {"a": [4, 6]}));
        assert!(matches(ne.clone(), doc! {}));
        assert!(matches(ne, doc! {"a": "5"}));
        let nin = doc! {"a": {"$nin": [1, 2]}};
        assert!(!matches(nin.clone(), doc! {"a": 2}));
        assert!(!matches(nin.clone(), doc! {"a": [3, 1]}));
        assert!(matches(nin.clone(), doc! {"a": 3}));
        assert!(matches(nin.clone(), doc! {}));
        assert!(matches(doc! {"a": {"$nin": []}}, doc! {"a": 1}));
        assert!(!matches(doc! {"a": {"$in": []}}, doc! {"a": 1}));
    }

    #[test]
    fn in_matches_values_arrays_and_regexes() {
        let f = doc! {"a": {"$in": [1, "x", [2, 3], regex("^ab", "i")]}};
        assert!(matches(f.clone(), doc! {"a": 1.0}));
        assert!(matches(f.clone(), doc! {"a": ["y", "x"]}));
        assert!(matches(f.clone(), doc! {"a": [2, 3]}));
        assert!(matches(f.clone(), doc! {"a": [[2, 3]]}));
        assert!(matches(f.clone(), doc! {"a": "ABc"}));
        assert!(!matches(f.clone(), doc! {"a": "cab"}));
        assert!(!matches(f.clone(), doc! {"a": 2}));
        assert!(!matches(f, doc! {}));
        assert!(matches(doc! {"a": {"$in": [null]}}, doc! {"b": 1}));
        assert!(matches(
            doc! {"a": {"$in": [{"b": 1}]}},
            doc! {"a": {"b": 1}}
        ));
    }

    #[test]
    fn not_negates_its_operators() {
        let f = doc! {"a": {"$not": {"$gt": 5}}};
        assert!(matches(f.clone(), doc! {"a": 3}));
        assert!(matches(f.clone(), doc! {"a": "x"}));
        assert!(matches(f.clone(), doc! {}));
        assert!(!matches(f.clone(), doc! {"a": 6}));
        assert!(!matches(f, doc! {"a": [1, 6]}));
        let range = doc! {"a": {"$not": {"$gt": 1, "$lt": 5}}};
        assert!(!matches(range.clone(), doc! {"a": 3}));
        assert!(matches(range, doc! {"a": 7}));
        let re = doc! {"a": {"$not": regex("^x", "")}};
        assert!(matches(re.clone(), doc! {"a": "yx"}));
        assert!(!matches(re, doc! {"a": "xy"}));
    }

    #[test]
    fn logical_operators_combine_branches() {
        let d = doc! {"a": 1, "b": 2};
        assert!(matches(doc! {"$and": [{"a": 1}, {"b": 2}]}, d.clone()));
        assert!(!matches(doc! {"$and": [{"a": 1}, {"b": 3}]}, d.clone()));
        assert!(matches(doc! {"$or": [{"a": 2}, {"b": 2}]}, d.clone()));
        assert!(!matches(doc! {"$or": [{"a": 2}, {"b": 3}]}, d.clone()));
        assert!(matches(doc! {"$nor": [{"a": 2}, {"b": 3}]}, d.clone()));
        assert!(!matches(doc! {"$nor": [{"a": 1}, {"b": 3}]}, d.clone()));
        assert!(matches(doc! {"$and": [{}]}, d.clone()));
        assert!(matches(
            doc! {"a": 1, "$or": [{"b": 2}, {"c": 1}], "$comment": "x"},
            d.clone()
        ));
        assert!(matches(doc! {"$alwaysTrue": 1}, d.clone()));
        assert!(!matches(doc! {"$alwaysFalse": 1}, d));
    }

    #[test]
    fn exists_tests_presence() {
        assert!(matches(doc! {"a": {"$exists": true}}, doc! {"a": null}));
        assert!(!matches(doc! {"a": {"$exists": true}}, doc! {}));
        assert!(matches(doc! {"a": {"$exists": false}}, doc! {}));
        assert!(!matches(doc! {"a": {"$exists": false}}, doc! {"a": null}));
        assert!(matches(doc! {"a": {"$exists": 1}}, doc! {"a": []}));
        assert!(matches(doc! {"a": {"$exists": 0}}, doc! {"b": 1}));
        assert!(matches(doc! {"a": {"$exists": null}}, doc! {"b": 1}));
        assert!(matches(doc! {"a": {"$exists": "no"}}, doc! {"a": 1}));
        assert!(matches(
            doc! {"a.b": {"$exists": true}},
            doc! {"a": [{"c": 1}, {"b": 1}]}
        ));
        assert!(!matches(
            doc! {"a.b": {"$exists": true}},
            doc! {"a": [{"c": 1}, 5]}
        ));
    }

    #[test]
    fn type_matches_codes_aliases_and_arrays() {
        assert!(matches(doc! {"a": {"$type": 2}}, doc! {"a": "x"}));
        assert!(matches(
            doc! {"a": {"$type": "string"}},
            doc! {"a": ["x", 1]}
        ));
        assert!(matches(doc! {"a": {"$type": "int"}}, doc! {"a": 1}));
        assert!(!matches(doc! {"a": {"$type": "long"}}, doc! {"a": 1}));
        assert!(matches(doc! {"a": {"$type": 18.0}}, doc! {"a": 1_i64}));
        for n in [Bson::Int32(1), Bson::Int64(1), Bson::Double(1.5)] {
            assert!(matches(doc! {"a": {"$type": "number"}}, doc! {"a": n}));
        }
        assert!(!matches(doc! {"a": {"$type": "number"}}, doc! {"a": "1"}));
        assert!(matches(doc! {"a": {"$type": "array"}}, doc! {"a": []}));
        assert!(matches(doc! {"a": {"$type": "array"}}, doc! {"a": [[1]]}));
        assert!(!matches(doc! {"a": {"$type": "array"}}, doc! {"a": 1}));
        assert!(matches(
            doc! {"a": {"$type": ["bool", "null"]}},
            doc! {"a": null}
        ));
        assert!(matches(
            doc! {"a": {"$type": "minKey"}},
            doc! {"a": Bson::MinKey}
        ));
        assert!(matches(
            doc! {"a": {"$type": 127}},
            doc! {"a": Bson::MaxKey}
        ));
        assert!(matches(
            doc! {"a": {"$type": "undefined"}},
            doc! {"a": Bson::Undefined}
        ));
        assert!(!matches(doc! {"a": {"$type": "null"}}, doc! {}));
        assert!(!matches(doc! {"a": {"$type": []}}, doc! {"a": 1}));
        assert!(matches(
            doc! {"a.b": {"$type": "object"}},
            doc! {"a": [{"b": {}}]}
        ));
    }

    #[test]
    fn regexes_match_strings_symbols_and_equal_regexes() {
        assert!(matches(doc! {"a": regex("^ab", "")}, doc! {"a": "abc"}));
        assert!(!matches(doc! {"a": regex("^ab", "")}, doc! {"a": "ABC"}));
        assert!(matches(doc! {"a": regex("^ab", "i")}, doc! {"a": "ABC"}));
        assert!(matches(
            doc! {"a": regex("b", "")},
            doc! {"a": ["x", "abc"]}
        ));
        assert!(matches(
            doc! {"a": regex("b", "")},
            doc! {"a": Bson::Symbol("b".into())}
        ));
        assert!(!matches(doc! {"a": regex("1", "")}, doc! {"a": 1}));
        assert!(matches(
            doc! {"a": regex("^x", "i")},
            doc! {"a": regex("^x", "i")}
        ));
        assert!(!matches(
            doc! {"a": regex("^x", "i")},
            doc! {"a": regex("^x", "")}
        ));
        assert!(matches(
            doc! {"a": {"$regex": "^ab", "$options": "i"}},
            doc! {"a": "AB"}
        ));
        assert!(matches(
            doc! {"a": {"$options": "i", "$regex": "^ab"}},
            doc! {"a": "AB"}
        ));
        assert!(matches(
            doc! {"a": {"$regex": regex("^ab", "i")}},
            doc! {"a": "AB"}
        ));
        assert!(matches(
            doc! {"a": {"$regex": "^b", "$options": "m"}},
            doc! {"a": "a\nb"}
        ));
        assert!(!matches(doc! {"a": {"$regex": "^b"}}, doc! {"a": "a\nb"}));
        assert!(matches(
            doc! {"a": {"$regex": "a.b", "$options": "s"}},
            doc! {"a": "a\nb"}
        ));
        assert!(matches(
            doc! {"a": {"$regex": "a b # comment", "$options": "x"}},
            doc! {"a": "ab"}
        ));
        // `$eq` with a regex compares regex values.
        assert!(!matches(
            doc! {"a": {"$eq": regex("x", "")}},
            doc! {"a": "x"}
        ));
        assert!(matches(
            doc! {"a": {"$eq": regex("x", "")}},
            doc! {"a": regex("x", "")}
        ));
    }

    #[test]
    fn regexes_keep_pcre_meanings() {
        // \d, \w, \s and \b are ASCII-only in mongod.
        assert!(!matches(
            doc! {"a": regex(r"^\w+$", "")},
            doc! {"a": "café"}
        ));
        assert!(matches(
            doc! {"a": regex(r"^\w+$", "")},
            doc! {"a": "cafe_1"}
        ));
        assert!(!matches(
            doc! {"a": regex(r"\d", "")},
            doc! {"a": "\u{663}"}
        ));
        assert!(matches(
            doc! {"a": regex(r"^\D$", "")},
            doc! {"a": "\u{663}"}
        ));
        assert!(matches(
            doc! {"a": regex(r"^[\d\s]+$", "")},
            doc! {"a": "1 2"}
        ));
        assert!(matches(
            doc! {"a": regex(r"^[^\W]+$", "")},
            doc! {"a": "ab"}
        ));
        assert!(!matches(
            doc! {"a": regex(r"^[^\W]+$", "")},
            doc! {"a": "é"}
        ));
        assert!(matches(doc! {"a": regex(r"\bfoo", "")}, doc! {"a": "éfoo"}));
        // $ and \Z also match before a final newline.
        assert!(matches(doc! {"a": regex("abc$", "")}, doc! {"a": "abc\n"}));
        assert!(matches(
            doc! {"a": regex(r"abc\Z", "")},
            doc! {"a": "abc\n"}
        ));
        assert!(!matches(
            doc! {"a": regex(r"abc\z", "")},
            doc! {"a": "abc\n"}
        ));
        assert!(!matches(
            doc! {"a": regex("abc$", "")},
            doc! {"a": "abc\nx"}
        ));
        assert!(matches(
            doc! {"a": regex("^abc$", "m")},
            doc! {"a": "x\nabc\ny"}
        ));
        assert!(matches(
            doc! {"a": regex("(?m)^abc$", "")},
            doc! {"a": "x\nabc\ny"}
        ));
        assert!(matches(doc! {"a": regex("[$]", "")}, doc! {"a": "$"}));
        assert!(matches(doc! {"a": regex(r"\$", "")}, doc! {"a": "$"}));
        // `[`, `&` and `~` are literal in a class; `]` first in a class is literal.
        assert!(matches(doc! {"a": regex("[[]", "")}, doc! {"a": "["}));
        assert!(matches(doc! {"a": regex("^[&~]+$", "")}, doc! {"a": "&&~"}));
        assert!(matches(doc! {"a": regex("[]a]", "")}, doc! {"a": "]"}));
        assert!(matches(
            doc! {"a": regex("^[[:alpha:]]+$", "")},
            doc! {"a": "abc"}
        ));
        assert!(matches(doc! {"a": regex(r"[\b]", "")}, doc! {"a": "\u{8}"}));
    }

    #[test]
    fn elem_match_value_form_tests_each_element() {
        let f = doc! {"a": {"$elemMatch": {"$gt": 1, "$lt": 5}}};
        assert!(matches(f.clone(), doc! {"a": [0, 3, 9]}));
        assert!(!matches(f.clone(), doc! {"a": [0, 9]}));
        assert!(!matches(f.clone(), doc! {"a": 3}));
        assert!(!matches(f, doc! {"a": [[3]]}));
        assert!(matches(
            doc! {"a": {"$elemMatch": {"$size": 1}}},
            doc! {"a": [[1], 2]}
        ));
        assert!(matches(
            doc! {"a": {"$elemMatch": {"$elemMatch": {"$eq": 2}}}},
            doc! {"a": [[1, 2]]}
        ));
        assert!(matches(
            doc! {"a": {"$elemMatch": {"$not": {"$gt": 1}}}},
            doc! {"a": [5, 0]}
        ));
        assert!(matches(
            doc! {"a": {"$elemMatch": {"$in": [1, 2]}}},
            doc! {"a": [0, 2]}
        ));
    }

    #[test]
    fn elem_match_document_form_matches_elements_as_documents() {
        let f = doc! {"a": {"$elemMatch": {"b": 1, "c": {"$gt": 1}}}};
        assert!(matches(f.clone(), doc! {"a": [{"b": 1, "c": 2}]}));
        assert!(!matches(
            f.clone(),
            doc! {"a": [{"b": 1, "c": 0}, {"b": 2, "c": 2}]}
        ));
        assert!(!matches(f.clone(), doc! {"a": {"b": 1, "c": 2}}));
        assert!(matches(f, doc! {"x": 0, "a": [5, {"b": [1], "c": 3}]}));
        // Elements that are arrays are documents with fields "0", "1", ...
        assert!(matches(
            doc! {"a": {"$elemMatch": {"0": 7}}},
            doc! {"a": [[7]]}
        ));
        assert!(matches(doc! {"a": {"$elemMatch": {}}}, doc! {"a": [1, {}]}));
        assert!(!matches(doc! {"a": {"$elemMatch": {}}}, doc! {"a": [1, 2]}));
        assert!(matches(
            doc! {"a": {"$elemMatch": {"$or": [{"b": 1}, {"b": 2}]}}},
            doc! {"a": [{"b": 2}]}
        ));
        assert!(matches(
            doc! {"a.b": {"$elemMatch": {"c": 1}}},
            doc! {"a": [{"b": [{"c": 1}]}]}
        ));
    }

    #[test]
    fn all_needs_every_value() {
        let f = doc! {"a": {"$all": [1, 2]}};
        assert!(matches(f.clone(), doc! {"a": [2, 3, 1]}));
        assert!(!matches(f.clone(), doc! {"a": [1, 3]}));
        assert!(matches(doc! {"a": {"$all": [5]}}, doc! {"a": 5}));
        assert!(!matches(doc! {"a": {"$all": []}}, doc! {"a": [1]}));
        assert!(matches(
            doc! {"a": {"$all": [[1, 2]]}},
            doc! {"a": [[1, 2], 3]}
        ));
        assert!(matches(
            doc! {"a": {"$all": [regex("^x", ""), "yy"]}},
            doc! {"a": ["xa", "yy"]}
        ));
        let em = doc! {"a": {"$all": [{"$elemMatch": {"b": 1}}, {"$elemMatch": {"b": 2}}]}};
        assert!(matches(em.clone(), doc! {"a": [{"b": 1}, {"b": 2}]}));
        assert!(!matches(em, doc! {"a": [{"b": 1}]}));
        assert!(matches(
            doc! {"a": {"$all": [{"b": 1}]}},
            doc! {"a": [{"b": 1}]}
        ));
    }

    #[test]
    fn size_counts_array_elements() {
        assert!(matches(doc! {"a": {"$size": 2}}, doc! {"a": [1, [2, 3]]}));
        assert!(!matches(doc! {"a": {"$size": 3}}, doc! {"a": [1, [2, 3]]}));
        assert!(matches(doc! {"a": {"$size": 0}}, doc! {"a": []}));
        assert!(!matches(doc! {"a": {"$size": 0}}, doc! {}));
        assert!(!matches(doc! {"a": {"$size": 1}}, doc! {"a": "x"}));
        assert!(matches(doc! {"a": {"$size": 2.0}}, doc! {"a": [1, 2]}));
        assert!(matches(doc! {"a": {"$size": 2_i64}}, doc! {"a": [1, 2]}));
        assert!(matches(
            doc! {"a.b": {"$size": 1}},
            doc! {"a": [{"b": [1, 2]}, {"b": [3]}]}
        ));
        assert!(matches(
            doc! {"a": {"$not": {"$size": 1}}},
            doc! {"a": [1, 2]}
        ));
    }

    #[test]
    fn mod_divides_truncated_numbers() {
        assert!(matches(doc! {"a": {"$mod": [4, 1]}}, doc! {"a": 5}));
        assert!(matches(doc! {"a": {"$mod": [4, 1]}}, doc! {"a": 5.9}));
        assert!(matches(doc! {"a": {"$mod": [4, -1]}}, doc! {"a": -5}));
        assert!(matches(doc! {"a": {"$mod": [4.5, 1]}}, doc! {"a": 9_i64}));
        assert!(!matches(doc! {"a": {"$mod": [4, 1]}}, doc! {"a": 6}));
        assert!(!matches(doc! {"a": {"$mod": [4, 0]}}, doc! {"a": f64::NAN}));
        assert!(!matches(
            doc! {"a": {"$mod": [4, 0]}},
            doc! {"a": f64::INFINITY}
        ));
        assert!(!matches(doc! {"a": {"$mod": [4, 0]}}, doc! {"a": "8"}));
        assert!(matches(doc! {"a": {"$mod": [-1, 0]}}, doc! {"a": i64::MIN}));
        assert!(matches(doc! {"a": {"$mod": [2, 0]}}, doc! {"a": [1, 4]}));
    }

    #[test]
    fn bit_tests_on_numbers_and_binary() {
        assert!(matches(doc! {"a": {"$bitsAllSet": 42}}, doc! {"a": 42}));
        assert!(!matches(doc! {"a": {"$bitsAllSet": 43}}, doc! {"a": 42}));
        assert!(matches(doc! {"a": {"$bitsAllClear": 21}}, doc! {"a": 42}));
        assert!(matches(doc! {"a": {"$bitsAnySet": [1, 9]}}, doc! {"a": 2}));
        assert!(matches(doc! {"a": {"$bitsAnyClear": 1}}, doc! {"a": 42}));
        assert!(!matches(doc! {"a": {"$bitsAnyClear": 42}}, doc! {"a": 42}));
        // Negative numbers are sign-extended past bit 63.
        assert!(matches(doc! {"a": {"$bitsAllSet": [100]}}, doc! {"a": -1}));
        assert!(!matches(doc! {"a": {"$bitsAllSet": 1}}, doc! {"a": 1.5}));
        assert!(!matches(doc! {"a": {"$bitsAllSet": 1}}, doc! {"a": "1"}));
        let binary = |bytes: Vec<u8>| {
            Bson::Binary(Binary {
                subtype: BinarySubtype::Generic,
                bytes,
            })
        };
        assert!(matches(
            doc! {"a": {"$bitsAllSet": [0, 9]}},
            doc! {"a": binary(vec![1, 2])}
        ));
        assert!(!matches(
            doc! {"a": {"$bitsAllSet": [0, 20]}},
            doc! {"a": binary(vec![1, 2])}
        ));
        assert!(matches(
            doc! {"a": {"$bitsAnySet": binary(vec![0, 2])}},
            doc! {"a": 512}
        ));
    }

    #[test]
    fn dbref_documents_are_values_and_dbref_fields_are_fields() {
        let dbref = doc! {"$ref": "c", "$id": 1};
        assert!(matches(
            doc! {"a": dbref.clone()},
            doc! {"a": dbref.clone()}
        ));
        assert!(matches(
            doc! {"a": {"$elemMatch": {"$id": 1}}},
            doc! {"a": [dbref.clone()]}
        ));
        assert!(matches(doc! {"a.$id": 1}, doc! {"a": dbref}));
    }

    #[test]
    fn equalities_list_pinned_paths_in_order() {
        let f = filter(&doc! {
            "a": 1,
            "b": {"$eq": "x", "$gt": "a"},
            "$and": [{"c.d": null}, {"e": {"$in": [7]}}, {"f": {"$in": [1, 2]}}],
            "g": {"$gt": 1},
            "h": {"$all": [1]},
            "$or": [{"i": true}],
        });
        let got: Vec<(&str, Bson)> = f
            .equalities()
            .into_iter()
            .map(|(p, v)| (p, v.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", Bson::Int32(1)),
                ("b", Bson::String("x".into())),
                ("c.d", Bson::Null),
                ("e", Bson::Int32(7)),
                ("i", Bson::Boolean(true)),
            ]
        );
        assert!(
            filter(&doc! {"$or": [{"a": 1}, {"b": 1}]})
                .equalities()
                .is_empty()
        );
        assert!(filter(&doc! {"a": {"$ne": 1}}).equalities().is_empty());
    }

    #[test]
    fn match_all_is_recognised() {
        assert!(filter(&doc! {}).is_match_all());
        assert!(filter(&doc! {"$comment": "x"}).is_match_all());
        assert!(filter(&doc! {"$and": [{}]}).is_match_all());
        assert!(!filter(&doc! {"a": 1}).is_match_all());
        assert!(!filter(&doc! {"$alwaysFalse": 1}).is_match_all());
        assert!(filter(&doc! {}).matches(&doc! {"a": 1}));
    }

    fn assert_error(spec: Document, code: i32, message: &str) {
        let error = parse_error(spec.clone());
        assert_eq!(error.code, code, "{spec}: {error}");
        assert!(error.message.contains(message), "{spec}: {error}");
    }

    #[test]
    fn malformed_operators_are_bad_values() {
        let bad = ErrorCode::BadValue.code();
        assert_error(doc! {"$foo": 1}, bad, "unknown top level operator: $foo");
        assert_error(
            doc! {"$not": {"a": 1}},
            bad,
            "unknown top level operator: $not",
        );
        assert_error(doc! {"a": {"$foo": 1}}, bad, "unknown operator: $foo");
        assert_error(doc! {"a": {"$gt": 1, "b": 1}}, bad, "unknown operator: b");
        assert_error(doc! {"a": {"$in": 1}}, bad, "$in needs an array");
        assert_error(doc! {"a": {"$nin": {}}}, bad, "$nin needs an array");
        assert_error(doc! {"a": {"$all": "x"}}, bad, "$all needs an array");
        assert_error(
            doc! {"a": {"$in": [{"$gt": 1}]}},
            bad,
            "cannot nest $ under $in",
        );
        assert_error(
            doc! {"$and": []},
            bad,
            "$and/$or/$nor must be a nonempty array",
        );
        assert_error(doc! {"$or": {}}, bad, "$or must be an array");
        assert_error(doc! {"$nor": [1]}, bad, "entries need to be full objects");
        assert_error(
            doc! {"a": {"$elemMatch": 1}},
            bad,
            "$elemMatch needs an Object",
        );
        assert_error(
            doc! {"a": {"$not": 1}},
            bad,
            "$not needs a regex or a document",
        );
        assert_error(doc! {"a": {"$not": {}}}, bad, "$not cannot be empty");
        assert_error(
            doc! {"a": {"$all": [{"$elemMatch": {}}, 1]}},
            bad,
            "has to be consistent",
        );
        assert_error(
            doc! {"a": {"$all": [{"$gt": 1}]}},
            bad,
            "no $ expressions in $all",
        );
        assert_error(doc! {"a": {"$gt": regex("x", "")}}, bad, "Can't have RegEx");
        assert_error(
            doc! {"a": {"$ne": regex("x", "")}},
            bad,
            "Can't have regex as arg to $ne",
        );
        assert_error(
            doc! {"a": Bson::Undefined},
            bad,
            "cannot compare to undefined",
        );
        assert_error(
            doc! {"a": {"$in": [Bson::Undefined]}},
            bad,
            "cannot be undefined",
        );
    }

    #[test]
    fn malformed_arguments_are_refused() {
        let bad = ErrorCode::BadValue.code();
        assert_error(doc! {"a": {"$size": -1}}, bad, "$size may not be negative");
        assert_error(
            doc! {"a": {"$size": 1.5}},
            bad,
            "$size must be a whole number",
        );
        assert_error(
            doc! {"a": {"$size": f64::NAN}},
            bad,
            "$size must be a whole number",
        );
        assert_error(doc! {"a": {"$size": "1"}}, bad, "$size needs a number");
        assert_error(doc! {"a": {"$size": 1_i64 << 40}}, bad, "32-bit integer");
        assert_error(
            doc! {"a": {"$mod": 1}},
            bad,
            "malformed mod, needs to be an array",
        );
        assert_error(doc! {"a": {"$mod": [1]}}, bad, "not enough elements");
        assert_error(doc! {"a": {"$mod": [1, 2, 3]}}, bad, "too many elements");
        assert_error(doc! {"a": {"$mod": ["1", 2]}}, bad, "divisor not a number");
        assert_error(
            doc! {"a": {"$mod": [1, "2"]}},
            bad,
            "remainder not a number",
        );
        assert_error(doc! {"a": {"$mod": [0, 1]}}, bad, "divisor cannot be 0");
        assert_error(
            doc! {"a": {"$mod": [f64::NAN, 1]}},
            bad,
            "divisor value is invalid",
        );
        assert_error(
            doc! {"a": {"$type": "nope"}},
            bad,
            "Unknown type name alias: nope",
        );
        assert_error(
            doc! {"a": {"$type": 100}},
            bad,
            "Invalid numerical type code: 100",
        );
        assert_error(
            doc! {"a": {"$type": 1.5}},
            bad,
            "Invalid numerical type code: 1.5",
        );
        let mismatch = ErrorCode::TypeMismatch.code();
        assert_error(doc! {"a": {"$type": {}}}, mismatch, "number or a string");
        assert_error(
            doc! {"a": {"$type": [true]}},
            mismatch,
            "number or a string",
        );
        assert_error(
            doc! {"a": {"$bitsAllSet": "x"}},
            bad,
            "a takes an Array, a number, or a BinData",
        );
        let failed = ErrorCode::FailedToParse.code();
        assert_error(
            doc! {"a": {"$bitsAllSet": -1}},
            failed,
            "Expected a positive number in: $bitsAllSet: -1",
        );
        assert_error(
            doc! {"a": {"$bitsAllSet": 1.2}},
            failed,
            "Expected an integer: $bitsAllSet: 1.2",
        );
        assert_error(
            doc! {"a": {"$bitsAllSet": [-1]}},
            bad,
            "bit positions must be >= 0",
        );
        assert_error(
            doc! {"$alwaysTrue": 2},
            failed,
            "$alwaysTrue must be an integer value of 1",
        );
    }

    #[test]
    fn malformed_regexes_are_refused() {
        let bad = ErrorCode::BadValue.code();
        assert_error(doc! {"a": {"$regex": 1}}, bad, "$regex has to be a string");
        assert_error(
            doc! {"a": {"$regex": "x", "$options": 1}},
            bad,
            "$options has to be a string",
        );
        assert_error(
            doc! {"a": {"$options": "i"}},
            bad,
            "$options needs a $regex",
        );
        assert_error(doc! {"a": {"$regex": "a\0b"}}, bad, "embedded null byte");
        assert_error(
            doc! {"a": {"$regex": "(x"}},
            51091,
            "Regular expression is invalid",
        );
        assert_error(
            doc! {"a": regex("x", "q")},
            51108,
            "invalid flag in regex options: q",
        );
        assert_error(
            doc! {"a": {"$regex": regex("x", "i"), "$options": "m"}},
            51075,
            "options set in both",
        );
        assert_error(
            doc! {"a": {"$options": "m", "$regex": regex("x", "i")}},
            51074,
            "options set in both",
        );
        let error = parse_error(doc! {"a": {"$regex": "(x"}});
        assert_eq!(error.code_name, "Location51091");
        assert!(!error.message.contains('\n'), "{}", error.message);
    }

    #[test]
    fn unsupported_operators_are_refused_by_name() {
        let bad = ErrorCode::BadValue.code();
        for op in ["$where", "$expr", "$text", "$jsonSchema"] {
            let mut spec = Document::new();
            spec.insert(op, doc! {});
            assert_error(spec, bad, &format!("{op} is not supported by this engine"));
        }
        for op in ["$near", "$geoWithin", "$geoIntersects", "$nearSphere"] {
            let mut ops = Document::new();
            ops.insert(op, doc! {});
            assert_error(
                doc! {"a": ops},
                bad,
                &format!("{op} is not supported by this engine"),
            );
        }
        assert_error(
            doc! {"a": {"$where": "x"}},
            bad,
            "$where cannot be applied to a field",
        );
        assert_error(
            doc! {"a": {"$elemMatch": {"$where": "x"}}},
            bad,
            "$where is not supported",
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut spec = doc! {"a": 1};
        for _ in 0..(MAX_DEPTH + 5) {
            spec = doc! {"$and": [spec]};
        }
        assert_error(spec, ErrorCode::BadValue.code(), "depth limit");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::sample::select;

        fn scalar() -> impl Strategy<Value = Bson> {
            prop_oneof![
                (-2i32..3).prop_map(Bson::Int32),
                (-2i64..3).prop_map(Bson::Int64),
                select(vec![-1.5f64, 0.0, 2.0, f64::NAN]).prop_map(Bson::Double),
                select(vec!["", "x", "y"]).prop_map(|s| Bson::String(s.to_owned())),
                Just(Bson::Null),
                any::<bool>().prop_map(Bson::Boolean),
            ]
        }

        fn value() -> impl Strategy<Value = Bson> {
            prop_oneof![3 => scalar(), 1 => prop::collection::vec(scalar(), 0..3).prop_map(Bson::Array)]
        }

        fn field() -> impl Strategy<Value = &'static str> {
            select(vec!["a", "b", "c"])
        }

        fn document() -> impl Strategy<Value = Document> {
            prop::collection::vec((field(), value()), 0..4)
                .prop_map(|fields| fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        }

        fn leaf() -> impl Strategy<Value = Document> {
            let ops = vec![
                "", "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$type",
                "$size",
            ];
            (field(), select(ops), value()).prop_map(|(field, op, value)| {
                let arg = match op {
                    "" | "$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte" => value,
                    "$in" | "$nin" => Bson::Array(vec![value, Bson::Int32(1)]),
                    "$exists" => Bson::Boolean(matches!(value, Bson::Boolean(true))),
                    "$size" => Bson::Int32(1),
                    _ => Bson::String("number".to_owned()),
                };
                let mut spec = Document::new();
                if op.is_empty() {
                    spec.insert(field, arg);
                } else {
                    let mut ops = Document::new();
                    ops.insert(op, arg);
                    spec.insert(field, ops);
                }
                spec
            })
        }

        fn filter_spec() -> impl Strategy<Value = Document> {
            leaf().prop_recursive(2, 8, 3, |inner| {
                (
                    select(vec!["$and", "$or", "$nor"]),
                    prop::collection::vec(inner, 1..3),
                )
                    .prop_map(|(op, branches)| {
                        let mut spec = Document::new();
                        spec.insert(
                            op,
                            branches.into_iter().map(Bson::Document).collect::<Vec<_>>(),
                        );
                        spec
                    })
            })
        }

        fn wrap(op: &str, branches: &[&Document]) -> Filter {
            let mut spec = Document::new();
            spec.insert(
                op,
                branches
                    .iter()
                    .map(|d| Bson::Document((*d).clone()))
                    .collect::<Vec<_>>(),
            );
            filter(&spec)
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

            #[test]
            fn logical_operators_are_boolean_combinations(
                f in filter_spec(),
                g in filter_spec(),
                d in document(),
            ) {
                let (fm, gm) = (filter(&f).matches(&d), filter(&g).matches(&d));
                prop_assert_eq!(wrap("$nor", &[&f]).matches(&d), !fm);
                prop_assert_eq!(wrap("$and", &[&f, &g]).matches(&d), fm && gm);
                prop_assert_eq!(wrap("$or", &[&f, &g]).matches(&d), fm || gm);
                prop_assert_eq!(wrap("$nor", &[&f, &g]).matches(&d), !(fm || gm));
            }

            #[test]
            fn negated_field_operators_are_complements(d in document(), f in leaf()) {
                let (path, arg) = f.iter().next().map(|(k, v)| (k.clone(), v.clone())).expect("one field");
                let ops = match arg {
                    Bson::Document(ops) => ops,
                    value => doc! {"$eq": value},
                };
                let mut negated = Document::new();
                negated.insert(path, doc! {"$not": ops});
                prop_assert_eq!(filter(&negated).matches(&d), !filter(&f).matches(&d));
            }
        }
    }
}
