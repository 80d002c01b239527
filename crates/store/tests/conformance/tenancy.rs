//! Tenants, policy, tokens, branches and staff.

use modula_store::*;
use modula_wire::{BranchStatus, Policy, PolicyPatch, Role};

use crate::{branch_rec, id, staff_rec, t, world, Backend};

conformance!(tenants_tokens_staff_and_branches_round_trip);
async fn tenants_tokens_staff_and_branches_round_trip(b: &Backend) {
    let store = b.store();
    assert_eq!(store.backend(), b.kind().name());
    store.ping().await.unwrap();
    let w = world(store).await;
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(tx.tenant(w.tenant.id).await.unwrap(), Some(w.tenant.clone()));
    assert_eq!(tx.tenant(id()).await.unwrap(), None);
    assert_eq!(tx.tenant_by_slug(&w.tenant.slug).await.unwrap(), Some(w.tenant.clone()));
    assert_eq!(tx.tenant_by_slug("no-such-shop").await.unwrap(), None);
    let policy = Policy { vat_bps: 700, ..Policy::default() };
    tx.set_tenant_policy(w.tenant.id, &policy).await.unwrap();
    assert_eq!(tx.tenant(w.tenant.id).await.unwrap().unwrap().policy, policy);
    assert_eq!(tx.next_device_number(w.tenant.id).await.unwrap(), 1);
    assert_eq!(tx.next_device_number(w.tenant.id).await.unwrap(), 2);

    let token = TokenRecord {
        token_hash: "ab".repeat(32),
        tenant_id: w.tenant.id,
        subject: TokenSubject::Device(w.device.id),
        created_at: t(5),
        expires_at: Some(t(6)),
    };
    tx.insert_token(&token).await.unwrap();
    assert_eq!(tx.token(&token.token_hash).await.unwrap(), Some(token));
    assert_eq!(tx.token("nope").await.unwrap(), None);

    // Branches list by name in byte order ("Z" before "a"), whatever the database collation.
    let other = branch_rec(w.tenant.id, "Zeta");
    let lower = branch_rec(w.tenant.id, "alpha");
    tx.insert_branch(&other).await.unwrap();
    tx.insert_branch(&lower).await.unwrap();
    let names: Vec<String> = tx.list_branches(w.tenant.id).await.unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["Riverside", "Zeta", "alpha"]);
    let mut frozen = other.clone();
    frozen.status = BranchStatus::Frozen;
    frozen.policy_override = PolicyPatch { vat_bps: Some(0), ..PolicyPatch::default() };
    tx.update_branch(&frozen).await.unwrap();
    assert_eq!(tx.branch(w.tenant.id, other.id).await.unwrap(), Some(frozen));
    assert_eq!(tx.branch(id(), other.id).await.unwrap(), None, "another tenant's branch is invisible");

    let mut branch_ids = vec![other.id, w.branch.id];
    branch_ids.sort();
    let mut bob = staff_rec(w.tenant.id, "bob", branch_ids);
    let alice = staff_rec(w.tenant.id, "Alice", vec![]);
    tx.insert_staff(&bob).await.unwrap();
    tx.insert_staff(&alice).await.unwrap();
    assert_eq!(tx.staff(w.tenant.id, bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(tx.staff(id(), bob.id).await.unwrap(), None);
    assert_eq!(tx.list_staff(w.tenant.id).await.unwrap(), vec![alice.clone(), bob.clone()]);
    bob.role = Role::Manager;
    bob.active = false;
    bob.branch_ids = vec![lower.id];
    bob.updated_at = t(9);
    tx.update_staff(&bob).await.unwrap();
    tx.set_login_lockout(w.tenant.id, bob.id, 5, Some(t(10))).await.unwrap();
    bob.failed_logins = 5;
    bob.locked_until = Some(t(10));
    tx.commit().await.unwrap();

    let mut read = store.begin_read().await.unwrap();
    assert_eq!(read.staff(w.tenant.id, bob.id).await.unwrap(), Some(bob));
}

conformance!(logins_are_unique_per_tenant_and_found_locked);
async fn logins_are_unique_per_tenant_and_found_locked(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let other = world(store).await;
    let mut dara = staff_rec(w.tenant.id, "Dara", vec![w.branch.id]);
    dara.role = Role::Manager;
    dara.login = Some("dara".into());
    dara.password_hash = Some("$argon2id$v=19$password".into());
    let mut tx = store.begin_write().await.unwrap();
    tx.insert_staff(&dara).await.unwrap();
    assert_eq!(tx.lock_staff_by_login(w.tenant.id, "dara").await.unwrap(), Some(dara.clone()));
    assert_eq!(tx.lock_staff_by_login(w.tenant.id, "Dara").await.unwrap(), None, "logins are stored normalized");
    assert_eq!(tx.lock_staff_by_login(other.tenant.id, "dara").await.unwrap(), None, "another tenant's login is invisible");
    // Cashiers without a login do not collide on NULL.
    tx.insert_staff(&staff_rec(w.tenant.id, "Cam", vec![])).await.unwrap();
    tx.insert_staff(&staff_rec(w.tenant.id, "Chea", vec![])).await.unwrap();
    tx.commit().await.unwrap();

    // The same login in another tenant is fine; in the same tenant it is a conflict.
    let mut tx = store.begin_write().await.unwrap();
    let mut twin = staff_rec(other.tenant.id, "Dara", vec![]);
    twin.login = Some("dara".into());
    tx.insert_staff(&twin).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let mut copy = staff_rec(w.tenant.id, "Other Dara", vec![]);
    copy.login = Some("dara".into());
    assert!(matches!(tx.insert_staff(&copy).await, Err(StoreError::Conflict(_))), "a second dara in one tenant");
    drop(tx);
    let mut tx = store.begin_write().await.unwrap();
    let mut renamed = staff_rec(w.tenant.id, "Sok", vec![]);
    tx.insert_staff(&renamed).await.unwrap();
    renamed.login = Some("dara".into());
    assert!(matches!(tx.update_staff(&renamed).await, Err(StoreError::Conflict(_))), "taking dara's login");
    drop(tx);

    // A read transaction cannot lock.
    let mut read = store.begin_read().await.unwrap();
    let locked = read.lock_staff_by_login(w.tenant.id, "dara").await;
    assert!(locked.is_err(), "a read transaction refuses to lock (both are read-only): {locked:?}");
}

conformance!(tokens_are_revoked_one_by_one_per_person_and_when_expired);
async fn tokens_are_revoked_one_by_one_per_person_and_when_expired(b: &Backend) {
    let store = b.store();
    let w = world(store).await;
    let (ann, ben) = (staff_rec(w.tenant.id, "Ann", vec![w.branch.id]), staff_rec(w.tenant.id, "Ben", vec![w.branch.id]));
    let token = |n: u8, subject: TokenSubject, expires_at: Option<Timestamp>| TokenRecord {
        token_hash: format!("{n:02x}").repeat(32),
        tenant_id: w.tenant.id,
        subject,
        created_at: t(5),
        expires_at,
    };
    let tokens = [
        token(1, TokenSubject::Staff(ann.id), Some(t(100))),
        token(2, TokenSubject::Staff(ann.id), None),
        token(3, TokenSubject::Staff(ben.id), Some(t(100))),
        token(4, TokenSubject::Staff(ben.id), Some(t(10))),
        token(5, TokenSubject::Device(w.device.id), None),
    ];
    let mut tx = store.begin_write().await.unwrap();
    tx.insert_staff(&ann).await.unwrap();
    tx.insert_staff(&ben).await.unwrap();
    for tk in &tokens {
        tx.insert_token(tk).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = store.begin_write().await.unwrap();
    assert!(tx.delete_token(&tokens[0].token_hash).await.unwrap(), "a logout deletes its token");
    assert!(!tx.delete_token(&tokens[0].token_hash).await.unwrap(), "twice: nothing left");
    assert_eq!(tx.delete_staff_tokens(id(), ann.id).await.unwrap(), 0, "another tenant's id deletes nothing");
    assert_eq!(tx.delete_staff_tokens(w.tenant.id, ann.id).await.unwrap(), 1, "Ann's other token");
    assert_eq!(tx.purge_expired_tokens(t(50)).await.unwrap(), 1, "Ben's token that expired at t(10)");
    tx.commit().await.unwrap();

    let mut read = store.begin_read().await.unwrap();
    let left: Vec<bool> = {
        let mut v = Vec::new();
        for tk in &tokens {
            v.push(read.token(&tk.token_hash).await.unwrap().is_some());
        }
        v
    };
    assert_eq!(left, [false, false, true, false, true], "Ben's live token and the device's remain");
    assert!(read.delete_token(&tokens[2].token_hash).await.is_err(), "a read transaction cannot revoke");
}

conformance!(a_slug_names_one_tenant);
async fn a_slug_names_one_tenant(b: &Backend) {
    let store = b.store();
    let first = crate::tenant_rec();
    let mut second = crate::tenant_rec();
    second.slug = first.slug.clone();
    let mut tx = store.begin_write().await.unwrap();
    tx.insert_tenant(&first).await.unwrap();
    let taken = tx.insert_tenant(&second).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "a second tenant with the slug is a conflict: {taken:?}");
}
