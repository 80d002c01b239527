//! Placeholder: filled by the i18n work of issue 25.
