//! The SAM template (`infra/template.yaml`) as the tests read it, so that the template and
//! the code cannot drift apart.
//!
//! * [`Template::load`] parses the template. It is written with CloudFormation's short-form
//!   tags (`!Ref`, `!GetAtt`, `!Sub`...), as AWS's own examples are, because people read it;
//!   `serde_yaml` keeps a tag on the value it marks, so [`parse_cfn_yaml`] turns every tag
//!   into its long form (`!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` → `{"Fn::GetAtt": ["A",
//!   "B"]}`, `!Sub s` → `{"Fn::Sub": s}`...), the JSON CloudFormation itself sees. The tests
//!   then only deal with plain JSON.
//! * [`Template::table_shape`] / [`TableShape::of_definition`]: the table as the template
//!   declares it and as `credits_store_dynamodb::table_definition` builds it, in one
//!   comparable form; [`Template::create_table_input`] builds the `CreateTable` request from
//!   the template alone, to create exactly that table in DynamoDB Local.
//! * [`Template::http_routes`] and [`openapi_routes`]: the routes on each side.
//! * [`Template::dynamodb_permissions`] (and [`Template::webhooks_permissions`]): what each
//!   function's role allows on the ledger table (on the webhooks table), and
//!   [`IamRecorder`], an SDK interceptor that records the IAM permissions each DynamoDB
//!   request needs (a `TransactWriteItems` needs the item action of each of its parts).
//! * [`venv_tool`]: `cfn-lint`, `sam` and `cargo-lambda` from `.venv/`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_dynamodb::config::Intercept;
use aws_sdk_dynamodb::operation::create_table::CreateTableInput;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, StreamSpecification,
    StreamViewType,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, Input,
};
use aws_smithy_types::config_bag::ConfigBag;
use credits_store_dynamodb::PARTITION_KEY;
use serde_json::{Map, Value as Json};

/// Where the template lives, relative to the workspace root.
pub const TEMPLATE_PATH: &str = "infra/template.yaml";
/// The logical id of the ledger's table.
pub const LEDGER_TABLE_ID: &str = "LedgerTable";
/// The logical id of the webhooks' table (endpoints and deliveries).
pub const WEBHOOKS_TABLE_ID: &str = "WebhooksTable";
/// Where the generated OpenAPI document is committed, relative to the workspace root.
pub const OPENAPI_PATH: &str = "openapi.json";

const INSTALL_HINT: &str = "run `scripts/install-tools.sh` from the repository root";

/// The workspace root (the parent of the `tests` crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `.venv/bin/<name>` if it is installed, else an error saying how to install it.
pub fn venv_tool(name: &str) -> Result<PathBuf, String> {
    let path = workspace_root().join(".venv").join("bin").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is not installed: {INSTALL_HINT} (it installs cfn-lint, aws-sam-cli, \
             cargo-lambda and ziglang into .venv/)",
            path.display()
        ))
    }
}

// ------------------------------------------------------------------ YAML with tags

/// Parses CloudFormation YAML, short-form tags included, into CloudFormation's JSON form.
///
/// # Errors
/// A message when the text is not YAML or holds something JSON cannot (a non-string key).
pub fn parse_cfn_yaml(text: &str) -> Result<Json, String> {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    to_json(yaml)
}

fn to_json(value: serde_yaml::Value) -> Result<Json, String> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Json::Null,
        Y::Bool(b) => Json::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                // Only a float can get here; templates have none, but keep its text exactly.
                Json::String(n.to_string())
            }
        }
        Y::String(s) => Json::String(s),
        Y::Sequence(items) => {
            Json::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Y::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(format!("a mapping key is not a string: {other:?}")),
                };
                object.insert(key, to_json(value)?);
            }
            Json::Object(object)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(tagged.value)?;
            let (key, value) = match name {
                "Ref" | "Condition" => (name.to_string(), value),
                "GetAtt" => {
                    // Short form `!GetAtt Resource.Attribute[.More]`: the resource name has no
                    // dot, the attribute may.
                    let value = match value {
                        Json::String(s) => match s.split_once('.') {
                            Some((resource, attribute)) => Json::Array(vec![
                                Json::String(resource.to_string()),
                                Json::String(attribute.to_string()),
                            ]),
                            None => return Err(format!("`!GetAtt {s}` names no attribute")),
                        },
                        other => other,
                    };
                    ("Fn::GetAtt".to_string(), value)
                }
                _ => (format!("Fn::{name}"), value),
            };
            let mut object = Map::new();
            object.insert(key, value);
            Json::Object(object)
        }
    })
}

// ------------------------------------------------------------------ the template

/// The parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Json,
}

