//! Docker-style generated names (`adjective_scientist`).
use super::record::ContainerStore;
use anyhow::Result;

const LEFT: &[&str] = &[
    "brave", "calm", "clever", "eager", "fervent", "gentle", "happy", "jolly", "keen", "lucid", "modest", "nifty",
    "quirky", "serene", "sharp", "tender", "vibrant", "wizardly", "zealous", "upbeat",
];
const RIGHT: &[&str] = &[
    "babbage", "curie", "darwin", "euler", "fermi", "galois", "hopper", "kepler", "lovelace", "meitner", "noether",
    "pascal", "ritchie", "shannon", "thompson", "turing", "volta", "wozniak", "yalow", "zuse",
];

/// A free generated name.
pub fn generate(store: &ContainerStore) -> Result<String> {
    let taken: std::collections::HashSet<String> = store.list()?.into_iter().map(|c| c.name).collect();
    for attempt in 0..100u32 {
        let mut b = [0u8; 2];
        getrandom::fill(&mut b).expect("getrandom");
        let mut n = format!("{}_{}", LEFT[b[0] as usize % LEFT.len()], RIGHT[b[1] as usize % RIGHT.len()]);
        if attempt > 10 {
            n.push_str(&attempt.to_string());
        }
        if !taken.contains(&n) {
            return Ok(n);
        }
    }
    Ok(format!("minirun_{}", &crate::fsutil::random_id()[..8]))
}
