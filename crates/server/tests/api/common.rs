//! Test harness: spawns the server on 127.0.0.1:0 over a fresh SQLite file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use modula_server::state::ServerConfig;
use modula_server::{domain::bootstrap, open_store, router, AppState};
use modula_store::Store;
use modula_wire::admin::InitOutput;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

/// The backend the suite runs on: `MODULA_TEST_DB=postgres://USER@HOST:PORT/DB` selects
/// PostgreSQL (each app gets a fresh database created through that URL), anything else
/// SQLite in a temporary folder. One set of tests, both backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh PostgreSQL database `name`, created via `admin_url`.
    Postgres { admin_url: String, name: String },
}

impl Backend {
    /// The backend chosen by `MODULA_TEST_DB`.
    pub fn from_env() -> Option<String> {
        std::env::var("MODULA_TEST_DB").ok().filter(|u| u.starts_with("postgres"))
    }
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _db)| server);
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// Creates a fresh database for one test app; returns (backend, store URL).
async fn fresh_database(dir: &std::path::Path) -> (Backend, String) {
    let Some(admin_url) = Backend::from_env() else {
        return (Backend::Sqlite, format!("sqlite://{}", dir.join("test.db").display()));
    };
    use sqlx::{Connection, Executor};
    let name = format!("modula_t_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("connect to MODULA_TEST_DB");
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("CREATE DATABASE");
    admin.close().await.ok();
    let url = with_database(&admin_url, &name);
    (Backend::Postgres { admin_url, name }, url)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let Backend::Postgres { admin_url, name } = self.backend.clone() else { return };
        // Best effort, off the test's runtime: the database is dropped even if the
        // server task still holds connections.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                use sqlx::{Connection, Executor};
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await;
                }
            });
        })
        .join();
    }
}

/// A running server and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    /// The backend under test.
    pub backend: Backend,
    /// The database URL behind `store` (for fault injection from the side).
    pub db_url: String,
    /// Tenant A, created at spawn.
    pub a: InitOutput,
    /// The server sign-in of each manager and owner the helpers made: staff id →
    /// (login, password).
    sign_ins: Mutex<HashMap<Uuid, (String, String)>>,
    _dir: tempfile::TempDir,
}

/// The password of every owner made by [`TestApp`] (login `owner`).
pub const OWNER_PASSWORD: &str = "owner-password-1234";

/// Makes a tenant with its owner (login `owner`, [`OWNER_PASSWORD`]).
async fn init_tenant(store: &dyn Store, name: &str, pin: &str) -> InitOutput {
    let req = bootstrap::InitTenant {
        tenant_name: name,
        owner_name: "Owner",
        owner_pin: pin,
        slug: None,
        owner_sign_in: Some(("owner", OWNER_PASSWORD)),
    };
    bootstrap::init(store, &req).await.expect("init")
}