impl Template {
    /// Reads and parses `infra/template.yaml`.
    ///
    /// # Errors
    /// When the file cannot be read or parsed.
    pub fn load() -> Result<Template, String> {
        let path = workspace_root().join(TEMPLATE_PATH);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Template::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a template's text.
    ///
    /// # Errors
    /// When it is not YAML or has no `Resources`.
    pub fn from_yaml(text: &str) -> Result<Template, String> {
        let root = parse_cfn_yaml(text)?;
        if !root.get("Resources").is_some_and(Json::is_object) {
            return Err("the template has no `Resources` mapping".to_string());
        }
        Ok(Template { root })
    }

    /// The whole template, in CloudFormation's JSON form.
    pub fn json(&self) -> &Json {
        &self.root
    }

    /// Every resource: logical id → resource.
    pub fn resources(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.root
            .get("Resources")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
            .map(|(id, resource)| (id.as_str(), resource))
    }

    pub fn resource(&self, id: &str) -> Option<&Json> {
        self.root.get("Resources").and_then(|r| r.get(id))
    }

    /// Logical ids and resources of one type, in logical-id order.
    pub fn resources_of_type(&self, kind: &str) -> Vec<(&str, &Json)> {
        self.resources()
            .filter(|(_, r)| r.get("Type").and_then(Json::as_str) == Some(kind))
            .collect()
    }

    /// The properties of the alarms on `namespace`/`metric` whose dimension `name` is
    /// `value` and that notify the alarm topic.
    pub fn alarms_on(&self, namespace: &str, metric: &str, name: &str, value: &Json) -> Vec<Json> {
        self.resources_of_type("AWS::CloudWatch::Alarm")
            .into_iter()
            .map(|(_, alarm)| alarm["Properties"].clone())
            .filter(|p| {
                p["Namespace"] == namespace
                    && p["MetricName"] == metric
                    && p["Dimensions"].as_array().is_some_and(|ds| {
                        ds.iter().any(|d| d["Name"] == name && &d["Value"] == value)
                    })
                    && p["AlarmActions"] == serde_json::json!([{"Ref": "AlarmTopic"}])
            })
            .collect()
    }

    /// The ledger's `AWS::DynamoDB::Table` ([`LEDGER_TABLE_ID`]): logical id and resource.
    ///
    /// # Errors
    /// When the template does not declare it, or declares another table than the ledger's
    /// and the webhooks' ([`WEBHOOKS_TABLE_ID`]).
    pub fn table(&self) -> Result<(&str, &Json), String> {
        self.table_named(LEDGER_TABLE_ID)
    }

    /// The webhooks' `AWS::DynamoDB::Table` ([`WEBHOOKS_TABLE_ID`]): logical id and resource.
    ///
    /// # Errors
    /// As [`Template::table`].
    pub fn webhooks_table(&self) -> Result<(&str, &Json), String> {
        self.table_named(WEBHOOKS_TABLE_ID)
    }

    fn table_named(&self, id: &str) -> Result<(&str, &Json), String> {
        let tables = self.resources_of_type("AWS::DynamoDB::Table");
        let known = [LEDGER_TABLE_ID, WEBHOOKS_TABLE_ID];
        if let Some((other, _)) = tables.iter().find(|(t, _)| !known.contains(t)) {
            return Err(format!(
                "the template declares the table {other}: the stores use two, {}",
                known.join(" and ")
            ));
        }
        tables
            .into_iter()
            .find(|(t, _)| *t == id)
            .ok_or_else(|| format!("the template declares no AWS::DynamoDB::Table {id}"))
    }

    /// The table's `Properties`.
    ///
    /// # Errors
    /// As [`Template::table`].
    pub fn table_properties(&self) -> Result<&Json, String> {
        let (id, table) = self.table()?;
        table
            .get("Properties")
            .ok_or_else(|| format!("table {id} has no Properties"))
    }

    /// The table as the template declares it.
    ///
    /// # Errors
    /// When the declaration is incomplete or not understood.
    pub fn table_shape(&self) -> Result<TableShape, String> {
        TableShape::of_template(self.table_properties()?)
    }

    /// The webhooks table as the template declares it.
    ///
    /// # Errors
    /// When the declaration is missing, incomplete or not understood.
    pub fn webhooks_table_shape(&self) -> Result<TableShape, String> {
        let (id, table) = self.webhooks_table()?;
        let properties = table
            .get("Properties")
            .ok_or_else(|| format!("table {id} has no Properties"))?;
        TableShape::of_template(properties)
    }

    /// The `CreateTable` request for the table the template declares, named `name` (the
    /// template's own name depends on the stack's parameters). Built from the template alone:
    /// creating it in DynamoDB Local gives the very table a deployment gets.
    ///
    /// # Errors
    /// When the declaration is incomplete or not understood.
    pub fn create_table_input(&self, name: &str) -> Result<CreateTableInput, String> {
        self.table_shape()?.create_table_input(name)
    }

    /// The HTTP API's routes: route → logical id of the function serving it.
    ///
    /// # Errors
    /// When an `HttpApi` event is malformed, refers to another API than the template's one
    /// `AWS::Serverless::HttpApi`, or a route is served twice.
    pub fn http_routes(&self) -> Result<BTreeMap<Route, String>, String> {
        let api = match self
            .resources_of_type("AWS::Serverless::HttpApi")
            .as_slice()
        {
            [(id, _)] => (*id).to_string(),
            other => {
                return Err(format!(
                    "expected exactly one AWS::Serverless::HttpApi, found {}",
                    other.len()
                ));
            }
        };
        let mut routes = BTreeMap::new();
        for (function, resource) in self.resources_of_type("AWS::Serverless::Function") {
            for (event_id, event) in events(resource) {
                if event.get("Type").and_then(Json::as_str) != Some("HttpApi") {
                    continue;
                }
                let where_ = format!("{function}.Events.{event_id}");
                let properties = event
                    .get("Properties")
                    .ok_or_else(|| format!("{where_} has no Properties"))?;
                let api_ref = properties.get("ApiId").and_then(|a| a.get("Ref"));
                if api_ref.and_then(Json::as_str) != Some(api.as_str()) {
                    return Err(format!(
                        "{where_}: ApiId must be `!Ref {api}` (without it SAM creates an implicit \
                         second API), found {:?}",
                        properties.get("ApiId")
                    ));
                }
                let method = properties
                    .get("Method")
                    .and_then(Json::as_str)
                    .ok_or_else(|| format!("{where_} has no Method"))?;
                let path = properties
                    .get("Path")
                    .and_then(Json::as_str)
                    .ok_or_else(|| format!("{where_} has no Path"))?;
                let route = Route::new(method, path);
                if let Some(previous) = routes.insert(route.clone(), function.to_string()) {
                    return Err(format!(
                        "{route} is served by both {previous} and {function}"
                    ));
                }
            }
        }
        Ok(routes)
    }

    /// The functions invoked by a schedule (`Schedule` or `ScheduleV2` events).
    pub fn scheduled_functions(&self) -> BTreeSet<String> {
        self.resources_of_type("AWS::Serverless::Function")
            .into_iter()
            .filter(|(_, resource)| {
                events(resource).any(|(_, e)| {
                    matches!(
                        e.get("Type").and_then(Json::as_str),
                        Some("Schedule" | "ScheduleV2")
                    )
                })
            })
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// The functions triggered by a DynamoDB stream (`DynamoDB` events).
    pub fn stream_functions(&self) -> BTreeSet<String> {
        self.resources_of_type("AWS::Serverless::Function")
            .into_iter()
            .filter(|(_, resource)| {
                events(resource)
                    .any(|(_, e)| e.get("Type").and_then(Json::as_str) == Some("DynamoDB"))
            })
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// Every function: logical id → what it is built from.
    ///
    /// # Errors
    /// When a function lacks its cargo-lambda build metadata or code location.
    pub fn functions(&self) -> Result<BTreeMap<String, FunctionBuild>, String> {
        let mut functions = BTreeMap::new();
        for (id, resource) in self.resources_of_type("AWS::Serverless::Function") {
            let metadata = resource.get("Metadata");
            let build_method = metadata
                .and_then(|m| m.get("BuildMethod"))
                .and_then(Json::as_str)
                .ok_or_else(|| format!("{id} has no Metadata.BuildMethod"))?;
            let binary = metadata
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Json::as_str)
                .ok_or_else(|| format!("{id} has no Metadata.BuildProperties.Binary"))?;
            let code_uri = resource
                .get("Properties")
                .and_then(|p| p.get("CodeUri"))
                .and_then(Json::as_str)
                .ok_or_else(|| format!("{id} has no CodeUri"))?;
            functions.insert(
                id.to_string(),
                FunctionBuild {
                    build_method: build_method.to_string(),
                    binary: binary.to_string(),
                    code_uri: code_uri.to_string(),
                },
            );
        }
        Ok(functions)
    }

    /// What a function's role allows on the ledger table, as permissions (statements on the
    /// webhooks table are [`Template::webhooks_permissions`]'s).
    ///
    /// # Errors
    /// As [`Template::table_permissions`].
    pub fn dynamodb_permissions(&self, function: &str) -> Result<BTreeSet<Permission>, String> {
        let (table_id, _) = self.table()?;
        self.table_permissions(function, table_id)
    }

    /// What a function's role allows on the webhooks table, as permissions.
    ///
    /// # Errors
    /// As [`Template::table_permissions`].
    pub fn webhooks_permissions(&self, function: &str) -> Result<BTreeSet<Permission>, String> {
        let (table_id, _) = self.webhooks_table()?;
        self.table_permissions(function, table_id)
    }

    /// What a function's role allows on the table `table_id`, as permissions.
    ///
    /// The function must name its role (`Role: !GetAtt <Role>.Arn`, an `AWS::IAM::Role` of this
    /// template) and carry no SAM `Policies`, so that this role is all it gets. The role may hold
    /// only inline policies with `Allow` statements; a DynamoDB action must be a plain
    /// `dynamodb:<Action>` (no wildcard) on a table of the template (`!GetAtt <Table>.Arn`) or
    /// one of its indexes (`!Sub ${<Table>.Arn}/index/<name>`) or streams; `*` as an action
    /// or resource is refused. Resources of the template's other table are left out.
    ///
    /// # Errors
    /// When the function or role breaks any of these rules.
    pub fn table_permissions(
        &self,
        function: &str,
        table_id: &str,
    ) -> Result<BTreeSet<Permission>, String> {
        let other_tables: Vec<&str> = self
            .resources_of_type("AWS::DynamoDB::Table")
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| *id != table_id)
            .collect();
        let resource = self
            .resource(function)
            .ok_or_else(|| format!("no resource {function}"))?;
        let properties = resource
            .get("Properties")
            .ok_or_else(|| format!("{function} has no Properties"))?;
        for forbidden in ["Policies", "Connectors"] {
            if properties.get(forbidden).is_some() {
                return Err(format!(
                    "{function} has `{forbidden}`: give it only its own role, so that the role's \
                     statements are all it may do"
                ));
            }
        }
        let globals = self.root.get("Globals").and_then(|g| g.get("Function"));
        if globals.is_some_and(|g| g.get("Policies").is_some() || g.get("Role").is_some()) {
            return Err("Globals.Function must not grant Policies or a Role".to_string());
        }
        let role_id = properties
            .get("Role")
            .and_then(|r| r.get("Fn::GetAtt"))
            .and_then(Json::as_array)
            .and_then(|a| match a.as_slice() {
                [Json::String(id), Json::String(attribute)] if attribute == "Arn" => {
                    Some(id.as_str())
                }
                _ => None,
            })
            .ok_or_else(|| format!("{function}: Role must be `!GetAtt <Role>.Arn`"))?;
        let role = self
            .resource(role_id)
            .filter(|r| r.get("Type").and_then(Json::as_str) == Some("AWS::IAM::Role"))
            .ok_or_else(|| format!("{function}: {role_id} is not an AWS::IAM::Role here"))?;
        let role_properties = role
            .get("Properties")
            .ok_or_else(|| format!("{role_id} has no Properties"))?;
        if role_properties.get("ManagedPolicyArns").is_some()
            || role_properties.get("PermissionsBoundary").is_some()
        {
            return Err(format!(
                "{role_id}: use inline policies only (a managed policy's grants are invisible here)"
            ));
        }
        let mut permissions = BTreeSet::new();
        let policies = role_properties
            .get("Policies")
            .and_then(Json::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for policy in policies {
            let name = policy
                .get("PolicyName")
                .and_then(Json::as_str)
                .unwrap_or("?");
            let statements = match policy
                .get("PolicyDocument")
                .and_then(|d| d.get("Statement"))
            {
                Some(Json::Array(statements)) => statements.iter().collect::<Vec<_>>(),
                Some(one @ Json::Object(_)) => vec![one],
                _ => return Err(format!("{role_id}.{name} has no Statement")),
            };
            for statement in statements {
                let where_ = format!("{role_id} policy {name}");
                if statement.get("Effect").and_then(Json::as_str) != Some("Allow") {
                    return Err(format!("{where_}: only Allow statements are understood"));
                }
                for key in ["NotAction", "NotResource"] {
                    if statement.get(key).is_some() {
                        return Err(format!("{where_}: `{key}` grants too much to check"));
                    }
                }
                let actions = strings(statement.get("Action"))
                    .ok_or_else(|| format!("{where_}: Action must be a string or a list"))?;
                let dynamo_actions: Vec<&str> = actions
                    .iter()
                    .copied()
                    .filter(|a| a.to_ascii_lowercase().starts_with("dynamodb:") || a.contains('*'))
                    .collect();
                if dynamo_actions.is_empty() {
                    continue;
                }
                for action in &dynamo_actions {
                    if action.contains('*') {
                        return Err(format!("{where_}: wildcard action `{action}`"));
                    }
                }
                let resources = match statement.get("Resource") {
                    Some(Json::Array(list)) => list.iter().collect::<Vec<_>>(),
                    Some(one) => vec![one],
                    None => return Err(format!("{where_}: no Resource")),
                };
                let leading = leading_keys(statement).map_err(|e| format!("{where_}: {e}"))?;
                for resource in resources {
                    if other_tables
                        .iter()
                        .any(|other| names_table(other, resource))
                    {
                        continue;
                    }
                    let resource =
                        table_resource(table_id, resource).map_err(|e| format!("{where_}: {e}"))?;
                    for action in &dynamo_actions {
                        for prefix in &leading {
                            permissions.insert(
                                Permission::new(action, resource.clone()).leading(prefix.clone()),
                            );
                        }
                    }
                }
            }
        }
        Ok(permissions)
    }
}

/// The partition key prefixes a statement allows: those of its `ForAllValues:StringLike`
/// `dynamodb:LeadingKeys` condition (`A#*` → `A#`), or `[None]` (any) without a condition.
fn leading_keys(statement: &Json) -> Result<Vec<Option<String>>, String> {
    let Some(condition) = statement.get("Condition") else {
        return Ok(vec![None]);
    };
    let only = condition
        .as_object()
        .filter(|c| c.len() == 1)
        .and_then(|c| c.get("ForAllValues:StringLike"))
        .and_then(Json::as_object)
        .filter(|c| c.len() == 1)
        .and_then(|c| c.get("dynamodb:LeadingKeys"));
    let patterns = strings(only).ok_or_else(|| {
        format!("only a `ForAllValues:StringLike` `dynamodb:LeadingKeys` condition is understood: {condition}")
    })?;
    patterns
        .iter()
        .map(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) if !prefix.contains('*') && prefix.ends_with('#') => {
                Ok(Some(prefix.to_owned()))
            }
            _ => Err(format!(
                "LeadingKeys pattern `{pattern}` is not `<prefix>#*`"
            )),
        })
        .collect()
}

