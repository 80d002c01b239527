//! A small W3C WebDriver client over reqwest, driving Debian's headless Chromium through
//! its ChromeDriver (installed by `scripts/ensure-chromium`). Just what the browser tests
//! need: open a page, find, click, type, read text, run a script, take a screenshot.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{free_port, Proc, Shop, CASHIER_PIN, MANAGER_LOGIN, MANAGER_PASSWORD};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where ChromeDriver is, or `None` (with a loud line) when a local run has none. In CI
/// (`CI=true`) a missing browser is a failure, not a skip.
pub fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var("MODULA_CHROMEDRIVER").map(PathBuf::from).unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    if path.exists() && Path::new("/usr/bin/chromium").exists() {
        return Some(path);
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must run the browser tests: run scripts/ensure-chromium");
    eprintln!("\n=== SKIPPED: browser tests need chromium and chromedriver (run scripts/ensure-chromium) ===\n");
    None
}

/// Where screenshots go: `target/browser-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One browser session (its ChromeDriver process dies with it).
pub struct Browser {
    http: reqwest::Client,
    base: String,
    _driver: Proc,
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium session.
    pub async fn start(driver: &Path) -> Browser {
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let proc = Proc { child, base: format!("http://127.0.0.1:{port}") };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{}/status", proc.base)).send().await;
            if let Ok(r) = ready {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if v["value"]["ready"] == json!(true) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1366,1000", "--lang=en-US"]
            }
        }}});
        let r: Value = http.post(format!("{}/session", proc.base)).json(&caps).send().await.unwrap().json().await.unwrap();
        let id = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {r}")).to_string();
        let base = format!("{}/session/{id}", proc.base);
        Browser { http, base, _driver: proc }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("webdriver request");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "webdriver {path}: {status} {v}");
        v["value"].clone()
    }

    async fn try_find(&self, css: &str) -> Option<String> {
        let r = self.http.post(format!("{}/element", self.base)).json(&json!({"using": "css selector", "value": css}));
        let r = r.send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        let v: Value = r.json().await.ok()?;
        v["value"][ELEMENT_KEY].as_str().map(str::to_string)
    }

    /// Opens a URL.
    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// Waits (up to 15 s) for an element and returns its id.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(id) = self.try_find(css).await {
                return id;
            }
            assert!(Instant::now() < deadline, "no element {css} on the page");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks an element (waiting for it to be enabled).
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let id = self.find(css).await;
            let enabled = self.cmd(reqwest::Method::GET, &format!("/element/{id}/enabled"), None).await;
            if enabled == json!(true) {
                let r = self.http.post(format!("{}/element/{id}/click", self.base)).json(&json!({})).send().await;
                if r.is_ok_and(|r| r.status().is_success()) {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "could not click {css}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Replaces an input's value by typing.
    pub async fn fill(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({}))).await;
        self.cmd(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": text}))).await;
    }

    /// Types `text` key by key into whatever has the focus (WebDriver actions), as a
    /// person does: no element reference to go stale if the page redraws meanwhile.
    pub async fn type_keys(&self, text: &str) {
        let keys: Vec<Value> = text
            .chars()
            .flat_map(|c| [json!({"type": "keyDown", "value": c.to_string()}), json!({"type": "keyUp", "value": c.to_string()})])
            .collect();
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": keys}]});
        self.cmd(reqwest::Method::POST, "/actions", Some(actions)).await;
    }

    /// Chooses the option with this value in a `<select>` (and fires `change`).
    pub async fn select(&self, css: &str, value: &str) {
        self.find(&format!("{css} option[value='{value}']")).await;
        let script = "const s = document.querySelector(arguments[0]); s.value = arguments[1];
                      s.dispatchEvent(new Event('change', {bubbles: true})); return s.value;";
        let got = self.script(script, json!([css, value])).await;
        assert_eq!(got, json!(value), "select {css}");
    }

    /// The visible text of an element ("" when it is missing). An element the page
    /// redraws between the find and the read (a stale reference) is found again.
    pub async fn text(&self, css: &str) -> String {
        for _ in 0..50 {
            let Some(id) = self.try_find(css).await else { return String::new() };
            let r = self.http.get(format!("{}/element/{id}/text", self.base)).send().await.expect("webdriver request");
            if r.status().is_success() {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                return v["value"].as_str().unwrap_or("").to_string();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{css} kept going stale while its text was read");
    }

    /// Waits (up to `secs`) until the element's text satisfies `pred`; returns it.
    pub async fn wait_text(&self, css: &str, secs: u64, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let t = self.text(css).await;
            if pred(&t) {
                return t;
            }
            if Instant::now() >= deadline {
                let shot = self.screenshot(&format!("failed-{}", what.replace(' ', "-"))).await;
                let html = self.script("return document.body.innerText;", json!([])).await;
                panic!("{what}: {css} shows {t:?}; screenshot {}; page text:\n{}", shot.display(), html.as_str().unwrap_or(""));
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Runs a script in the page.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.cmd(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// Runs an asynchronous script in the page: it gets `args` and, last, the callback
    /// whose argument is the answer.
    pub async fn script_async(&self, script: &str, args: Value) -> Value {
        self.cmd(reqwest::Method::POST, "/execute/async", Some(json!({"script": script, "args": args}))).await
    }

    /// A browser on the shop's dashboard, signed in as its manager, the branch chosen.
    pub async fn dashboard(driver: &Path, shop: &Shop) -> Browser {
        let board = Browser::start(driver).await;
        board.goto(&format!("{}/dashboard", shop.base)).await;
        board.fill("#login-shop", &shop.slug).await;
        board.fill("#login-name", MANAGER_LOGIN).await;
        board.fill("#login-password", MANAGER_PASSWORD).await;
        board.click("#login-submit").await;
        board.select("#branch-select", &shop.branch.to_string()).await;
        board
    }

    /// Signs the shop's cashier in on the till's page, as a person does (name, PIN).
    pub async fn sign_in_cashier(&self, shop: &Shop) {
        self.select("#signin-staff", &shop.cashier.to_string()).await;
        self.fill("#signin-pin", CASHIER_PIN).await;
        self.click("#signin-submit").await;
        self.wait_text("#signed-in-name", 15, "cashier signed in", |t| t.contains("Dara")).await;
    }

    /// Sets the window's size in CSS pixels (a phone: 390 × 844).
    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd(reqwest::Method::POST, "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    /// Renders the page as for `media` (`"print"` applies its print stylesheet; `""` goes
    /// back to the screen), through Chromium's DevTools protocol.
    pub async fn emulate_media(&self, media: &str) {
        let body = json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": media}});
        self.cmd(reqwest::Method::POST, "/goog/cdp/execute", Some(body)).await;
    }

    /// Whether the element `css` is rendered visible (its computed `visibility` and
    /// `display`, up its ancestors, and a non-empty box).
    pub async fn visible(&self, css: &str) -> bool {
        let js = "const e = document.querySelector(arguments[0]); if (!e) return false; \
                  const r = e.getBoundingClientRect(); \
                  return getComputedStyle(e).visibility === 'visible' && r.width > 0 && r.height > 0;";
        self.script(js, json!([css])).await.as_bool().unwrap_or(false)
    }

    /// Runs a Chrome DevTools Protocol command through ChromeDriver (e.g.
    /// `Emulation.setEmulatedMedia` to lay the page out as it prints).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(reqwest::Method::POST, "/goog/cdp/execute", Some(json!({"cmd": cmd, "params": params}))).await
    }

    /// The string-table check ([`modula_i18n::TEXT_CHECK_JS`]): every visible text of the
    /// page outside `[translate="no"]` that is not in `lang`, and every string key the
    /// page asked for that its table lacks. Empty when the page is all in `lang`.
    pub async fn foreign_text(&self, lang: &str) -> Vec<String> {
        let v = self.script(modula_i18n::TEXT_CHECK_JS, json!([lang])).await;
        v.as_array().unwrap_or_else(|| panic!("the text check answers a list: {v}"))
            .iter().map(|x| x.as_str().unwrap_or_default().to_string()).collect()
    }

    /// Picks `lang` (`"en"`, `"km"`) with the page's language switch, as a person does.
    pub async fn choose_language(&self, lang: &str) {
        self.click(&format!(".lang-choice[data-lang='{lang}']")).await;
        let js = "return document.documentElement.lang;";
        let got = self.script(js, json!([])).await;
        assert_eq!(got, json!(lang), "the page switched to {lang}");
    }

    /// Saves a PNG screenshot as `target/browser-screenshots/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let b64 = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Best effort: the driver process is killed right after anyway.
        let url = self.base.clone();
        let http = self.http.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(rt) = rt {
                rt.block_on(async { http.delete(url).timeout(Duration::from_secs(5)).send().await.ok() });
            }
        })
        .join();
    }
}
