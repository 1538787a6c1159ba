//! `features`: what this runtime supports, as JSON.
use anyhow::Result;

pub fn run() -> Result<i32> {
    super::out(&serde_json::to_string_pretty(&crate::runtime::features_default())?);
    Ok(0)
}
