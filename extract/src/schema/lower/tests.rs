//! The unit tests of `lower`, on hand-written schemars output: lowering is crate-private, so they
//! stay in the crate, in a file of their own (issue 13).

use super::*;
use serde_json::json;

#[test]
fn optional_fields_become_required_and_nullable() {
    let schema = json!({
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "integer", "format": "int32"}},
        "required": ["a"]
    });
    let (lowered, wrapped) = lower(&schema, "x", Refs::Keep);
    assert!(!wrapped);
    assert_eq!(
        lowered,
        json!({
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": ["integer", "null"]}},
            "required": ["a", "b"],
            "additionalProperties": false
        })
    );
}

#[test]
fn enum_roots_are_wrapped() {
    let schema = json!({"title": "Sentiment", "type": "string", "enum": ["Positive", "Negative"]});
    let (lowered, wrapped) = lower(&schema, "sentiment", Refs::Keep);
    assert!(wrapped);
    assert_eq!(
        lowered["properties"]["sentiment"],
        json!({"type": "string", "enum": ["Positive", "Negative"]})
    );
    assert_eq!(lowered["required"], json!(["sentiment"]));
}

#[test]
fn recursive_definitions_stay_references() {
    let schema = json!({
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/Node", "description": "the top"}},
        "required": ["root"],
        "$defs": {"Node": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
        }, "required": ["children"]}}
    });
    let (lowered, _) = lower(&schema, "x", Refs::Inline);
    assert_eq!(
        lowered["properties"]["root"],
        json!({"$ref": "#/$defs/Node"})
    );
    assert_eq!(
        lowered["$defs"]["Node"]["additionalProperties"],
        json!(false)
    );
}

#[test]
fn a_recursive_root_that_is_wrapped_moves_into_a_definition() {
    let schema = json!({"anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#"}}]});
    let (lowered, wrapped) = lower(&schema, "tree", Refs::Keep);
    assert!(wrapped);
    assert_eq!(
        lowered["properties"]["tree"],
        json!({"$ref": "#/$defs/tree_root"})
    );
    assert_eq!(
        lowered["$defs"]["tree_root"]["anyOf"][1]["items"],
        json!({"$ref": "#/$defs/tree_root"})
    );
}

#[test]
fn a_definition_used_once_is_written_in_place() {
    let schema = json!({
        "type": "object",
        "properties": {"home": {"$ref": "#/$defs/Address"}},
        "required": ["home"],
        "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
    });
    let (lowered, _) = lower(&schema, "x", Refs::Keep);
    assert_eq!(
        lowered,
        json!({
            "type": "object",
            "properties": {"home": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": false
            }},
            "required": ["home"],
            "additionalProperties": false
        })
    );
}

#[test]
fn a_definition_used_twice_stays_only_when_that_is_shorter() {
    let big = json!({"type": "object", "properties": {
        "street": {"type": "string", "description": "Street and number"},
        "city": {"type": "string", "description": "City or town"}
    }, "required": ["street", "city"]});
    let small = json!({"type": "string", "enum": ["a", "b"]});
    let schema = json!({
        "type": "object",
        "properties": {
            "home": {"$ref": "#/$defs/Address"},
            "work": {"$ref": "#/$defs/Address"},
            "x": {"$ref": "#/$defs/Ab"},
            "y": {"$ref": "#/$defs/Ab"}
        },
        "required": ["home", "work", "x", "y"],
        "$defs": {"Address": big, "Ab": small}
    });
    let (lowered, _) = lower(&schema, "x", Refs::Keep);
    assert_eq!(
        lowered["properties"]["home"],
        json!({"$ref": "#/$defs/Address"})
    );
    assert_eq!(
        lowered["properties"]["work"],
        json!({"$ref": "#/$defs/Address"})
    );
    assert_eq!(lowered["properties"]["x"], small);
    assert_eq!(lowered["properties"]["y"], small);
    assert_eq!(
        lowered["$defs"]
            .as_object()
            .map(|d| d.keys().map(String::as_str).collect::<Vec<_>>()),
        Some(vec!["Address"])
    );
    let kept = serde_json::to_string(&lowered).unwrap_or_default().len();
    let (inlined, _) = lower(&schema, "x", Refs::Inline);
    let all_inlined = serde_json::to_string(&inlined).unwrap_or_default().len();
    assert!(kept < all_inlined, "{kept} < {all_inlined}");
}

