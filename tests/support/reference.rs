//! The reference set of extraction types behind the schema-token figures in the README: flat,
//! nested, optional fields, enums, lists of objects, tagged unions and recursion. Each has a Pydantic
//! twin of the same shape in `scripts/bench-tokens.py`; change both together.
#![allow(missing_docs)] // the doc comments here are schema descriptions, and only where the twin has one

use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

/// A calendar event mentioned in the text.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct CalendarEvent {
    /// Short name of the event
    pub name: String,
    pub date: String,
    pub participants: Vec<String>,
}

/// Contact details of one person.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Contact {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
}

/// How the author feels about the subject.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    Positive,
    Negative,
    Neutral,
    Mixed,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Classification {
    pub label: Label,
    /// Between 0 and 1
    pub confidence: f64,
    pub topics: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Address {
    pub street: String,
    pub city: String,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 code
    pub country: String,
}

/// A person and where they live and work.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Person {
    pub name: String,
    pub age: Option<i64>,
    pub home: Address,
    pub work: Option<Address>,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Usd,
    Eur,
    Gbp,
    Jpy,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct LineItem {
    pub description: String,
    pub quantity: i64,
    pub unit_price: f64,
}

/// An invoice with its line items.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Invoice {
    pub number: String,
    pub issued_on: String,
    pub vendor: String,
    pub currency: Currency,
    pub line_items: Vec<LineItem>,
    pub total: f64,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Ingredient {
    pub name: String,
    pub quantity: f64,
    /// Grams, cups, pieces...
    pub unit: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Recipe {
    pub title: String,
    pub servings: i64,
    pub ingredients: Vec<Ingredient>,
    pub steps: Vec<String>,
}

/// A comment and the replies to it.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Comment {
    pub author: String,
    pub text: String,
    pub replies: Vec<Comment>,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Section {
    pub heading: String,
    pub summary: String,
    pub subsections: Vec<Section>,
}

/// The outline of a document.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Outline {
    pub title: String,
    pub sections: Vec<Section>,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
    Urgent,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    InProgress,
    Blocked,
    Done,
}

/// A support ticket.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Ticket {
    pub title: String,
    pub priority: Priority,
    pub status: Status,
    pub assignee: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shape {
    Circle {
        x: f64,
        y: f64,
        radius: f64,
    },
    Rectangle {
        x: f64,
        y: f64,
        width: f64,
        height: f64,
    },
    Label {
        x: f64,
        y: f64,
        text: String,
    },
}

/// The shapes of a drawing.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Drawing {
    pub shapes: Vec<Shape>,
}

/// A product review.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Review {
    pub product: String,
    /// From 1 (worst) to 5 (best)
    #[schemars(range(min = 1, max = 5))]
    pub rating: i64,
    pub pros: Vec<String>,
    pub cons: Vec<String>,
    pub summary: String,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[serde(rename_all = "snake_case")]
pub enum EmploymentType {
    FullTime,
    PartTime,
    Contract,
    Internship,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Location {
    pub city: String,
    pub country: String,
    pub remote: bool,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct SalaryRange {
    pub min: f64,
    pub max: f64,
    pub currency: Currency,
}

/// A job posting.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct JobPosting {
    pub title: String,
    pub company: String,
    pub location: Option<Location>,
    pub salary: Option<SalaryRange>,
    pub employment_type: EmploymentType,
    pub requirements: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct Attendee {
    pub name: String,
    pub role: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct ActionItem {
    pub owner: String,
    pub task: String,
    /// As the notes give it
    pub due: Option<String>,
}

/// Notes of a meeting.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
pub struct MeetingNotes {
    pub attendees: Vec<Attendee>,
    pub decisions: Vec<String>,
    pub action_items: Vec<ActionItem>,
}

/// Calls `$visit!(Type)` for each type of the reference set, in the order the figures list them.
#[macro_export]
macro_rules! for_each_reference_type {
    ($visit:ident) => {
        $visit!(CalendarEvent);
        $visit!(Contact);
        $visit!(Classification);
        $visit!(Person);
        $visit!(Invoice);
        $visit!(Recipe);
        $visit!(Comment);
        $visit!(Outline);
        $visit!(Ticket);
        $visit!(Drawing);
        $visit!(Review);
        $visit!(JobPosting);
        $visit!(MeetingNotes);
    };
}
