//! The types the benchmarks extract, and replies of chosen sizes for them.
#![allow(dead_code)] // each benchmark uses its own part of this module

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A calendar event mentioned in the text.
#[derive(Debug, Serialize, Deserialize, JsonSchema, extract::Extract)]
pub(crate) struct CalendarEvent {
    /// Short name of the event
    pub(crate) name: String,
    pub(crate) date: String,
    pub(crate) participants: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, extract::Extract)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Currency {
    Usd,
    Eur,
    Gbp,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, extract::Extract)]
pub(crate) struct LineItem {
    pub(crate) description: String,
    pub(crate) quantity: i64,
    pub(crate) unit_price: f64,
    /// Stock-keeping unit, when printed
    pub(crate) sku: Option<String>,
}

/// An invoice with its line items.
#[derive(Debug, Serialize, Deserialize, JsonSchema, extract::Extract)]
pub(crate) struct Invoice {
    pub(crate) number: String,
    pub(crate) vendor: String,
    pub(crate) currency: Currency,
    pub(crate) line_items: Vec<LineItem>,
    pub(crate) total: f64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, extract::Extract)]
pub(crate) struct Address {
    pub(crate) street: String,
    pub(crate) city: String,
    pub(crate) postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 code
    pub(crate) country: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, extract::Extract)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ContactPoint {
    Email {
        address: String,
    },
    Phone {
        number: String,
        extension: Option<u32>,
    },
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, extract::Extract)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Role {
    Engineer,
    Manager,
    Sales,
    Other,
}

/// A person, where they live and work, and how to reach them.
#[derive(Debug, Serialize, Deserialize, JsonSchema, extract::Extract)]
pub(crate) struct Person {
    /// Think step by step before filling the other fields.
    pub(crate) reasoning: String,
    pub(crate) name: String,
    pub(crate) age: Option<u8>,
    pub(crate) home: Address,
    pub(crate) work: Option<Address>,
    pub(crate) role: Role,
    pub(crate) contacts: Vec<ContactPoint>,
    #[serde(default)]
    pub(crate) nicknames: Vec<String>,
}

/// A valid `CalendarEvent` reply.
pub(crate) const EVENT: &str =
    r#"{"name":"Science fair","date":"Friday","participants":["Alice","Bob"]}"#;

/// A valid `Invoice` reply of at least `bytes` bytes (line items are added until it is).
pub(crate) fn invoice_reply(bytes: usize) -> String {
    let mut invoice = Invoice {
        number: "INV-2024-0042".into(),
        vendor: "Acme Office Supplies Ltd.".into(),
        currency: Currency::Eur,
        line_items: Vec::new(),
        total: 0.0,
    };
    loop {
        let text = serde_json::to_string(&invoice).unwrap_or_default();
        if text.len() >= bytes {
            return text;
        }
        let i = invoice.line_items.len() as i64;
        invoice.line_items.push(LineItem {
            description: format!("Recycled printer paper, A4, box {i}"),
            quantity: 1 + i % 7,
            unit_price: 12.5 + (i % 13) as f64,
            sku: (i % 2 == 0).then(|| format!("SKU-{i:06}")),
        });
        invoice.total += 12.5;
    }
}