#[test]
fn a_union_inlined_into_a_union_is_one_union() {
    let schema = json!({
        "type": "object",
        "properties": {"contact": {"anyOf": [{"$ref": "#/$defs/Contact"}, {"type": "null"}]}},
        "required": ["contact"],
        "$defs": {"Contact": {"oneOf": [
            {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]},
            {"type": "object", "properties": {"phone": {"type": "string"}}, "required": ["phone"]},
            {"type": "null"}
        ]}}
    });
    let (lowered, _) = lower(&schema, "x", Refs::Keep);
    let options = lowered["properties"]["contact"]["anyOf"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(options.len(), 3, "{options:#?}");
    assert!(options[0]["properties"].get("email").is_some());
    assert!(options[1]["properties"].get("phone").is_some());
    assert_eq!(options[2], json!({"type": "null"}));
    // An enum's value that happens to look like a union is data, and stays as it is.
    let data = json!({"type": "object", "properties": {"v": {"enum": [{"anyOf": [{"anyOf": [1]}]}]}}, "required": ["v"]});
    let (lowered, _) = lower(&data, "x", Refs::Keep);
    assert_eq!(
        lowered["properties"]["v"]["enum"],
        data["properties"]["v"]["enum"]
    );
}

#[test]
fn a_wrapped_root_reached_again_through_a_definition_is_not_the_wrapper() {
    // What schemars writes for `enum Tree { Leaf(String), Node(Branch) }` with
    // `struct Branch { label: String, children: Vec<Tree> }`.
    let schema = json!({
        "oneOf": [
            {"type": "object", "properties": {"Leaf": {"type": "string"}}, "required": ["Leaf"], "additionalProperties": false},
            {"type": "object", "properties": {"Node": {"$ref": "#/$defs/Branch"}}, "required": ["Node"], "additionalProperties": false}
        ],
        "title": "Tree",
        "$defs": {"Branch": {"type": "object", "properties": {
            "label": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#"}}
        }, "required": ["label", "children"]}}
    });
    for refs in [Refs::Keep, Refs::Inline] {
        let (lowered, wrapped) = lower(&schema, "tree", refs);
        assert!(wrapped);
        assert_eq!(
            lowered["properties"]["tree"],
            json!({"$ref": "#/$defs/tree_root"}),
            "{refs:?}"
        );
        let text = serde_json::to_string(&lowered).unwrap_or_default();
        assert!(!text.contains(r##""$ref":"#""##), "{refs:?}: {text}");
        let root = &lowered["$defs"]["tree_root"];
        let branch = match refs {
            Refs::Keep => &lowered["$defs"]["Branch"],
            Refs::Inline => &root["anyOf"][1]["properties"]["Node"],
        };
        assert_eq!(
            branch["properties"]["children"]["items"],
            json!({"$ref": "#/$defs/tree_root"}),
            "{refs:?}: {lowered:#}"
        );
    }
}

#[test]
fn a_reference_to_the_root_loses_its_siblings_like_any_recursive_one() {
    let schema = json!({
        "oneOf": [{"type": "object", "properties": {"Not": {
            "type": "object",
            "properties": {"operand": {"$ref": "#", "description": "What is negated"}},
            "required": ["operand"]
        }}, "required": ["Not"]}, {"type": "integer"}]
    });
    let (lowered, _) = lower(&schema, "expr", Refs::Keep);
    assert_eq!(
        lowered["$defs"]["expr_root"]["anyOf"][0]["properties"]["Not"]["properties"]["operand"],
        json!({"$ref": "#/$defs/expr_root"})
    );
    let (again, _) = lower(&lowered, "expr", Refs::Keep);
    assert_eq!(again, lowered);
    let object = json!({"type": "object", "properties": {"next": {"$ref": "#", "description": "d"}}, "required": ["next"]});
    let (lowered, _) = lower(&object, "x", Refs::Keep);
    assert_eq!(lowered["properties"]["next"], json!({"$ref": "#"}));
}

#[test]
fn a_wrapped_recursive_root_is_never_inlined() {
    let schema = json!({
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#"}}],
        "$defs": {"Unused": {"type": "string"}}
    });
    let (lowered, _) = lower(&schema, "tree", Refs::Keep);
    assert_eq!(
        lowered["properties"]["tree"],
        json!({"$ref": "#/$defs/tree_root"})
    );
    assert!(lowered["$defs"].get("Unused").is_none());
    assert_eq!(
        lowered["$defs"]["tree_root"]["anyOf"][1]["items"],
        json!({"$ref": "#/$defs/tree_root"})
    );
}

#[test]
fn lowering_is_idempotent() {
    let schema = json!({
        "type": "object",
        "properties": {
            "a": {"oneOf": [{"const": "x"}, {"const": "y"}]},
            "b": {"$ref": "#/$defs/B", "description": "bee"}
        },
        "$defs": {"B": {"type": "object", "properties": {"c": {"type": "string", "minLength": 2}}}}
    });
    let (once, _) = lower(&schema, "x", Refs::Keep);
    let (twice, _) = lower(&once, "x", Refs::Keep);
    assert_eq!(once, twice);
}
