//! `modula demo`: a Phnom Penh café on SQLite, seeded once and served on loopback.

use std::path::Path;

use anyhow::Context;
use modula_server::auth::{authenticate, Auth};
use modula_server::domain::{admin, bootstrap};
use modula_server::{open_store, serve, AppState};
use modula_store::Store;
use modula_wire::admin::*;
use modula_wire::{PolicyPatch, Role};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DemoArgs;

/// What the demo remembers between runs (in `DATA/demo.json`).
#[derive(Serialize, Deserialize)]
struct DemoInfo {
    tenant_id: Uuid,
    owner_id: Uuid,
    owner_token: String,
    owner_pin: String,
    /// The shop's slug (what the dashboard's sign-in asks for). Empty in a data folder
    /// seeded before sign-in passwords; filled at start.
    #[serde(default)]
    slug: String,
    /// The owner's dashboard sign-in (empty before passwords; filled at start).
    #[serde(default)]
    owner_login: String,
    #[serde(default)]
    owner_password: String,
    branches: Vec<DemoBranch>,
}

#[derive(Serialize, Deserialize)]
struct DemoBranch {
    id: Uuid,
    name: String,
    cashier_id: Uuid,
    cashier_pin: String,
    manager_id: Uuid,
    manager_pin: String,
    #[serde(default)]
    manager_login: String,
    #[serde(default)]
    manager_password: String,
    device_id: Uuid,
    device_code: String,
    device_token: String,
}

/// Seeds (first run only) and serves the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data).with_context(|| format!("cannot create {}", args.data.display()))?;
    let db_url = format!("sqlite://{}", args.data.join("server.db").display());
    let store = open_store(&db_url).await?;
    let info_path = args.data.join("demo.json");
    let info = match read_info(&info_path) {
        Some(mut info) if info.owner_password.is_empty() => {
            give_sign_ins(store.as_ref(), &mut info).await?;
            std::fs::write(&info_path, serde_json::to_vec_pretty(&info)?)?;
            info
        }
        Some(info) => info,
        None => {
            let info = seed(store.as_ref()).await?;
            std::fs::write(&info_path, serde_json::to_vec_pretty(&info)?)?;
            info
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (is a demo already running? try --listen 127.0.0.1:0)", args.listen))?;
    let addr = listener.local_addr()?;
    if args.no_serve {
        print_info(&info, &addr.to_string(), &db_url, &[]);
        return Ok(());
    }
    let server = tokio::spawn(serve(listener, AppState::new(store), crate::shutdown_signal()));
    let mut tills = Vec::new();
    for (i, b) in info.branches.iter().enumerate().take(args.terminals) {
        // Asked for any free port (tests): the tills too; else the next ports after the server's.
        let port = if args.listen.port() == 0 { 0 } else { addr.port() + 1 + i as u16 };
        tills.push(start_terminal(&args.data, &addr.to_string(), b, port).await?);
    }
    print_info(&info, &addr.to_string(), &db_url, &tills);
    server.await??;
    Ok(())
}

/// Enrolls (first run only) and starts one in-process terminal with an outage switch;
/// returns its page URL.
async fn start_terminal(data: &Path, server: &str, b: &DemoBranch, port: u16) -> anyhow::Result<String> {
    let dir = data.join(format!("terminal-{}", b.device_code));
    let enrolled = dir.join(modula_terminal::db::DB_FILE).exists();
    if !enrolled {
        // The demo stays on loopback HTTP (allowed without --insecure-http).
        let tls = modula_terminal::remote::TlsOptions::default();
        modula_terminal::enroll(&dir, &format!("http://{server}"), &b.device_token, &tls).await?;
    }
    let config = modula_terminal::TerminalConfig { outage_switch: true, ..Default::default() };
    let t = modula_terminal::open(&dir, config).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} for terminal {}", b.device_code))?;
    let url = format!("http://{}/", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = modula_terminal::run(t, listener).await {
            tracing::error!(error = %e, "demo terminal stopped");
        }
    });
    Ok(url)
}

fn read_info(path: &Path) -> Option<DemoInfo> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn err(e: modula_server::error::ApiError) -> anyhow::Error {
    anyhow::anyhow!("seeding the demo failed: {}", e.problem().detail)
}

/// The demo's passwords: printed at start, as a demo's should be (never do this with a
/// real shop's).
const OWNER_LOGIN: &str = "sokha";
const OWNER_PASSWORD: &str = "mekong-owner-2468";
const MANAGER_LOGINS: [&str; 2] = ["vanna", "rithy"];

