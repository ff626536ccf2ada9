use crate::cli::Result;

pub fn schema() -> Result<()> {
    let schema = crate::recipe::schema();
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("schema JSON serializes")
    );
    Ok(())
}
