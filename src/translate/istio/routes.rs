//! AuthorizationPolicy rules as jwt-gate rules. Istio denies a request that any `DENY` rule
//! matches, then (when the workload has `ALLOW` policies) allows it only if some `ALLOW` rule
//! matches; jwt-gate's first matching rule decides alone. So each operation (a path pattern and
//! a set of methods: an "atom") becomes one jwt-gate rule whose outcome is computed from every
//! Istio rule that covers it: denied by an unconditional `DENY` rule or for want of an `ALLOW`
//! rule, else allowed on the `when` conditions of the `ALLOW` rules that cover it (an
//! unconditional one needs none) and the negated condition of the `DENY` rules that do.
//! Narrower atoms come first. What that cannot express is an error: `ALLOW` rules with
//! different conditions on one request (an OR jwt-gate's `when` lacks), a `DENY` rule with more
//! than one condition (its negation is an OR), and operations of different rules that overlap
//! without one containing the other (Istio's `/api/*` and `*.json`), unless the two rules say
//! the same.

use std::collections::BTreeSet;

use crate::config::model::{
    Condition, Deny, HeaderMatchSpecifier, HeaderMatcher, PathSpecifier, RegexMatcher,
    RequirementRule, RouteMatch, StringMatcher, StringPattern,
};
use crate::config::{ConfigError, ConfigWarning};
use crate::policy::condition::Condition as ParsedCondition;
use crate::translate::oci::read::{join, Node};

/// The fields of an AuthorizationPolicy `spec`, of a rule, and of what a rule holds.
const POLICY: &[&str] = &[
    "selector",
    "targetRef",
    "targetRefs",
    "action",
    "rules",
    "provider",
];
const RULE: &[&str] = &["from", "to", "when"];
const FROM: &[&str] = &["source"];
const SOURCE: &[&str] = &[
    "principals",
    "notPrincipals",
    "requestPrincipals",
    "notRequestPrincipals",
    "namespaces",
    "notNamespaces",
    "ipBlocks",
    "notIpBlocks",
    "remoteIpBlocks",
    "notRemoteIpBlocks",
    "serviceAccounts",
    "notServiceAccounts",
];
const TO: &[&str] = &["operation"];
const OPERATION: &[&str] = &[
    "hosts",
    "notHosts",
    "ports",
    "notPorts",
    "methods",
    "notMethods",
    "paths",
    "notPaths",
];
const CONDITION: &[&str] = &["key", "values", "notValues"];

/// The `requirement_map` entry every translated rule names: istiod's requirement.
pub const REQUIREMENT: &str = "request_authentication";

/// What Envoy's RBAC filter answers, for the requests Istio's authorization denies outright.
pub const RBAC_DENIED: &str = "RBAC: access denied";

/// Most operations (path and method sets) over all rules.
const MAX_ATOMS: usize = 512;

/// Every authorization rule of the workload.
#[derive(Default)]
pub(super) struct Policies {
    /// Whether some `ALLOW` policy exists (then what none allows is denied).
    allow_policies: bool,
    rules: Vec<IstioRule>,
}

/// One Istio rule: where it is, what it does, the operations it covers, and its conditions as
/// jwt-gate checks them (a `DENY` rule's negated; none: it denies outright).
pub(super) struct IstioRule {
    place: String,
    action: Action,
    atoms: Vec<Atom>,
    conditions: Vec<(Condition, String)>,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Action {
    Allow,
    Deny,
}

/// One operation: a path pattern and the methods (`None`: any).
#[derive(Clone, Debug, Eq, PartialEq)]
struct Atom {
    path: PathPattern,
    methods: Option<BTreeSet<String>>,
}

/// Istio's path forms.
#[derive(Clone, Debug, Eq, PartialEq)]
enum PathPattern {
    /// `*`, or no `paths`.
    Any,
    Exact(String),
    /// `/api/*`.
    Prefix(String),
    /// `*.json`.
    Suffix(String),
}

/// How two sets relate.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Relation {
    Disjoint,
    Equal,
    /// The first is inside the second.
    Inside,
    /// The first contains the second.
    Contains,
    /// They share some requests, and neither holds the other.
    Overlap,
}