fn manager_password(login: &str) -> String {
    format!("mekong-{login}-manager")
}

async fn seed(store: &dyn Store) -> anyhow::Result<DemoInfo> {
    let req = bootstrap::InitTenant {
        tenant_name: "Mekong Bean Café",
        owner_name: "Sokha Chan",
        owner_pin: "2468",
        slug: None,
        owner_sign_in: Some((OWNER_LOGIN, OWNER_PASSWORD)),
    };
    let init = bootstrap::init(store, &req).await.map_err(err)?;
    let owner = authenticate(store, &init.token).await.map_err(err)?;
    let policy = PolicyPatch {
        paid_out_limit_cents: Some(2500),
        vat_tin: Some("K009-902104567".into()),
        receipt_footer: Some("Thank you! អរគុណ!\nWi-Fi: mekongbean / coffee2468".into()),
        ..Default::default()
    };
    admin::put_tenant_policy(store, &owner, policy)
        .await
        .map_err(err)?;
    let stock = seed_stock(store, &owner).await?;
    seed_menu(store, &owner, &stock).await?;
    let mut branches = Vec::new();
    for (i, name) in ["BKK1 — Street 278", "Riverside — Sisowath Quay"].into_iter().enumerate() {
        branches.push(seed_branch(store, &owner, name, i, &stock).await?);
    }
    Ok(DemoInfo {
        tenant_id: init.tenant_id,
        owner_id: init.owner_id,
        owner_token: init.token,
        owner_pin: "2468".into(),
        slug: init.slug,
        owner_login: OWNER_LOGIN.into(),
        owner_password: OWNER_PASSWORD.into(),
        branches,
    })
}

/// A data folder seeded before server passwords: gives the owner and the managers their
/// demo logins and passwords (with the owner's token).
async fn give_sign_ins(store: &dyn Store, info: &mut DemoInfo) -> anyhow::Result<()> {
    let owner = authenticate(store, &info.owner_token).await.map_err(err)?;
    let sign_in = |login: &str, password: String| PatchStaff { login: Some(Some(login.into())), password: Some(password), ..Default::default() };
    admin::patch_staff(store, &owner, info.owner_id, sign_in(OWNER_LOGIN, OWNER_PASSWORD.into())).await.map_err(err)?;
    (info.owner_login, info.owner_password) = (OWNER_LOGIN.into(), OWNER_PASSWORD.into());
    for (b, login) in info.branches.iter_mut().zip(MANAGER_LOGINS) {
        admin::patch_staff(store, &owner, b.manager_id, sign_in(login, manager_password(login))).await.map_err(err)?;
        (b.manager_login, b.manager_password) = (login.into(), manager_password(login));
    }
    let mut tx = store.begin_read().await?;
    info.slug = tx.tenant(info.tenant_id).await?.map(|t| t.slug).unwrap_or_default();
    Ok(())
}

async fn seed_stock(store: &dyn Store, owner: &Auth) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::new();
    for (name, unit) in [("Coffee beans", "g"), ("Fresh milk", "ml"), ("Condensed milk", "ml"), ("Palm sugar", "g"), ("Cups", "pcs")] {
        let req = CreateStockItem { name: name.into(), unit: unit.into() };
        ids.push(admin::create_stock_item(store, owner, req).await.map_err(err)?.id);
    }
    Ok(ids)
}

async fn seed_menu(store: &dyn Store, owner: &Auth, stock: &[Uuid]) -> anyhow::Result<()> {
    let (beans, milk, condensed, sugar, cups) = (stock[0], stock[1], stock[2], stock[3], stock[4]);
    type Dish<'a> = (&'a str, i64, &'a str, Vec<(Uuid, i64)>);
    let menu: [Dish; 6] = [
        ("Iced Khmer coffee", 250, "Coffee", vec![(beans, 18), (condensed, 30), (cups, 1)]),
        ("Iced latte", 300, "Coffee", vec![(beans, 18), (milk, 180), (cups, 1)]),
        ("Americano", 225, "Coffee", vec![(beans, 18), (cups, 1)]),
        ("Palm sugar latte", 325, "Coffee", vec![(beans, 18), (milk, 160), (sugar, 20), (cups, 1)]),
        ("Lemongrass iced tea", 200, "Tea", vec![(sugar, 15), (cups, 1)]),
        ("Num pang (baguette)", 175, "Food", vec![]),
    ];
    for (name, price_cents, category, recipe) in menu {
        let req = PutMenuItem {
            name: name.into(),
            price_cents,
            category: category.into(),
            active: true,
            recipe: recipe.into_iter().map(|(stock_item_id, qty)| RecipeLine { stock_item_id, qty }).collect(),
        };
        admin::put_menu_item(store, owner, Uuid::now_v7(), req).await.map_err(err)?;
    }
    Ok(())
}