/// Creates, through `client`, the table `infra/template.yaml` declares, named `name` — for
/// DynamoDB tests that want to run on exactly the deployed table rather than on
/// `credits_store_dynamodb::table_definition` (`template_table.rs` proves the two equal).
/// DynamoDB Local makes a table active at once; no wait.
///
/// # Errors
/// When the template cannot be read or DynamoDB refuses the table.
pub async fn create_template_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), String> {
    let input = Template::load()?.create_table_input(name)?;
    create_from(client, name, &input).await
}

/// Creates, through `client`, the webhooks table `infra/template.yaml` declares, named `name`
/// (`template_webhooks.rs` proves it equal to `credits_store_dynamodb::webhooks_table_definition`).
///
/// # Errors
/// When the template cannot be read or DynamoDB refuses the table.
pub async fn create_template_webhooks_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), String> {
    let input = Template::load()?
        .webhooks_table_shape()?
        .create_table_input(name)?;
    create_from(client, name, &input).await
}

async fn create_from(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    input: &CreateTableInput,
) -> Result<(), String> {
    client
        .create_table()
        .set_table_name(input.table_name().map(str::to_string))
        .set_billing_mode(input.billing_mode().cloned())
        .set_attribute_definitions(Some(input.attribute_definitions().to_vec()))
        .set_key_schema(Some(input.key_schema().to_vec()))
        .set_stream_specification(input.stream_specification().cloned())
        .set_local_secondary_indexes(Some(input.local_secondary_indexes().to_vec()))
        .set_global_secondary_indexes(Some(input.global_secondary_indexes().to_vec()))
        .send()
        .await
        .map_err(|e| format!("DynamoDB refused the template's table `{name}`: {e:?}"))?;
    Ok(())
}

