// Unit-only and data enums, and every container attribute at once.

use extract::Extract;
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema, Extract)]
enum Sentiment {
    Positive,
    Neutral,
    Negative,
}

#[derive(Deserialize, JsonSchema, Extract)]
enum Shape {
    Circle { radius: f64 },
    Rectangle { width: f64, height: f64 },
    Unknown,
}

#[derive(Deserialize, JsonSchema, Extract)]
#[extract(
    name = "review",
    description = "A product review.",
    instructions = "Extract the review. Use `neutral` when unsure.",
    validate = check_review
)]
struct Review {
    stars: u8,
    sentiment: Sentiment,
    shape: Option<Shape>,
}

fn check_review(review: &Review) -> Result<(), String> {
    if (1..=5).contains(&review.stars) {
        Ok(())
    } else {
        Err(format!("stars must be between 1 and 5, not {}", review.stars))
    }
}

fn main() {
    assert_eq!(Review::NAME, "review");
    assert_eq!(Review::DESCRIPTION, Some("A product review."));
    assert!(Review::INSTRUCTIONS.is_some());
    assert_eq!(Sentiment::WRAP_KEY, "sentiment");
    let review = Review { stars: 9, sentiment: Sentiment::Neutral, shape: None };
    assert!(review.validate().is_err());
    let _ = (Shape::Circle { radius: 1.0 }, Shape::Rectangle { width: 1.0, height: 2.0 }, Shape::Unknown);
}