async fn seed_branch(store: &dyn Store, owner: &Auth, name: &str, i: usize, stock: &[Uuid]) -> anyhow::Result<DemoBranch> {
    let address = ["No. 41, Street 278, Boeng Keng Kang 1, Phnom Penh", "No. 7, Preah Sisowath Quay, Daun Penh, Phnom Penh"][i];
    let req = CreateBranch { name: name.into(), address: Some(address.into()), timezone: Some("Asia/Phnom_Penh".into()) };
    let branch = admin::create_branch(store, owner, req).await.map_err(err)?;
    for (stock_item_id, qty) in stock.iter().zip([5000, 20000, 8000, 3000, 500]) {
        let req = Restock { branch_id: branch.id, stock_item_id: *stock_item_id, qty, actor_id: None };
        admin::restock(store, owner, req).await.map_err(err)?;
    }
    let cashier_pin = format!("{}", 1111 * (i + 1));
    let manager_pin = format!("{}", 5555 + 1111 * i);
    let cashier = staff(store, owner, ["Dara Kim", "Sreymom Heng"][i], Role::Cashier, &cashier_pin, branch.id, None).await?;
    let manager_login = MANAGER_LOGINS[i];
    let sign_in = Some((manager_login, manager_password(manager_login)));
    let manager = staff(store, owner, ["Vanna Sok", "Rithy Pich"][i], Role::Manager, &manager_pin, branch.id, sign_in).await?;
    let device = admin::enroll_device(store, owner, EnrollDevice { branch_id: branch.id, name: "Front counter".into() })
        .await
        .map_err(err)?;
    Ok(DemoBranch {
        id: branch.id,
        name: branch.name,
        cashier_id: cashier,
        cashier_pin,
        manager_id: manager,
        manager_pin,
        manager_login: manager_login.into(),
        manager_password: manager_password(manager_login),
        device_id: device.device_id,
        device_code: device.code,
        device_token: device.token,
    })
}

async fn staff(
    store: &dyn Store,
    owner: &Auth,
    name: &str,
    role: Role,
    pin: &str,
    branch: Uuid,
    sign_in: Option<(&str, String)>,
) -> anyhow::Result<Uuid> {
    let (login, password) = sign_in.map_or((None, None), |(l, p)| (Some(l.to_string()), Some(p)));
    let req = CreateStaff { name: name.into(), role, pin: pin.into(), branch_ids: vec![branch], login, password };
    Ok(admin::create_staff(store, owner, req).await.map_err(err)?.id)
}

fn print_info(info: &DemoInfo, addr: &str, db_url: &str, tills: &[String]) {
    println!("Modula demo — Mekong Bean Café (Phnom Penh)");
    println!("  server:       http://{addr}   (database {db_url})");
    println!("  health:       http://{addr}/healthz");
    println!("  dashboard:    http://{addr}/dashboard   shop {}", info.slug);
    println!("  tenant_id:    {}", info.tenant_id);
    println!("  owner:        Sokha Chan  id {}  PIN {}", info.owner_id, info.owner_pin);
    println!("                dashboard login {}  password {}", info.owner_login, info.owner_password);
    println!("  owner token:  {}", info.owner_token);
    for (i, b) in info.branches.iter().enumerate() {
        println!("  branch {}  id {}", b.name, b.id);
        if let Some(url) = tills.get(i) {
            println!("    cashier's page   {url}   (\"Simulate outage\" cuts this terminal's link)");
        }
        println!("    cashier id {}  PIN {}", b.cashier_id, b.cashier_pin);
        println!("    manager id {}  PIN {}", b.manager_id, b.manager_pin);
        println!("            dashboard login {}  password {}", b.manager_login, b.manager_password);
        println!("    device  {} id {}  token {}", b.device_code, b.device_id, b.device_token);
    }
    println!("Try: curl -H 'Authorization: Bearer {}' http://{addr}/v1/branches", info.owner_token);
    if !tills.is_empty() {
        println!("Ctrl-C stops the demo; its data stays in the data folder for the next run.");
    }
}