fn events(resource: &Json) -> impl Iterator<Item = (&str, &Json)> {
    resource
        .get("Properties")
        .and_then(|p| p.get("Events"))
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .map(|(id, event)| (id.as_str(), event))
}

fn strings(value: Option<&Json>) -> Option<Vec<&str>> {
    match value? {
        Json::String(s) => Some(vec![s.as_str()]),
        Json::Array(items) => items.iter().map(Json::as_str).collect(),
        _ => None,
    }
}

/// Whether a policy `Resource` is the table `table_id` or a part of it (`!GetAtt <id>.<…>`,
/// `!Sub ${<id>.<…>}…`).
fn names_table(table_id: &str, resource: &Json) -> bool {
    let by_get_att = resource
        .get("Fn::GetAtt")
        .and_then(Json::as_array)
        .and_then(|a| a.first())
        .and_then(Json::as_str)
        == Some(table_id);
    let by_sub = resource
        .get("Fn::Sub")
        .and_then(Json::as_str)
        .is_some_and(|sub| sub.starts_with(&format!("${{{table_id}.")));
    by_get_att || by_sub
}

/// Which part of the table a policy `Resource` names.
fn table_resource(table_id: &str, resource: &Json) -> Result<TableResource, String> {
    let arn = format!("${{{table_id}.Arn}}");
    if let Some(Json::Array(get_att)) = resource.get("Fn::GetAtt")
        && let [Json::String(id), Json::String(attribute)] = get_att.as_slice()
        && id == table_id
        && attribute == "Arn"
    {
        return Ok(TableResource::Table);
    }
    if let Some(Json::String(sub)) = resource.get("Fn::Sub")
        && let Some(index) = sub
            .strip_prefix(&arn)
            .and_then(|r| r.strip_prefix("/index/"))
        && !index.is_empty()
        && index
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Ok(TableResource::Index(index.to_string()));
    }
    if let Some(Json::Array(get_att)) = resource.get("Fn::GetAtt")
        && let [Json::String(id), Json::String(attribute)] = get_att.as_slice()
        && id == table_id
        && attribute == "StreamArn"
    {
        return Ok(TableResource::Stream);
    }
    if resource.get("Fn::Sub").and_then(Json::as_str) == Some(&format!("{arn}/stream/*")) {
        return Ok(TableResource::Streams);
    }
    Err(format!(
        "a DynamoDB action on {resource}: grant them only on `!GetAtt {table_id}.Arn`, \
         `!Sub ${{{table_id}.Arn}}/index/<name>`, `!GetAtt {table_id}.StreamArn` or \
         `!Sub ${{{table_id}.Arn}}/stream/*`"
    ))
}

