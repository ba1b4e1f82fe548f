//! Update and condition expressions with their placeholders, built together: every attribute
//! goes through a `#name` (words like `state` and `count` are reserved in DynamoDB), every
//! value through a `:value`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use credits_store::{StoreError, StoreResult};

use crate::item::Item;

#[derive(Debug, Default, Clone)]
pub(crate) struct Expression {
    set: Vec<String>,
    remove: Vec<String>,
    condition: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The placeholder of `attribute`.
    pub(crate) fn name(&mut self, attribute: &str) -> String {
        let placeholder = format!("#{attribute}");
        self.names.insert(placeholder.clone(), attribute.to_owned());
        placeholder
    }

    /// A placeholder for `value`.
    pub(crate) fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `SET attribute = value`.
    pub(crate) fn set(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let name = self.name(attribute);
        let value = self.value(value);
        self.set.push(format!("{name} = {value}"));
        self
    }

    /// `SET attribute = if_not_exists(attribute, value)`.
    pub(crate) fn set_if_missing(&mut self, attribute: &str, value: AttributeValue) -> &mut Self {
        let name = self.name(attribute);
        let value = self.value(value);
        self.set
            .push(format!("{name} = if_not_exists({name}, {value})"));
        self
    }

    /// `SET attribute = if_not_exists(attribute, 0) + by`.
    pub(crate) fn add(&mut self, attribute: &str, by: i64) -> &mut Self {
        let name = self.name(attribute);
        let zero = self.value(AttributeValue::N("0".to_owned()));
        let by = self.value(AttributeValue::N(by.to_string()));
        self.set
            .push(format!("{name} = if_not_exists({name}, {zero}) + {by}"));
        self
    }

    pub(crate) fn remove(&mut self, attribute: &str) -> &mut Self {
        let name = self.name(attribute);
        self.remove.push(name);
        self
    }

    /// Sets `attribute` to `value`, or removes it when there is none.
    pub(crate) fn set_or_remove(
        &mut self,
        attribute: &str,
        value: Option<AttributeValue>,
    ) -> &mut Self {
        match value {
            Some(value) => self.set(attribute, value),
            None => self.remove(attribute),
        }
    }

    /// The condition, written with placeholders from [`Expression::name`] and
    /// [`Expression::value`].
    pub(crate) fn condition(&mut self, condition: String) -> &mut Self {
        self.condition = Some(condition);
        self
    }

    /// `attribute = value`, as a condition text.
    pub(crate) fn equals(&mut self, attribute: &str, value: AttributeValue) -> String {
        let name = self.name(attribute);
        let value = self.value(value);
        format!("{name} = {value}")
    }

    pub(crate) fn update_text(&self) -> String {
        let mut text = String::new();
        if !self.set.is_empty() {
            text.push_str("SET ");
            text.push_str(&self.set.join(", "));
        }
        if !self.remove.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str("REMOVE ");
            text.push_str(&self.remove.join(", "));
        }
        text
    }

    pub(crate) fn condition_text(&self) -> Option<String> {
        self.condition.clone()
    }

    pub(crate) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(crate) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// This update of the item at `key`, as one action of a transaction.
    pub(crate) fn update_action(&self, table: &str, key: Item) -> StoreResult<TransactWriteItem> {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(self.update_text())
            .set_condition_expression(self.condition_text())
            .set_expression_attribute_names(self.names())
            .set_expression_attribute_values(self.values())
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A put of `item` under this expression's condition, as one action of a transaction.
    pub(crate) fn put_action(&self, table: &str, item: Item) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .set_condition_expression(self.condition_text())
            .set_expression_attribute_names(self.names())
            .set_expression_attribute_values(self.values())
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A delete of the item at `key` under this expression's condition.
    pub(crate) fn delete_action(&self, table: &str, key: Item) -> StoreResult<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(table)
            .set_key(Some(key))
            .set_condition_expression(self.condition_text())
            .set_expression_attribute_names(self.names())
            .set_expression_attribute_values(self.values())
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Invalid(format!("a webhooks table request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_remove_clauses_share_placeholders() {
        let mut expression = Expression::new();
        expression
            .set("state", AttributeValue::S("due".to_owned()))
            .add("attempts", 1)
            .remove("due_at");
        let condition = expression.equals("state", AttributeValue::S("waiting".to_owned()));
        expression.condition(condition);
        assert_eq!(
            expression.update_text(),
            "SET #state = :v0, #attempts = if_not_exists(#attempts, :v1) + :v2 REMOVE #due_at"
        );
        assert_eq!(expression.condition_text().unwrap(), "#state = :v3");
        assert_eq!(expression.names().unwrap().len(), 3);
    }
}