/// What a jwt-gate rule does with the requests of one atom.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Deny,
    Check(Vec<Condition>),
}

/// An `AuthorizationPolicy` (the document `label`): its rules, added to `policies`.
pub(super) fn authorization_policy(
    label: &str,
    spec: &Node<'_>,
    policies: &mut Policies,
    warnings: &mut Vec<ConfigWarning>,
) -> Result<(), ConfigError> {
    let object = spec.object(POLICY)?;
    let action = match object.get("action") {
        None => Action::Allow,
        Some(node) => match node.string()? {
            "ALLOW" => Action::Allow,
            "DENY" => Action::Deny,
            other => {
                return Err(node.error(format!(
                    "{other}: jwt-gate decides ALLOW and DENY policies only (CUSTOM hands the \
                     decision to an external authorizer; AUDIT only logs)"
                )))
            }
        },
    };
    if let Some(provider) = object.get("provider") {
        return Err(provider.error("an external authorizer (CUSTOM) is not jwt-gate's to call"));
    }
    if action == Action::Allow {
        // An ALLOW policy without rules allows nothing: it still makes the others the only
        // way in.
        policies.allow_policies = true;
    }
    let Some(rules) = object.get("rules") else {
        return Ok(());
    };
    for rule in rules.items()? {
        let rule_object = rule.object(RULE)?;
        let place = format!("{label}: {}", rule.path);
        let atoms = match rule_object.get("to") {
            Some(to) => operations(&to)?,
            None => vec![Atom::any()],
        };
        let mut conditions = match rule_object.get("from") {
            Some(from) => sources(&from, label)?,
            None => Vec::new(),
        };
        if let Some(when) = rule_object.get("when") {
            for condition in when.items()? {
                conditions.push((istio_condition(&condition)?, located(label, &condition)));
            }
        }
        if action == Action::Deny {
            conditions = negated(conditions, &rule.path)?;
            // A condition with values holds on no claim at all: Istio's DENY let a request
            // without a token through, where jwt-gate asks for one (a notValues condition
            // held, and Istio denied it too).
            if conditions
                .iter()
                .any(|(negated, _)| negated.values.is_empty())
            {
                warnings.push(ConfigWarning::new(
                    place.clone(),
                    "a DENY rule with a condition becomes its opposite on a verified token: a \
                     request without a token gets 401 here, where Istio's DENY let it through",
                ));
            }
        }
        policies.rules.push(IstioRule {
            place,
            action,
            atoms,
            conditions,
        });
    }
    Ok(())
}

impl Policies {
    /// Whether there is no rule to decide and no ALLOW policy.
    pub(super) fn is_empty(&self) -> bool {
        !self.allow_policies && self.rules.is_empty()
    }