/// How a function is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionBuild {
    /// `rust-cargolambda`.
    pub build_method: String,
    /// The cargo binary (`credits-charge`...).
    pub binary: String,
    /// Relative to `infra/`: the crate's directory.
    pub code_uri: String,
}

// ------------------------------------------------------------------ routes

/// An HTTP route: upper-case method and path template (`/v1/keys/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub method: String,
    pub path: String,
}

impl Route {
    pub fn new(method: &str, path: &str) -> Route {
        Route {
            method: method.to_ascii_uppercase(),
            path: path.to_string(),
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Every operation of the OpenAPI document at `openapi.json`.
///
/// # Errors
/// When it is missing or has no `paths`.
pub fn openapi_routes() -> Result<BTreeSet<Route>, String> {
    let path = workspace_root().join(OPENAPI_PATH);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read {} ({e}); it is generated from the code by credits-api",
            path.display()
        )
    })?;
    let document: Json =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    routes_of_openapi(&document).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every operation of an OpenAPI document.
///
/// # Errors
/// When it has no `paths` object.
pub fn routes_of_openapi(document: &Json) -> Result<BTreeSet<Route>, String> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let paths = document
        .get("paths")
        .and_then(Json::as_object)
        .ok_or("no `paths` object")?;
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some() {
                routes.insert(Route::new(method, path));
            }
        }
    }
    Ok(routes)
}

// ------------------------------------------------------------------ the table

/// A table reduced to what must match: billing, attributes, keys, indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: String,
    /// Attribute name → `S`, `N` or `B`.
    pub attributes: BTreeMap<String, String>,
    /// `(attribute, HASH|RANGE)` in order.
    pub key_schema: Vec<(String, String)>,
    pub local_indexes: BTreeMap<String, IndexShape>,
    pub global_indexes: BTreeMap<String, IndexShape>,
    /// The stream's view type (`NEW_IMAGE`...) when the table has a stream enabled.
    pub stream_view_type: Option<String>,
}

/// An index reduced to what must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexShape {
    pub key_schema: Vec<(String, String)>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    pub non_key_attributes: BTreeSet<String>,
}

