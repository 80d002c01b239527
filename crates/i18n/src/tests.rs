//! The tables hold together: same keys and placeholders in every language, a sentence
//! for every error code, each text in its own language.

use std::collections::BTreeSet;

use modula_wire::ErrorCode;

use super::*;

fn placeholders(s: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('}') else { break };
        out.insert(rest[..close].to_string());
        rest = &rest[close + 1..];
    }
    out
}

fn has_khmer(s: &str) -> bool {
    s.chars().any(|c| ('\u{1780}'..='\u{17FF}').contains(&c) && c != '៛')
}

fn latin_words(s: &str) -> Vec<String> {
    // Placeholders are names, not words.
    let mut text = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ if depth == 0 => text.push(c),
            _ => {}
        }
    }
    text.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| w.len() >= 2).map(str::to_string).collect()
}

#[test]
fn every_language_has_the_same_keys_and_placeholders() {
    for page in Page::ALL {
        let en = table(page, "en");
        for lang in LANGS {
            let other = table(page, lang);
            let a: BTreeSet<_> = en.keys().collect();
            let b: BTreeSet<_> = other.keys().collect();
            assert_eq!(a.difference(&b).collect::<Vec<_>>(), Vec::<&&String>::new(), "{page:?}: keys {lang} lacks");
            assert_eq!(b.difference(&a).collect::<Vec<_>>(), Vec::<&&String>::new(), "{page:?}: keys only {lang} has");
            for (key, text) in &en {
                let mine = other[key].as_str().unwrap_or_else(|| panic!("{page:?} {lang} {key} is a string"));
                let theirs = text.as_str().unwrap_or_else(|| panic!("{page:?} en {key} is a string"));
                assert!(!mine.trim().is_empty(), "{page:?} {lang} {key} is empty");
                assert_eq!(placeholders(mine), placeholders(theirs), "{page:?} {lang} {key}: the same {{names}}");
            }
        }
    }
}

#[test]
fn every_error_code_has_a_sentence_in_every_language() {
    for page in Page::ALL {
        for lang in LANGS {
            let t = table(page, lang);
            for code in ErrorCode::ALL {
                assert!(t.contains_key(&format!("error.{code}")), "{page:?} {lang} lacks error.{code}");
            }
            assert!(t.contains_key("error.unknown"), "{page:?} {lang} lacks error.unknown");
        }
    }
}

#[test]
fn each_text_is_in_its_own_language() {
    for page in Page::ALL {
        for (key, text) in table(page, "en") {
            let s = text.as_str().unwrap_or_default();
            assert!(!has_khmer(s), "{page:?} en {key} has Khmer: {s}");
        }
        for (key, text) in table(page, "km") {
            let s = text.as_str().unwrap_or_default();
            let stray: Vec<_> = latin_words(s).into_iter().filter(|w| !KM_LATIN_OK.contains(&w.as_str())).collect();
            assert!(stray.is_empty(), "{page:?} km {key} has English {stray:?}: {s}");
            assert!(has_khmer(s) || s.chars().all(|c| !c.is_alphabetic()), "{page:?} km {key} is not Khmer: {s}");
        }
    }
}

#[test]
fn the_script_carries_both_tables_and_the_runtime() {
    for page in Page::ALL {
        let js = script(page);
        assert!(js.starts_with("window.MODULA_STRINGS = {\"en\":"), "{page:?}");
        assert!(js.contains("\"km\":{") && js.contains("window.I18n ="), "{page:?}");
        assert!(js.contains("\"error.BRANCH_FROZEN\":"), "{page:?}");
    }
}

#[test]
fn literal_keys_are_found_and_missing_ones_named() {
    let src = r#"<b data-i18n="lang.name"></b> <input data-i18n-placeholder="no.such"> I18n.t('also.missing', {n}) split('x') t(`error.${c}`)"#;
    assert_eq!(literal_keys(src), vec!["lang.name", "no.such", "also.missing"]);
    assert_eq!(missing_keys(Page::Till, &[src]), vec!["no.such", "also.missing"]);
}

#[test]
fn the_fonts_are_woff2() {
    for font in [FONT_KHMER_400, FONT_KHMER_700] {
        assert_eq!(&font[..4], b"wOF2");
        assert!(font.len() < 64 * 1024, "the Khmer subset is small");
    }
}
