use crate::common::{uuid, TestApp};
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn stock_items_restock_and_inventory() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let b = app.branch(t, "Main").await;
    let r = app.post("/v1/stock-items", t, json!({"name": "Beans", "unit": "g"})).await;
    let beans = uuid(&r.ok(201)["id"]);
    assert_eq!(r.body, json!({"id": beans, "name": "Beans", "unit": "g"}));
    let milk = app.stock_item(t, "Milk").await;

    let r = app.post("/v1/inventory/restock", t, json!({"branch_id": b, "stock_item_id": beans, "qty": 1000})).await;
    assert_eq!(r.ok(200), &json!({"stock_item_id": beans, "on_hand": 1000}));
    let r = app.post("/v1/inventory/restock", t, json!({"branch_id": b, "stock_item_id": beans, "qty": 250})).await;
    assert_eq!(r.ok(200)["on_hand"], 1250);

    let r = app.get(&format!("/v1/inventory?branch_id={b}"), t).await;
    assert_eq!(
        r.ok(200),
        &json!({"items": [
            {"stock_item_id": beans, "name": "Beans", "on_hand": 1250},
            {"stock_item_id": milk, "name": "Milk", "on_hand": 0},
        ]})
    );
    // On-hand is per branch.
    let b2 = app.branch(t, "Second").await;
    let r = app.get(&format!("/v1/inventory?branch_id={b2}"), t).await;
    assert_eq!(r.ok(200)["items"][0]["on_hand"], 0);
    let r = app.get("/v1/stock-items", t).await;
    assert_eq!(r.ok(200)["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn stock_bad_input() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let b = app.branch(t, "Main").await;
    let beans = app.stock_item(t, "Beans").await;
    let r = app.post("/v1/stock-items", t, json!({"name": "Beans"})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "unit");
    let r = app.post("/v1/inventory/restock", t, json!({"branch_id": b, "stock_item_id": beans, "qty": 0})).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "qty");
    let r = app.post("/v1/inventory/restock", t, json!({"branch_id": b, "stock_item_id": beans, "qty": 1.5})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "qty");
    let r = app.post("/v1/inventory/restock", t, json!({"branch_id": b, "stock_item_id": Uuid::now_v7(), "qty": 1})).await;
    assert_eq!(r.problem(404, "NOT_FOUND")["field"], "stock_item_id");
    let r = app.post("/v1/inventory/restock", t, json!({"branch_id": Uuid::now_v7(), "stock_item_id": beans, "qty": 1})).await;
    r.problem(404, "NOT_FOUND");
    let r = app.get("/v1/inventory", t).await;
    r.problem(400, "BAD_REQUEST");
    let r = app.get("/v1/inventory?branch_id=nope", t).await;
    r.problem(400, "BAD_REQUEST");
}

fn item(name: &str, price: i64, recipe: serde_json::Value) -> serde_json::Value {
    json!({"name": name, "price_cents": price, "category": "Coffee", "active": true, "recipe": recipe})
}

#[tokio::test]
async fn menu_items_create_replace_read_and_tombstone() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let beans = app.stock_item(t, "Beans").await;
    let id = Uuid::now_v7();
    let path = format!("/v1/menu/items/{id}");
    let r = app.put(&path, t, item("Latte", 300, json!([{"stock_item_id": beans, "qty": 18}]))).await;
    assert_eq!(
        r.ok(201),
        &json!({"id": id, "name": "Latte", "price_cents": 300, "category": "Coffee", "active": true,
                "recipe": [{"stock_item_id": beans, "qty": 18}]})
    );
    let r = app.put(&path, t, item("Latte", 325, json!([]))).await;
    assert_eq!(r.ok(200)["price_cents"], 325);
    assert_eq!(app.get(&path, t).await.ok(200)["price_cents"], 325);
    assert_eq!(app.get("/v1/menu/items", t).await.ok(200)["items"].as_array().unwrap().len(), 1);

    let r = app.delete(&path, t).await;
    assert_eq!(r.status.as_u16(), 204);
    assert!(r.text.is_empty());
    app.get(&path, t).await.problem(404, "NOT_FOUND");
    assert_eq!(app.get("/v1/menu/items", t).await.ok(200)["items"], json!([]));
    // Deleting a tombstone again is harmless; PUT revives it as a new item.
    assert_eq!(app.delete(&path, t).await.status.as_u16(), 204);
    app.put(&path, t, item("Latte", 350, json!([]))).await.ok(201);
    app.delete(&format!("/v1/menu/items/{}", Uuid::now_v7()), t).await.problem(404, "NOT_FOUND");
}

#[tokio::test]
async fn menu_item_bad_input_names_the_field() {
    let app = TestApp::spawn().await;
    let t = &app.a.token;
    let beans = app.stock_item(t, "Beans").await;
    let path = format!("/v1/menu/items/{}", Uuid::now_v7());
    let r = app.put(&path, t, item("Latte", -1, json!([]))).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "price_cents");
    let r = app.put(&path, t, item("Latte", 300, json!([{"stock_item_id": Uuid::now_v7(), "qty": 1}]))).await;
    assert_eq!(r.problem(404, "NOT_FOUND")["field"], "recipe[0].stock_item_id");
    let r = app.put(&path, t, item("Latte", 300, json!([{"stock_item_id": beans, "qty": 0}]))).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "recipe[0].qty");
    let r = app.put(&path, t, item("Latte", 300, json!([{"stock_item_id": beans}]))).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "recipe[0].qty");
    let r = app.put(&path, t, json!({"name": "Latte", "price_cents": "3.00", "category": "Coffee", "active": true})).await;
    assert_eq!(r.problem(400, "BAD_REQUEST")["field"], "price_cents");
    let r = app.put(&path, t, item(&"x".repeat(500), 300, json!([]))).await;
    assert_eq!(r.problem(422, "VALIDATION_FAILED")["field"], "name");
    app.get(&path, t).await.problem(404, "NOT_FOUND");
}