impl TableShape {
    /// The shape of a `CreateTable` request (e.g. `credits_store_dynamodb::table_definition`).
    pub fn of_definition(input: &CreateTableInput) -> TableShape {
        let keys = |schema: &[KeySchemaElement]| {
            schema
                .iter()
                .map(|k| {
                    (
                        k.attribute_name().to_string(),
                        k.key_type().as_str().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let projection = |p: Option<&Projection>| {
            (
                p.and_then(Projection::projection_type)
                    .map_or_else(String::new, |t| t.as_str().to_string()),
                p.map(|p| p.non_key_attributes().iter().cloned().collect())
                    .unwrap_or_default(),
            )
        };
        TableShape {
            billing_mode: input
                .billing_mode()
                .map_or_else(|| "PROVISIONED".to_string(), |b| b.as_str().to_string()),
            attributes: input
                .attribute_definitions()
                .iter()
                .map(|a| {
                    (
                        a.attribute_name().to_string(),
                        a.attribute_type().as_str().to_string(),
                    )
                })
                .collect(),
            key_schema: keys(input.key_schema()),
            local_indexes: input
                .local_secondary_indexes()
                .iter()
                .map(|i| {
                    let (projection_type, non_key_attributes) = projection(i.projection());
                    (
                        i.index_name().to_string(),
                        IndexShape {
                            key_schema: keys(i.key_schema()),
                            projection_type,
                            non_key_attributes,
                        },
                    )
                })
                .collect(),
            global_indexes: input
                .global_secondary_indexes()
                .iter()
                .map(|i| {
                    let (projection_type, non_key_attributes) = projection(i.projection());
                    (
                        i.index_name().to_string(),
                        IndexShape {
                            key_schema: keys(i.key_schema()),
                            projection_type,
                            non_key_attributes,
                        },
                    )
                })
                .collect(),
            stream_view_type: input
                .stream_specification()
                .filter(|spec| spec.stream_enabled())
                .and_then(StreamSpecification::stream_view_type)
                .map(|view| view.as_str().to_string()),
        }
    }

    /// The shape of an `AWS::DynamoDB::Table`'s `Properties`.
    ///
    /// # Errors
    /// When a required part is missing or not a literal.
    pub fn of_template(properties: &Json) -> Result<TableShape, String> {
        let text = |value: &Json, key: &str| -> Result<String, String> {
            value
                .get(key)
                .and_then(Json::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("`{key}` missing or not a literal string in {value}"))
        };
        let list = |value: &Json, key: &str| -> Vec<Json> {
            value
                .get(key)
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let keys = |value: &Json| -> Result<Vec<(String, String)>, String> {
            let schema = list(value, "KeySchema");
            if schema.is_empty() {
                return Err(format!("no KeySchema in {value}"));
            }
            schema
                .iter()
                .map(|k| Ok((text(k, "AttributeName")?, text(k, "KeyType")?)))
                .collect()
        };
        let index = |value: &Json| -> Result<(String, IndexShape), String> {
            let projection = value
                .get("Projection")
                .ok_or_else(|| format!("no Projection in {value}"))?;
            Ok((
                text(value, "IndexName")?,
                IndexShape {
                    key_schema: keys(value)?,
                    projection_type: text(projection, "ProjectionType")?,
                    non_key_attributes: list(projection, "NonKeyAttributes")
                        .iter()
                        .filter_map(|a| a.as_str().map(str::to_string))
                        .collect(),
                },
            ))
        };
        Ok(TableShape {
            billing_mode: properties
                .get("BillingMode")
                .and_then(Json::as_str)
                .unwrap_or("PROVISIONED")
                .to_string(),
            attributes: list(properties, "AttributeDefinitions")
                .iter()
                .map(|a| Ok((text(a, "AttributeName")?, text(a, "AttributeType")?)))
                .collect::<Result<_, String>>()?,
            key_schema: keys(properties)?,
            local_indexes: list(properties, "LocalSecondaryIndexes")
                .iter()
                .map(index)
                .collect::<Result<_, _>>()?,
            global_indexes: list(properties, "GlobalSecondaryIndexes")
                .iter()
                .map(index)
                .collect::<Result<_, _>>()?,
            // CloudFormation enables the stream by naming its view type.
            stream_view_type: properties
                .get("StreamSpecification")
                .map(|spec| text(spec, "StreamViewType"))
                .transpose()?,
        })
    }

    /// A `CreateTable` request for this shape, named `name`.
    ///
    /// # Errors
    /// When a value is not one DynamoDB knows, or the SDK refuses to build the request.
    pub fn create_table_input(&self, name: &str) -> Result<CreateTableInput, String> {
        let build = |e: aws_sdk_dynamodb::error::BuildError| e.to_string();
        let keys = |schema: &[(String, String)]| -> Result<Vec<KeySchemaElement>, String> {
            schema
                .iter()
                .map(|(attribute, kind)| {
                    let kind = match kind.as_str() {
                        "HASH" => KeyType::Hash,
                        "RANGE" => KeyType::Range,
                        other => return Err(format!("unknown KeyType `{other}`")),
                    };
                    KeySchemaElement::builder()
                        .attribute_name(attribute)
                        .key_type(kind)
                        .build()
                        .map_err(build)
                })
                .collect()
        };
        let projection = |index: &IndexShape| -> Result<Projection, String> {
            let kind = match index.projection_type.as_str() {
                "ALL" => ProjectionType::All,
                "KEYS_ONLY" => ProjectionType::KeysOnly,
                "INCLUDE" => ProjectionType::Include,
                other => return Err(format!("unknown ProjectionType `{other}`")),
            };
            Ok(Projection::builder()
                .projection_type(kind)
                .set_non_key_attributes(
                    (!index.non_key_attributes.is_empty())
                        .then(|| index.non_key_attributes.iter().cloned().collect()),
                )
                .build())
        };
        let billing = match self.billing_mode.as_str() {
            "PAY_PER_REQUEST" => BillingMode::PayPerRequest,
            other => {
                return Err(format!(
                    "billing mode `{other}`: only on-demand (PAY_PER_REQUEST) is supported here"
                ));
            }
        };
        let mut builder = CreateTableInput::builder()
            .table_name(name)
            .billing_mode(billing)
            .set_key_schema(Some(keys(&self.key_schema)?));
        for (attribute, kind) in &self.attributes {
            let kind = match kind.as_str() {
                "S" => ScalarAttributeType::S,
                "N" => ScalarAttributeType::N,
                "B" => ScalarAttributeType::B,
                other => return Err(format!("unknown AttributeType `{other}`")),
            };
            builder = builder.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(kind)
                    .build()
                    .map_err(build)?,
            );
        }
        for (index_name, index) in &self.local_indexes {
            builder = builder.local_secondary_indexes(
                LocalSecondaryIndex::builder()
                    .index_name(index_name)
                    .set_key_schema(Some(keys(&index.key_schema)?))
                    .projection(projection(index)?)
                    .build()
                    .map_err(build)?,
            );
        }
        for (index_name, index) in &self.global_indexes {
            builder = builder.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index_name)
                    .set_key_schema(Some(keys(&index.key_schema)?))
                    .projection(projection(index)?)
                    .build()
                    .map_err(build)?,
            );
        }
        if let Some(view) = &self.stream_view_type {
            builder = builder.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view.as_str()))
                    .build()
                    .map_err(build)?,
            );
        }
        builder.build().map_err(build)
    }

    /// Line-by-line differences from `other`, for failure messages; empty when equal.
    pub fn differences(&self, other: &TableShape) -> Vec<String> {
        let mut out = Vec::new();
        if self.billing_mode != other.billing_mode {
            out.push(format!(
                "billing mode: {} vs {}",
                self.billing_mode, other.billing_mode
            ));
        }
        diff_maps("attribute", &self.attributes, &other.attributes, &mut out);
        if self.key_schema != other.key_schema {
            out.push(format!(
                "key schema: {:?} vs {:?}",
                self.key_schema, other.key_schema
            ));
        }
        diff_maps(
            "local index",
            &self.local_indexes,
            &other.local_indexes,
            &mut out,
        );
        diff_maps(
            "global index",
            &self.global_indexes,
            &other.global_indexes,
            &mut out,
        );
        if self.stream_view_type != other.stream_view_type {
            out.push(format!(
                "stream view type: {:?} vs {:?}",
                self.stream_view_type, other.stream_view_type
            ));
        }
        out
    }
}

fn diff_maps<V: PartialEq + fmt::Debug>(
    what: &str,
    left: &BTreeMap<String, V>,
    right: &BTreeMap<String, V>,
    out: &mut Vec<String>,
) {
    for (name, value) in left {
        match right.get(name) {
            None => out.push(format!("{what} `{name}` ({value:?}) only on the left")),
            Some(other) if other != value => {
                out.push(format!("{what} `{name}`: {value:?} vs {other:?}"));
            }
            Some(_) => {}
        }
    }
    for (name, value) in right {
        if !left.contains_key(name) {
            out.push(format!("{what} `{name}` ({value:?}) only on the right"));
        }
    }
}

// ------------------------------------------------------------------ IAM

/// The part of a table (the ledger's, or the webhooks') an action is on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TableResource {
    Table,
    Index(String),
    /// The table's current stream (`!GetAtt <Table>.StreamArn`).
    Stream,
    /// Any stream of the table (`${<Table>.Arn}/stream/*`): what `ListStreams` is granted on.
    Streams,
}

