//! The pages' words: one string table per page per language, the error sentence for
//! every problem `code`, the script that applies them, and the Khmer font, all embedded
//! in the binary (a till is often offline: nothing comes from a CDN).
//!
//! - `tables/<page>.<lang>.json`: the page's strings, a flat `{key: text}` map.
//!   `{name}` in a text is filled by the page (`I18n.t(key, {name})`).
//! - `tables/errors.<lang>.json`: one sentence per [`modula_wire::ErrorCode`] (and
//!   `unknown`), shown above the server's own `detail`; both pages get them as
//!   `error.<CODE>`.
//! - `js/i18n.js`: the runtime both pages load first (`window.I18n`).
//! - `fonts/`: Noto Sans Khmer (SIL Open Font License 1.1, `fonts/OFL.txt`), the Khmer
//!   subset, regular and bold.
//!
//! The tests here hold the tables together: the same keys and the same `{placeholders}`
//! in every language, a sentence for every error code, no English left in Khmer text
//! (save [`KM_LATIN_OK`]) and no Khmer in English text.

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// The languages, in the switch's order.
pub const LANGS: [&str; 2] = ["en", "km"];

/// Latin words a Khmer text may keep: acronyms a Cambodian café uses as they are.
pub const KM_LATIN_OK: &[&str] = &["JSON", "PIN", "VAT", "TIN", "CSV", "Z", "ID", "USD", "KHR", "OK"];

/// Which page's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The cashier's page, served by the till.
    Till,
    /// The manager's dashboard, served by the server.
    Dashboard,
}

impl Page {
    /// Both pages.
    pub const ALL: [Page; 2] = [Page::Till, Page::Dashboard];

    fn raw(self, lang: &str) -> &'static str {
        match (self, lang) {
            (Page::Till, "en") => include_str!("../tables/till.en.json"),
            (Page::Till, _) => include_str!("../tables/till.km.json"),
            (Page::Dashboard, "en") => include_str!("../tables/dashboard.en.json"),
            (Page::Dashboard, _) => include_str!("../tables/dashboard.km.json"),
        }
    }
}

fn errors_raw(lang: &str) -> &'static str {
    match lang {
        "en" => include_str!("../tables/errors.en.json"),
        _ => include_str!("../tables/errors.km.json"),
    }
}

/// The runtime both pages load before their own scripts (`window.I18n`).
pub const RUNTIME_JS: &str = include_str!("../js/i18n.js");

/// Noto Sans Khmer, Khmer subset, weight 400 (woff2).
pub const FONT_KHMER_400: &[u8] = include_bytes!("../fonts/noto-sans-khmer-400.woff2");
/// Noto Sans Khmer, Khmer subset, weight 700 (woff2).
pub const FONT_KHMER_700: &[u8] = include_bytes!("../fonts/noto-sans-khmer-700.woff2");

/// The string-table check, run in a browser (WebDriver `execute/sync`, one argument: the
/// language the page should be in). Returns every visible text (text nodes, input
/// placeholders, button values) outside `[translate="no"]` that is not in that
/// language: in Khmer, any Latin word not in [`KM_LATIN_OK`]; in English, any Khmer
/// letter (the riel sign ៛ is a currency sign in both). Also fails on keys the page
/// asked for and the table lacks.
pub const TEXT_CHECK_JS: &str = include_str!("../js/text_check.js");

/// A table as a map: the page's strings and the error sentences as `error.<CODE>`.
/// Panics if an embedded table is not a JSON object (the tests here keep them so).
pub fn table(page: Page, lang: &str) -> Map<String, Value> {
    let mut out = object(page.raw(lang), "page table");
    for (code, text) in object(errors_raw(lang), "errors table") {
        out.insert(format!("error.{code}"), text);
    }
    out
}

fn object(raw: &str, what: &str) -> Map<String, Value> {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(m)) => m,
        _ => panic!("the embedded {what} is not a JSON object"),
    }
}

/// The script a page loads first: its tables for every language, then the runtime.
/// Built once.
pub fn script(page: Page) -> &'static str {
    static TILL: OnceLock<String> = OnceLock::new();
    static DASHBOARD: OnceLock<String> = OnceLock::new();
    let cell = match page {
        Page::Till => &TILL,
        Page::Dashboard => &DASHBOARD,
    };
    cell.get_or_init(|| {
        let mut all = Map::new();
        for lang in LANGS {
            all.insert(lang.to_string(), Value::Object(table(page, lang)));
        }
        let latin: Vec<Value> = KM_LATIN_OK.iter().map(|w| Value::from(*w)).collect();
        format!(
            "window.MODULA_STRINGS = {};\nwindow.MODULA_KM_LATIN_OK = {};\n{}",
            Value::Object(all),
            Value::Array(latin),
            RUNTIME_JS
        )
    })
}

/// Literal keys a page's sources ask for (`data-i18n*="key"`, `t('key')`, `t("key")`)
/// that its English table lacks. Keys built at run time (`'error.' + code`) are not
/// seen here; the browser check catches those.
pub fn missing_keys(page: Page, sources: &[&str]) -> Vec<String> {
    let table = table(page, "en");
    let mut missing: Vec<String> = Vec::new();
    for src in sources {
        for key in literal_keys(src) {
            if !table.contains_key(&key) && !missing.contains(&key) {
                missing.push(key);
            }
        }
    }
    missing
}

/// The literal keys in one source text.
pub fn literal_keys(src: &str) -> Vec<String> {
    const OPENERS: [&str; 7] =
        ["data-i18n=\"", "data-i18n-placeholder=\"", "data-i18n-title=\"", "data-i18n-aria-label=\"", "t('", "t(\"", "t(`"];
    let mut keys = Vec::new();
    for opener in OPENERS {
        let close = opener.chars().last().unwrap_or('"');
        let mut rest = src;
        while let Some(at) = rest.find(opener) {
            let before = &src[..src.len() - rest.len() + at];
            rest = &rest[at + opener.len()..];
            // `t(` only as a whole word: not `split(`, `set(` or `format(`.
            if opener.starts_with("t(") && before.chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let Some(end) = rest.find(close) else { break };
            let key = &rest[..end];
            if !key.is_empty() && key.len() <= 80 && !key.contains(['$', '{', ' ', '+']) {
                keys.push(key.to_string());
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests;