/// An answer: status, parsed JSON body (Null if none) and the content type.
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// Asserts a problem+json answer with this status and code; returns the body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text);
        assert!(self.content_type.starts_with("application/problem+json"), "content type {:?}", self.content_type);
        assert_eq!(self.body["code"], code, "code; body: {}", self.text);
        assert_eq!(self.body["status"], status, "status field; body: {}", self.text);
        assert!(self.body["type"].is_string() && self.body["title"].is_string(), "type/title: {}", self.text);
        assert!(!self.body["detail"].as_str().unwrap_or("").is_empty(), "detail: {}", self.text);
        &self.body
    }

    /// Asserts a success status; returns the body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text);
        &self.body
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        // Heartbeats every second, so the SSE tests need not wait the default 15 s.
        // Pushes wait for a place as long as a test may take: a loaded CI machine must not
        // turn a test's burst of pushes into 503s (`push_lane_sheds…` tests the gate).
        let config = ServerConfig {
            sse_heartbeat: std::time::Duration::from_secs(1),
            push_wait: std::time::Duration::from_secs(60),
            ..ServerConfig::default()
        };
        TestApp::spawn_with(config).await
    }

    /// An app with its own configuration.
    pub async fn spawn_with(config: ServerConfig) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let (backend, db_url) = fresh_database(dir.path()).await;
        let store = open_store(&db_url).await.expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let app = router(AppState::with_config(store.clone(), config));
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.expect("serve");
        });
        let a = init_tenant(store.as_ref(), "Tenant A", "1234").await;
        let sign_ins = Mutex::new(HashMap::from([(a.owner_id, ("owner".to_string(), OWNER_PASSWORD.to_string()))]));
        TestApp { base: format!("http://{addr}"), client: reqwest::Client::new(), store, backend, db_url, a, sign_ins, _dir: dir }
    }

    /// A second tenant in the same database.
    pub async fn other_tenant(&self, name: &str) -> InitOutput {
        let out = init_tenant(self.store.as_ref(), name, "4321").await;
        self.sign_ins.lock().unwrap().insert(out.owner_id, ("owner".into(), OWNER_PASSWORD.into()));
        out
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        Self::read(resp).await
    }

    pub async fn read(resp: reqwest::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, body, text, content_type, headers }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    // ---- fixtures (all through the HTTP API) ----

    pub async fn branch(&self, token: &str, name: &str) -> Uuid {
        let r = self.post("/v1/branches", token, json!({"name": name})).await;
        uuid(&r.ok(201)["id"])
    }

    /// A staff member through the API; a manager or owner also gets a server sign-in
    /// (login made from the name, a password of its own), which [`TestApp::login`] uses.
    pub async fn staff(&self, token: &str, name: &str, role: &str, pin: &str, branches: &[Uuid]) -> Uuid {
        let mut body = json!({"name": name, "role": role, "pin": pin, "branch_ids": branches});
        let sign_in = (role != "cashier").then(|| {
            let stem: String = name.to_lowercase().chars().filter(char::is_ascii_alphanumeric).collect();
            let login = format!("{stem}.{}", &Uuid::new_v4().simple().to_string()[..6]);
            (login.clone(), format!("password of {login}"))
        });
        if let Some((login, password)) = &sign_in {
            body["login"] = json!(login);
            body["password"] = json!(password);
        }
        let r = self.post("/v1/staff", token, body).await;
        let id = uuid(&r.ok(201)["id"]);
        if let Some(sign_in) = sign_in {
            self.sign_ins.lock().unwrap().insert(id, sign_in);
        }
        id
    }

    /// The login and password the helpers gave a manager or owner.
    pub fn sign_in_of(&self, staff: Uuid) -> (String, String) {
        self.sign_ins.lock().unwrap().get(&staff).cloned().expect("a manager or owner made by the helpers")
    }

    /// Signs a manager or owner in with their login and password (the shop by id).
    pub async fn login(&self, tenant: Uuid, staff: Uuid) -> String {
        let (login, password) = self.sign_in_of(staff);
        let body = json!({"tenant": tenant.to_string(), "login": login, "password": password});
        let r = self.call(Method::POST, "/v1/auth/login", None, Some(body)).await;
        r.ok(200)["token"].as_str().expect("token").to_string()
    }

    /// A staff token issued straight into the store, for someone who cannot sign in to
    /// the server (a cashier): proves the routes refuse such a token too, should one
    /// ever exist (a bug, or a token from before cashiers lost server sign-in).
    pub async fn token_in_store(&self, tenant: Uuid, staff: Uuid) -> String {
        let mut tx = self.store.begin_write().await.unwrap();
        let subject = modula_store::TokenSubject::Staff(staff);
        let issued = modula_server::auth::issue_token(tx.as_mut(), tenant, subject, Some(12)).await.unwrap();
        tx.commit().await.unwrap();
        issued.token
    }

    pub async fn device(&self, token: &str, branch: Uuid) -> (Uuid, String) {
        let r = self.post("/v1/devices", token, json!({"branch_id": branch, "name": "Counter"})).await;
        let b = r.ok(201);
        (uuid(&b["device_id"]), b["token"].as_str().unwrap().to_string())
    }

    pub async fn stock_item(&self, token: &str, name: &str) -> Uuid {
        let r = self.post("/v1/stock-items", token, json!({"name": name, "unit": "g"})).await;
        uuid(&r.ok(201)["id"])
    }
}

pub fn uuid(v: &Value) -> Uuid {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a uuid: {v}"))
}

/// A connection "from another process" to the app's database.
pub enum Side {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Side {
    pub async fn open(app: &TestApp) -> Side {
        use sqlx::Connection;
        match app.backend {
            Backend::Sqlite => Side::Sqlite(sqlx::SqliteConnection::connect(&app.db_url).await.expect("side connection")),
            Backend::Postgres { .. } => Side::Postgres(sqlx::PgConnection::connect(&app.db_url).await.expect("side connection")),
        }
    }

    /// `id` as a SQL literal of this backend (SQLite stores ids as 16-byte blobs).
    pub fn id(&self, id: Uuid) -> String {
        match self {
            Side::Sqlite(_) => format!("X'{}'", id.simple()),
            Side::Postgres(_) => format!("'{id}'"),
        }
    }

    /// Runs the statement for this backend.
    pub async fn exec(&mut self, sqlite: &str, postgres: &str) {
        use sqlx::Executor;
        match self {
            Side::Sqlite(c) => c.execute(sqlite).await.map(|_| ()),
            Side::Postgres(c) => c.execute(postgres).await.map(|_| ()),
        }
        .expect("side statement");
    }
}

/// Returns once some connection to the app's database waits for a lock (PostgreSQL,
/// seen in `pg_stat_activity`; panics after 10 s). A writer blocked on SQLite's lock is
/// not visible from outside, so there it waits a fixed 300 ms.
pub async fn until_a_writer_waits(app: &TestApp) {
    until_writers_wait(app, 1).await;
}

/// [`until_a_writer_waits`] for `n` connections.
pub async fn until_writers_wait(app: &TestApp, n: i64) {
    if app.backend == Backend::Sqlite {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        return;
    }
    use sqlx::Connection;
    let mut watcher = sqlx::PgConnection::connect(&app.db_url).await.expect("watcher connection");
    let sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(sql).fetch_one(&mut watcher).await.expect("pg_stat_activity");
        if waiting >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{n} connections did not come to wait for a lock within 10 s");
}
