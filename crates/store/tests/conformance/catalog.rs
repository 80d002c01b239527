//! Devices, stock and the menu.

use modula_store::*;

use crate::{device_rec, id, menu_rec, t, world, Backend};

conformance!(devices_stock_and_menu_round_trip);
async fn devices_stock_and_menu_round_trip(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.device(w.tenant.id, w.device.id).await.unwrap(), Some(w.device.clone()));
    assert_eq!(tx.device(id(), w.device.id).await.unwrap(), None);
    let second = device_rec(w.tenant.id, w.branch.id, "B");
    tx.insert_device(&second).await.unwrap();
    let dup = device_rec(w.tenant.id, w.branch.id, "B");
    assert!(matches!(tx.insert_device(&dup).await, Err(StoreError::Conflict(_))), "device codes are unique");
    // (PostgreSQL aborts the transaction on the violation; no caller goes on after a conflict.)
    drop(tx);

    let mut tx = store.begin_write().await.unwrap();
    tx.insert_device(&second).await.unwrap();
    tx.revoke_device(w.tenant.id, second.id, t(20)).await.unwrap();
    tx.revoke_device(w.tenant.id, second.id, t(30)).await.unwrap();
    let devices = tx.list_devices(w.tenant.id, w.branch.id).await.unwrap();
    assert_eq!(devices.iter().map(|d| d.code.as_str()).collect::<Vec<_>>(), ["A", "B"]);
    assert_eq!(devices[1].revoked_at, Some(t(20)), "revoking is idempotent");

    let beans = StockItemRecord { id: id(), tenant_id: w.tenant.id, name: "beans".into(), unit: "g".into() };
    let milk = StockItemRecord { id: id(), tenant_id: w.tenant.id, name: "Milk".into(), unit: "ml".into() };
    tx.insert_stock_item(&beans).await.unwrap();
    tx.insert_stock_item(&milk).await.unwrap();
    assert_eq!(tx.stock_item(w.tenant.id, beans.id).await.unwrap(), Some(beans.clone()));
    assert_eq!(tx.list_stock_items(w.tenant.id).await.unwrap(), vec![milk.clone(), beans.clone()]);
    assert_eq!(tx.on_hand(w.branch.id, beans.id).await.unwrap(), 0);
    assert_eq!(tx.add_on_hand(w.branch.id, beans.id, 5).await.unwrap(), 5);
    assert_eq!(tx.add_on_hand(w.branch.id, beans.id, -7).await.unwrap(), -2);
    assert_eq!(tx.on_hand(w.branch.id, beans.id).await.unwrap(), -2);
    assert_eq!(tx.inventory(w.tenant.id, w.branch.id).await.unwrap(), vec![(milk, 0), (beans, -2)]);

    let latte = menu_rec(w.tenant.id, "Latte", "coffee");
    let mut tea = menu_rec(w.tenant.id, "Tea", "Tea");
    let espresso = menu_rec(w.tenant.id, "Espresso", "coffee");
    for m in [&latte, &tea, &espresso] {
        assert!(tx.upsert_menu_item(m).await.unwrap());
    }
    let names: Vec<String> = tx.list_menu_items(w.tenant.id).await.unwrap().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["Tea", "Espresso", "Latte"], "by category then name, byte order");
    tea.deleted = true;
    tea.price_cents = 300;
    assert!(tx.upsert_menu_item(&tea).await.unwrap());
    assert_eq!(tx.menu_item(w.tenant.id, tea.id).await.unwrap(), Some(tea.clone()), "tombstones stay readable");
    assert_eq!(tx.list_menu_items(w.tenant.id).await.unwrap(), vec![espresso, latte]);
    tx.commit().await.unwrap();
}

conformance!(a_menu_id_of_another_tenant_is_refused);
async fn a_menu_id_of_another_tenant_is_refused(b: &Backend) {
    let store = b.store();
    let a = world(store).await;
    let other = world(store).await;
    let mut tx = store.begin_write().await.unwrap();
    let item = menu_rec(a.tenant.id, "Latte", "coffee");
    assert!(tx.upsert_menu_item(&item).await.unwrap());
    let stolen = MenuItemRecord { tenant_id: other.tenant.id, name: "Stolen".into(), ..item.clone() };
    assert!(!tx.upsert_menu_item(&stolen).await.unwrap(), "the id belongs to tenant a");
    assert_eq!(tx.menu_item(a.tenant.id, item.id).await.unwrap(), Some(item.clone()), "nothing written");
    assert_eq!(tx.menu_item(other.tenant.id, item.id).await.unwrap(), None);
    tx.commit().await.unwrap();
}