impl fmt::Display for TableResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableResource::Table => f.write_str("table"),
            TableResource::Index(name) => write!(f, "table/index/{name}"),
            TableResource::Stream => f.write_str("table/stream (current)"),
            TableResource::Streams => f.write_str("table/stream/*"),
        }
    }
}

/// One IAM permission on a table: `dynamodb:<Action>` on the table, an index or its stream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// `dynamodb:GetItem`... (IAM action names are case-insensitive; kept as AWS writes them).
    pub action: String,
    pub resource: TableResource,
    /// The prefix (`A#`, `K#`) of the partition keys the request touches — what IAM's
    /// `dynamodb:LeadingKeys` condition sees; `None` for a key that is not a string with a
    /// `#` (the due index's shard number), and for a statement without that condition.
    pub leading: Option<String>,
}

impl Permission {
    pub fn new(action: &str, resource: TableResource) -> Permission {
        Permission {
            action: action.to_string(),
            resource,
            leading: None,
        }
    }

    /// The same permission for partition keys starting `leading`.
    #[must_use]
    pub fn leading(mut self, leading: Option<String>) -> Permission {
        self.leading = leading;
        self
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)?;
        match &self.leading {
            Some(prefix) => write!(f, " (keys `{prefix}…`)"),
            None => Ok(()),
        }
    }
}

/// The prefix, up to and including its first `#`, of a partition key value.
fn key_prefix(value: Option<&aws_sdk_dynamodb::types::AttributeValue>) -> Option<String> {
    let text = value?.as_s().ok()?;
    let end = text.find('#')?;
    text.get(..=end).map(str::to_owned)
}

/// An SDK interceptor that records, for every DynamoDB request a client sends (once per
/// operation, not per retry), the IAM permissions it needs: the operation's own action on the
/// table or index it names, except for transactions, which are authorised per part
/// (`Put` → `dynamodb:PutItem`, `Update` → `UpdateItem`, `Delete` → `DeleteItem`,
/// `ConditionCheck` → `ConditionCheckItem`; `TransactGetItems` → `GetItem`). A request on
/// another table than the one given is recorded as an error. Clones share one record.
#[derive(Debug, Clone)]
pub struct IamRecorder {
    table: String,
    record: Arc<Mutex<Recorded>>,
}

#[derive(Debug, Default)]
struct Recorded {
    permissions: BTreeSet<Permission>,
    operations: BTreeMap<String, u64>,
    problems: Vec<String>,
}

impl IamRecorder {
    /// Records requests on `table`.
    pub fn new(table: &str) -> IamRecorder {
        IamRecorder {
            table: table.to_string(),
            record: Arc::default(),
        }
    }

    /// The permissions recorded since the last `take`, and resets the record.
    ///
    /// # Errors
    /// When a request was not understood or was on another table.
    pub fn take(&self) -> Result<BTreeSet<Permission>, String> {
        let mut record = self.lock();
        let problems = std::mem::take(&mut record.problems);
        let permissions = std::mem::take(&mut record.permissions);
        record.operations.clear();
        if problems.is_empty() {
            Ok(permissions)
        } else {
            Err(problems.join("; "))
        }
    }

    /// Operation names (`GetItem`, `TransactWriteItems`...) sent since the last `take`.
    pub fn operations(&self) -> BTreeMap<String, u64> {
        self.lock().operations.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Recorded> {
        self.record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn observe(&self, input: &Input) {
        let mut record = self.lock();
        match permissions_of(input, &self.table) {
            Ok((operation, permissions)) => {
                *record.operations.entry(operation).or_insert(0) += 1;
                record.permissions.extend(permissions);
            }
            Err(problem) => record.problems.push(problem),
        }
    }
}

impl Intercept for IamRecorder {
    fn name(&self) -> &'static str {
        "IamRecorder"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.observe(context.input());
        Ok(())
    }
}

/// The operation name and IAM permissions one request needs.
fn permissions_of(input: &Input, table: &str) -> Result<(String, Vec<Permission>), String> {
    use aws_sdk_dynamodb::operation as op;

    let on = |name: Option<&str>, index: Option<&str>| -> Result<TableResource, String> {
        match name {
            Some(name) if name == table => Ok(index.map_or(TableResource::Table, |i| {
                TableResource::Index(i.to_string())
            })),
            other => Err(format!(
                "a request on table {other:?}, not the ledger table `{table}`"
            )),
        }
    };
    let one =
        |operation: &str, name: Option<&str>, index: Option<&str>, leading: Option<String>| {
            Ok((
                operation.to_string(),
                vec![
                    Permission::new(&format!("dynamodb:{operation}"), on(name, index)?)
                        .leading(leading),
                ],
            ))
        };
    if let Some(i) = input.downcast_ref::<op::get_item::GetItemInput>() {
        let leading = key_prefix(i.key().and_then(|k| k.get(PARTITION_KEY)));
        return one("GetItem", i.table_name(), None, leading);
    }
    if let Some(i) = input.downcast_ref::<op::put_item::PutItemInput>() {
        let leading = key_prefix(i.item().and_then(|k| k.get(PARTITION_KEY)));
        return one("PutItem", i.table_name(), None, leading);
    }
    if let Some(i) = input.downcast_ref::<op::update_item::UpdateItemInput>() {
        let leading = key_prefix(i.key().and_then(|k| k.get(PARTITION_KEY)));
        return one("UpdateItem", i.table_name(), None, leading);
    }
    if let Some(i) = input.downcast_ref::<op::delete_item::DeleteItemInput>() {
        let leading = key_prefix(i.key().and_then(|k| k.get(PARTITION_KEY)));
        return one("DeleteItem", i.table_name(), None, leading);
    }
    if let Some(i) = input.downcast_ref::<op::query::QueryInput>() {
        // The store binds an account's partition key to `:pk` (the due index's shard, a
        // number, to `:shard`).
        let leading = key_prefix(i.expression_attribute_values().and_then(|v| v.get(":pk")));
        return one("Query", i.table_name(), i.index_name(), leading);
    }
    if let Some(i) = input.downcast_ref::<op::scan::ScanInput>() {
        return one("Scan", i.table_name(), i.index_name(), None);
    }
    if let Some(i) = input.downcast_ref::<op::describe_table::DescribeTableInput>() {
        return one("DescribeTable", i.table_name(), None, None);
    }
    if let Some(i) = input.downcast_ref::<op::transact_write_items::TransactWriteItemsInput>() {
        let mut permissions = Vec::new();
        for item in i.transact_items() {
            let (action, name, key) = if let Some(p) = item.put() {
                ("PutItem", p.table_name(), p.item().get(PARTITION_KEY))
            } else if let Some(u) = item.update() {
                ("UpdateItem", u.table_name(), u.key().get(PARTITION_KEY))
            } else if let Some(d) = item.delete() {
                ("DeleteItem", d.table_name(), d.key().get(PARTITION_KEY))
            } else if let Some(c) = item.condition_check() {
                (
                    "ConditionCheckItem",
                    c.table_name(),
                    c.key().get(PARTITION_KEY),
                )
            } else {
                return Err("a TransactWriteItems part of an unknown kind".to_string());
            };
            permissions.push(
                Permission::new(&format!("dynamodb:{action}"), on(Some(name), None)?)
                    .leading(key_prefix(key)),
            );
        }
        return Ok(("TransactWriteItems".to_string(), permissions));
    }
    if let Some(i) = input.downcast_ref::<op::transact_get_items::TransactGetItemsInput>() {
        let mut permissions = Vec::new();
        for item in i.transact_items() {
            let name = item.get().map(|g| g.table_name());
            permissions.push(Permission::new("dynamodb:GetItem", on(name, None)?));
        }
        return Ok(("TransactGetItems".to_string(), permissions));
    }
    if let Some(i) = input.downcast_ref::<op::batch_get_item::BatchGetItemInput>() {
        let mut permissions = Vec::new();
        for (name, keys) in i.request_items().into_iter().flatten() {
            for key in keys.keys() {
                permissions.push(
                    Permission::new("dynamodb:BatchGetItem", on(Some(name), None)?)
                        .leading(key_prefix(key.get(PARTITION_KEY))),
                );
            }
        }
        return Ok(("BatchGetItem".to_string(), permissions));
    }
    if let Some(i) = input.downcast_ref::<op::batch_write_item::BatchWriteItemInput>() {
        let mut permissions = Vec::new();
        for name in i
            .request_items()
            .map(|m| m.keys().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            permissions.push(Permission::new(
                "dynamodb:BatchWriteItem",
                on(Some(name), None)?,
            ));
        }
        return Ok(("BatchWriteItem".to_string(), permissions));
    }
    Err(format!(
        "a DynamoDB request this recorder does not know how to authorise: {input:?} \
         (teach tests/src/template.rs `permissions_of` about it)"
    ))
}

/// `a, b, c` of a set's items, for messages.
pub fn list<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}