    /// Conditions on claims Istio splits at spaces and jwt-gate does not: `permission` (istiod
    /// always splits it) and `spaceDelimitedClaims` others than `scope` and `scp`.
    pub(super) fn check_split_claims(&self, split: &[String]) -> Result<(), ConfigError> {
        for rule in &self.rules {
            for (condition, place) in &rule.conditions {
                let Some(name) = condition
                    .key
                    .strip_prefix("request.auth.claims[")
                    .and_then(|rest| rest.strip_suffix(']'))
                else {
                    continue;
                };
                let split_by_istio = name == "permission" || split.iter().any(|s| s == name);
                if split_by_istio && name != "scope" && name != "scp" {
                    return Err(ConfigError::invalid(
                        join(place, "key"),
                        format!(
                            "Istio splits the {name} claim at spaces before matching; jwt-gate \
                             splits scope and scp only"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The jwt-gate rules: one per distinct atom, narrowest first, and a catch-all last.
    pub(super) fn rules(&self) -> Result<Vec<RequirementRule>, ConfigError> {
        let mut atoms: Vec<Atom> = Vec::new();
        for rule in &self.rules {
            for atom in &rule.atoms {
                if !atoms.contains(atom) {
                    atoms.push(atom.clone());
                }
            }
        }
        if !atoms.contains(&Atom::any()) {
            atoms.push(Atom::any());
        }
        if atoms.len() > MAX_ATOMS {
            return Err(ConfigError::invalid(
                "",
                format!("at most {MAX_ATOMS} distinct operations (paths and methods)"),
            ));
        }
        self.no_uneven_overlaps()?;
        let mut ordered = Vec::new();
        let mut left = atoms;
        while !left.is_empty() {
            // The first atom no other remaining one is inside of.
            let next = left
                .iter()
                .position(|atom| {
                    !left
                        .iter()
                        .any(|other| other.relation(atom) == Relation::Inside)
                })
                .unwrap_or(0);
            ordered.push(left.remove(next));
        }
        ordered
            .iter()
            .map(|atom| Ok(rule_of(atom, self.outcome(atom)?)))
            .collect()
    }

    /// What the requests of `atom` get: from every Istio rule with an atom that holds it.
    fn outcome(&self, atom: &Atom) -> Result<Outcome, ConfigError> {
        let covering: Vec<&IstioRule> = self
            .rules
            .iter()
            .filter(|rule| {
                rule.atoms
                    .iter()
                    .any(|own| matches!(own.relation(atom), Relation::Equal | Relation::Contains))
            })
            .collect();
        let mut conditions: Vec<Condition> = Vec::new();
        let mut add = |condition: &Condition| {
            if !conditions.contains(condition) {
                conditions.push(condition.clone());
            }
        };
        for rule in covering.iter().filter(|rule| rule.action == Action::Deny) {
            if rule.conditions.is_empty() {
                return Ok(Outcome::Deny);
            }
            rule.conditions
                .iter()
                .for_each(|(condition, _)| add(condition));
        }
        let allowing: Vec<&&IstioRule> = covering
            .iter()
            .filter(|rule| rule.action == Action::Allow)
            .collect();
        match allowing.as_slice() {
            [] if self.allow_policies => return Ok(Outcome::Deny),
            // One that needs nothing lets every request of the atom in.
            _ if allowing.iter().any(|rule| rule.conditions.is_empty()) => {}
            [] => {}
            [first, others @ ..] => {
                if let Some(other) = others.iter().find(|other| !first.conditions_equal(other)) {
                    return Err(ConfigError::invalid(
                        other.place.clone(),
                        format!(
                            "allows requests that {} allows too, on other conditions: jwt-gate's \
                             when holds all of one rule's conditions, not one rule's or another's",
                            first.place
                        ),
                    ));
                }
                first
                    .conditions
                    .iter()
                    .for_each(|(condition, _)| add(condition));
            }
        }
        Ok(Outcome::Check(conditions))
    }

    /// Operations of two rules that share requests without one holding the other: only if the
    /// rules do the same (then either decides alike).
    fn no_uneven_overlaps(&self) -> Result<(), ConfigError> {
        for (index, rule) in self.rules.iter().enumerate() {
            for other in self.rules.iter().skip(index + 1) {
                let same = rule.action == other.action && rule.conditions_equal(other);
                let overlapping = rule.atoms.iter().any(|a| {
                    other
                        .atoms
                        .iter()
                        .any(|b| a.relation(b) == Relation::Overlap)
                });
                if overlapping && !same {
                    return Err(ConfigError::invalid(
                        other.place.clone(),
                        format!(
                            "its paths or methods overlap those of {} without one holding the \
                             other, and the two rules differ: jwt-gate's first matching rule \
                             decides alone, and cannot take both",
                            rule.place
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl IstioRule {
    fn conditions_equal(&self, other: &Self) -> bool {
        self.conditions.len() == other.conditions.len()
            && self
                .conditions
                .iter()
                .zip(&other.conditions)
                .all(|((a, _), (b, _))| a == b)
    }
}

impl Atom {
    fn any() -> Self {
        Self {
            path: PathPattern::Any,
            methods: None,
        }
    }

    /// How this atom's requests relate to `other`'s.
    fn relation(&self, other: &Self) -> Relation {
        let methods = match (&self.methods, &other.methods) {
            (None, None) => Relation::Equal,
            (None, Some(_)) => Relation::Contains,
            (Some(_), None) => Relation::Inside,
            (Some(a), Some(b)) if a == b => Relation::Equal,
            (Some(a), Some(b)) if a.is_subset(b) => Relation::Inside,
            (Some(a), Some(b)) if a.is_superset(b) => Relation::Contains,
            (Some(a), Some(b)) if a.is_disjoint(b) => Relation::Disjoint,
            _ => Relation::Overlap,
        };
        combine(self.path.relation(&other.path), methods)
    }
}

/// The relation of two products of sets, from the relations of their factors.
fn combine(first: Relation, second: Relation) -> Relation {
    use Relation::*;
    match (first, second) {
        (Disjoint, _) | (_, Disjoint) => Disjoint,
        (Equal, other) | (other, Equal) => other,
        (Inside, Inside) => Inside,
        (Contains, Contains) => Contains,
        _ => Overlap,
    }
}

impl PathPattern {
    /// Istio's reading of a `paths` value: `*` any path, `*x` a suffix, `x*` a prefix,
    /// anything else exact.
    fn parse(text: &str, node: &Node<'_>) -> Result<Self, ConfigError> {
        if text.contains('{') || text.contains('}') {
            return Err(node.error(format!(
                "{text:?}: path templates ({{*}}, {{**}}) are not translated; use a prefix \
                 (/api/*) or write a path_template rule by hand"
            )));
        }
        Ok(if text == "*" {
            Self::Any
        } else if let Some(suffix) = text.strip_prefix('*') {
            Self::Suffix(suffix.to_owned())
        } else if let Some(prefix) = text.strip_suffix('*') {
            Self::Prefix(prefix.to_owned())
        } else {
            Self::Exact(text.to_owned())
        })
    }

    fn relation(&self, other: &Self) -> Relation {
        use PathPattern::*;
        use Relation::*;
        let nested = |inside: bool| if inside { Inside } else { Disjoint };
        match (self, other) {
            (Any, Any) => Equal,
            (Any, _) => Contains,
            (_, Any) => Inside,
            (Exact(a), Exact(b)) => {
                if a == b {
                    Equal
                } else {
                    Disjoint
                }
            }
            (Exact(a), Prefix(p)) => nested(a.starts_with(p.as_str())),
            (Exact(a), Suffix(s)) => nested(a.ends_with(s.as_str())),
            (Prefix(_) | Suffix(_), Exact(_)) => match other.relation(self) {
                Inside => Contains,
                relation => relation,
            },
            (Prefix(a), Prefix(b)) | (Suffix(a), Suffix(b)) if a == b => Equal,
            (Prefix(a), Prefix(b)) if a.starts_with(b.as_str()) => Inside,
            (Prefix(a), Prefix(b)) if b.starts_with(a.as_str()) => Contains,
            (Suffix(a), Suffix(b)) if a.ends_with(b.as_str()) => Inside,
            (Suffix(a), Suffix(b)) if b.ends_with(a.as_str()) => Contains,
            (Prefix(_), Prefix(_)) | (Suffix(_), Suffix(_)) => Disjoint,
            // `p` followed by `s` is in both, and neither holds the other.
            (Prefix(_), Suffix(_)) | (Suffix(_), Prefix(_)) => Overlap,
        }
    }
}

/// A rule's `to`: the atoms of each operation (paths times methods).
fn operations(to: &Node<'_>) -> Result<Vec<Atom>, ConfigError> {
    let mut atoms = Vec::new();
    let entries = to.items()?;
    if entries.is_empty() {
        return Ok(vec![Atom::any()]);
    }
    for entry in entries {
        let entry_object = entry.object(TO)?;
        let Some(operation) = entry_object.get("operation") else {
            atoms.push(Atom::any());
            continue;
        };
        let operation_object = operation.object(OPERATION)?;
        for name in [
            "hosts",
            "notHosts",
            "ports",
            "notPorts",
            "notMethods",
            "notPaths",
        ] {
            if let Some(field) = operation_object.get(name) {
                return Err(field.error(format!(
                    "not translated: jwt-gate rules match paths and methods{}",
                    if name.starts_with("not") {
                        " (a negated list would need a rule that matches everything else)"
                    } else {
                        " (write a rule with a header matcher on :authority by hand)"
                    }
                )));
            }
        }
        let methods = match operation_object.get("methods") {
            None => None,
            Some(node) => {
                let methods = node.strings()?;
                if methods.is_empty() || methods.iter().any(|m| m.is_empty() || m.contains('*')) {
                    return Err(node.error("a non-empty list of methods, without wildcards"));
                }
                Some(methods.into_iter().collect::<BTreeSet<_>>())
            }
        };
        let paths = match operation_object.get("paths") {
            None => vec![PathPattern::Any],
            Some(node) => {
                let paths = node.strings()?;
                if paths.is_empty() {
                    return Err(node.error("a non-empty list of paths"));
                }
                paths
                    .iter()
                    .map(|path| PathPattern::parse(path, &node))
                    .collect::<Result<_, _>>()?
            }
        };
        for path in paths {
            atoms.push(Atom {
                path,
                methods: methods.clone(),
            });
        }
    }
    Ok(atoms)
}

/// A rule's `from`: its request principals as conditions. Sources are ORed: several are only
/// translated when each is one `requestPrincipals` list (their union is one condition).
fn sources(from: &Node<'_>, label: &str) -> Result<Vec<(Condition, String)>, ConfigError> {
    let entries = from.items()?;
    let mut per_source = Vec::new();
    for entry in &entries {
        let entry_object = entry.object(FROM)?;
        let Some(source) = entry_object.get("source") else {
            // An empty source matches every request: so does the OR.
            return Ok(Vec::new());
        };
        let source_object = source.object(SOURCE)?;
        let mut conditions = Vec::new();
        for name in SOURCE {
            let Some(field) = source_object.get(name) else {
                continue;
            };
            let (values, not_values) = match *name {
                "requestPrincipals" => (field.strings()?, Vec::new()),
                "notRequestPrincipals" => (Vec::new(), field.strings()?),
                _ => {
                    return Err(field.error(
                        "not translated: jwt-gate's conditions are on the verified token \
                         (requestPrincipals, notRequestPrincipals, when on request.auth.*); \
                         peer identities, namespaces and IP addresses are not",
                    ))
                }
            };
            let condition = Condition {
                key: "request.auth.principal".to_owned(),
                values,
                not_values,
            };
            check(&condition, &field)?;
            conditions.push((condition, located(label, &field)));
        }
        if conditions.is_empty() {
            return Ok(Vec::new());
        }
        per_source.push(conditions);
    }
    match per_source.len() {
        0 => Ok(Vec::new()),
        1 => Ok(per_source.into_iter().next().unwrap_or_default()),
        _ => {
            let mut union = Condition {
                key: "request.auth.principal".to_owned(),
                ..Condition::default()
            };
            let mut place = String::new();
            for conditions in per_source {
                match conditions.as_slice() {
                    [(condition, at)] if condition.not_values.is_empty() => {
                        union.values.extend(condition.values.iter().cloned());
                        place.clone_from(at);
                    }
                    _ => {
                        return Err(from.error(
                            "several sources are ORed; jwt-gate translates that only for \
                             sources that each list requestPrincipals alone",
                        ))
                    }
                }
            }
            Ok(vec![(union, place)])
        }
    }
}

/// A `when` entry: on `request.auth.*` only.
fn istio_condition(node: &Node<'_>) -> Result<Condition, ConfigError> {
    let object = node.object(CONDITION)?;
    let key = object.required("key")?.string()?.to_owned();
    let strings = |name: &str| -> Result<Vec<String>, ConfigError> {
        object
            .get(name)
            .map(|field| field.strings())
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let condition = Condition {
        values: strings("values")?,
        not_values: strings("notValues")?,
        key,
    };
    if !condition.key.starts_with("request.auth.") {
        return Err(ConfigError::invalid(
            object.path("key"),
            format!(
                "{:?} is not about the token: jwt-gate's conditions are on request.auth.* \
                 (headers, IP addresses, ports and SNI are not translated)",
                condition.key
            ),
        ));
    }
    check(&condition, node)?;
    Ok(condition)
}

/// A condition jwt-gate would refuse at load is refused here, naming the Istio field.
fn check(condition: &Condition, node: &Node<'_>) -> Result<(), ConfigError> {
    ParsedCondition::parse(&condition.key, &condition.values, &condition.not_values)
        .map(|_| ())
        .map_err(|why| node.error(why))
}

/// A DENY rule's conditions as jwt-gate checks them: the opposite of its one condition (none:
/// it denies outright). `at`: the rule, in its document.
fn negated(
    conditions: Vec<(Condition, String)>,
    at: &str,
) -> Result<Vec<(Condition, String)>, ConfigError> {
    match conditions.as_slice() {
        [] => Ok(Vec::new()),
        [(condition, at)] if condition.values.is_empty() || condition.not_values.is_empty() => {
            Ok(vec![(
                Condition {
                    key: condition.key.clone(),
                    values: condition.not_values.clone(),
                    not_values: condition.values.clone(),
                },
                at.clone(),
            )])
        }
        _ => Err(ConfigError::invalid(
            at,
            "a DENY rule with more than one condition (or values and notValues together) denies \
             when all hold; its opposite is an OR of conditions, which jwt-gate's when cannot \
             express: split the rule, one condition each",
        )),
    }
}

/// `document 2 (...): spec.rules[0].when[1]`.
fn located(label: &str, node: &Node<'_>) -> String {
    format!("{label}: {}", node.path)
}

/// The jwt-gate rule for an atom.
fn rule_of(atom: &Atom, outcome: Outcome) -> RequirementRule {
    let path = match &atom.path {
        PathPattern::Any => PathSpecifier::Prefix("/".to_owned()),
        PathPattern::Exact(path) => PathSpecifier::Path(path.clone()),
        PathPattern::Prefix(prefix) => PathSpecifier::Prefix(prefix.clone()),
        PathPattern::Suffix(suffix) => PathSpecifier::SafeRegex(RegexMatcher {
            regex: format!(".*{}", escape(suffix)),
        }),
    };
    let headers = atom
        .methods
        .as_ref()
        .map(|methods| {
            let pattern = match methods.iter().collect::<Vec<_>>().as_slice() {
                [one] => StringPattern::Exact((*one).clone()),
                all => StringPattern::SafeRegex(RegexMatcher {
                    regex: all
                        .iter()
                        .map(|method| escape(method))
                        .collect::<Vec<_>>()
                        .join("|"),
                }),
            };
            HeaderMatcher {
                name: ":method".to_owned(),
                rule: Some(HeaderMatchSpecifier::StringMatch(StringMatcher {
                    pattern,
                    ignore_case: false,
                })),
                ..HeaderMatcher::default()
            }
        })
        .into_iter()
        .collect();
    let route = RouteMatch {
        path,
        case_sensitive: None,
        headers,
        query_parameters: Vec::new(),
    };
    match outcome {
        Outcome::Deny => RequirementRule {
            route,
            requires: None,
            requirement_name: None,
            allowed_scopes: Vec::new(),
            deny: Some(Deny {
                status: 403,
                message: RBAC_DENIED.to_owned(),
            }),
            when: Vec::new(),
        },
        Outcome::Check(when) => RequirementRule {
            route,
            requires: None,
            requirement_name: Some(REQUIREMENT.to_owned()),
            allowed_scopes: Vec::new(),
            deny: None,
            when,
        },
    }
}

/// `text` as a regex matching it literally (RE2's metacharacters escaped).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