/// The DynamoDB IAM actions the `.rs` files directly in `dir` can send (every SDK operation
/// call and transaction part), leaving out the files named in `skip`: what a role serving
/// that code must allow, read from its source so that a new kind of call is not missed.
///
/// # Panics
/// When `dir` or one of its files cannot be read.
#[allow(clippy::unwrap_used)]
pub fn dynamodb_actions_in_source(dir: &Path, skip: &[&str]) -> BTreeSet<String> {
    let calls = [
        (".get_item()", "dynamodb:GetItem"),
        (".put_item()", "dynamodb:PutItem"),
        (".update_item()", "dynamodb:UpdateItem"),
        (".delete_item()", "dynamodb:DeleteItem"),
        (".query()", "dynamodb:Query"),
        (".scan()", "dynamodb:Scan"),
        (".batch_get_item()", "dynamodb:BatchGetItem"),
        (".batch_write_item()", "dynamodb:BatchWriteItem"),
        (".transact_get_items()", "dynamodb:GetItem"),
        ("Put::builder()", "dynamodb:PutItem"),
        ("Update::builder()", "dynamodb:UpdateItem"),
        ("Delete::builder()", "dynamodb:DeleteItem"),
        ("ConditionCheck::builder()", "dynamodb:ConditionCheckItem"),
    ];
    let mut actions = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".rs") || skip.contains(&name.as_str()) {
            continue;
        }
        let text: String = std::fs::read_to_string(&path)
            .unwrap()
            .split_whitespace()
            .collect();
        for (call, action) in calls {
            if text.contains(call) {
                actions.insert(action.to_string());
            }
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_tags_become_long_form() {
        let json = parse_cfn_yaml(
            "A: !Ref X\nB: !GetAtt T.Arn\nC: !Sub '${T.Arn}/index/i'\nD: !Not [!Equals [!Ref P, '']]\nE: !GetAtt [T, StreamArn]\n",
        )
        .unwrap();
        assert_eq!(json["A"], serde_json::json!({"Ref": "X"}));
        assert_eq!(json["B"], serde_json::json!({"Fn::GetAtt": ["T", "Arn"]}));
        assert_eq!(
            json["C"],
            serde_json::json!({"Fn::Sub": "${T.Arn}/index/i"})
        );
        assert_eq!(
            json["D"],
            serde_json::json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, ""]}]})
        );
        assert_eq!(
            json["E"],
            serde_json::json!({"Fn::GetAtt": ["T", "StreamArn"]})
        );
    }

    #[test]
    fn policy_resources_are_recognised() {
        let table = |j: Json| table_resource("T", &j);
        assert_eq!(
            table(serde_json::json!({"Fn::GetAtt": ["T", "Arn"]})),
            Ok(TableResource::Table)
        );
        assert_eq!(
            table(serde_json::json!({"Fn::Sub": "${T.Arn}/index/due-index"})),
            Ok(TableResource::Index("due-index".into()))
        );
        assert!(table(serde_json::json!("*")).is_err());
        assert!(table(serde_json::json!({"Fn::Sub": "${T.Arn}/index/*"})).is_err());
        assert!(table(serde_json::json!({"Fn::Sub": "${T.Arn}*"})).is_err());
    }
}
